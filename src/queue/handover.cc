#include "queue/handover.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "base/sys.h"
#include "mproc/mproc-common.h"

namespace mproc {
namespace queue {

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, int> fds;  // token -> our own close-on-exec descriptor
};

// Never destroyed; the fork hooks keep its mutex usable in a child.
Registry &registry() {
  static Registry *r = [] {
    auto *reg = new Registry();
    pthread_atfork([] { registry().mu.lock(); }, [] { registry().mu.unlock(); },
                   [] { registry().mu.unlock(); });
    return reg;
  }();
  return *r;
}

}  // namespace

bool valid_token(const char *s) {
  if (!s || s[0] != '@' || strlen(s) != 17) return false;
  for (int i = 1; i < 17; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

int export_segment(const std::string &token, int fd) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.fds.count(token)) return MPROC_OK;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return code_from_errno(errno);
  r.fds.emplace(token, own);
  return MPROC_OK;
}

void withdraw_segment(const std::string &token) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.fds.find(token);
  if (it == r.fds.end()) return;
  close(it->second);
  r.fds.erase(it);
}

void exported_segments(std::vector<std::string> *tokens, std::vector<int> *fds) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto &e : r.fds) {
    tokens->push_back(e.first);
    fds->push_back(e.second);
  }
}

void adopt_segment(const std::string &token, int fd) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.fds.find(token);
  if (it != r.fds.end()) close(it->second);
  fcntl(fd, F_SETFD, FD_CLOEXEC);  // passed to us, not to our own exec'd children
  r.fds[token] = fd;
}

int dup_exported(const std::string &token) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.fds.find(token);
  return it == r.fds.end() ? -1 : fcntl(it->second, F_DUPFD_CLOEXEC, 3);
}

}  // namespace queue
}  // namespace mproc
