#include "queue/ring.h"

#include <algorithm>
#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "mproc/mproc-common.h"
#include "queue/crashpoint.h"

namespace mproc {
namespace queue {

namespace {
constexpr uint64_t kUnitMask = 0xffffffff;

// The free word: messages freed so far (mod 2^32) << 32 | free / 64 (mod 2^32).
uint64_t pack_free(uint64_t pos, uint32_t freed) {
  return uint64_t{freed} << 32 | ((pos / kRecordAlign) & kUnitMask);
}
uint32_t freed_of(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
}  // namespace

Ring::Ring(Segment &seg)
    : seg_(seg),
      c_(seg.control()),
      ring_(seg.ring()),
      geo_(seg.geometry()),
      lock_(seg),
      advance_step_(std::max(kRecordAlign, seg.geometry().capacity / kAdvanceParts)),
      slot_words_(seg.geometry().nslots),
      liveness_(seg.geometry().nslots) {}

// ------------------------------------------------------- state and records

int Ring::state_code(uint32_t *st) const {
  *st = load(&c_->queue_state);
  if (*st == kStateOpen || *st == kStateShutdown || *st == kStateShutdownNow) return MPROC_OK;
  return MPROC_E_BAD_SEGMENT;
}

namespace {
thread_local char diag_buf[512];
}
void diag_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(diag_buf, sizeof diag_buf, fmt, ap);
  va_end(ap);
}

// MPROC_DEBUG_BROKEN=1 (docs/design.md, "Failure model"): why the queue was
// marked BROKEN, the indices, the headers of the last lap and every intent
// in flight, on stderr. A debugging aid for the ring protocol only.
void Ring::dump_broken(const char *why) const {
  fprintf(stderr, "MPROC BROKEN pid=%d self=%u why=%s last=[%s] free=%llx head=%llx tail=%llx\n",
          getpid(), seg_.self(), why, diag_buf, (unsigned long long)load(&c_->free),
          (unsigned long long)load(&c_->head), (unsigned long long)load(&c_->tail));
  uint64_t t = load(&c_->tail);
  std::string out;
  char tmp[160];
  for (uint64_t p = t - geo_.capacity; p < t; p += kRecordAlign) {
    uint64_t st = load(state_word(p)), info = load(info_word(p));
    for (long lap = -2; lap <= 2; lap++) {
      if ((st & ~kStatusMask) != tag(p + static_cast<uint64_t>(lap * static_cast<int64_t>(geo_.capacity))))
        continue;
      snprintf(tmp, sizeof tmp, " %llx:L%ld/s%llu/o%llu/l%llu", (unsigned long long)p, lap,
               (unsigned long long)(st & kStatusMask), (unsigned long long)(info >> 32),
               (unsigned long long)(uint32_t)info);
      out += tmp;
    }
  }
  fprintf(stderr, "MPROC RING%s\n", out.c_str());
  out.clear();
  for (uint32_t s = 0; s < geo_.nslots; s++) {
    uint32_t w = load(&seg_.slot_at(s)->state);
    for (uint32_t i = 0; i < kIntents; i++) {
      const Intent *in = seg_.intent(s, static_cast<int>(i));
      uint64_t iw = load(&in->word);
      if (!iw) continue;
      snprintf(tmp, sizeof tmp, " s%u(w%x,%s)i%u:%llx/%u/%u", s, w,
               s == seg_.self() ? "me" : (seg_.alive(s) ? "alive" : "dead"), i, (unsigned long long)iw,
               load(&in->size), load(&in->len));
      out += tmp;
    }
  }
  fprintf(stderr, "MPROC INTENTS%s\n", out.c_str());
}

int Ring::broken(const char *why) {
  static const bool debug = getenv("MPROC_DEBUG_BROKEN") != nullptr;
  if (debug) dump_broken(why);
  store_seq(&c_->queue_state, uint32_t{kStateBroken});
  wake_all();
  return MPROC_E_BAD_SEGMENT;
}

// Reads and validates the header at pos: every length is checked against
// the ring before anybody uses it.
Ring::RecRead Ring::read_rec(uint64_t pos, Rec *r) const {
  if (pos % kRecordAlign != 0) {
    diag_note("read_rec unaligned pos=%llx", (unsigned long long)pos);
    return kRecBad;
  }
  // The two words are read like a seqlock: between our reads the record
  // may be consumed, freed and its bytes reused by a later lap (a new
  // header, or payload), so the info word is trusted only if the state
  // word did not change around it.
  uint64_t st = load(state_word(pos)), info = 0;
  for (int tries = 0;; tries++) {
    if ((st & ~kStatusMask) != tag(pos)) return kRecUnheaded;
    info = load(info_word(pos));
    uint64_t again = load(state_word(pos));
    if (again == st) break;
    if (tries == 100) return kRecUnheaded;  // changing under us: no verdict now
    st = again;
  }
  r->status = st & kStatusMask;
  r->len = static_cast<uint32_t>(info);
  r->owner = static_cast<uint32_t>(info >> 32);
  if (r->status < kWriting || r->status > kTaken) {
    diag_note("read_rec status pos=%llx st=%llx info=%llx", (unsigned long long)pos, (unsigned long long)st, (unsigned long long)info);
    return kRecBad;
  }
  r->size = record_bytes(pos, r->status, r->len);
  if (r->size == 0) {
    diag_note("read_rec len pos=%llx st=%llx info=%llx", (unsigned long long)pos, (unsigned long long)st, (unsigned long long)info);
    return kRecBad;
  }
  return kRecOk;
}

// The ring bytes of a record at pos with this status (1..8) and length, if
// they make a valid header (docs/queue-layout.md 3.3), else 0: a pad runs
// to the ring's end, any other record fits before it.
uint64_t Ring::record_bytes(uint64_t pos, uint64_t status, uint32_t len) const {
  const uint64_t off = pos % geo_.capacity;
  if (status == kPad) return len != 0 && len % kRecordAlign == 0 && off + len == geo_.capacity ? len : 0;
  const uint64_t size = record_size(len);
  return len <= geo_.max_message && off + size <= geo_.capacity ? size : 0;
}

// The free position from its word, given a position ref read after it
// (head or tail, never more than a ring ahead). False: corrupt.
bool Ring::decode_free(uint64_t word, uint64_t ref, uint64_t *pos) const {
  uint64_t behind = ((ref / kRecordAlign - word) & kUnitMask) * kRecordAlign;
  if (ref % kRecordAlign != 0 || behind > geo_.capacity || behind > ref) {
    diag_note("decode_free word=%llx ref=%llx behind=%llx", (unsigned long long)word, (unsigned long long)ref, (unsigned long long)behind);
    return false;
  }
  *pos = ref - behind;
  return true;
}

// Free and tail as of one instant: tail is read between two reads of an
// unchanged free, so tail - free <= capacity held when it was read (without
// the second read, consumers and producers could both move a lap between).
int Ring::load_free(uint64_t *free_pos, uint64_t *tail, uint32_t *freed) const {
  uint64_t word = load(&c_->free);
  for (int tries = 0; tries < 1000; tries++) {
    *tail = load(&c_->tail);
    uint64_t again = load(&c_->free);
    if (again != word) {
      word = again;
      continue;
    }
    *freed = freed_of(word);
    return decode_free(word, *tail, free_pos) ? MPROC_OK : MPROC_E_BAD_SEGMENT;
  }
  return kAgain;  // still moving: the caller tries again later
}

// Moves free past the done, pad and abandoned records before head, all in
// one CAS, counting the messages; true if it moved. Anybody may run it.
// Those three states are final until free passes them, so the walk stays
// true while the free word is unchanged.
bool Ring::advance_free() {
  uint64_t word = load_seq(&c_->free);
  for (uint64_t tries = 0; tries <= geo_.capacity / kRecordAlign; tries++) {
    uint64_t h = load(&c_->head);
    uint64_t f;
    if (!decode_free(word, h, &f) || f >= h) return false;
    uint64_t to = f;
    uint32_t messages = 0;
    // No seqlock (read_rec) needed: a header read here that a later lap
    // has already replaced means free moved, and the CAS below fails.
    for (uint64_t n = 0; to < h && n <= geo_.capacity / kRecordAlign; n++) {
      const uint64_t st = load(state_word(to));
      if ((st & ~kStatusMask) != tag(to)) break;
      const uint64_t status = st & kStatusMask;
      if (status != kDone && status != kPad && status != kAbandoned) break;
      const uint64_t size = record_bytes(to, status, static_cast<uint32_t>(load_relaxed(info_word(to))));
      if (size == 0 || size > h - to) break;
      to += size;
      if (status != kPad) messages++;
    }
    if (to == f) return false;
    if (cas(&c_->free, &word, pack_free(to, freed_of(word) + messages))) {
      crashpoint(kCpFreeAdvanced);
      return true;
    }
    // Somebody else moved it: walk again from there.
  }
  return false;
}

// Moves head past what nobody claims at head (pads, abandoned records,
// records taken or redelivered out of order), as a consumer would: a
// producer short of room may do it too, so that an idle consumer side does
// not hold back space, and full() does, so that it is exact when quiescent.
void Ring::skip_unclaimable() {
  uint64_t h = load(&c_->head);
  for (uint64_t n = 0; n <= geo_.capacity / kRecordAlign; n++) {
    Rec r;
    if (read_rec(h, &r) != kRecOk || r.status == kCommitted || r.status == kWriting) return;
    if (cas(&c_->head, &h, h + r.size)) h += r.size;
  }
}

// ---------------------------------------------------------------- intents

// Takes an entry first if the thread holds none.
void Ring::set_intent(IntentRef *ref, uint64_t word, uint32_t size, uint32_t len) {
  if (ref->index < 0) ref->index = seg_.take_intent(&ref->kept);
  Intent *in = seg_.intent(seg_.self(), ref->index);
  store_relaxed(&in->size, size);
  store_relaxed(&in->len, len);
  // Published to recovery by the release half of the claiming CAS.
  store(&in->word, word);
}

void Ring::drop_intent(IntentRef *ref) {
  if (ref->index < 0) return;
  store(&seg_.intent(seg_.self(), ref->index)->word, uint64_t{0});
  if (!ref->kept) seg_.give_intent(ref->index);
  ref->index = -1;
}

// ---------------------------------------------------------------- put

// The free position to judge room from t with: the cached copy, or a fresh
// one when the cached copy says size bytes do not fit. Consumers move free
// on only now and then (consume()), so a producer short of room moves it
// past what they have finished itself; in steady state a producer reads no
// line a consumer writes. kAgain: t is stale, reload it.
int Ring::room(uint64_t t, uint64_t size, uint64_t *free_pos) {
  // Acquire/release: whoever refreshed the copy saw the consumers' release
  // of that space, and a thread of ours that uses the copy must too.
  uint64_t f = free_cache_.load(std::memory_order_acquire);
  if (f <= t && fits(t, f, size)) {
    *free_pos = f;
    return MPROC_OK;
  }
  for (int pass = 0;; pass++) {
    uint64_t now_t;
    uint32_t freed;
    int rc = load_free(&f, &now_t, &freed);
    if (rc != MPROC_OK) return rc == kAgain ? kAgain : broken("room load_free");
    free_cache_.store(f, std::memory_order_release);
    *free_pos = f;
    if (now_t != t) return kAgain;
    if (pass == 1 || fits(t, f, size) || !advance_free()) return MPROC_OK;
  }
}

int Ring::claim_put(uint32_t len, bool may_pad, Claim *out) {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st != kStateOpen) return MPROC_E_CLOSED;
  if (geo_.maxsize != 0) return claim_put_counted(len, may_pad, out);

  const uint64_t need = record_size(len);
  IntentRef intent;
  for (;;) {
    uint64_t t = load(&c_->tail);
    if (t % kRecordAlign != 0) {
      drop_intent(&intent);
      return broken("put tail align");
    }
    uint64_t off = t % geo_.capacity;
    uint64_t pad = off + need > geo_.capacity ? geo_.capacity - off : 0;
    uint64_t size = pad + need;
    uint64_t f = 0;
    rc = room(t, size, &f);
    if (rc == kAgain) continue;
    if (rc != MPROC_OK) {
      drop_intent(&intent);
      return rc;
    }
    uint32_t rec_len = len;
    if (!fits(t, f, size)) {
      // The message must start at the ring's beginning. Closing the end with
      // a pad costs nothing on an empty ring (it is passed at once); on a
      // busy one only a put that waits anyway does it, so a failed nowait
      // put leaves no trace.
      if (pad == 0 || !fits(t, f, pad) || !(may_pad || f == t)) {
        drop_intent(&intent);
        return kAgain;
      }
      size = pad;
      rec_len = kNoRecord;
    }
    set_intent(&intent, t | kIntentPut, static_cast<uint32_t>(size), rec_len);
    crashpoint(kCpPutIntent);
    if (!cas(&c_->tail, &t, t + size)) continue;
    crashpoint(kCpPutClaimed);
    if (pad) {
      store(info_word(t), pad);
      store(state_word(t), tag(t) | kPad);
    }
    if (rec_len == kNoRecord) {
      store(&seg_.intent(seg_.self(), intent.index)->word, uint64_t{0});
      // On a ring with nothing left to read, pass our own pad at once: no
      // consumer may come to do it, and the message needs its space.
      uint64_t h = t;
      if (cas(&c_->head, &h, t + pad)) advance_free();
      continue;
    }
    // Headed at once, so that consumers can step over it to later messages.
    const uint64_t r = t + pad;
    store_relaxed(info_word(r), owner_info(len));
    store(state_word(r), tag(r) | kWriting);
    out->pos = r;
    out->len = len;
    out->intent = intent;
    return MPROC_OK;
  }
}

// maxsize queues: the count check and the claim in one journaled step.
int Ring::claim_put_counted(uint32_t len, bool may_pad, Claim *out) {
  advance_free();
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  const uint64_t need = record_size(len);
  for (;;) {
    uint64_t f, t;
    uint32_t freed;
    int rc = load_free(&f, &t, &freed);
    if (rc == kAgain) return kAgain;
    if (rc != MPROC_OK || t % kRecordAlign != 0) return broken("put counted load_free");
    uint64_t puts = load(&c_->puts);
    if (static_cast<uint32_t>(puts) - freed >= geo_.maxsize) return kAgain;
    uint64_t off = t % geo_.capacity;
    uint64_t pad = off + need > geo_.capacity ? geo_.capacity - off : 0;
    uint64_t space = geo_.capacity - (t - f);
    // Tail first: a header a consumer may pass must never lie beyond it.
    Lock::Txn tx(lock_);
    if (pad + need <= space) {
      uint64_t r = t + pad;
      tx.set(&c_->tail, r + need);
      tx.set(&c_->puts, puts + 1);
      if (pad) {
        tx.set(info_word(t), pad);
        tx.set(state_word(t), tag(t) | kPad);
      }
      tx.set(info_word(r), owner_info(len));
      tx.set(state_word(r), tag(r) | kWriting);
      tx.commit();
      crashpoint(kCpPutClaimed);
      out->pos = r;
      out->len = len;
      return MPROC_OK;
    }
    if (pad == 0 || pad > space || !(may_pad || f == t)) return kAgain;
    tx.set(&c_->tail, t + pad);
    tx.set(info_word(t), pad);
    tx.set(state_word(t), tag(t) | kPad);
    tx.commit();
  }
}

void Ring::publish(Claim &c, const void *data, bool wake) {
  if (c.len) copy_with_crashpoint(payload(c.pos), data, c.len, kCpPutCopy);
  crashpoint(kCpPutCopied);
  // A release store: the wake-up check after it is the fast side of the
  // handshake with a consumer going to sleep (fence.h).
  store(state_word(c.pos), tag(c.pos) | kCommitted);
  crashpoint(kCpPutCommitted);
  drop_intent(&c.intent);
  if (wake) wake_consumer();
}

// ---------------------------------------------------------------- get

int Ring::claim_get(size_t cap, Claim *out, size_t *needed) {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return MPROC_E_CLOSED;
  if (load(&c_->redeliver) != 0) {
    bool found = false;
    rc = claim_redelivered(cap, out, needed, &found);
    if (rc != MPROC_OK || found) return rc;
  }
  IntentRef intent;
  if (take_at_head(cap, &intent, out)) return MPROC_OK;
  // The first committed record from head on, taken by a CAS of its state
  // word to TAKEN; head then moves past it. Records still being written are
  // stepped over, so a message whose put returned is deliverable even
  // behind a slower producer. A producer's own messages stay in order: each
  // put claims after its previous one committed.
  uint64_t h = load(&c_->head);
  uint64_t p = h;
  for (uint64_t n = 0; n <= 2 * (geo_.capacity / kRecordAlign); n++) {
    Rec r;
    RecRead rr = read_rec(p, &r);
    if (rr != kRecOk || (p == h && r.status != kCommitted && r.status != kWriting)) {
      uint64_t again = load(&c_->head);
      if (again != h) {  // taken (and maybe reused) under us
        h = p = again;
        continue;
      }
      if (rr == kRecBad) {
        drop_intent(&intent);
        return broken("get bad rec");
      }
      if (rr == kRecUnheaded) break;  // the end, or a claim not yet headed
      // Nobody claims these at head: pads, abandoned records, and records
      // already taken or redelivered out of order. One taken and done
      // ahead of head waited for head to pass it before free could.
      if (cas(&c_->head, &h, h + r.size) && r.status == kDone && advance_free())
        notify(space_ec(), INT_MAX);
      h = p = load(&c_->head);
      continue;
    }
    if (r.status != kCommitted) {
      p += r.size;  // being written (or, past head, already passed on)
      continue;
    }
    if (r.len > cap) {
      drop_intent(&intent);
      *needed = r.len;
      return MPROC_E_TOOBIG;
    }
    if (p != h && !still_writing(h, p)) {
      h = p = load(&c_->head);  // what we stepped over committed meanwhile
      continue;
    }
    if (take(p, h, r.size, r.len, &intent, out)) return MPROC_OK;
    h = p = load(&c_->head);
  }
  drop_intent(&intent);
  return nothing_ready(st, h);
}

// Takes the committed record at p (size ring bytes, len payload bytes),
// head being h: the intent first, then the CAS of the state word, which
// decides between consumers at head and ahead of it, then head past it if
// it is at head. False: another consumer took it.
bool Ring::take(uint64_t p, uint64_t h, uint64_t size, uint32_t len, IntentRef *intent, Claim *out) {
  set_intent(intent, p | kIntentGet, static_cast<uint32_t>(size), len);
  crashpoint(kCpGetIntent);
  uint64_t committed = tag(p) | kCommitted;
  if (!cas(state_word(p), &committed, tag(p) | kTaken)) return false;
  crashpoint(kCpGetClaimed);
  // This CAS fails if a consumer already passed our (taken) record; one
  // taken ahead of head is passed by whoever reaches it.
  if (p == h) cas(&c_->head, &h, h + size);
  out->pos = p;
  out->len = len;
  out->intent = *intent;
  return true;
}

// The common case of claim_get: a committed record at head that fits.
// Read without read_rec's seqlock: the info word is read after the state
// word and trusted only once the CAS of the state word succeeds, which
// proves the record unchanged (its tag names its lap, and a committed
// record's info does not change). Anything else: false, and claim_get
// looks again the careful way.
bool Ring::take_at_head(size_t cap, IntentRef *intent, Claim *out) {
  const uint64_t h = load(&c_->head);
  if (h % kRecordAlign != 0 || load(state_word(h)) != (tag(h) | kCommitted)) return false;
  const uint32_t len = static_cast<uint32_t>(load_relaxed(info_word(h)));
  const uint64_t size = record_bytes(h, kCommitted, len);
  return size != 0 && len <= cap && take(h, h, size, len, intent, out);
}

// Whether no record in [from, to), stepped over as being written, has been
// committed since. Asked after seeing the record at `to` committed: a
// producer commits each message before it claims its next, so if one of
// these was that producer's, it now reads as committed, and the
// scan must start over to keep that producer's order.
bool Ring::still_writing(uint64_t from, uint64_t to) const {
  for (uint64_t q = from; q < to;) {
    Rec r;
    if (read_rec(q, &r) != kRecOk || r.status == kCommitted) return false;
    q += r.size;
  }
  return true;
}

// Shut down: drained once nothing is left and nothing can come back.
int Ring::nothing_ready(uint32_t st, uint64_t h) {
  if (st != kStateShutdown) return kAgain;
  advance_free();
  uint64_t f, t;
  uint32_t freed;
  int rc = load_free(&f, &t, &freed);
  if (rc != MPROC_OK) return rc == kAgain ? kAgain : broken("nothing_ready load_free");
  if (t == h && f == h && load(&c_->redeliver) == 0) return MPROC_E_CLOSED;
  return kAgain;
}

// Redelivered records sit behind head; they are rare, so they are found by
// a walk from free and claimed under the lock.
int Ring::claim_redelivered(size_t cap, Claim *out, size_t *needed, bool *found) {
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  if (load(&c_->redeliver) == 0) return MPROC_OK;
  uint64_t at = 0;
  Rec rec;
  bool ok = walk([&](uint64_t p, const Rec &r) {
    if (!*found && r.status == kRedeliver) {
      *found = true;
      at = p;
      rec = r;
    }
  });
  if (!ok) return broken("redelivered walk");
  if (!*found) return MPROC_OK;
  if (rec.len > cap) {
    *needed = rec.len;
    return MPROC_E_TOOBIG;
  }
  Lock::Txn tx(lock_);
  tx.set(info_word(at), owner_info(rec.len));
  tx.set(state_word(at), tag(at) | kReading);
  tx.set(&c_->redeliver, load(&c_->redeliver) - 1);
  tx.commit();
  out->pos = at;
  out->len = rec.len;
  return MPROC_OK;
}

void Ring::consume(Claim &c, void *buf) {
  const uint64_t end = c.pos + record_size(c.len);
  // While this payload is copied out, fetch the next record's first two
  // lines (its header and the start of its payload: all of a 64-byte
  // message's record), which a producer running ahead has written by now.
  // Measured on 2 vCPUs: 64 B 1P1C 16.5 -> 18.0 M msg/s, ping-pong and
  // 2P2C unchanged; either line alone gains nothing.
  __builtin_prefetch(state_word(end), 0);
  __builtin_prefetch(state_word(end + kRecordAlign), 0);
  if (c.len) copy_with_crashpoint(buf, payload(c.pos), c.len, kCpGetCopy);
  crashpoint(kCpGetCopied);
  // DONE, with a release store to a line this get already owns. Free moves
  // past done records in batches: here once a get ends past a multiple of
  // advance_step_ bytes, or when a producer waits for room; a producer
  // short of room moves it itself (room()). So a get writes no line a
  // producer reads, and a producer spinning for room does not slow it.
  store(state_word(c.pos), tag(c.pos) | kDone);
  crashpoint(kCpGetDone);
  drop_intent(&c.intent);
  bool moved = false;
  if (end / advance_step_ != c.pos / advance_step_) moved = advance_free();
  if (has_waiters(space_ec())) {
    moved |= advance_free();
    // Every producer: they wait for different amounts of room.
    if (moved) wake(space_ec(), INT_MAX);
  }
}

void Ring::unstick() {
  skip_unclaimable();
  advance_free();
}

// ----------------------------------------------------------------- queries

int64_t Ring::qsize() const {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return 0;
  // Redeliveries by their count (it changes only under the lock); from
  // head on, every message record committed or still being written. Not
  // from free: up to a 16th of the ring behind head is done records that
  // free has not passed yet (consume()).
  uint64_t redelivered = load(&c_->redeliver);
  if (redelivered > geo_.capacity / kRecordAlign) return MPROC_E_BAD_SEGMENT;
  int64_t n = static_cast<int64_t>(redelivered);
  bool ok = walk(
      [&](uint64_t, const Rec &r) {
        if (r.status == kCommitted || r.status == kWriting) n++;
      },
      true);
  return ok ? n : MPROC_E_BAD_SEGMENT;
}

int Ring::empty() const {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return 1;
  if (load(&c_->redeliver) != 0) return 0;
  // No record between head and tail still to be delivered: empty.
  uint64_t h = load(&c_->head);
  uint64_t t = load(&c_->tail);
  for (uint64_t n = 0; h < t && n <= geo_.capacity / kRecordAlign; n++) {
    Rec r;
    if (read_rec(h, &r) != kRecOk || r.status == kCommitted || r.status == kWriting) return 0;
    h += r.size;
  }
  return 1;
}

int Ring::full() {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  if (st == kStateShutdownNow) return 0;
  skip_unclaimable();
  advance_free();
  uint64_t f, t;
  uint32_t freed;
  rc = load_free(&f, &t, &freed);
  if (rc == kAgain) return 0;  // moving on both sides: not full
  if (rc != MPROC_OK) return broken("full load_free");
  if (geo_.maxsize != 0 && static_cast<uint32_t>(load(&c_->puts)) - freed >= geo_.maxsize) return 1;
  // The smallest message is one 64-byte unit, and units never straddle
  // the ring's end, so any free unit fits it.
  return geo_.capacity - (t - f) < kRecordAlign ? 1 : 0;
}

int Ring::check() {
  uint32_t st;
  int rc = state_code(&st);
  if (rc != MPROC_OK) return rc;
  // Free, then head, then tail: free <= head <= tail holds even while peers
  // move them.
  uint64_t f = 0, t;  // load_free leaves f unset on a corrupt word, printed below
  uint32_t freed;
  rc = load_free(&f, &t, &freed);
  uint64_t h = load(&c_->head);
  t = load(&c_->tail);
  bool ok = rc == kAgain || (rc == MPROC_OK && f <= h && h <= t && h % kRecordAlign == 0);
  if (!ok) {
    diag_note("check rc=%d f=%llx h=%llx t=%llx", rc, (unsigned long long)f, (unsigned long long)h, (unsigned long long)t);
    return broken("check");
  }
  Section section(*this);
  if (section.rc() != MPROC_OK) return section.rc();
  return recover_locked(false);
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
  if (load(&c_->data_waiters) != 0 && empty() == 0) notify(data_ec(), 1);
}

EventCount Ring::data_ec() const {
  return {&c_->data_seq, &c_->data_waiters, &seg_.slot_at(seg_.self())->data_waiting, &c_->fence_flags};
}

EventCount Ring::space_ec() const {
  return {&c_->space_seq, &c_->space_waiters, &seg_.slot_at(seg_.self())->space_waiting,
          &c_->fence_flags};
}

}  // namespace queue
}  // namespace mproc
