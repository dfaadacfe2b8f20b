// The mproc_pool handle, shared by the C layer's pool entry points and the
// private seam (capi/pool_seam.cc).
#pragma once

#include <unistd.h>

#include <memory>

#include "pool/pool.h"

namespace mproc {
// This process's id, cached: getpid() is a system call, and every pool,
// result and iterator call checks the process it is made in. fork()
// refreshes it in the child (pthread_atfork); a child made by a raw clone
// system call that then uses the library is not seen as another process.
pid_t this_process();
}  // namespace mproc

// It remembers the process that made it: in a forked child its locks may
// have been copied while held, so nothing there may touch them.
struct mproc_pool {
  std::shared_ptr<mproc::Pool> pool;
  pid_t owner = mproc::this_process();
};
