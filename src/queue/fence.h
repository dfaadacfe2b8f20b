// Asymmetric fences for the queue's wake-up handshakes (docs/queue-layout.md
// 4.6). Each handshake is a Dekker pair: a fast side stores (a commit, a
// DONE) and then loads a waiter count; a sleeper increments that count and
// then re-checks the state. Making both sides sequentially consistent costs
// every put and get a full barrier, which stalls until the record's stores
// have reached the other CPU. Instead the sleeper, which is about to spend
// microseconds in the kernel anyway, runs membarrier(GLOBAL_EXPEDITED): a
// full barrier on every CPU running a registered process. The fast side
// then needs only a compiler barrier.
#pragma once

#include <atomic>
#include <cstdint>

#include "queue/layout.h"
#include "queue/segment.h"

namespace mproc {
namespace queue {

// Registers this process for global expedited membarriers. Called at every
// attach (registration does not survive fork); cheap after the first.
void fence_register();

// 1 + the fork generation in which this process registered (0: never), so
// a forked child uses full barriers until it has registered itself.
extern std::atomic<uint64_t> g_fence_registered;

// Whether this process's fast sides may use the compiler-only fence.
inline bool fence_light_ok() {
  return g_fence_registered.load(std::memory_order_relaxed) == fork_generation_seen() + 1;
}

// Whether the fast side may order its earlier stores before a following
// load of a waiter count with a compiler barrier alone, in the segment whose
// Control::fence_flags is flags. If not, it reads the count with a
// sequentially consistent read-modify-write instead.
inline bool fence_light(const uint32_t *flags) {
  return fence_light_ok() && (load_relaxed(flags) & kFenceFull) == 0;
}

// The sleeper's side, after registering as a waiter and before re-checking.
// False when the kernel refused the barrier: the caller then marks the
// segment kFenceFull (every fast side goes back to full barriers) and
// sleeps only in short slices, since fast sides already past their check
// of the flag may still miss it.
bool fence_slow();

}  // namespace queue
}  // namespace mproc
