// The process-wide start method and the rules around it: the default can
// change only until mproc starts its first child; a program that was
// spawned by mproc but skipped mproc_main() may not start children (that
// would be a fork bomb); and fork from a multi-threaded process warns once.
#pragma once

#include <string>

namespace mproc {

bool valid_start_method(int method);
// MPROC_OK, MPROC_E_INVAL (unknown method), MPROC_E_STATE (a child was
// already started by this process).
int set_default_start_method(int method);
int default_start_method();

// MPROC_OK, or MPROC_E_STATE in a spawned program whose main() did not
// run mproc_main() (a message says so on stderr, once).
int may_start();
// Every start (process or pool worker) calls this first: may_start(), and
// from then on the default start method is fixed.
int begin_start();

// mproc_main() ran in this process (as the parent, or before a child's
// entry point).
void mark_bootstrapped();

// Before a fork start: warns once on stderr when threads other than
// mproc's own are running, unless fork was chosen explicitly.
void warn_if_fork_unsafe(bool chosen_explicitly);

// The marker that makes mproc_main() run a spawned child.
constexpr const char *kSpawnFlag = "--mproc-spawn";

}  // namespace mproc
