#include "start/request.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mproc {

namespace {

constexpr uint32_t kMagic = 0x4d505251;  // "MPRQ"
constexpr uint32_t kVersion = 1;
// A request is read whole into memory: refuse anything absurd.
constexpr uint64_t kMaxRequest = uint64_t{1} << 31;

void put_u32(std::vector<unsigned char> *b, uint32_t v) {
  unsigned char raw[4];
  memcpy(raw, &v, 4);
  b->insert(b->end(), raw, raw + 4);
}
void put_bytes(std::vector<unsigned char> *b, const void *p, size_t n) {
  put_u32(b, static_cast<uint32_t>(n >> 32));
  put_u32(b, static_cast<uint32_t>(n));
  const auto *c = static_cast<const unsigned char *>(p);
  b->insert(b->end(), c, c + n);
}

class Reader {
 public:
  Reader(const unsigned char *p, size_t n) : p_(p), n_(n) {}
  bool u32(uint32_t *v) {
    if (n_ - off_ < 4) return false;
    memcpy(v, p_ + off_, 4);
    off_ += 4;
    return true;
  }
  bool bytes(const unsigned char **data, size_t *len) {
    uint32_t hi, lo;
    if (!u32(&hi) || !u32(&lo)) return false;
    uint64_t n = (uint64_t{hi} << 32) | lo;
    if (n > n_ - off_) return false;
    *data = p_ + off_;
    *len = n;
    off_ += n;
    return true;
  }
  bool str(std::string *s) {
    const unsigned char *d;
    size_t n;
    if (!bytes(&d, &n)) return false;
    s->assign(reinterpret_cast<const char *>(d), n);
    return true;
  }
  bool at_end() const { return off_ == n_; }

 private:
  const unsigned char *p_;
  size_t n_;
  size_t off_ = 0;
};

bool write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

int request_to_memfd(const ChildRequest &req) {
  std::vector<unsigned char> b;
  b.reserve(64 + req.entry.size() + req.name.size() + req.identity.size() + req.arg.size());
  put_u32(&b, kMagic);
  put_u32(&b, kVersion);
  put_u32(&b, static_cast<uint32_t>(req.kind));
  put_u32(&b, req.daemon ? 1 : 0);
  put_u32(&b, static_cast<uint32_t>(req.parent));
  put_u32(&b, static_cast<uint32_t>(req.start_method));
  put_u32(&b, static_cast<uint32_t>(req.fds.size()));
  put_bytes(&b, req.entry.data(), req.entry.size());
  put_bytes(&b, req.name.data(), req.name.size());
  put_bytes(&b, req.identity.data(), req.identity.size());
  put_bytes(&b, req.arg.data(), req.arg.size());
  put_u32(&b, static_cast<uint32_t>(req.queue_tokens.size()));
  for (const auto &t : req.queue_tokens) put_bytes(&b, t.data(), t.size());
  int fd = memfd_create("mproc-request", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (!write_all(fd, b.data(), b.size()) || lseek(fd, 0, SEEK_SET) != 0) {
    int err = errno ? errno : EIO;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

bool request_from_fd(int fd, ChildRequest *req) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > kMaxRequest)
    return false;
  std::vector<unsigned char> b(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < b.size()) {
    ssize_t r = pread(fd, b.data() + got, b.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  Reader in(b.data(), b.size());
  uint32_t magic, version, kind, daemon, parent, method, nfds;
  if (!in.u32(&magic) || !in.u32(&version) || magic != kMagic || version != kVersion) return false;
  if (!in.u32(&kind) || !in.u32(&daemon) || !in.u32(&parent) || !in.u32(&method) ||
      !in.u32(&nfds)) return false;
  if (kind < 1 || kind > 3 || nfds > kMaxPassedFds) return false;
  const unsigned char *arg;
  size_t arg_len;
  uint32_t ntokens;
  if (!in.str(&req->entry) || !in.str(&req->name) || !in.str(&req->identity) ||
      !in.bytes(&arg, &arg_len) || !in.u32(&ntokens) || ntokens > nfds)
    return false;
  req->queue_tokens.assign(ntokens, std::string());
  for (auto &t : req->queue_tokens)
    if (!in.str(&t)) return false;
  if (!in.at_end()) return false;
  req->kind = static_cast<ChildKind>(kind);
  req->daemon = daemon != 0;
  req->parent = static_cast<pid_t>(parent);
  req->start_method = static_cast<int>(method);
  req->arg.assign(arg, arg + arg_len);
  req->fds.assign(nfds, -1);
  return true;
}

}  // namespace mproc
