#include "queue/ring.h"

#include <climits>
#include <cstddef>

#include "mproc/mproc-common.h"
#include "queue/crashpoint.h"

namespace mproc {
namespace queue {

namespace {
// Lock waits: a short spin (holders hold it for a few dozen stores), then
// sleeps of this length between checks that the holder is still alive.
constexpr int kLockSpin = 64;
constexpr long kLockSliceNs = 10 * 1000 * 1000;
}  // namespace

// Holds the queue lock for one scope. Nothing inside a section may throw.
class Ring::Section {
 public:
  explicit Section(Ring &r) : r_(r), rc_(r.lock()) {}
  ~Section() { r_.unlock(); }
  Section(const Section &) = delete;
  Section &operator=(const Section &) = delete;
  int rc() const { return rc_; }

 private:
  Ring &r_;
  int rc_;
};

// A set of 64-bit stores that must happen together: journaled, then
// applied, so a holder killed half-way is completed by the next holder.
class Ring::Txn {
 public:
  explicit Txn(Ring &r) : r_(r) {}
  void set(uint64_t *word, uint64_t value) {
    e_[n_].offset = static_cast<uint64_t>(reinterpret_cast<uint8_t *>(word) - r_.seg_.base());
    e_[n_].value = value;
    n_++;
  }
  void commit() {
    Control *c = r_.c_;
    for (uint32_t i = 0; i < n_; i++) {
      store(&c->journal[i].offset, e_[i].offset);
      store(&c->journal[i].value, e_[i].value);
    }
    store(&c->journal_count, n_);
    store_seq(&c->journal_armed, 1u);
    for (uint32_t i = 0; i < n_; i++) {
      if (i == n_ / 2) crashpoint(kCpTxnHalf);
      store(r_.word_at(e_[i].offset), e_[i].value);
    }
    crashpoint(kCpTxnApplied);
    store_seq(&c->journal_armed, 0u);
  }

 private:
  Ring &r_;
  uint32_t n_ = 0;
  JournalEntry e_[kJournalMax];
};

Ring::Ring(Segment &seg)
    : seg_(seg),
      c_(seg.control()),
      ring_(seg.ring()),
      geo_(seg.geometry()),
      slot_words_(seg.geometry().nslots),
      liveness_(seg.geometry().nslots) {}

// ---------------------------------------------------------------- the lock

int Ring::lock() {
  const uint32_t me = seg_.self() + 1;
  uint32_t expected = 0;
  bool stolen = false;
  if (!cas(&c_->lock, &expected, me)) stolen = lock_slow(me);
  crashpoint(kCpLockHeld);
  int rc = MPROC_OK;
  if (load(&c_->journal_armed) != 0) rc = roll_forward();
  // A holder died: whatever else it owned is probably stuck too.
  if (rc == MPROC_OK && stolen) rc = recover_locked();
  return rc;
}

// Returns true when the lock was taken over from a dead holder.
bool Ring::lock_slow(uint32_t me) {
  uint32_t *w = &c_->lock;
  for (int i = 0; i < kLockSpin; i++) {
    cpu_relax();
    uint32_t v = load_relaxed(w);
    if (v == 0 && cas(w, &v, me)) return false;
  }
  // Once we have slept we take the lock marked "waiters", so that our
  // unlock wakes whoever may still sleep (the classic three-state mutex).
  const uint32_t want = me | kLockWaiters;
  for (;;) {
    uint32_t v = load(w);
    if (v == 0) {
      if (cas(w, &v, want)) return false;
      continue;
    }
    if (!(v & kLockWaiters)) {
      uint32_t marked = v | kLockWaiters;
      if (!cas(w, &v, marked)) continue;
      v = marked;
    }
    timespec rel = {0, kLockSliceNs};
    int err = futex_wait(w, v, &rel);
    // Only a holder that kept the lock for a whole slice is checked.
    if (err == ETIMEDOUT && !seg_.alive((v & kLockOwnerMask) - 1) && cas(w, &v, want)) return true;
  }
}

void Ring::unlock() {
  if (exchange(&c_->lock, 0u) & kLockWaiters) futex_wake(&c_->lock, 1);
}

int Ring::roll_forward() {
  uint32_t n = load(&c_->journal_count);
  if (n > kJournalMax) return broken();
  for (uint32_t i = 0; i < n; i++) {
    uint64_t off = load(&c_->journal[i].offset);
    uint64_t value = load(&c_->journal[i].value);
    if (!journal_target_ok(off)) return broken();
    store(word_at(off), value);
  }
  store_seq(&c_->journal_armed, 0u);
  return MPROC_OK;
}

// The words a journal may name: the indices and counters, the recovery
// statistics, and the two header words of a record.
bool Ring::journal_target_ok(uint64_t off) const {
  if (off % 8 != 0) return false;
  if (off >= offsetof(Control, stat_abandoned) && off < offsetof(Control, recover_time_ns)) return true;
  if (off >= offsetof(Control, head) && off < offsetof(Control, reserved3)) return true;
  if (off < geo_.ring_offset || off >= geo_.ring_offset + geo_.capacity) return false;
  uint64_t in_record = (off - geo_.ring_offset) % kRecordAlign;
  return in_record == 0 || in_record == 8;
}

// ------------------------------------------------------- state and records

int Ring::state_code(uint32_t *st) const {
  *st = load(&c_->queue_state);
  if (*st == kStateOpen || *st == kStateShutdown || *st == kStateShutdownNow) return MPROC_OK;
  return MPROC_E_BAD_SEGMENT;
}

int Ring::broken() {
  store_seq(&c_->queue_state, uint32_t{kStateBroken});
  wake_all();
  return MPROC_E_BAD_SEGMENT;
}

int Ring::load_indices(Indices *ix) {
  ix->free = load(&c_->free_pos);
  ix->head = load(&c_->head);
  ix->tail = load(&c_->tail);
  bool ok = ix->free <= ix->head && ix->head <= ix->tail && ix->tail - ix->free <= geo_.capacity &&
            (ix->free | ix->head | ix->tail) % kRecordAlign == 0;
  return ok ? MPROC_OK : broken();
}

// Reads the record at pos, which must end by limit. False: corrupt.
bool Ring::read_rec(uint64_t pos, uint64_t limit, Rec *r) const {
  uint64_t st = load(state_word(pos));
  if ((st & ~kStatusMask) != pos) return false;
  uint64_t info = load(info_word(pos));
  r->status = st & kStatusMask;
  r->len = static_cast<uint32_t>(info);
  r->owner = static_cast<uint32_t>(info >> 32);
  uint64_t off = pos % geo_.capacity;
  if (r->status == kPad) {
    // A pad always runs to the end of the ring.
    r->size = r->len;
    if (r->size == 0 || r->size % kRecordAlign != 0 || off + r->size != geo_.capacity) return false;
  } else if (r->status >= kWriting && r->status <= kRedeliver) {
    if (r->len > geo_.max_message) return false;
    r->size = record_size(r->len);
    if (off + r->size > geo_.capacity) return false;
  } else {
    return false;
  }
  return r->size <= limit - pos;
}

// Moves head past records nobody needs to claim any more, and free past
// records nobody reads any more. Each index is one store, consistent alone.
int Ring::settle(Indices *ix) {
  uint64_t h = ix->head;
  while (h < ix->tail) {
    Rec r;
    if (!read_rec(h, ix->tail, &r)) return broken();
    if (r.status == kWriting || r.status == kCommitted || r.status == kRedeliver) break;
    h += r.size;
  }
  if (h != ix->head) {
    store(&c_->head, h);
    ix->head = h;
  }
  uint64_t f = ix->free;
  while (f < h) {
    Rec r;
    if (!read_rec(f, h, &r)) return broken();
    if (r.status != kDone && r.status != kPad && r.status != kAbandoned) break;
    f += r.size;
  }
  if (f != ix->free) {
    store(&c_->free_pos, f);
    ix->free = f;
  }
  return MPROC_OK;
}

void Ring::add_pad(Txn *tx, uint64_t pos, uint64_t size) {
  tx->set(info_word(pos), size);
  tx->set(state_word(pos), pos | kPad);
}

// ---------------------------------------------------------------- put/get

int Ring::claim_put(uint32_t len, bool may_pad, Claim *out) {
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st != kStateOpen) return MPROC_E_CLOSED;
  Indices ix;
  if ((rc = load_indices(&ix)) != MPROC_OK || (rc = settle(&ix)) != MPROC_OK) return rc;

  const uint64_t need = record_size(len);
  const uint64_t owner = uint64_t{seg_.self() + 1} << 32;
  for (;;) {
    uint64_t count = load(&c_->count);
    if (geo_.maxsize != 0 && count >= geo_.maxsize) return kAgain;
    uint64_t off = ix.tail % geo_.capacity;
    uint64_t room = geo_.capacity - (ix.tail - ix.free);
    uint64_t pad = off + need > geo_.capacity ? geo_.capacity - off : 0;
    if (pad + need <= room) {
      Txn tx(*this);
      if (pad) add_pad(&tx, ix.tail, pad);
      uint64_t r = ix.tail + pad;
      tx.set(info_word(r), owner | len);
      tx.set(state_word(r), r | kWriting);
      tx.set(&c_->tail, r + need);
      tx.set(&c_->count, count + 1);
      tx.commit();
      out->pos = r;
      out->len = len;
      return MPROC_OK;
    }
    // The message must start at the ring's beginning. Closing the end with
    // a pad costs nothing on an empty ring (it is passed at once); on a
    // busy one only a put that waits anyway does it, so a failed nowait
    // put leaves no trace.
    if (pad == 0 || pad > room || !(may_pad || ix.free == ix.tail)) return kAgain;
    Txn tx(*this);
    add_pad(&tx, ix.tail, pad);
    tx.set(&c_->tail, ix.tail + pad);
    tx.commit();
    ix.tail += pad;
    if ((rc = settle(&ix)) != MPROC_OK) return rc;
  }
}

void Ring::publish(const Claim &c, const void *data) {
  crashpoint(kCpPutClaimed);
  if (c.len) copy_with_crashpoint(payload(c.pos), data, c.len, kCpPutCopy);
  crashpoint(kCpPutCopied);
  store(state_word(c.pos), c.pos | kCommitted);
  crashpoint(kCpPutCommitted);
  notify(data_ec(), 1);
}

int Ring::claim_get(size_t cap, Claim *out, size_t *needed) {
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return MPROC_E_CLOSED;
  Indices ix;
  if ((rc = load_indices(&ix)) != MPROC_OK || (rc = settle(&ix)) != MPROC_OK) return rc;

  // Oldest first. Records still being written are skipped, so a message
  // whose put returned is deliverable even behind a slower producer
  // (order per producer is kept: a producer's next put claims later).
  // Redelivered records sit behind head, so then the scan starts at free.
  uint64_t redeliver = load(&c_->redeliver);
  // Settled, free < head means a get is still copying out behind head:
  // if its consumer died, that message comes back.
  bool in_flight = ix.free != ix.head;
  for (uint64_t p = redeliver ? ix.free : ix.head; p < ix.tail;) {
    Rec r;
    if (!read_rec(p, ix.tail, &r)) return broken();
    if (r.status == kCommitted || r.status == kRedeliver) {
      if (r.len > cap) {
        *needed = r.len;
        return MPROC_E_TOOBIG;
      }
      uint64_t count = load(&c_->count);
      Txn tx(*this);
      tx.set(info_word(p), uint64_t{seg_.self() + 1} << 32 | r.len);
      tx.set(state_word(p), p | kReading);
      tx.set(&c_->count, count ? count - 1 : 0);
      if (r.status == kRedeliver) tx.set(&c_->redeliver, redeliver ? redeliver - 1 : 0);
      tx.commit();
      out->pos = p;
      out->len = r.len;
      return MPROC_OK;
    }
    if (r.status == kWriting || r.status == kReading) in_flight = true;
    p += r.size;
  }
  // Shut down: drained once nothing is left and nothing can come back.
  if (st == kStateShutdown && !in_flight) return MPROC_E_CLOSED;
  return kAgain;
}

void Ring::consume(const Claim &c, void *buf) {
  crashpoint(kCpGetClaimed);
  if (c.len) copy_with_crashpoint(buf, payload(c.pos), c.len, kCpGetCopy);
  crashpoint(kCpGetCopied);
  store(state_word(c.pos), c.pos | kDone);
  crashpoint(kCpGetDone);
  // Every producer: they wait for different amounts of room.
  notify(space_ec(), INT_MAX);
}

// ---------------------------------------------------------------- recovery

int Ring::recover(bool force) {
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
  return recover_locked();
}

bool Ring::owner_gone(uint32_t owner) const {
  if (owner == 0 || owner > geo_.nslots) return true;  // never a real owner
  uint32_t s = owner - 1;
  if (s == seg_.self()) return !seg_.alive(s);
  return liveness_[s] != kAlive;
}

int Ring::recover_locked() {
  const uint32_t self = seg_.self();
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    uint32_t w = load(&seg_.slot_at(s)->state);
    slot_words_[s] = w;
    if (s == self)
      liveness_[s] = kAlive;  // owner_gone() asks about our own slot itself
    else if ((w & kSlotStatusMask) == kSlotFree)
      liveness_[s] = kGone;  // a free slot owns no record
    else
      liveness_[s] = seg_.alive(s) ? kAlive : kDead;
  }

  // Records of dead owners: a claimed put becomes a skipped record (its put
  // never returned), a claimed get becomes a redelivery (its get never
  // returned). Each change is one journaled step, so a recoverer killed
  // half-way leaves a state the next one simply continues from.
  bool changed = false;
  Indices ix;
  int rc = load_indices(&ix);
  if (rc != MPROC_OK) return rc;
  for (uint64_t p = ix.free; p < ix.tail;) {
    Rec r;
    if (!read_rec(p, ix.tail, &r)) return broken();
    if ((r.status == kWriting || r.status == kReading) && owner_gone(r.owner)) {
      uint64_t count = load(&c_->count);
      Txn tx(*this);
      if (r.status == kWriting) {
        tx.set(state_word(p), p | kAbandoned);
        tx.set(&c_->count, count ? count - 1 : 0);
        tx.set(&c_->stat_abandoned, load(&c_->stat_abandoned) + 1);
      } else {
        tx.set(state_word(p), p | kRedeliver);
        tx.set(&c_->count, count + 1);
        tx.set(&c_->redeliver, load(&c_->redeliver) + 1);
        tx.set(&c_->stat_redelivered, load(&c_->stat_redelivered) + 1);
      }
      tx.commit();
      changed = true;
      crashpoint(kCpRecoverStep);
    }
    p += r.size;
  }

  // Then their slots, now that no record names them.
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    if (liveness_[s] != kDead) continue;
    Slot *slot = seg_.slot_at(s);
    seg_.drop_waiter_residue(slot);
    uint32_t w = slot_words_[s];
    if (cas(&slot->state, &w, (w & ~kSlotStatusMask) | kSlotFree)) {
      store(&c_->stat_reclaimed, load(&c_->stat_reclaimed) + 1);
      changed = true;
    }
  }
  if (changed) {
    if ((rc = settle(&ix)) != MPROC_OK) return rc;
    wake_all();
  }
  return MPROC_OK;
}

int Ring::check() {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  Indices ix;
  if ((rc = load_indices(&ix)) != MPROC_OK || (rc = settle(&ix)) != MPROC_OK) return rc;
  return recover_locked();
}

// ----------------------------------------------------------------- queries

int64_t Ring::qsize() const {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return 0;
  uint64_t n = load(&c_->count);
  return n > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(n);
}

int Ring::full() {
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return 0;
  Indices ix;
  if ((rc = load_indices(&ix)) != MPROC_OK || (rc = settle(&ix)) != MPROC_OK) return rc;
  if (geo_.maxsize != 0 && load(&c_->count) >= geo_.maxsize) return 1;
  // The smallest message is one 64-byte unit, and units never straddle
  // the ring's end, so any free unit fits it.
  return geo_.capacity - (ix.tail - ix.free) < kRecordAlign ? 1 : 0;
}

int Ring::shutdown(bool immediate) {
  const uint32_t target = immediate ? kStateShutdownNow : kStateShutdown;
  uint32_t st = load(&c_->queue_state);
  for (;;) {
    if (st != kStateOpen && st != kStateShutdown && st != kStateShutdownNow) return MPROC_E_BAD_SEGMENT;
    if (st >= target) break;  // already at least this shut
    if (cas(&c_->queue_state, &st, target)) break;
  }
  wake_all();
  return MPROC_OK;
}

void Ring::wake_all() {
  fetch_add(&c_->data_seq, 1u);
  futex_wake(&c_->data_seq, INT_MAX);
  fetch_add(&c_->space_seq, 1u);
  futex_wake(&c_->space_seq, INT_MAX);
}

void Ring::pass_on_data() {
  if (load(&c_->data_waiters) != 0 && load(&c_->count) != 0) notify(data_ec(), 1);
}

EventCount Ring::data_ec() const {
  return {&c_->data_seq, &c_->data_waiters, &seg_.slot_at(seg_.self())->data_waiting};
}

EventCount Ring::space_ec() const {
  return {&c_->space_seq, &c_->space_waiters, &seg_.slot_at(seg_.self())->space_waiting};
}

}  // namespace queue
}  // namespace mproc
