#include "queue/journal.h"

#include <cstddef>

#include "mproc/mproc-common.h"
#include "queue/crashpoint.h"
#include "queue/wait.h"

namespace mproc {
namespace queue {

namespace {
// Lock waits: a short spin (holders hold it for a few dozen stores), then
// sleeps of this length between checks that the holder is still alive.
constexpr int kLockSpin = 64;
constexpr long kLockSliceNs = 10 * 1000 * 1000;
}  // namespace

void Lock::Txn::set(uint64_t *word, uint64_t value) {
  e_[n_].offset = static_cast<uint64_t>(reinterpret_cast<uint8_t *>(word) - lock_.seg_.base());
  e_[n_].value = value;
  n_++;
}

void Lock::Txn::commit() {
  Control *c = lock_.c_;
  for (uint32_t i = 0; i < n_; i++) {
    store(&c->journal[i].offset, e_[i].offset);
    store(&c->journal[i].value, e_[i].value);
  }
  store(&c->journal_count, n_);
  store_seq(&c->journal_armed, 1u);
  for (uint32_t i = 0; i < n_; i++) {
    if (i == n_ / 2) crashpoint(kCpTxnHalf);
    store(lock_.word_at(e_[i].offset), e_[i].value);
  }
  crashpoint(kCpTxnApplied);
  store_seq(&c->journal_armed, 0u);
}

int Lock::acquire(bool *stolen) {
  seg_.lock_user(1);
  const uint32_t me = seg_.self() + 1;
  uint32_t expected = 0;
  *stolen = false;
  if (!cas(&c_->lock, &expected, me)) *stolen = acquire_slow(me);
  crashpoint(kCpLockHeld);
  if (load(&c_->journal_armed) != 0) return roll_forward();
  return MPROC_OK;
}

// Returns true when the lock was taken over from a dead holder.
bool Lock::acquire_slow(uint32_t me) {
  uint32_t *w = &c_->lock;
  for (int i = 0; i < kLockSpin; i++) {
    cpu_relax();
    uint32_t v = load_relaxed(w);
    if (v == 0 && cas(w, &v, me)) return false;
  }
  // Once we have slept we take the lock marked "waiters", so that our
  // release wakes whoever may still sleep (the classic three-state mutex).
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

void Lock::release() {
  if (exchange(&c_->lock, 0u) & kLockWaiters) futex_wake(&c_->lock, 1);
  seg_.lock_user(-1);
}

int Lock::roll_forward() {
  uint32_t n = load(&c_->journal_count);
  if (n > kJournalMax) return MPROC_E_BAD_SEGMENT;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t off = load(&c_->journal[i].offset);
    uint64_t value = load(&c_->journal[i].value);
    if (!target_ok(off)) return MPROC_E_BAD_SEGMENT;
    store(word_at(off), value);
  }
  store_seq(&c_->journal_armed, 0u);
  return MPROC_OK;
}

// The words a journal may name: the statistics and redelivery count, the
// tail and put count (moved under the lock only in maxsize queues), and the
// two header words of a record.
bool Lock::target_ok(uint64_t off) const {
  const Geometry &g = seg_.geometry();
  if (off % 8 != 0) return false;
  if (off >= offsetof(Control, stat_abandoned) && off < offsetof(Control, recover_time_ns)) return true;
  if (off == offsetof(Control, redeliver)) return true;
  if (off == offsetof(Control, tail) || off == offsetof(Control, puts)) return true;
  if (off < g.ring_offset || off >= g.ring_offset + g.capacity) return false;
  uint64_t in_record = (off - g.ring_offset) % kRecordAlign;
  return in_record == 0 || in_record == 8;
}

}  // namespace queue
}  // namespace mproc
