// The queue lock and its redo journal (docs/queue-layout.md, 4.2-4.3).
//
// Puts and gets of a queue without maxsize take no lock. The lock serialises
// what is rare: recovery, claims of redelivered messages, and the claims of
// maxsize queues (whose message count must change with the tail). Each of
// those multi-word changes goes through the journal: the holder writes the
// new values, arms the journal, applies them and disarms it. A holder killed
// anywhere is detected through its participant lock (Segment::alive), the
// lock is taken over and the journal re-applied. Only words that no lock-free
// step can change meanwhile may be journaled, so re-applying is harmless.
#pragma once

#include <cstdint>

#include "queue/layout.h"
#include "queue/segment.h"

namespace mproc {
namespace queue {

class Lock {
 public:
  explicit Lock(Segment &seg) : seg_(seg), c_(seg.control()) {}

  // Takes the lock (always, even on error: release() follows). *stolen:
  // it was taken over from a dead holder. MPROC_E_BAD_SEGMENT: the journal
  // left behind was corrupt.
  int acquire(bool *stolen);
  void release();

  // Stores that must happen together: journaled, then applied, so a holder
  // killed half-way is completed by the next one.
  class Txn {
   public:
    explicit Txn(Lock &lock) : lock_(lock) {}
    void set(uint64_t *word, uint64_t value);
    void commit();

   private:
    Lock &lock_;
    uint32_t n_ = 0;
    JournalEntry e_[kJournalMax];
  };

 private:
  bool acquire_slow(uint32_t me);
  int roll_forward();
  bool target_ok(uint64_t off) const;
  uint64_t *word_at(uint64_t off) const { return reinterpret_cast<uint64_t *>(seg_.base() + off); }

  Segment &seg_;
  Control *c_;
};

}  // namespace queue
}  // namespace mproc
