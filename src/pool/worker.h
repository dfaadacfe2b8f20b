// The loop a pool worker runs in its own process.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <vector>

#include "mproc/mproc-pool.h"
#include "pool/channel.h"
#include "pool/task.h"

// The reply a task fills in with mproc_reply_set().
struct mproc_reply {
  std::vector<unsigned char> data;
  bool too_big = false;
};

namespace mproc {

// Everything a worker needs, prepared by the manager before the fork (the
// worker reads its own copy-on-write copy).
struct WorkerSetup {
  Channel *channel = nullptr;
  int notify_fd = -1;  // eventfd: "a message is in your outbox" to the manager
  // Set by the manager (in shared memory) while it sleeps: a worker makes
  // the notify syscall only then, so a busy pool makes none per task.
  std::atomic<uint32_t> *manager_asleep = nullptr;
  mproc_target_fn init = nullptr;
  const std::vector<unsigned char> *init_arg = nullptr;
  void *init_ctx = nullptr;
  uint32_t max_chunks = 0;  // 0 = unlimited
  // Replies travel per chunk (see run_chunk). Off with a task timeout: the
  // manager restarts an item's clock when the previous item's reply comes.
  bool batch_replies = true;
};

// Process target for a worker: ctx is a WorkerSetup*. Returns its exit code.
int worker_main(const void *arg, size_t arg_len, void *ctx);

// Exit codes a worker uses on its own (a task can also make it exit).
constexpr int kWorkerExitInitFailed = 3;
constexpr int kWorkerExitProtocol = 4;

}  // namespace mproc
