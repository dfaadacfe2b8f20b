#include "process/bootstrap.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "base/sys.h"
#include "process/self.h"
#include "process/table.h"

namespace mproc {

void enter_child(const std::string &name, const std::string &identity, bool daemon, pid_t parent) {
  if (daemon) die_with_parent(parent);  // even if the parent is SIGKILLed
  become_child(name, identity, daemon);
  // Two processes reading one terminal is never wanted (Python does this too).
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    if (devnull != STDIN_FILENO) close(devnull);
  }
}

void run_target_and_exit(mproc_target_fn target, const void *arg, size_t arg_len, void *ctx,
                         const char *name) {
  int code = 1;
  try {
    code = target(arg_len ? arg : nullptr, arg_len, ctx);
  } catch (...) {
    // Unwinding into the parent's code path from here would be a disaster.
    fprintf(stderr, "mproc: %s: uncaught C++ exception in the process target\n", name);
  }
  ProcessTable::instance().run_exit_handlers();
  fflush(nullptr);
  _exit(code & 0xff);
}

}  // namespace mproc
