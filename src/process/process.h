// A process handle: its configuration before start, the fork that starts it,
// and the child-side bootstrap. Waiting, signalling and reaping belong to
// the ProcessTable; this class adds the handle's state rules on top.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mproc/mproc-process.h"
#include "process/table.h"
#include "start/request.h"

namespace mproc {

class Process {
 public:
  Process(mproc_target_fn target, const void *arg, size_t arg_len, void *ctx);
  // A target registered under `entry` (mproc_register), found at creation.
  Process(const std::string &entry, mproc_target_fn target, const void *arg, size_t arg_len);
  ~Process();
  Process(const Process &) = delete;
  Process &operator=(const Process &) = delete;

  int set_name(const char *name);
  int set_daemon(bool daemon);
  int set_start_method(int method);
  // What a spawn or forkserver child runs when it is not a registered
  // target (a pool worker): the request kind, its argument bytes and the
  // descriptors it needs. The fork path still runs target(arg, ctx).
  void set_launch(ChildKind kind, std::vector<unsigned char> arg, std::vector<int> fds);
  int start();
  int join(double timeout);
  int is_alive();
  int send_signal(int sig);
  int exitcode(int *code);
  int sentinel() const;

  pid_t pid() const;
  const char *name() const { return name_.c_str(); }
  // "2" or "1:3": the path that numbers this process (see self.h).
  const std::string &identity() const { return identity_; }
  bool daemon() const { return daemon_; }

 private:
  bool owned_here() const;
  // The started child, or nullptr before start.
  std::shared_ptr<Child> child() const;
  // MPROC_OK and the child of a started handle this process owns, else
  // MPROC_E_STATE (the precondition of every action on a child).
  int started(std::shared_ptr<Child> *out) const;
  int fork_child(std::shared_ptr<Child> *out);
  int launch_child(int method, std::shared_ptr<Child> *out);

  mutable std::mutex mu_;  // guards configuration and child_ against start()
  mproc_target_fn target_;
  std::string entry_;  // registered name; looked up from target_ when empty
  int method_ = 0;     // 0: the process-wide default at start
  ChildKind launch_kind_ = ChildKind::kTarget;
  std::vector<unsigned char> launch_arg_;
  std::vector<int> launch_fds_;
  std::vector<unsigned char> arg_;
  void *ctx_;
  std::string identity_;
  std::string name_;
  bool daemon_;
  pid_t creator_;
  std::shared_ptr<Child> child_;
  // Readable without mu_, which a forked child may have inherited locked.
  std::atomic<pid_t> pid_{0};
};

}  // namespace mproc
