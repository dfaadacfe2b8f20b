// The process table: every child this process started, how it is waited
// for, signalled and reaped, and what happens to children at fork and exit.
//
// Rules it enforces (shared/design/pool-process.md section 5):
// - a child is reaped only through its own pidfd (or its own PID on kernels
//   without pidfds), never with wait(-1), and no SIGCHLD handler is used;
// - a child is signalled only while it is known not to be reaped, so a
//   reused PID is never hit;
// - a child whose handle was freed while it ran is reaped by a library
//   thread that exists only while such orphans exist;
// - at normal exit, daemon children are terminated and the rest joined;
// - in a forked child the parent's table is forgotten (its pidfds closed).
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "base/deadline.h"

namespace mproc {

// One started child. Shared between its handle and the table; the fields
// after `pid`/`pidfd`/`daemon` change only under ProcessTable's mutex.
struct Child {
  pid_t pid = 0;
  int pidfd = -1;  // -1 without pidfd support (then `pid` is used)
  // A forkserver child is not ours to reap: its server writes the exit
  // code (int32) here. EOF without it means the server died and the status
  // is lost: the fd is closed and the child counts as exited (code 255)
  // once its pidfd says so, or at once without a pidfd.
  int status_fd = -1;
  bool relayed = false;  // a forkserver child
  bool daemon = false;
  bool reaped = false;        // exit status collected (or found lost)
  int exitcode = 0;           // valid once reaped
  bool handle_freed = false;  // the table alone keeps it now

  Child() = default;
  Child(const Child &) = delete;
  Child &operator=(const Child &) = delete;
  ~Child();
  // The descriptor that turns readable when the child has exited, or -1
  // (no pidfd: poll by PID).
  int exit_fd() const { return status_fd >= 0 ? status_fd : pidfd; }
};

class ProcessTable {
 public:
  // The table of the calling process; the first call registers the
  // pthread_atfork and atexit hooks.
  static ProcessTable &instance();

  // Records a freshly started child (parent side, right after the start);
  // opens its pidfd unless the starter supplied one.
  void adopt(const std::shared_ptr<Child> &child);
  // Opens the pidfd of a child of ours that nobody has reaped yet; returns
  // false if it is already gone and reaped by someone else.
  static bool open_pidfd(Child &child);
  // Waits until the child has exited and reaps it: MPROC_OK or MPROC_E_TIMEOUT.
  int join(const std::shared_ptr<Child> &child, const Deadline &deadline);
  // 1 if the child has exited (reaping it now if needed), else 0.
  int poll(Child &child);
  // Sends a signal unless the child is already reaped (then MPROC_OK).
  int signal(Child &child, int sig);
  // The handle is gone: the table reaps the child when it exits.
  void release(const std::shared_ptr<Child> &child);
  // Python's exit rule: terminate live daemon children, join the others.
  void run_exit_handlers();

 private:
  ProcessTable();
  bool poll_locked(Child &child);
  void sweep_locked();
  void ensure_reaper_locked();
  static void *reaper_main(void *);
  static void at_fork_prepare();
  static void at_fork_parent();
  static void at_fork_child();
  static void at_exit();

  std::mutex mu_;
  std::vector<std::shared_ptr<Child>> children_;  // until reaped and freed
  bool reaper_running_ = false;
  int wake_fd_ = -1;  // eventfd that tells the reaper to rescan
};

}  // namespace mproc
