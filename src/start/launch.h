// The child side of spawn and forkserver, between fork (or vfork) and the
// code that runs: only async-signal-safe system calls here, since the
// parent may be multi-threaded (and, after vfork, shares our memory).
#pragma once

#include <csignal>

namespace mproc {

// Moves src[0..n) to descriptors first, first+1, ... (clearing their
// close-on-exec flag), puts devnull (when >= 0) on stdin, and closes every
// other descriptor from first+n up. Returns 0 or an errno value.
int arrange_fds(int devnull, const int *src, int n, int first);

// Every caught signal back to SIG_DFL; ignored ones stay ignored, as exec
// would leave them. Needed before unblocking signals in a vfork child,
// whose inherited handlers would run the parent's code on shared memory.
void reset_signal_handlers();

}  // namespace mproc
