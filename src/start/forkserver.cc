#include "start/forkserver.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "base/sys.h"
#include "mproc/mproc-common.h"
#include "start/child.h"
#include "start/launch.h"
#include "start/spawn.h"

namespace mproc {

namespace {

constexpr uint32_t kRequestMagic = 0x4d504653;  // "MPFS"

struct RequestHeader {
  uint32_t magic;
  uint32_t nfds;  // request memfd, status pipe, then the passed descriptors
};

// The most descriptors one message carries.
constexpr size_t kMaxMessageFds = kMaxPassedFds + 2;

// sendmsg() with descriptors attached (MSG_NOSIGNAL: a dead peer is EPIPE).
bool send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds) {
  iovec iov{const_cast<void *>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * nfds));
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(len);
}

// recvmsg() of one message and its descriptors (close-on-exec). Returns
// the byte count (0 at EOF) or -1 with errno set.
ssize_t recv_with_fds(int sock, void *data, size_t len, std::vector<int> *fds) {
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxMessageFds));
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char *p = CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, p + i * sizeof(int), sizeof(int));
      fds->push_back(fd);
    }
  }
  return n;
}

void close_all(const std::vector<int> &fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
}

}  // namespace

// ---- client ----

ForkServer &ForkServer::instance() {
  // Never destroyed: children may be started from atexit-time code.
  static ForkServer *fs = [] {
    auto *s = new ForkServer();
    pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
    return s;
  }();
  return *fs;
}

void ForkServer::at_fork_prepare() { instance().mu_.lock(); }
void ForkServer::at_fork_parent() { instance().mu_.unlock(); }
void ForkServer::at_fork_child() {
  // The server belongs to the parent: a forked child neither uses nor keeps
  // its socket (holding it would keep the server alive after the parent).
  ForkServer &s = instance();
  if (s.ctl_ >= 0) close(s.ctl_);
  s.ctl_ = -1;
  if (s.server_ && s.server_->pidfd >= 0) close(s.server_->pidfd);
  if (s.server_) s.server_->pidfd = -1;
  s.server_.reset();
  s.mu_.unlock();
}

bool ForkServer::running_locked() const {
  if (ctl_ < 0) return false;
  // The server's end closes when it dies: POLLHUP, reported whatever we ask.
  pollfd p{ctl_, 0, 0};
  return poll(&p, 1, 0) == 0;
}

void ForkServer::drop_locked() {
  if (ctl_ >= 0) close(ctl_);
  ctl_ = -1;
  if (!server_) return;
  // It is our child: reap it (killing it first if it somehow still runs).
  int code;
  if (try_reap(server_->pid, server_->pidfd, &code) == 0) {
    if (server_->pidfd >= 0)
      pidfd_send_signal(server_->pidfd, SIGKILL);
    else
      kill(server_->pid, SIGKILL);
    siginfo_t si;
    while (waitid(P_PID, static_cast<id_t>(server_->pid), &si, WEXITED) < 0 && errno == EINTR) {
    }
  }
  server_.reset();
}

int ForkServer::ensure_running_locked() {
  if (running_locked()) return MPROC_OK;
  drop_locked();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return code_from_errno(errno);
  ChildRequest req;
  req.kind = ChildKind::kForkServer;
  req.name = "ForkServer";
  req.parent = getpid();
  req.fds.push_back(sv[1]);
  std::shared_ptr<Child> server;
  int rc = spawn_child(req, &server);
  close(sv[1]);
  if (rc != MPROC_OK) {
    close(sv[0]);
    return rc;
  }
  ProcessTable::open_pidfd(*server);
  server_ = std::move(server);
  ctl_ = sv[0];
  return MPROC_OK;
}

int ForkServer::ensure_running() {
  std::lock_guard<std::mutex> lock(mu_);
  return ensure_running_locked();
}

pid_t ForkServer::pid() {
  std::lock_guard<std::mutex> lock(mu_);
  return running_locked() && server_ ? server_->pid : 0;
}

int ForkServer::request_locked(const ChildRequest &req, std::shared_ptr<Child> *out,
                               ServerFate *fate) {
  *fate = ServerFate::kAlive;
  int request = request_to_memfd(req);
  if (request < 0) return code_from_errno(errno);
  int status[2];
  if (pipe2(status, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = errno;
    close(request);
    return code_from_errno(err);
  }
  std::vector<int> fds{request, status[1]};
  fds.insert(fds.end(), req.fds.begin(), req.fds.end());
  RequestHeader h{kRequestMagic, static_cast<uint32_t>(fds.size())};
  bool sent = send_with_fds(ctl_, &h, sizeof h, fds.data(), fds.size());
  int send_errno = errno;
  close(request);
  close(status[1]);
  if (!sent) {
    close(status[0]);
    if (send_errno == EPIPE || send_errno == ECONNRESET) *fate = ServerFate::kGoneUnread;
    return code_from_errno(send_errno);
  }
  int32_t reply = 0;
  std::vector<int> got;
  ssize_t n = recv_with_fds(ctl_, &reply, sizeof reply, &got);
  if (n != sizeof reply || reply <= 0) {
    int recv_errno = errno;
    close(status[0]);
    close_all(got);
    // ECONNRESET: the server died with our request unread in its queue, so
    // no child exists and a retry is safe. EOF: it read the request and
    // died; whether the child exists is unknowable, so the start fails.
    if (n < 0 && recv_errno == ECONNRESET) *fate = ServerFate::kGoneUnread;
    if (n == 0) *fate = ServerFate::kGoneAfterReading;
    return n == sizeof reply ? code_from_errno(-reply) : MPROC_E_SYS;
  }
  auto child = std::make_shared<Child>();
  child->pid = reply;
  child->daemon = req.daemon;
  child->status_fd = status[0];
  child->relayed = true;
  if (!got.empty()) child->pidfd = got[0];
  for (size_t i = 1; i < got.size(); i++) close(got[i]);
  *out = std::move(child);
  return MPROC_OK;
}

int ForkServer::start_child(const ChildRequest &req, std::shared_ptr<Child> *out) {
  if (req.fds.size() > kMaxPassedFds) return MPROC_E_INVAL;
  std::lock_guard<std::mutex> lock(mu_);
  // One retry: a server that died since it was last used is restarted.
  for (int attempt = 0;; attempt++) {
    if (int rc = ensure_running_locked()) return rc;
    ServerFate fate;
    int rc = request_locked(req, out, &fate);
    if (fate != ServerFate::kAlive) drop_locked();
    if (fate != ServerFate::kGoneUnread || attempt > 0) return rc;
  }
}

// ---- server ----

namespace {

// One request: fork the child, answer with its pid and pidfd.
void serve_one(int ctl, pid_t server, const std::vector<int> &fds,
               std::map<pid_t, int> *status_fds) {
  // fds: request memfd, status pipe, passed descriptors.
  std::vector<int> child_fds{fds[0]};
  child_fds.insert(child_fds.end(), fds.begin() + 2, fds.end());
  pid_t pid = fork();
  if (pid == 0) {
    // Only the request and its descriptors survive; the socket, the signal
    // fd and other children's status pipes must not.
    if (arrange_fds(-1, child_fds.data(), static_cast<int>(child_fds.size()), kRequestFd) != 0)
      _exit(127);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    run_request(kRequestFd, server);
  }
  int32_t reply = pid > 0 ? pid : -errno;
  std::vector<int> pidfds;
  if (pid > 0) {
    (*status_fds)[pid] = fds[1];
    int pidfd = have_pidfd() ? pidfd_open(pid) : -1;
    if (pidfd >= 0) pidfds.push_back(pidfd);
  } else {
    close(fds[1]);
  }
  send_with_fds(ctl, &reply, sizeof reply, pidfds.data(), pidfds.size());
  close_all(pidfds);
  close(fds[0]);
  for (size_t i = 2; i < fds.size(); i++) close(fds[i]);
}

// Reaps every exited child (orphaned grandchildren too: we are their
// subreaper) and reports the exit codes of the ones clients wait for.
void reap_children(std::map<pid_t, int> *status_fds) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = status_fds->find(pid);
    if (it == status_fds->end()) continue;
    int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    ssize_t ignored = write(it->second, &code, sizeof code);
    (void)ignored;
    close(it->second);
    status_fds->erase(it);
  }
}

}  // namespace

void serve_forks(const ChildRequest &req) {
  if (req.fds.empty()) _exit(1);
  int ctl = req.fds[0];
  pid_t self = getpid();
  prctl(PR_SET_NAME, "mproc-forksrv");
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the whole group: the client decides
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) _exit(1);
  std::map<pid_t, int> status_fds;
  for (;;) {
    pollfd p[2] = {{ctl, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    if (p[1].revents) {
      signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) > 0) {
      }
      reap_children(&status_fds);
    }
    if (!p[0].revents) continue;
    RequestHeader h{};
    std::vector<int> fds;
    ssize_t n = recv_with_fds(ctl, &h, sizeof h, &fds);
    if (n == 0 || (n < 0 && errno != EAGAIN)) _exit(0);  // the client is gone
    if (n != sizeof h || h.magic != kRequestMagic || fds.size() != h.nfds || fds.size() < 2) {
      close_all(fds);
      int32_t reply = -EPROTO;
      send_with_fds(ctl, &reply, sizeof reply, nullptr, 0);
      continue;
    }
    serve_one(ctl, self, fds, &status_fds);
  }
}

}  // namespace mproc
