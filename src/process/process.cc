#include "process/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "base/deadline.h"
#include "base/sys.h"
#include "process/self.h"

namespace mproc {

Process::Process(mproc_target_fn target, const void *arg, size_t arg_len, void *ctx)
    : target_(target),
      arg_(static_cast<const unsigned char *>(arg), static_cast<const unsigned char *>(arg) + arg_len),
      ctx_(ctx),
      identity_(next_child_identity()),
      name_("Process-" + identity_),
      daemon_(self_daemon()),
      creator_(getpid()) {}

Process::~Process() {
  // In the creating process the table takes over a still-running child; in
  // any other process the record is a stale copy and is simply dropped.
  if (child_ && owned_here()) ProcessTable::instance().release(child_);
}

bool Process::owned_here() const { return creator_ == getpid(); }

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

int Process::start() {
  if (!owned_here()) return MPROC_E_STATE;
  std::lock_guard<std::mutex> lock(mu_);
  if (child_) return MPROC_E_STATE;
  auto child = std::make_shared<Child>();
  child->daemon = daemon_;
  ProcessTable &table = ProcessTable::instance();  // hooks in place before fork
  pid_t parent = getpid();
  fflush(nullptr);  // buffered output must not be printed by both processes
  pid_t pid = fork();
  if (pid < 0) return errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
  if (pid == 0) run_child(parent);
  child->pid = pid;
  table.adopt(child);
  child_ = std::move(child);
  pid_.store(pid, std::memory_order_release);
  return MPROC_OK;
}

void Process::run_child(pid_t parent) {
  if (daemon_) {
    // Die with the parent even if it is SIGKILLed. The getppid() re-check
    // closes the race where the parent died before prctl() ran.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) raise(SIGKILL);  // what the signal would have done
  }
  become_child(name_, identity_, daemon_);
  // Two processes reading one terminal is never wanted (Python does this too).
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    if (devnull != STDIN_FILENO) close(devnull);
  }
  int code = 1;
  try {
    code = target_(arg_.empty() ? nullptr : arg_.data(), arg_.size(), ctx_);
  } catch (...) {
    // Unwinding into the parent's code path from here would be a disaster.
    fprintf(stderr, "mproc: %s: uncaught C++ exception in the process target\n", name_.c_str());
  }
  ProcessTable::instance().run_exit_handlers();
  fflush(nullptr);
  _exit(code & 0xff);
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
