#include "test_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mproc_test {

int count_open_fds() {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;  // the DIR's own descriptor
}

bool has_no_children() {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  return r < 0 && errno == ECHILD;
}

std::vector<std::string> shm_entries(const std::string &prefix) {
  std::vector<std::string> names;
  DIR *d = opendir("/dev/shm");
  if (!d) return names;
  while (struct dirent *e = readdir(d))
    if (e->d_name[0] != '.' && strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0)
      names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<pid_t> child_pids() {
  std::vector<pid_t> pids;
  DIR *d = opendir("/proc");
  if (!d) return pids;
  pid_t self = getpid();
  while (struct dirent *e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(atoi(e->d_name));
    if (pid <= 0) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const char *rp = strrchr(buf, ')');
    int ppid = 0;
    char state = 0;
    if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == self) pids.push_back(pid);
  }
  closedir(d);
  return pids;
}

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

bool wait_until(const std::function<bool()> &pred, double timeout_s) {
  double end = now_s() + timeout_s;
  for (;;) {
    if (pred()) return true;
    if (now_s() > end) return false;
    usleep(2000);
  }
}

int joined_exitcode(mproc_process *p) {
  EXPECT_EQ(mproc_process_join(p, 60.0), MPROC_OK);
  int code = -12345;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  return code;
}

int run_in_child(const std::function<int()> &fn, double timeout_s) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1000;
  if (pid == 0) {
    int rc = fn();
    fflush(nullptr);
    _exit(rc & 0xff);
  }
  double end = now_s() + timeout_s;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (now_s() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -SIGKILL;
    }
    usleep(2000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

Pipe::Pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == 0) {
    rd = fds[0];
    wr = fds[1];
  }
}

Pipe::~Pipe() {
  close_rd();
  close_wr();
}

void Pipe::close_rd() {
  if (rd >= 0) close(rd);
  rd = -1;
}

void Pipe::close_wr() {
  if (wr >= 0) close(wr);
  wr = -1;
}

std::string Pipe::read_all(double timeout_s) { return read_until('\0', timeout_s); }

std::string Pipe::read_until(char delim, double timeout_s) {
  std::string out;
  double end = now_s() + timeout_s;
  for (;;) {
    double left = end - now_s();
    if (left <= 0) break;
    pollfd pfd{rd, POLLIN, 0};
    int r = poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    // One byte at a time when a delimiter is wanted, so nothing past it is
    // consumed; bulk reads otherwise.
    char buf[4096];
    ssize_t n = read(rd, buf, delim ? 1 : sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (delim && buf[0] == delim) break;
  }
  return out;
}

void write_str(int fd, const std::string &s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace mproc_test
