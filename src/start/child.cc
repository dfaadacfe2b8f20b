#include "start/child.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "mproc/mproc-common.h"
#include "pool/worker.h"
#include "process/bootstrap.h"
#include "queue/handover.h"
#include "start/forkserver.h"
#include "start/method.h"
#include "start/registry.h"
#include "start/request.h"

namespace mproc {

namespace {
// Exit code of a child that cannot run its request (Python's exit code for
// an exception during bootstrap).
constexpr int kBootstrapFailed = 1;

[[noreturn]] void fail(const char *what, const std::string &detail) {
  fprintf(stderr, "mproc: spawned child %d: %s%s\n", static_cast<int>(getpid()), what,
          detail.c_str());
  _exit(kBootstrapFailed);
}
}  // namespace

int child_main(int argc, char **argv) {
  mark_bootstrapped();
  if (argc >= 2 && argv && argv[argc - 1] && strcmp(argv[argc - 1], kSpawnFlag) == 0)
    run_request(kRequestFd, 0);
  return MPROC_OK;
}

void run_request(int fd, pid_t parent) {
  ChildRequest req;
  if (!request_from_fd(fd, &req))
    fail("no valid mproc request on descriptor 3 (was this program started by mproc?)", "");
  close(fd);
  for (size_t i = 0; i < req.fds.size(); i++) req.fds[i] = kFirstPassedFd + static_cast<int>(i);
  // The trailing descriptors are handed-over queues, reachable by token.
  for (size_t i = req.queue_tokens.size(); i > 0; i--) {
    queue::adopt_segment(req.queue_tokens[i - 1], req.fds.back());
    req.fds.pop_back();
  }
  if (parent == 0) parent = req.parent;
  if (valid_start_method(req.start_method)) set_default_start_method(req.start_method);
  switch (req.kind) {
    case ChildKind::kTarget: {
      mproc_target_fn fn = find_target(req.entry);
      if (!fn)
        fail("no process target is registered as ",
             "'" + req.entry + "' (call mproc_register() before mproc_main())");
      enter_child(req.name, req.identity, req.daemon, parent);
      run_target_and_exit(fn, req.arg.data(), req.arg.size(), nullptr, req.name.c_str());
    }
    case ChildKind::kPoolWorker:
      enter_child(req.name, req.identity, req.daemon, parent);
      _exit(run_spawned_worker(req));
    case ChildKind::kForkServer:
      serve_forks(req);
  }
  fail("unknown request kind", "");
}

}  // namespace mproc
