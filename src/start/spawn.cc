#include "start/spawn.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "base/sys.h"
#include "mproc/mproc-common.h"
#include "start/launch.h"
#include "start/method.h"

extern char **environ;

namespace mproc {

namespace {

std::mutex g_exe_mu;
std::string g_exe;                   // empty: the running program
std::vector<std::string> g_exe_args;  // between argv[0] and the spawn flag

// What the program was started as (argv[0]), so ps shows the same name.
const std::string &program_argv0() {
  static const std::string *argv0 = [] {
    auto *s = new std::string("mproc-child");
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf - 1);
      if (n > 0) {
        buf[n] = '\0';
        if (buf[0]) *s = buf;
      }
      close(fd);
    }
    return s;
  }();
  return *argv0;
}

// The program to exec and its argv: argv[0], the configured arguments,
// then the spawn flag, last (mproc_main() looks for it there).
std::string executable(std::vector<std::string> *argv) {
  std::lock_guard<std::mutex> lock(g_exe_mu);
  argv->push_back(program_argv0());
  argv->insert(argv->end(), g_exe_args.begin(), g_exe_args.end());
  argv->push_back(kSpawnFlag);
  // The kernel's link always names the running binary, even once it was
  // replaced or deleted on disk (a package upgrade).
  return g_exe.empty() ? "/proc/self/exe" : g_exe;
}

// Everything the child needs, prepared in the parent: after vfork only
// async-signal-safe calls may run, on memory the parent still owns.
struct ExecPlan {
  const char *path;
  char *const *argv;
  int devnull;
  const int *fds;  // request, passed fds..., error pipe (last)
  int nfds;
  bool daemon;
  pid_t parent;
  const sigset_t *mask;  // the parent's mask, restored before exec
};

[[noreturn]] __attribute__((noinline)) void exec_child(const ExecPlan &p) {
  reset_signal_handlers();
  if (p.daemon) die_with_parent(p.parent);
  int err_fd = p.fds[p.nfds - 1];
  int err = arrange_fds(p.devnull, p.fds, p.nfds, kRequestFd);
  if (err == 0) {
    err_fd = kRequestFd + p.nfds - 1;  // where the error pipe now sits
    if (fcntl(err_fd, F_SETFD, FD_CLOEXEC) != 0) err = errno;
  }
  if (err == 0) {
    sigprocmask(SIG_SETMASK, p.mask, nullptr);
    execve(p.path, p.argv, environ);
    err = errno;
  }
  ssize_t ignored = write(err_fd, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

int set_spawn_executable(const char *path, const char *const *args) {
  std::vector<std::string> list;
  for (size_t i = 0; args && args[i]; i++) list.emplace_back(args[i]);
  std::lock_guard<std::mutex> lock(g_exe_mu);
  g_exe = path ? path : "";
  g_exe_args = std::move(list);
  return MPROC_OK;
}

int spawn_child(const ChildRequest &req, std::shared_ptr<Child> *out) {
  if (req.fds.size() > kMaxPassedFds) return MPROC_E_INVAL;
  std::vector<std::string> args;
  std::string path = executable(&args);
  std::vector<char *> argv;
  argv.reserve(args.size() + 1);
  for (auto &a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);

  Fd request, devnull, err_rd, err_wr;
  request.fd = request_to_memfd(req);
  if (request.fd < 0) return code_from_errno(errno);
  devnull.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err_pipe[2];
  if (devnull.fd < 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return code_from_errno(errno);
  err_rd.fd = err_pipe[0];
  err_wr.fd = err_pipe[1];

  std::vector<int> fds;
  fds.push_back(request.fd);
  fds.insert(fds.end(), req.fds.begin(), req.fds.end());
  fds.push_back(err_wr.fd);
  auto child = std::make_shared<Child>();
  child->daemon = req.daemon;

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  ExecPlan plan{path.c_str(), argv.data(), devnull.fd, fds.data(), static_cast<int>(fds.size()),
                req.daemon,   getpid(), &old};
  pid_t pid = vfork();
  if (pid == 0) exec_child(plan);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return code_from_errno(fork_errno);

  close(err_wr.fd);
  err_wr.fd = -1;
  int exec_errno = 0;
  ssize_t n;
  do n = read(err_rd.fd, &exec_errno, sizeof exec_errno);
  while (n < 0 && errno == EINTR);
  child->pid = pid;
  if (n != 0) {
    // The exec failed (or the report was cut short): reap, then report it.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return n == sizeof exec_errno ? code_from_errno(exec_errno) : MPROC_E_SYS;
  }
  *out = std::move(child);
  return MPROC_OK;
}

}  // namespace mproc
