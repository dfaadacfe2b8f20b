#include "queue/fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "queue/segment.h"

namespace mproc {
namespace queue {

std::atomic<uint64_t> g_fence_registered{0};

namespace {

long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

// MPROC_DEBUG_NO_MEMBARRIER=1 acts as if the kernel refused membarrier, to
// test the fallback (docs/design.md, the queue's "Waiting").
bool disabled() {
  static const bool off = getenv("MPROC_DEBUG_NO_MEMBARRIER") != nullptr;
  return off;
}
}  // namespace

void fence_register() {
  uint64_t gen = fork_generation();
  if (g_fence_registered.load(std::memory_order_acquire) == gen + 1 || disabled()) return;
  if (membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
    g_fence_registered.store(gen + 1, std::memory_order_release);
}

bool fence_slow() {
  if (disabled()) return false;
  return membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0;
}

}  // namespace queue
}  // namespace mproc
