// Blocking without syscalls on the fast path: an attempt, a bounded
// adaptive spin, then an eventcount sleep on a shared futex (never
// FUTEX_PRIVATE: the waker is usually another process). Sleeps are cut into
// slices so that a wake-up lost to a peer killed at the wrong instant costs
// at most one slice, after which the caller's idle hook may run recovery.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>

#include <sched.h>

#include "base/deadline.h"
#include "queue/crashpoint.h"
#include "queue/fence.h"
#include "queue/layout.h"

namespace mproc {
namespace queue {

// Internal result of one attempt: nothing to do yet, wait and retry.
constexpr int kAgain = 1;
// Longest single futex sleep before re-checking the world.
constexpr int64_t kSliceNs = 50 * 1000 * 1000;
// A sleep whose barrier the kernel refused may miss a wake-up (fence.h).
constexpr int64_t kUnfencedSliceNs = 1000 * 1000;

// FUTEX_WAIT (shared) while *word == expected, at most rel (nullptr:
// forever). Returns 0 when woken, else ETIMEDOUT, EAGAIN or EINTR.
int futex_wait(uint32_t *word, uint32_t expected, const timespec *rel);
// FUTEX_WAKE (shared) of up to n waiters.
void futex_wake(uint32_t *word, int n);
// One spin-loop pause.
void cpu_relax();

// Adapts how long to spin before sleeping from how long waits turned out to
// be; disabled when this process can run on one CPU only (spinning there
// only delays the thread we wait for).
class Spinner {
 public:
  Spinner();
  // Retries attempt() between pauses until it returns something other than
  // kAgain, the budget runs out or dl passes. Spinning on the operation
  // itself watches the very line the other side writes (a record header,
  // or the free index), not a shared sequence word.
  template <typename Attempt>
  int spin(const Deadline &dl, Attempt &&attempt) {
    if (!enabled_) return kAgain;
    uint32_t limit = budget_.load(std::memory_order_relaxed);
    for (uint32_t i = 1; i <= limit; i++) {
      cpu_relax();
      int rc = attempt();
      if (rc != kAgain) {
        worked(i, limit);
        return rc;
      }
      // Every 32 pauses (about a microsecond here) give the CPU away once:
      // with more runnable processes than CPUs (2 producers and 2
      // consumers on 2 CPUs), the one we wait for may be the one waiting
      // for a CPU. Measured: 2P2C 64 B 1.7-2.2 -> 5-7 M msg/s on 2 vCPUs,
      // the awake ping-pong unchanged (a reply takes fewer pauses).
      if ((i & 31) == 0) {
        if (dl.expired()) return kAgain;
        sched_yield();
      }
    }
    wasted(limit);
    return kAgain;
  }

 private:
  void worked(uint32_t spins, uint32_t limit);
  void wasted(uint32_t limit);
  bool enabled_;
  std::atomic<uint32_t> budget_;
};

// An eventcount in the segment plus this participant's share of its waiter
// count (the share lets recovery subtract what a dead waiter left behind).
struct EventCount {
  uint32_t *seq;
  uint32_t *waiters;
  uint32_t *mine;
  uint32_t *fence_flags;  // Control::fence_flags of the segment
};

// Whether anybody sleeps (or is about to) on ec, asked after the state
// change a sleeper waits for: the fast side of the handshake (fence.h).
inline bool has_waiters(const EventCount &ec) {
  if (fence_light(ec.fence_flags)) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return load(ec.waiters) != 0;
  }
  // Modification order on the count decides: read before the sleeper's
  // increment, and that increment reads from us and sees our change.
  return fetch_add(ec.waiters, 0u) != 0;
}

// Wakes up to n sleepers.
inline void wake(const EventCount &ec, int n) {
  fetch_add(ec.seq, 1u);
  futex_wake(ec.seq, n);
}

// Wakes up to n sleepers if there are any: no shared write at all when
// nobody sleeps.
inline void notify(const EventCount &ec, int n) {
  if (has_waiters(ec)) wake(ec, n);
}

// Calls attempt() until it returns something other than kAgain or the
// timeout (API seconds, not NaN) passes (then timeout_code): once, then
// spinning, then sleeping. The clock is read for the deadline only after
// the first attempt failed: most calls end there. idle() runs whenever a
// sleep slice or the deadline passes without news.
template <typename Attempt, typename Idle>
int wait_for(const EventCount &ec, Spinner &spinner, double timeout, int timeout_code,
             Attempt &&attempt, Idle &&idle) {
  int rc = attempt();
  if (rc != kAgain) return rc;
  Deadline dl;
  Deadline::from_seconds(timeout, &dl);  // not NaN: cannot fail
  if (!dl.expired()) {
    rc = spinner.spin(dl, attempt);
    if (rc != kAgain) return rc;
  }
  for (;;) {
    if (dl.expired()) {
      idle();
      rc = attempt();
      return rc == kAgain ? timeout_code : rc;
    }
    // Register, fence, then read the key, then re-check: a notify after
    // the re-check changes seq, so the futex refuses to sleep on the old key.
    fetch_add(ec.waiters, 1u);
    fetch_add(ec.mine, 1u);
    crashpoint(kCpWaitRegistered);
    int64_t slice = kSliceNs;
    if (!fence_slow()) {
      __atomic_fetch_or(ec.fence_flags, kFenceFull, __ATOMIC_SEQ_CST);
      slice = kUnfencedSliceNs;
    }
    uint32_t key = load(ec.seq);
    rc = attempt();
    int err = 0;
    if (rc == kAgain) {
      timespec rel = dl.remaining_capped(slice);
      err = futex_wait(ec.seq, key, &rel);
    }
    __atomic_fetch_sub(ec.mine, 1u, __ATOMIC_SEQ_CST);
    __atomic_fetch_sub(ec.waiters, 1u, __ATOMIC_SEQ_CST);
    if (rc != kAgain) return rc;
    if (err == ETIMEDOUT) idle();
  }
}

}  // namespace queue
}  // namespace mproc
