#include "process/process.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "base/deadline.h"
#include "base/sys.h"
#include "mproc/mproc-start.h"
#include "process/bootstrap.h"
#include "process/self.h"
#include "start/method.h"
#include "start/registry.h"
#include "start/start.h"

namespace mproc {

Process::Process(mproc_target_fn target, const void *arg, size_t arg_len, void *ctx)
    : target_(target),
      arg_(static_cast<const unsigned char *>(arg), static_cast<const unsigned char *>(arg) + arg_len),
      ctx_(ctx),
      identity_(next_child_identity()),
      name_("Process-" + identity_),
      daemon_(self_daemon()),
      creator_(current_pid()) {}

Process::Process(const std::string &entry, mproc_target_fn target, const void *arg,
                 size_t arg_len)
    : Process(target, arg, arg_len, nullptr) {
  entry_ = entry;
}

Process::~Process() {
  // In the creating process the table takes over a still-running child; in
  // any other process the record is a stale copy and is simply dropped.
  if (child_ && owned_here()) ProcessTable::instance().release(child_);
}

bool Process::owned_here() const { return creator_ == current_pid(); }

std::shared_ptr<Child> Process::child() const {
  std::lock_guard<std::mutex> lock(mu_);
  return child_;
}

int Process::set_name(const char *name) {
  if (!owned_here()) return MPROC_E_STATE;
  std::lock_guard<std::mutex> lock(mu_);
  if (child_) return MPROC_E_STATE;
  name_ = name;
  return MPROC_OK;
}

int Process::set_daemon(bool daemon) {
  if (!owned_here()) return MPROC_E_STATE;
  std::lock_guard<std::mutex> lock(mu_);
  if (child_) return MPROC_E_STATE;
  daemon_ = daemon;
  return MPROC_OK;
}

int Process::set_start_method(int method) {
  if (!valid_start_method(method)) return MPROC_E_INVAL;
  if (!owned_here()) return MPROC_E_STATE;
  std::lock_guard<std::mutex> lock(mu_);
  if (child_) return MPROC_E_STATE;
  method_ = method;
  return MPROC_OK;
}

void Process::set_launch(ChildKind kind, std::vector<unsigned char> arg, std::vector<int> fds) {
  std::lock_guard<std::mutex> lock(mu_);
  launch_kind_ = kind;
  launch_arg_ = std::move(arg);
  launch_fds_ = std::move(fds);
}

int Process::start() {
  if (!owned_here()) return MPROC_E_STATE;
  std::lock_guard<std::mutex> lock(mu_);
  if (child_) return MPROC_E_STATE;
  if (int rc = begin_start()) return rc;
  int method = method_ ? method_ : default_start_method();
  std::shared_ptr<Child> child;
  int rc = method == MPROC_START_FORK ? fork_child(&child) : launch_child(method, &child);
  if (rc != MPROC_OK) return rc;
  child_ = std::move(child);
  pid_.store(child_->pid, std::memory_order_release);
  return MPROC_OK;
}

int Process::fork_child(std::shared_ptr<Child> *out) {
  warn_if_fork_unsafe(method_ == MPROC_START_FORK);
  auto child = std::make_shared<Child>();
  child->daemon = daemon_;
  ProcessTable &table = ProcessTable::instance();  // hooks in place before fork
  pid_t parent = getpid();
  fflush(nullptr);  // buffered output must not be printed by both processes
  pid_t pid = fork();
  if (pid < 0) return errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
  if (pid == 0) {
    enter_child(name_, identity_, daemon_, parent);
    run_target_and_exit(target_, arg_.data(), arg_.size(), ctx_, name_.c_str());
  }
  child->pid = pid;
  table.adopt(child);
  *out = std::move(child);
  return MPROC_OK;
}

int Process::launch_child(int method, std::shared_ptr<Child> *out) {
  ChildRequest req;
  req.kind = launch_kind_;
  if (req.kind == ChildKind::kTarget) {
    // Nothing but bytes crosses an exec: a ctx pointer would point nowhere.
    if (ctx_) return MPROC_E_INVAL;
    req.entry = entry_;
    if (req.entry.empty() && !target_name(target_, &req.entry)) return MPROC_E_NOENT;
    req.arg = arg_;
  } else {
    req.arg = launch_arg_;
    req.fds = launch_fds_;
  }
  req.name = name_;
  req.identity = identity_;
  req.daemon = daemon_;
  req.parent = getpid();
  req.start_method = default_start_method();
  return start_child(method, req, out);
}

int Process::started(std::shared_ptr<Child> *out) const {
  if (!owned_here()) return MPROC_E_STATE;
  *out = child();
  return *out ? MPROC_OK : MPROC_E_STATE;
}

int Process::join(double timeout) {
  Deadline deadline;
  if (int rc = Deadline::from_seconds(timeout, &deadline)) return rc;
  std::shared_ptr<Child> c;
  if (int rc = started(&c)) return rc;
  return ProcessTable::instance().join(c, deadline);
}

int Process::is_alive() {
  if (!owned_here()) return MPROC_E_STATE;
  std::shared_ptr<Child> c = child();
  if (!c) return 0;
  return ProcessTable::instance().poll(*c) ? 0 : 1;
}

int Process::send_signal(int sig) {
  std::shared_ptr<Child> c;
  if (int rc = started(&c)) return rc;
  return ProcessTable::instance().signal(*c, sig);
}

int Process::exitcode(int *code) {
  std::shared_ptr<Child> c;
  if (int rc = started(&c)) return rc;
  if (!ProcessTable::instance().poll(*c)) return MPROC_E_BUSY;
  *code = c->exitcode;  // immutable once reaped
  return MPROC_OK;
}

int Process::sentinel() const {
  std::shared_ptr<Child> c;
  if (int rc = started(&c)) return rc;
  return c->pidfd >= 0 ? c->pidfd : MPROC_E_SYS;
}

pid_t Process::pid() const { return pid_.load(std::memory_order_acquire); }

}  // namespace mproc
