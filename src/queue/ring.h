// The ring protocol (docs/queue-layout.md, "Protocol").
//
// Puts and gets take no lock. A producer claims bytes with a CAS on `tail`
// and heads its record WRITING at once; a consumer takes the first committed
// record from `head` on with a CAS of its state word (stepping over records
// still being written) and moves `head` past it, and marks it DONE when it
// has copied it out. `free` moves past DONE records in batches, each 16th
// of the ring or when a producer needs the room. Each side writes its own
// index line; a producer reads `free` only when its cached copy says the
// ring is full, and consumers wait on the record header itself, so in
// steady state producer and consumer share only the record lines they hand
// over. Wake-up checks use asymmetric fences (fence.h): no locked
// instruction on the fast path pays for a sleeper.
//
// Before each claiming CAS the thread writes an intent {kind, position,
// size} into its participant slot. If its process dies before the record
// is committed (put) or done (get), recovery finds the intent, checks
// through the OFD lock that the owner is dead and that no live intent names
// the same position, and resolves the claim with single steps: a dead put
// becomes ABANDONED (skipped; it never returned), a dead get becomes
// REDELIVER (offered again; it never returned). So a kill at any instant
// loses nothing that was fully put and tears nothing.
//
// maxsize queues also claim under the queue lock (journal.h): the message
// count (`puts` minus the messages `free` has passed) must change with the
// tail. Redelivered records are claimed under the lock too (rare).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mproc/mproc-common.h"
#include "queue/journal.h"
#include "queue/layout.h"
#include "queue/segment.h"
#include "queue/wait.h"

namespace mproc {
namespace queue {
// Debug aid (MPROC_DEBUG_BROKEN=1): the last anomaly this thread saw, printed by broken().
void diag_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// An intent entry of our slot held by this thread (Segment::take_intent).
struct IntentRef {
  int index = -1;  // -1: none
  bool kept = false;
};

// A record claimed by this thread, to copy into or out of.
struct Claim {
  uint64_t pos = 0;
  uint32_t len = 0;
  IntentRef intent;  // our intent entry while the claim is in flight
};

class Ring {
 public:
  explicit Ring(Segment &seg);

  // Claims room for a message of len bytes (len <= max_message).
  // may_pad: the caller will wait if there is no room, so it may close the
  // ring's end with a pad record now rather than starve behind smaller
  // messages. MPROC_OK, kAgain (no room, or maxsize messages queued),
  // MPROC_E_CLOSED (shut down), MPROC_E_BAD_SEGMENT.
  int claim_put(uint32_t len, bool may_pad, Claim *out);
  // Copies the payload in, commits the record and, if wake, wakes a
  // consumer (else the caller owes a wake_consumer() later).
  void publish(Claim &c, const void *data, bool wake = true);
  // Wakes one sleeping consumer, if any.
  void wake_consumer() { notify(data_ec(), 1); }
  // Claims the oldest deliverable message if it fits in cap bytes.
  // MPROC_OK, kAgain, MPROC_E_TOOBIG (*needed = its length; it stays queued),
  // MPROC_E_CLOSED (shut down and drained, or shut down immediately),
  // MPROC_E_BAD_SEGMENT.
  int claim_get(size_t cap, Claim *out, size_t *needed);
  // Copies the payload out, releases the record and wakes producers.
  void consume(Claim &c, void *buf);

  // Resolves what dead participants left behind. Unless forced, does
  // nothing if any participant ran it during the last slice. own_stale: our
  // own slot was just taken over from a dead owner, whose claims are stale.
  int recover(bool force, bool own_stale);
  // At attach: validates the shared indices and runs recovery.
  int check();

  int64_t qsize() const;
  int empty() const;
  int full();
  int shutdown(bool immediate);
  // Wakes every sleeper of both eventcounts (close, shutdown, recovery).
  void wake_all();
  // A waiting producer's fallback for space nobody else releases: pads and
  // abandoned records at head with no consumer about, or a consumer that
  // died between releasing its record and moving free on.
  void unstick();
  // A get that leaves without a message passes on a wake-up it may have used.
  void pass_on_data();

  EventCount data_ec() const;
  EventCount space_ec() const;

 private:
  class Section;
  struct Rec {
    uint64_t status = 0;
    uint64_t size = 0;
    uint32_t len = 0;
    uint32_t owner = 0;
  };
  enum RecRead : uint8_t { kRecOk, kRecUnheaded, kRecBad };
  enum Liveness : uint8_t { kAlive, kDead, kGone };

  // Records and indices.
  // docs/queue-layout.md 3.3: T(p) = p * kTagMultiplier XOR K.
  uint64_t tag(uint64_t pos) const { return (pos * kTagMultiplier) ^ geo_.tag_key; }
  // Whether size bytes fit from tail t with free at f (f <= t).
  bool fits(uint64_t t, uint64_t f, uint64_t size) const {
    return size <= geo_.capacity && t - f <= geo_.capacity - size;
  }
  RecRead read_rec(uint64_t pos, Rec *r) const;
  uint64_t record_bytes(uint64_t pos, uint64_t status, uint32_t len) const;
  bool decode_free(uint64_t word, uint64_t ref, uint64_t *pos) const;
  int load_free(uint64_t *free_pos, uint64_t *tail, uint32_t *freed) const;
  template <typename Fn>
  bool walk(Fn &&fn, bool from_head = false) const;
  bool advance_free();
  void skip_unclaimable();
  int state_code(uint32_t *st) const;
  int broken(const char *why = "?");
  void dump_broken(const char *why) const;

  // Claim steps.
  int room(uint64_t t, uint64_t size, uint64_t *free_pos);
  int claim_put_counted(uint32_t len, bool may_pad, Claim *out);
  bool take(uint64_t p, uint64_t h, uint64_t size, uint32_t len, IntentRef *intent, Claim *out);
  bool take_at_head(size_t cap, IntentRef *intent, Claim *out);
  int claim_redelivered(size_t cap, Claim *out, size_t *needed, bool *found);
  int nothing_ready(uint32_t st, uint64_t h);
  bool still_writing(uint64_t from, uint64_t to) const;
  void set_intent(IntentRef *in, uint64_t word, uint32_t size, uint32_t len);
  void drop_intent(IntentRef *in);

  // Recovery (recovery.cc).
  int recover_locked(bool own_stale);
  bool resolve_put(uint32_t slot, const Intent &in);
  bool resolve_get(uint64_t pos);
  bool put_claim_ambiguous(uint32_t slot, const Intent &in, uint64_t tail) const;
  bool boundary(uint64_t pos, uint64_t tail) const;
  bool live_intent(uint64_t word) const;
  bool settle_header(uint64_t pos, uint64_t status, uint64_t info);
  bool owner_gone(uint32_t owner, bool own_stale) const;

  uint64_t *state_word(uint64_t pos) const {
    return reinterpret_cast<uint64_t *>(ring_ + pos % geo_.capacity);
  }
  uint64_t *info_word(uint64_t pos) const { return state_word(pos) + 1; }
  uint8_t *payload(uint64_t pos) const { return ring_ + pos % geo_.capacity + kRecordHeader; }
  uint64_t owner_info(uint32_t len) const { return uint64_t{seg_.self() + 1} << 32 | len; }

  Segment &seg_;
  Control *c_;
  uint8_t *ring_;
  Geometry geo_;
  Lock lock_;
  // Consumers move free on each time a get crosses a multiple of this many
  // ring bytes (a 16th of the ring).
  static constexpr uint64_t kAdvanceParts = 16;
  const uint64_t advance_step_;
  // Producers' copy of the free position (never ahead of the real one).
  std::atomic<uint64_t> free_cache_{0};
  // Recovery scratch, one entry per slot; recovery runs under the lock.
  std::vector<uint32_t> slot_words_;
  std::vector<uint8_t> liveness_;
};

// Holds the queue lock for one scope, finishing a dead holder's journal and
// recovering after it. Nothing inside a section may throw.
class Ring::Section {
 public:
  explicit Section(Ring &r) : r_(r) {
    bool stolen = false;
    rc_ = r.lock_.acquire(&stolen);
    if (rc_ != MPROC_OK)
      rc_ = r.broken("lock acquire");
    else if (stolen)
      rc_ = r.recover_locked(false);  // whatever else the holder owned is stuck too
  }
  ~Section() { r_.lock_.release(); }
  Section(const Section &) = delete;
  Section &operator=(const Section &) = delete;
  int rc() const { return rc_; }

 private:
  Ring &r_;
  int rc_;
};

// Calls fn(pos, rec) for each record from free (or head) up to tail,
// stopping at the first one not yet headed. Records freed under the walk
// are stepped over. False: a corrupt header.
template <typename Fn>
bool Ring::walk(Fn &&fn, bool from_head) const {
  uint64_t p, t;
  uint32_t freed;
  int rc = load_free(&p, &t, &freed);
  if (rc != MPROC_OK) return rc == kAgain;  // too busy to walk now: no verdict
  if (from_head) p = std::max(p, std::min(t, load(&c_->head)));
  for (uint64_t n = 0; p < t && n <= 2 * (geo_.capacity / kRecordAlign); n++) {
    Rec r;
    RecRead rr = read_rec(p, &r);
    if (rr == kRecOk && r.size <= t - p) {
      fn(p, r);
      p += r.size;
      continue;
    }
    uint64_t f2;
    rc = load_free(&f2, &t, &freed);
    if (rc != MPROC_OK) return rc == kAgain;
    if (f2 > p) {
      p = f2;  // consumers freed (and producers may reuse) what we were reading
      continue;
    }
    if (rr != kRecUnheaded) diag_note("walk bad rec p=%llx t=%llx f2=%llx", (unsigned long long)p, (unsigned long long)t, (unsigned long long)f2);
    return rr == kRecUnheaded;
  }
  return true;
}

}  // namespace queue
}  // namespace mproc
