#include "pool/channel.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/oom.h"
#include "base/sys.h"
#include "capi/queue_handle.h"
#include "mproc/mproc-pool.h"

namespace mproc {

namespace {
// Ring sizes: a task usually goes one way and its reply the other.
constexpr size_t kInboxBytes = 256 * 1024;
constexpr size_t kOutboxBytes = 1024 * 1024;

// Payloads above a quarter of the ring go through a memfd, so that the
// manager's (at most two) queued tasks always fit and it never blocks.
bool needs_memfd(mproc_queue *q, size_t len) {
  return len + sizeof(MsgHeader) > mproc_queue_capacity(q) / 4;
}

int write_all(int fd, const unsigned char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno == ENOSPC || errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return MPROC_OK;
}

int read_all_at(int fd, unsigned char *p, size_t len) {
  off_t off = 0;
  while (len > 0) {
    ssize_t n = pread(fd, p, len, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MPROC_E_SYS;
    p += n;
    off += n;
    len -= static_cast<size_t>(n);
  }
  return MPROC_OK;
}

int send_fd(int sock, int fd, bool nonblocking) {
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  memset(ctrl, 0, sizeof ctrl);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  int flags = MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0);
  for (;;) {
    if (sendmsg(sock, &msg, flags) == 1) return MPROC_OK;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? MPROC_E_FULL : MPROC_E_SYS;
  }
}

int receive_fd(int sock, bool nonblocking) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof ctrl;
  int flags = MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t n = recvmsg(sock, &msg, flags);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return -1;
    break;
  }
  cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}
}  // namespace

Channel::~Channel() {
  mproc_queue_free(inbox_);
  mproc_queue_free(outbox_);
  if (manager_sock_ >= 0) close(manager_sock_);
  if (worker_sock_ >= 0) close(worker_sock_);
}

int Channel::open() {
  int rc = mproc_queue_new(&inbox_, 0, kInboxBytes);
  if (rc == MPROC_OK) rc = mproc_queue_new(&outbox_, 0, kOutboxBytes);
  if (rc != MPROC_OK) return rc;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return MPROC_E_SYS;
  manager_sock_ = sv[0];
  worker_sock_ = sv[1];
  // errno tells out of descriptors (EMFILE: MPROC_E_SYS) from out of memory.
  return log_.open() ? MPROC_OK : code_from_errno(errno);
}

std::vector<int> Channel::worker_fds() const {
  return {queue_handle_fd(inbox_), queue_handle_fd(outbox_), worker_sock_, log_.fd()};
}

int Channel::open_worker_end(const std::vector<int> &fds) {
  if (fds.size() != 4) return MPROC_E_INVAL;
  int rc = queue_handle_from_fd(fds[0], &inbox_);
  if (rc == MPROC_OK) rc = queue_handle_from_fd(fds[1], &outbox_);
  if (rc != MPROC_OK) return rc;
  worker_sock_ = fds[2];
  return log_.attach(fds[3]) ? MPROC_OK : MPROC_E_SYS;
}

void Channel::become_worker_end() {
  if (manager_sock_ >= 0) close(manager_sock_);
  manager_sock_ = -1;
}

int Channel::send(bool from_manager, MsgHeader h, const void *payload, size_t len,
                  double timeout) {
  mproc_queue *q = from_manager ? inbox_ : outbox_;
  h.payload_len = len;
  if (needs_memfd(q, len)) {
    int fd = memfd_create("mproc-payload", MFD_CLOEXEC);
    if (fd < 0) return errno == EMFILE || errno == ENFILE ? MPROC_E_SYS : MPROC_E_NOMEM;
    int rc = write_all(fd, static_cast<const unsigned char *>(payload), len);
    // The fd goes first: whoever sees the header finds it waiting.
    if (rc == MPROC_OK) rc = send_fd(from_manager ? manager_sock_ : worker_sock_, fd, from_manager);
    close(fd);
    if (rc != MPROC_OK) return rc;
    h.flags |= kFlagBig;
    return put(from_manager, &h, sizeof h, timeout);
  }
  send_buf_.resize(sizeof h + len);
  memcpy(send_buf_.data(), &h, sizeof h);
  if (len) memcpy(send_buf_.data() + sizeof h, payload, len);
  return put(from_manager, send_buf_.data(), send_buf_.size(), timeout);
}

int Channel::put(bool from_manager, const void *data, size_t len, double timeout) {
  if (from_manager) return queue_handle_put_quiet(inbox_, data, len, timeout);
  int rc = mproc_queue_put(outbox_, data, len, 0.0);
  if (rc != MPROC_E_FULL || timeout == 0.0) return rc;
  if (outbox_full_) outbox_full_(outbox_full_ctx_);
  return mproc_queue_put(outbox_, data, len, timeout);
}

void Channel::wake_worker() { queue_handle_wake(inbox_); }

int Channel::receive(bool at_manager, double timeout, MsgHeader *h,
                     std::vector<unsigned char> *payload) {
  mproc_queue *q = at_manager ? outbox_ : inbox_;
  size_t len = 0;
  int rc = MPROC_E_TOOBIG;
  // Out of memory while the message is still queued: MPROC_E_NOMEM, and it
  // stays there. Once taken, it is kept whatever it costs (base/oom.h).
  for (size_t want = 4096; rc == MPROC_E_TOOBIG; want = len) {
    try {
      if (recv_buf_.size() < want) recv_buf_.resize(want);
    } catch (const std::bad_alloc &) {
      return MPROC_E_NOMEM;
    }
    rc = mproc_queue_get(q, recv_buf_.data(), recv_buf_.size(), &len, timeout);
    if (rc == MPROC_E_TOOBIG && len <= recv_buf_.size()) return MPROC_E_BAD_SEGMENT;
  }
  if (rc != MPROC_OK) return rc;
  const unsigned char *bytes = recv_buf_.data();
  if (len < sizeof *h) return MPROC_E_BAD_SEGMENT;
  memcpy(h, bytes, sizeof *h);
  if (h->payload_len > MPROC_POOL_MAX_PAYLOAD) return MPROC_E_BAD_SEGMENT;
  if (!(h->flags & kFlagBig)) {
    if (len != sizeof *h + h->payload_len) return MPROC_E_BAD_SEGMENT;
    retry_on_oom([&] { payload->assign(bytes + sizeof *h, bytes + len); });
    return MPROC_OK;
  }
  int fd = receive_fd(at_manager ? manager_sock_ : worker_sock_, at_manager);
  if (fd < 0) return MPROC_E_BAD_SEGMENT;
  retry_on_oom([&] { payload->resize(h->payload_len); });
  rc = read_all_at(fd, payload->data(), payload->size());
  close(fd);
  return rc;
}

bool Channel::task_needs_memfd(size_t payload_len) const { return needs_memfd(inbox_, payload_len); }

int Channel::steal_task(uint64_t *chunk_id) {
  void *data = nullptr;
  size_t len = 0;
  int rc = mproc_queue_get_alloc(inbox_, &data, &len, 0.0);
  if (rc != MPROC_OK) return rc;
  MsgHeader h;
  bool ok = len >= sizeof h;
  if (ok) memcpy(&h, data, sizeof h);
  mproc_free(data);
  if (!ok || (h.flags & kFlagBig)) return MPROC_E_BAD_SEGMENT;
  *chunk_id = h.chunk_id;
  return MPROC_OK;
}

// empty() stops at the first message; qsize() would count them all.
bool Channel::replies_waiting() const { return mproc_queue_empty(outbox_) == 0; }

bool Channel::tasks_waiting() const { return mproc_queue_empty(inbox_) == 0; }

void Channel::shutdown_inbox() {
  if (inbox_shut_) return;
  inbox_shut_ = true;
  mproc_queue_shutdown(inbox_, 0);
}

size_t Channel::discard_unread_tasks() {
  // Every one must be counted (the pool reruns exactly those chunks), so a
  // task that cannot be read for want of memory is read again later.
  size_t n = 0;
  for (;;) {
    void *data = nullptr;
    size_t len = 0;
    int rc = retry_on_oom([&] {
      int got = mproc_queue_get_alloc(inbox_, &data, &len, 0.0);
      if (got == MPROC_E_NOMEM) throw std::bad_alloc();
      return got;
    });
    if (rc != MPROC_OK) return n;
    mproc_free(data);
    n++;
  }
}

}  // namespace mproc
