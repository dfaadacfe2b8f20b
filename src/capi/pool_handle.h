// The mproc_pool handle, shared by the C layer's pool entry points and the
// private seam (capi/pool_seam.cc).
#pragma once

#include <unistd.h>

#include <memory>

#include "base/sys.h"
#include "pool/pool.h"

// It remembers the process that made it: in a forked child its locks may
// have been copied while held, so nothing there may touch them.
struct mproc_pool {
  std::shared_ptr<mproc::Pool> pool;
  pid_t owner = mproc::current_pid();
};
