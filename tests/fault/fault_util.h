// What every fault test checks after a failed (or successful) call: the
// process holds the same descriptors, has no child left, and /dev/shm
// holds none of this process's test queues.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace fault {

// The prefix of qtest::unique_name() for this process.
inline std::string shm_prefix() { return "mproc-test-" + std::to_string(getpid()) + "-"; }

struct Footprint {
  int fds = mproc_test::count_open_fds();
  std::vector<std::string> shm = mproc_test::shm_entries(shm_prefix());
};

// Children are awaited (a freed running process is reaped by a thread).
inline void expect_nothing_left(const Footprint &before, const std::string &what) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(mproc_test::wait_until(mproc_test::has_no_children, 30.0)) << "a child is left";
  EXPECT_EQ(mproc_test::count_open_fds(), before.fds) << "descriptors leaked";
  EXPECT_EQ(mproc_test::shm_entries(shm_prefix()), before.shm) << "/dev/shm entries left";
}

// In a child of run_in_child(), where gtest's assertions would not reach
// the parent: report on stderr and remember the failure.
#define FAULT_CHECK(failed, cond)                                              \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      (failed) = true;                                                         \
    }                                                                          \
  } while (0)

}  // namespace fault
