// The child side every start method shares: become the named child, then
// run the target and leave with _exit().
#pragma once

#include <sys/types.h>

#include <string>

#include "mproc/mproc-process.h"

namespace mproc {

// In a fresh child: arms PDEATHSIG for a daemon (parent = the process
// whose death must kill it), records its name and identity, and puts
// stdin on /dev/null.
void enter_child(const std::string &name, const std::string &identity, bool daemon, pid_t parent);

// Runs the target, then Python's exit rule for the child's own children,
// flushes stdio and _exit()s with the target's return value.
[[noreturn]] void run_target_and_exit(mproc_target_fn target, const void *arg, size_t arg_len,
                                      void *ctx, const char *name);

}  // namespace mproc
