// Recovery: resolving what dead participants left half-done
// (docs/queue-layout.md 4.6). It runs under the queue lock, acts only for
// participants whose OFD lock is gone, and every step is one CAS or one
// journaled change from an exact stale state, so a recoverer killed
// half-way is simply followed by the next one.
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "mproc/mproc-common.h"
#include "queue/crashpoint.h"
#include "queue/ring.h"

namespace mproc {
namespace queue {

int Ring::recover(bool force, bool own_stale) {
  if (!force) {
    // One scan per slice for the whole queue is plenty; the CAS elects
    // the participant that does it.
    uint64_t now = static_cast<uint64_t>(monotonic_ns());
    uint64_t last = load(&c_->recover_time_ns);
    if (last <= now && now - last < static_cast<uint64_t>(kSliceNs)) return MPROC_OK;
    if (!cas(&c_->recover_time_ns, &last, now)) return MPROC_OK;
  }
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  return recover_locked(own_stale);
}

bool Ring::owner_gone(uint32_t owner, bool own_stale) const {
  if (owner == 0 || owner > geo_.nslots) return true;  // never a real owner
  uint32_t s = owner - 1;
  if (s == seg_.self()) return own_stale;
  if (liveness_[s] != kGone) return liveness_[s] == kDead;
  // Free when classified: gone only if still free. A producer that attached
  // since then heads its records without the lock; the header we read was
  // written after its slot went active, so the slot reads active now.
  return (load(&seg_.slot_at(s)->state) & kSlotStatusMask) == kSlotFree;
}

// Whether a participant not known dead has this intent in flight. Slots
// that attached since the classification count: they are alive.
bool Ring::live_intent(uint64_t word) const {
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    if (liveness_[s] == kDead) continue;
    for (uint32_t i = 0; i < kIntents; i++)
      if (load(&seg_.intent(s, static_cast<int>(i))->word) == word) return true;
  }
  return false;
}

// Writes a header at pos unless it already has one; true if this call did.
// Only used where the claimant is dead, so nobody else writes there.
bool Ring::settle_header(uint64_t pos, uint64_t status, uint64_t info) {
  uint64_t st = load(state_word(pos));
  if ((st & ~kStatusMask) == tag(pos)) return false;
  store(info_word(pos), info);
  return cas(state_word(pos), &st, tag(pos) | status);
}

// A record boundary is known at pos: the tail, a header, or another claim.
bool Ring::boundary(uint64_t pos, uint64_t tail) const {
  if (pos == tail) return true;
  if ((load(state_word(pos)) & ~kStatusMask) == tag(pos)) return true;
  for (uint32_t s = 0; s < geo_.nslots; s++)
    for (uint32_t i = 0; i < kIntents; i++)
      if (load(&seg_.intent(s, static_cast<int>(i))->word) == (pos | kIntentPut)) return true;
  return false;
}

// Whether another put intent contradicts this dead one. Two claims whose
// byte ranges overlap cannot both have succeeded: one of them is a CAS that
// failed (or never ran) at a tail that another claim moved on. That includes
// claims from different positions: a dead put that would have padded from t
// to the ring's end overlaps a put that claimed the next lap's first bytes
// after another put padded from t; writing the dead put's header there would
// give that record a wrong length (and, with a longer one, let head and free
// pass records still being written, whose payload then lands on the next
// lap's headers). A live claimant settles by itself: wait for it. Between
// dead ones, only an end that is a known boundary tells them apart.
bool Ring::put_claim_ambiguous(uint32_t slot, const Intent &in, uint64_t tail) const {
  (void)slot;
  const uint64_t t = in.word & ~kStatusMask;
  const uint64_t end = t + in.size;
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    for (uint32_t i = 0; i < kIntents; i++) {
      const Intent *other = seg_.intent(s, static_cast<int>(i));
      if (other == &in) continue;
      uint64_t word = load(&other->word);
      if (word % kRecordAlign != kIntentPut) continue;
      const uint64_t o = word & ~kStatusMask;
      uint32_t size = load(&other->size), len = load(&other->len);
      if (o >= end || o + size <= t) continue;  // disjoint
      if (o == t && size == in.size && len == in.len) continue;  // the same claim
      if (liveness_[s] != kDead) return true;
      if (!boundary(end, tail) || boundary(o + size, tail)) return true;
    }
  }
  return false;
}

// A dead producer's put: if its CAS claimed the bytes and nothing was
// committed, they become a pad and an ABANDONED record.
bool Ring::resolve_put(uint32_t slot, const Intent &in) {
  const uint64_t t = in.word & ~kStatusMask;
  const uint64_t size = load(&in.size);
  const uint32_t len = load(&in.len);
  const uint64_t need = len == kNoRecord ? 0 : record_size(len);
  if ((len != kNoRecord && len > geo_.max_message) || size < need || size > 2 * geo_.capacity) return false;
  const uint64_t pad = size - need;
  if (pad % kRecordAlign != 0 || (pad != 0 && t % geo_.capacity + pad != geo_.capacity)) return false;
  uint64_t f, tail;
  uint32_t freed;
  if (load_free(&f, &tail, &freed) != MPROC_OK) return false;
  // Never claimed (tail <= t), or committed and consumed already (t < f).
  if (t < f || t >= tail || size > tail - t) return false;
  if (live_intent(in.word)) return false;
  if (put_claim_ambiguous(slot, in, tail)) {
    if (getenv("MPROC_DEBUG_BROKEN"))
      fprintf(stderr, "MPROC AMBIGUOUS put intent t=%llx size=%llu len=%u tail=%llx\n", (unsigned long long)t,
              (unsigned long long)size, len, (unsigned long long)tail);
    return false;
  }
  bool did = false;
  if (pad) did = settle_header(t, kPad, pad);
  if (len != kNoRecord && settle_header(t + pad, kAbandoned, uint64_t{slot + 1} << 32 | len)) {
    store(&c_->stat_abandoned, load(&c_->stat_abandoned) + 1);
    did = true;
  }
  if (did) crashpoint(kCpRecoverStep);
  return did;
}

// A dead consumer's get: if its CAS claimed the record and it did not
// release it, the record is offered again.
bool Ring::resolve_get(uint64_t pos) {
  // A live consumer with the same intent may hold the record: it settles
  // by itself. Asked first: once its intent is gone, what it did to the
  // record (DONE, or free moved past it) is visible to the reads below.
  if (live_intent(pos | kIntentGet)) return false;
  // Claimed (TAKEN) and not released: a record behind free was released
  // already, whatever its header still says.
  uint64_t f, tail;
  uint32_t freed;
  if (load_free(&f, &tail, &freed) != MPROC_OK || pos < f) return false;
  if (load(state_word(pos)) != (tag(pos) | kTaken)) return false;
  Lock::Txn tx(lock_);
  tx.set(state_word(pos), tag(pos) | kRedeliver);
  tx.set(&c_->redeliver, load(&c_->redeliver) + 1);
  tx.set(&c_->stat_redelivered, load(&c_->stat_redelivered) + 1);
  tx.commit();
  crashpoint(kCpRecoverStep);
  return true;
}

int Ring::recover_locked(bool own_stale) {
  const uint32_t self = seg_.self();
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    uint32_t w = load(&seg_.slot_at(s)->state);
    slot_words_[s] = w;
    if (s == self)
      liveness_[s] = own_stale ? kDead : kAlive;
    else if ((w & kSlotStatusMask) == kSlotFree)
      liveness_[s] = kGone;  // a free slot has nothing in flight
    else
      liveness_[s] = seg_.alive(s) ? kAlive : kDead;
  }

  // 1. Lock-free claims in flight, from the dead participants' intents.
  bool changed = false;
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    if (liveness_[s] != kDead) continue;
    for (uint32_t i = 0; i < kIntents; i++) {
      const Intent *in = seg_.intent(s, static_cast<int>(i));
      uint64_t word = load(&in->word);
      if (word % kRecordAlign == kIntentPut)
        changed |= resolve_put(s, *in);
      else if (word % kRecordAlign == kIntentGet)
        changed |= resolve_get(word & ~kStatusMask);
    }
  }

  // 2. Claims made under the lock name their owner in the header: a claimed
  // put becomes a skipped record (its put never returned), a claimed
  // redelivery is offered again. Then the redelivery count is recomputed,
  // so a recoverer killed between two steps never leaves it short.
  uint64_t redeliver = 0;
  uint64_t reached = 0, tail = 0;
  uint32_t freed;
  if (load_free(&reached, &tail, &freed) != MPROC_OK) tail = ~uint64_t{0};  // busy: no verdict
  bool ok = walk([&](uint64_t p, const Rec &r) {
    reached = p + r.size;
    if (r.status == kWriting && owner_gone(r.owner, own_stale)) {
      uint64_t st = tag(p) | kWriting;
      if (cas(state_word(p), &st, tag(p) | kAbandoned)) {
        store(&c_->stat_abandoned, load(&c_->stat_abandoned) + 1);
        changed = true;
        crashpoint(kCpRecoverStep);
      }
    } else if (r.status == kReading && owner_gone(r.owner, own_stale)) {
      Lock::Txn tx(lock_);
      tx.set(state_word(p), tag(p) | kRedeliver);
      tx.set(&c_->stat_redelivered, load(&c_->stat_redelivered) + 1);
      tx.commit();
      redeliver++;
      changed = true;
      crashpoint(kCpRecoverStep);
    } else if (r.status == kRedeliver) {
      redeliver++;
    }
  });
  if (!ok) return broken("recovery walk");
  if (load(&c_->redeliver) != redeliver) store(&c_->redeliver, redeliver);

  // 3. Then the dead slots themselves, now that nothing in flight names them
  // (only if the walk saw every record: one it did not see may still name a
  // dead owner, and a freed slot could be taken by a live one meanwhile).
  const bool walked_all = reached >= tail;
  for (uint32_t s = 0; s < geo_.nslots && walked_all; s++) {
    if (liveness_[s] != kDead) continue;
    Slot *slot = seg_.slot_at(s);
    if (load(&slot->state) != slot_words_[s]) continue;  // taken over meanwhile
    for (Intent &in : slot->intents) store(&in.word, uint64_t{0});
    if (s == self) continue;
    seg_.drop_waiter_residue(slot);
    uint32_t w = slot_words_[s];
    if (cas(&slot->state, &w, (w & ~kSlotStatusMask) | kSlotFree)) {
      store(&c_->stat_reclaimed, load(&c_->stat_reclaimed) + 1);
      changed = true;
    }
  }
  if (changed) {
    // What was resolved may be what held head and free back.
    unstick();
    wake_all();
  }
  return MPROC_OK;
}

}  // namespace queue
}  // namespace mproc
