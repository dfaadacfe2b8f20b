#include "base/sys.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "mproc/mproc-common.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace mproc {

namespace {
std::atomic<pid_t> g_pid{0};
void refresh_pid() { g_pid.store(getpid(), std::memory_order_relaxed); }
}  // namespace

pid_t current_pid() {
  pid_t pid = g_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  // Hooked before any caller keeps the value: every later fork refreshes it.
  static const bool hooked = pthread_atfork(nullptr, nullptr, refresh_pid) == 0;
  if (!hooked) return getpid();  // nothing would refresh a cached one
  refresh_pid();
  return g_pid.load(std::memory_order_relaxed);
}

int code_from_errno(int err) {
  switch (err) {
    case EINVAL: return MPROC_E_INVAL;
    case ENOMEM: return MPROC_E_NOMEM;
    case ENOENT: return MPROC_E_NOENT;
    case EEXIST: return MPROC_E_EXIST;
    case EPERM:
    case EACCES: return MPROC_E_PERM;
    case ETIMEDOUT: return MPROC_E_TIMEOUT;
    case EBUSY: return MPROC_E_BUSY;
    default: return MPROC_E_SYS;
  }
}

int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

namespace {
bool probe_pidfd() {
  const char *off = getenv("MPROC_NO_PIDFD");
  if (off && strcmp(off, "1") == 0) return false;
  int fd = pidfd_open(getpid());
  if (fd < 0) return false;
  // pidfd_open exists since 5.3 but waitid(P_PIDFD) only since 5.4: on our
  // own pidfd it fails with ECHILD where supported and EINVAL where not.
  siginfo_t si;
  int r = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &si, WEXITED | WNOHANG);
  bool ok = r < 0 && errno == ECHILD;
  close(fd);
  return ok;
}
}  // namespace

bool have_pidfd() {
  static const bool supported = probe_pidfd();
  return supported;
}

void die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) raise(SIGKILL);  // what the signal would have done
}

int exitcode_from_siginfo(int code, int status) {
  if (code == CLD_EXITED) return status;
  return -status;  // CLD_KILLED, CLD_DUMPED: si_status is the signal
}

int try_reap(pid_t pid, int pidfd, int *exitcode) {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = pidfd >= 0
                ? waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &si, WEXITED | WNOHANG)
                : waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (si.si_pid == 0) return 0;  // still running
    *exitcode = exitcode_from_siginfo(si.si_code, si.si_status);
    return 1;
  }
}

}  // namespace mproc
