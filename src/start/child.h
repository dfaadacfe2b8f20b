// The child side of spawn and forkserver: mproc_main() and the dispatch
// of a request to what it asks for.
#pragma once

#include <sys/types.h>

namespace mproc {

// mproc_main(): runs a spawned child's request and never returns, or
// returns MPROC_OK in any other process.
int child_main(int argc, char **argv);

// Reads the request on `fd` (its passed descriptors follow from
// kFirstPassedFd) and runs it; never returns. `parent` is the process
// whose death a daemon child must not survive (0: the requester).
[[noreturn]] void run_request(int fd, pid_t parent);

}  // namespace mproc
