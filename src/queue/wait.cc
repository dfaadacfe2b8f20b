#include "queue/wait.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/cpu.h"

namespace mproc {
namespace queue {

namespace {
// Spin budget in pauses: about 0.6-60 us here, around the cost of waking a
// sleeping CPU, which is what spinning tries to save.
constexpr uint32_t kSpinMin = 20;
constexpr uint32_t kSpinMax = 2000;
constexpr uint32_t kSpinStart = 500;
}  // namespace

int futex_wait(uint32_t *word, uint32_t expected, const timespec *rel) {
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, rel, nullptr, 0);
  return r == 0 ? 0 : errno;
}

void futex_wake(uint32_t *word, int n) { syscall(SYS_futex, word, FUTEX_WAKE, n, nullptr, nullptr, 0); }

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

Spinner::Spinner() : enabled_(cpu_count() > 1), budget_(kSpinStart) {}

void Spinner::worked(uint32_t spins, uint32_t limit) {
  // Worth it: make sure next time spins at least twice this long.
  if (2 * spins > limit) budget_.store(std::min(kSpinMax, 2 * spins), std::memory_order_relaxed);
}

void Spinner::wasted(uint32_t limit) {
  // Decay slowly towards the minimum.
  budget_.store(std::max(kSpinMin, limit - limit / 16), std::memory_order_relaxed);
}

}  // namespace queue
}  // namespace mproc
