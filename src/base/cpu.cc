#include "base/cpu.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>

namespace mproc {

int cpu_count() {
  // Grow the mask until the kernel accepts it (machines with > 1024 CPUs).
  for (int ncpus = 1024; ncpus <= (1 << 20); ncpus *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpus);
    if (!set) break;
    size_t size = CPU_ALLOC_SIZE(ncpus);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) == 0) {
      int n = CPU_COUNT_S(size, set);
      CPU_FREE(set);
      if (n > 0) return n;
      break;
    }
    CPU_FREE(set);
    if (errno != EINVAL) break;
  }
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

}  // namespace mproc
