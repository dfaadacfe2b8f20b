// Thin wrappers over the Linux system calls mproc depends on, with runtime
// probes for the ones older kernels lack, and the errno -> MPROC_E_* map.
#pragma once

#include <sys/types.h>

namespace mproc {

// This process's id without a system call per ask: cached, and refreshed in
// a fork() child by a pthread_atfork hook. A child made by a raw clone
// system call (or a vfork child, which must not call it) is not seen as
// another process. The "handle made in this process?" checks use it.
pid_t current_pid();

// Maps an errno value to the matching public code (MPROC_E_SYS if none).
int code_from_errno(int err);

// pidfd_open(2); returns the fd or -1 with errno set.
int pidfd_open(pid_t pid);
// pidfd_send_signal(2); returns 0 or -1 with errno set.
int pidfd_send_signal(int pidfd, int sig);

// True when this kernel supports pidfd_open + waitid(P_PIDFD) (Linux >= 5.4)
// and the environment does not set MPROC_NO_PIDFD=1 (which tests use to run
// the pid-based fallback on new kernels). Probed once.
bool have_pidfd();

// waitid(P_PIDFD) (or P_PID when pidfd < 0) with WEXITED|WNOHANG, EINTR-safe.
// Returns 1 and fills *exitcode once the child was reaped here, 0 while it
// runs, -1 with errno set on failure (ECHILD: someone else reaped it).
int try_reap(pid_t pid, int pidfd, int *exitcode);

// PR_SET_PDEATHSIG(SIGKILL), with the getppid() re-check that closes the
// race where `parent` died before prctl() ran. Async-signal-safe.
void die_with_parent(pid_t parent);

// Converts a waitid() result into Python's exit code: status, or -signal.
int exitcode_from_siginfo(int code, int status);

}  // namespace mproc
