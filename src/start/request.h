// What a parent asks a spawned or forkserver child to run, and how it
// travels: encoded into a sealed-size memfd that becomes the child's fd 3,
// so a request of any size costs the parent no blocking write, whether or
// not the child ever reads it. Descriptors the child needs (a pool
// worker's channel, the forkserver's socket) follow as fds 4, 5, ...
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mproc {

enum class ChildKind : uint32_t {
  kTarget = 1,      // a registered process target (mproc_register)
  kPoolWorker = 2,  // a pool worker loop (pool/worker.h)
  kForkServer = 3,  // the forkserver itself (start/forkserver.h)
};

// The fd number the request arrives on, and the first passed descriptor.
constexpr int kRequestFd = 3;
constexpr int kFirstPassedFd = 4;
// The most descriptors one request passes (SCM_RIGHTS allows 253).
constexpr size_t kMaxPassedFds = 64;

struct ChildRequest {
  ChildKind kind = ChildKind::kTarget;
  std::string entry;     // kTarget: the registered name
  std::string name;      // the child's mproc_current_name()
  std::string identity;  // the child's identity path ("2", "1:3")
  bool daemon = false;
  pid_t parent = 0;      // the requesting process (PDEATHSIG re-check)
  int start_method = 0;  // the parent's default, inherited by the child
  std::vector<unsigned char> arg;
  // Parent side: descriptors to pass. Child side: where they arrived.
  std::vector<int> fds;
  // Exported anonymous queues (queue/handover.h): their descriptors are the
  // last queue_tokens.size() entries of fds.
  std::vector<std::string> queue_tokens;
};

// A memfd (O_CLOEXEC) holding the encoded request, or -1 with errno set.
int request_to_memfd(const ChildRequest &req);
// Reads and decodes a request from fd (fds are not touched: the caller
// fills them in). False if the bytes are not a request of this version.
bool request_from_fd(int fd, ChildRequest *req);

}  // namespace mproc
