// Shared helpers for mproc's GoogleTest suites.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "mproc.h"

namespace mproc_test {

// Number of open file descriptors in this process (/proc/self/fd).
int count_open_fds();

// True if this process has no child at all, live or zombie (waitid
// P_ALL + WNOWAIT reports ECHILD).
bool has_no_children();

// PIDs of this process's children, live or zombie (from /proc: ppid is the
// process, whichever of its threads forked them). A subreaper also sees the
// orphans it adopted.
std::vector<pid_t> child_pids();

// Polls pred every few milliseconds until it is true or timeout_s passes.
bool wait_until(const std::function<bool()> &pred, double timeout_s);

// Runs fn in a raw fork()ed child and returns its exit code (or -signal),
// killing it if it runs longer than timeout_s (then returns -SIGKILL).
// Use it for checks that must happen in a fresh process (exit behaviour,
// subreapers, signal dispositions) without disturbing the test runner.
int run_in_child(const std::function<int()> &fn, double timeout_s = 60.0);

// Joins a started process (generous bound: 60 s) and returns its exit
// code; a failed join or exitcode is a test failure.
int joined_exitcode(mproc_process *p);

// The names in /dev/shm that start with prefix, sorted.
std::vector<std::string> shm_entries(const std::string &prefix);

// Seconds since an arbitrary monotonic origin.
double now_s();

// Pipe helpers for child -> parent reports. Both ends are O_CLOEXEC.
struct Pipe {
  int rd = -1;
  int wr = -1;
  Pipe();
  ~Pipe();
  void close_rd();
  void close_wr();
  // Reads until EOF or timeout; returns what was read. Only for pipes whose
  // every writer exits or closes its end (a forked child holds a copy!).
  std::string read_all(double timeout_s = 30.0);
  // Reads until `delim` arrives (included in the result), EOF or timeout.
  std::string read_until(char delim, double timeout_s = 30.0);
};

// Writes a whole string to an fd (retrying on EINTR/partial writes).
void write_str(int fd, const std::string &s);

}  // namespace mproc_test
