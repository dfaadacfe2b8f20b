// MPROC_START_FORKSERVER: a single-threaded server, spawned from this
// program, forks the children; they are its children, not ours.
//
// Client and server talk over a SOCK_SEQPACKET socketpair. A request is
// one message carrying, by SCM_RIGHTS, the request memfd, the write end of
// a status pipe and the descriptors to pass; the reply carries the child's
// pid (or -errno) and its pidfd. The server writes each child's exit code
// (int32) to its status pipe when it reaps it. Its end of the socket
// reaching EOF means the client is gone: the server exits, and daemon
// children die with it (PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>

#include "process/table.h"
#include "start/request.h"

namespace mproc {

class ForkServer {
 public:
  static ForkServer &instance();

  // Starts the server unless it runs (restarting one that died).
  int ensure_running();
  // Has the server fork a child running `req` (not adopted yet).
  int start_child(const ChildRequest &req, std::shared_ptr<Child> *out);
  // The server's pid, or 0.
  pid_t pid();

 private:
  ForkServer() = default;
  int ensure_running_locked();
  bool running_locked() const;
  void drop_locked();
  // What became of the server during a request.
  enum class ServerFate { kAlive, kGoneUnread, kGoneAfterReading };
  int request_locked(const ChildRequest &req, std::shared_ptr<Child> *out, ServerFate *fate);
  static void at_fork_prepare();
  static void at_fork_parent();
  static void at_fork_child();

  std::mutex mu_;
  std::shared_ptr<Child> server_;
  int ctl_ = -1;
};

// The server's loop (in the spawned server process); never returns.
[[noreturn]] void serve_forks(const ChildRequest &req);

}  // namespace mproc
