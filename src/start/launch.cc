#include "start/launch.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "start/request.h"

namespace mproc {

namespace {
void close_from(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0) == 0) return;
#endif
  // Before Linux 5.9: close one by one up to the descriptor limit.
  struct rlimit rl;
  int limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                  ? static_cast<int>(rl.rlim_cur)
                  : 65536;
  for (int fd = first; fd < limit; fd++) close(fd);
}
}  // namespace

int arrange_fds(int devnull, const int *src, int n, int first) {
  // Copies above the final layout first, so no move clobbers a source.
  int tmp[kMaxPassedFds + 2];
  if (n < 0 || n > static_cast<int>(kMaxPassedFds + 2)) return EINVAL;
  int top = first + n;
  for (int i = 0; i < n; i++) {
    tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, top);
    if (tmp[i] < 0) return errno;
  }
  if (devnull >= 0 && dup2(devnull, STDIN_FILENO) < 0) return errno;
  for (int i = 0; i < n; i++)
    if (dup2(tmp[i], first + i) < 0) return errno;
  close_from(top);
  return 0;
}

void reset_signal_handlers() {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction cur;
    // Signals glibc reserves (32, 33) refuse with EINVAL: skipped.
    if (sigaction(sig, nullptr, &cur) != 0) continue;
    if (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN) sigaction(sig, &dfl, nullptr);
  }
}

}  // namespace mproc
