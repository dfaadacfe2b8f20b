// The ring protocol (docs/queue-layout.md, "Protocol").
//
// One lock in the segment guards every change to the indices, the message
// count and the record states; payload copies run outside it, so the lock
// is held for a few dozen stores. Each multi-word change goes through a
// redo journal: the holder writes the new values, arms the journal, applies
// them and disarms it. A holder killed anywhere is detected through its
// participant lock (Segment::alive), its lock is taken over and its journal
// re-applied, so the next holder always finds a consistent ring.
//
// Records outlive their claim: a record stays kWriting while its producer
// copies in and kReading while its consumer copies out. Recovery turns those
// of dead participants into kAbandoned (never delivered: the put did not
// return) or kRedeliver (offered again: the get did not return), so a kill
// at any instant loses nothing that was fully put and tears nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "queue/layout.h"
#include "queue/segment.h"
#include "queue/wait.h"

namespace mproc {
namespace queue {

// A record claimed by this thread, to copy into or out of.
struct Claim {
  uint64_t pos = 0;
  uint32_t len = 0;
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
  // Copies the payload in, commits the record and wakes a consumer.
  void publish(const Claim &c, const void *data);
  // Claims the oldest deliverable message if it fits in cap bytes.
  // MPROC_OK, kAgain, MPROC_E_TOOBIG (*needed = its length; it stays queued),
  // MPROC_E_CLOSED (shut down and drained, or shut down immediately),
  // MPROC_E_BAD_SEGMENT.
  int claim_get(size_t cap, Claim *out, size_t *needed);
  // Copies the payload out, releases the record and wakes producers.
  void consume(const Claim &c, void *buf);

  // Resolves what dead participants left behind. Unless forced, does
  // nothing if any participant ran it during the last slice.
  int recover(bool force);
  // At attach: validates the shared state and runs recovery.
  int check();

  int64_t qsize() const;
  int full();
  int shutdown(bool immediate);
  // Wakes every sleeper of both eventcounts (close, shutdown, recovery).
  void wake_all();
  // A get that leaves without a message passes on a wake-up it may have used.
  void pass_on_data();

  EventCount data_ec() const;
  EventCount space_ec() const;

 private:
  class Section;
  class Txn;
  struct Indices {
    uint64_t free = 0;
    uint64_t head = 0;
    uint64_t tail = 0;
  };
  struct Rec {
    uint64_t status = 0;
    uint64_t size = 0;
    uint32_t len = 0;
    uint32_t owner = 0;
  };
  enum Liveness : uint8_t { kAlive, kDead, kGone };

  int lock();
  bool lock_slow(uint32_t me);
  void unlock();
  int roll_forward();
  bool journal_target_ok(uint64_t off) const;
  int recover_locked();
  bool owner_gone(uint32_t owner) const;

  int state_code(uint32_t *st) const;
  int broken();
  int load_indices(Indices *ix);
  int settle(Indices *ix);
  bool read_rec(uint64_t pos, uint64_t limit, Rec *r) const;
  void add_pad(Txn *tx, uint64_t pos, uint64_t size);

  uint64_t *word_at(uint64_t off) const { return reinterpret_cast<uint64_t *>(seg_.base() + off); }
  uint64_t *state_word(uint64_t pos) const {
    return reinterpret_cast<uint64_t *>(ring_ + pos % geo_.capacity);
  }
  uint64_t *info_word(uint64_t pos) const { return state_word(pos) + 1; }
  uint8_t *payload(uint64_t pos) const { return ring_ + pos % geo_.capacity + kRecordHeader; }

  Segment &seg_;
  Control *c_;
  uint8_t *ring_;
  Geometry geo_;
  // Recovery scratch, one entry per slot; recovery runs under the lock.
  std::vector<uint32_t> slot_words_;
  std::vector<uint8_t> liveness_;
};

}  // namespace queue
}  // namespace mproc
