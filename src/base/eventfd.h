// The two things mproc does with an eventfd used as a wake-up: add one, and
// take whatever is there. Header-only, so libmproc-mpi shares them too.
// Errors are ignored on purpose: a full counter still wakes the reader, and
// an empty one (EAGAIN, the fds are non-blocking) means there is nothing to
// take.
#pragma once

#include <unistd.h>

#include <cstdint>

namespace mproc {

inline void signal_eventfd(int fd) {
  uint64_t one = 1;
  ssize_t ignored = write(fd, &one, sizeof one);
  (void)ignored;
}

inline void drain_eventfd(int fd) {
  uint64_t v;
  ssize_t ignored = read(fd, &v, sizeof v);
  (void)ignored;
}

}  // namespace mproc
