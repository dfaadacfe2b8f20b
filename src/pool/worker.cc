#include "pool/worker.h"

#include <unistd.h>

#include <csignal>
#include <cstdint>

namespace mproc {

namespace {

void notify(const WorkerSetup *s) {
  // Pairs with the manager's exchange-then-recheck before it sleeps: the
  // two read-modify-writes on the flag are ordered, so either it sees our
  // message, or we see it asleep and wake it.
  if (!s->manager_asleep->fetch_add(0, std::memory_order_seq_cst)) return;
  uint64_t one = 1;
  ssize_t ignored = write(s->notify_fd, &one, sizeof one);
  (void)ignored;
}

int send_to_manager(WorkerSetup *s, MsgHeader h, const std::vector<unsigned char> &payload) {
  int rc = s->channel->send(false, h, payload.data(), payload.size(), MPROC_FOREVER);
  if (rc == MPROC_OK) notify(s);
  return rc;
}

// Runs one task item and reports its outcome.
int run_item(WorkerSetup *s, const MsgHeader &task, uint32_t index, const mproc_bytes &item) {
  mproc_reply reply;
  int status;
  try {
    auto fn = reinterpret_cast<mproc_task_fn>(static_cast<uintptr_t>(task.fn));
    int rc = fn(item.data, item.len, &reply, reinterpret_cast<void *>(static_cast<uintptr_t>(task.ctx)));
    status = rc == 0 ? MPROC_OK : MPROC_E_TASK_FAILED;
  } catch (...) {
    // A C++ exception from a task fails the task, not the worker.
    static const char what[] = "uncaught C++ exception in the task";
    reply.data.assign(what, what + sizeof what - 1);
    reply.too_big = false;
    status = MPROC_E_TASK_FAILED;
  }
  if (reply.too_big) {
    status = MPROC_E_TOOBIG;
    reply.data.clear();
  }
  MsgHeader h{};
  h.kind = static_cast<uint32_t>(MsgKind::kResult);
  h.chunk_id = task.chunk_id;
  h.index = index;
  h.status = status;
  return send_to_manager(s, h, reply.data);
}

}  // namespace

int worker_main(const void *, size_t, void *ctx) {
  auto *s = static_cast<WorkerSetup *>(ctx);
  // The manager thread that forked us blocks every signal; a worker must
  // die of SIGTERM like any process. SIGINT belongs to the parent.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_IGN);
  s->channel->become_worker_end();

  MsgHeader hello{};
  if (s->init) {
    const std::vector<unsigned char> &arg = *s->init_arg;
    if (s->init(arg.empty() ? nullptr : arg.data(), arg.size(), s->init_ctx) != 0) {
      hello.kind = static_cast<uint32_t>(MsgKind::kInitFailed);
      send_to_manager(s, hello, {});
      return kWorkerExitInitFailed;
    }
  }
  hello.kind = static_cast<uint32_t>(MsgKind::kReady);
  if (send_to_manager(s, hello, {}) != MPROC_OK) return kWorkerExitProtocol;

  uint32_t chunks_run = 0;
  std::vector<unsigned char> payload;
  std::vector<mproc_bytes> items;
  for (;;) {
    MsgHeader task;
    int rc = s->channel->receive(false, MPROC_FOREVER, &task, &payload);
    if (rc == MPROC_E_CLOSED) return 0;  // the pool is closing: done
    if (rc != MPROC_OK || task.kind != static_cast<uint32_t>(MsgKind::kTask)) return kWorkerExitProtocol;
    uint32_t count = static_cast<uint32_t>(task.index);  // a task's index field carries its item count
    if (!unpack_items(payload, count, &items)) return kWorkerExitProtocol;
    for (uint32_t i = 0; i < count; i++)
      if (run_item(s, task, i, items[i]) != MPROC_OK) return kWorkerExitProtocol;
    if (s->max_chunks && ++chunks_run >= s->max_chunks) return 0;
  }
}

int run_spawned_worker(ChildRequest &) {
  // Pools started with spawn or forkserver are not wired up yet.
  return kWorkerExitProtocol;
}

}  // namespace mproc
