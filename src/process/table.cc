#include "process/table.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>

#include "base/eventfd.h"
#include "base/sys.h"
#include "base/thread.h"
#include "mproc/mproc-common.h"

namespace mproc {

namespace {
// Exit code reported when someone else reaped our child (CPython's rule).
constexpr int kLostExitCode = 255;
// How long daemon children get between SIGTERM and SIGKILL at exit.
constexpr int64_t kDaemonGraceNs = 1000000000;
// Polling interval for children without a pidfd (pre-5.4 kernels).
constexpr int64_t kMaxPollNs = 10000000;
}  // namespace

Child::~Child() {
  if (pidfd >= 0) close(pidfd);
  if (status_fd >= 0) close(status_fd);
}

namespace {
// A forkserver child: true once it has exited (exitcode set), false while
// it runs.
bool read_relayed_status(Child &child) {
  if (child.status_fd >= 0) {
    int32_t code;
    ssize_t n;
    do n = read(child.status_fd, &code, sizeof code);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return false;
    close(child.status_fd);
    child.status_fd = -1;
    if (n == static_cast<ssize_t>(sizeof code)) {
      child.exitcode = code;
      return true;
    }
  }
  // The server died with the status: the orphan may still run.
  child.exitcode = kLostExitCode;
  if (child.pidfd < 0) return true;
  pollfd p{child.pidfd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}
}  // namespace

ProcessTable &ProcessTable::instance() {
  // Never destroyed: atexit handlers and the reaper thread outlive statics.
  static ProcessTable *table = [] {
    auto *t = new ProcessTable();
    pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
    atexit(at_exit);
    return t;
  }();
  return *table;
}

ProcessTable::ProcessTable() = default;

bool ProcessTable::open_pidfd(Child &child) {
  if (!have_pidfd()) return true;
  // Safe between fork and reap: nobody but us reaps this PID.
  child.pidfd = pidfd_open(child.pid);
  // ESRCH: already gone and reaped by someone else (SIGCHLD set to
  // SIG_IGN). Any other failure (EMFILE...) falls back to the PID.
  return !(child.pidfd < 0 && errno == ESRCH);
}

void ProcessTable::adopt(const std::shared_ptr<Child> &child) {
  if (!child->relayed && child->pidfd < 0 && !open_pidfd(*child)) {
    child->reaped = true;
    child->exitcode = kLostExitCode;
  }
  std::lock_guard<std::mutex> lock(mu_);
  children_.push_back(child);
}

bool ProcessTable::poll_locked(Child &child) {
  if (child.reaped) return true;
  if (child.relayed) return child.reaped = read_relayed_status(child);
  int code = 0;
  int r = try_reap(child.pid, child.pidfd, &code);
  if (r == 0) return false;
  child.reaped = true;
  // r < 0 is ECHILD: the host reaped it behind our back; the status is lost.
  child.exitcode = r > 0 ? code : kLostExitCode;
  return true;
}

int ProcessTable::poll(Child &child) {
  std::lock_guard<std::mutex> lock(mu_);
  return poll_locked(child) ? 1 : 0;
}

int ProcessTable::join(const std::shared_ptr<Child> &child, const Deadline &deadline) {
  int64_t backoff_ns = 100000;
  for (;;) {
    if (poll(*child)) return MPROC_OK;
    if (deadline.expired()) return MPROC_E_TIMEOUT;
    if (child->exit_fd() >= 0) {
      // Readable when the child exits; EINTR just loops.
      pollfd pfd{child->exit_fd(), POLLIN, 0};
      timespec ts;
      ppoll(&pfd, 1, deadline.remaining(&ts), nullptr);
    } else {
      timespec ts = deadline.remaining_capped(backoff_ns);
      nanosleep(&ts, nullptr);
      backoff_ns = std::min(backoff_ns * 2, kMaxPollNs);
    }
  }
}

int ProcessTable::signal(Child &child, int sig) {
  // The lock keeps a reap (which frees the PID for reuse) out of the window
  // between the check and the kill.
  std::lock_guard<std::mutex> lock(mu_);
  if (poll_locked(child)) return MPROC_OK;
  int r = child.pidfd >= 0 ? pidfd_send_signal(child.pidfd, sig) : kill(child.pid, sig);
  if (r == 0 || errno == ESRCH) return MPROC_OK;  // ESRCH: exited, not yet reaped
  return code_from_errno(errno);
}

void ProcessTable::sweep_locked() {
  children_.erase(std::remove_if(children_.begin(), children_.end(),
                                 [](const std::shared_ptr<Child> &c) {
                                   return c->reaped && c->handle_freed;
                                 }),
                  children_.end());
}

void ProcessTable::release(const std::shared_ptr<Child> &child) {
  std::lock_guard<std::mutex> lock(mu_);
  child->handle_freed = true;
  if (poll_locked(*child)) {
    sweep_locked();
    return;
  }
  ensure_reaper_locked();
}

void ProcessTable::ensure_reaper_locked() {
  if (wake_fd_ < 0) wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (reaper_running_) {
    if (wake_fd_ >= 0) signal_eventfd(wake_fd_);
    return;
  }
  pthread_t tid;
  // If the thread cannot start, orphans are still reaped by the next
  // release() or at exit; nothing is lost but promptness.
  reaper_running_ = start_thread(&tid, reaper_main, this, /*detached=*/true);
}

void *ProcessTable::reaper_main(void *arg) {
  auto *t = static_cast<ProcessTable *>(arg);
  std::unique_lock<std::mutex> lock(t->mu_);
  for (;;) {
    // Hold references so no pidfd we poll can be closed under us.
    std::vector<std::shared_ptr<Child>> orphans;
    for (auto &c : t->children_)
      if (c->handle_freed && !t->poll_locked(*c)) orphans.push_back(c);
    t->sweep_locked();
    if (orphans.empty()) {
      t->reaper_running_ = false;
      return nullptr;
    }
    std::vector<pollfd> fds;
    bool need_tick = t->wake_fd_ < 0;
    if (t->wake_fd_ >= 0) fds.push_back(pollfd{t->wake_fd_, POLLIN, 0});
    for (auto &c : orphans) {
      if (c->exit_fd() >= 0)
        fds.push_back(pollfd{c->exit_fd(), POLLIN, 0});
      else
        need_tick = true;
    }
    int wake_fd = t->wake_fd_;
    lock.unlock();
    timespec tick{0, kMaxPollNs};
    ppoll(fds.data(), fds.size(), need_tick ? &tick : nullptr, nullptr);
    if (wake_fd >= 0) drain_eventfd(wake_fd);
    orphans.clear();
    lock.lock();
  }
}

void ProcessTable::run_exit_handlers() {
  std::vector<std::shared_ptr<Child>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto &c : children_)
      if (!poll_locked(*c)) live.push_back(c);
  }
  for (auto &c : live)
    if (c->daemon) signal(*c, SIGTERM);
  Deadline grace = Deadline::after_ns(kDaemonGraceNs);
  for (auto &c : live) {
    if (!c->daemon) continue;
    if (join(c, grace) == MPROC_E_TIMEOUT) {
      signal(*c, SIGKILL);
      join(c, Deadline::forever());
    }
  }
  for (auto &c : live)
    if (!c->daemon) join(c, Deadline::forever());
  std::lock_guard<std::mutex> lock(mu_);
  sweep_locked();
}

void ProcessTable::at_exit() { instance().run_exit_handlers(); }

void ProcessTable::at_fork_prepare() { instance().mu_.lock(); }

void ProcessTable::at_fork_parent() { instance().mu_.unlock(); }

void ProcessTable::at_fork_child() {
  // The parent's children are not ours: forget them, close their pidfds
  // (handles still pointing at them see pidfd -1 and refuse to act, since
  // they belong to another process), and drop the parent's reaper state.
  ProcessTable &t = instance();
  for (auto &c : t.children_) {
    if (c->pidfd >= 0) close(c->pidfd);
    if (c->status_fd >= 0) close(c->status_fd);
    c->pidfd = -1;
    c->status_fd = -1;
  }
  t.children_.clear();
  if (t.wake_fd_ >= 0) close(t.wake_fd_);
  t.wake_fd_ = -1;
  t.reaper_running_ = false;
  t.mu_.unlock();
}

}  // namespace mproc
