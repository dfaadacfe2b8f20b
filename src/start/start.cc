#include "start/start.h"

#include "mproc/mproc-start.h"
#include "queue/handover.h"
#include "start/forkserver.h"
#include "start/spawn.h"

namespace mproc {

int start_child(int method, const ChildRequest &request, std::shared_ptr<Child> *out) {
  // Every queue handed over so far goes with the child (queue/handover.h).
  ChildRequest req = request;
  queue::exported_segments(&req.queue_tokens, &req.fds);
  if (req.fds.size() > kMaxPassedFds) return MPROC_E_TOOBIG;
  std::shared_ptr<Child> child;
  int rc = method == MPROC_START_SPAWN ? spawn_child(req, &child)
                                       : ForkServer::instance().start_child(req, &child);
  if (rc != MPROC_OK) return rc;
  ProcessTable::instance().adopt(child);
  *out = std::move(child);
  return MPROC_OK;
}

}  // namespace mproc
