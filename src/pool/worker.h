// The loop a pool worker runs in its own process.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "mproc/mproc-pool.h"
#include "pool/channel.h"
#include "pool/task.h"
#include "start/request.h"

// The reply a task fills in with mproc_reply_set(): in `data`, or, when it
// fits there, straight in the worker's reply log past its last entry
// (`place`, `room` bytes at most; the entry is counted after the task
// returns), which spares a copy per item.
struct mproc_reply {
  std::vector<unsigned char> data;
  bool too_big = false;
  unsigned char *place = nullptr;
  size_t room = 0;
  bool in_place = false;  // the reply is the `placed` bytes at `place`
  size_t placed = 0;
};

namespace mproc {

// Everything a worker needs, prepared by the manager before the fork (the
// worker reads its own copy-on-write copy).
struct WorkerSetup {
  Channel *channel = nullptr;
  int notify_fd = -1;  // eventfd: "a message is in your outbox" to the manager
  // Who sleeps, and where waiting callers sleep (shared memory): a worker
  // makes a notify syscall only when someone sleeps, so a busy pool makes
  // none per task.
  struct PoolSignals *signals = nullptr;
  mproc_target_fn init = nullptr;
  const std::vector<unsigned char> *init_arg = nullptr;
  void *init_ctx = nullptr;
  uint32_t max_chunks = 0;  // 0 = unlimited
  // Replies travel per chunk (see run_chunk). Off with a task timeout: the
  // manager restarts an item's clock when the previous item's reply comes.
  bool batch_replies = true;
  // A spawned worker: task messages name registered tasks by id.
  bool by_name = false;
};

// The sleepers word: this bit while the manager sleeps, plus kWaiterUnit
// per caller thread that sleeps waiting for an outcome. A reply wakes the
// waiting callers (who read it themselves) in preference to the manager.
constexpr uint32_t kManagerAsleep = 1;
constexpr uint32_t kWaiterUnit = 2;

// The words the pool's process and its workers share (a memfd region).
struct PoolSignals {
  std::atomic<uint32_t> sleepers{0};
  // Waiting callers sleep on this word (a shared futex) and every wake
  // bumps it, so a wake-up reaches every caller that sleeps then: one read
  // by another caller (as an eventfd's was) cannot use it up.
  std::atomic<uint32_t> waiter_gen{0};
  // Chunks wait in the pool for a worker with room (as of the last
  // dispatch): a worker out of tasks then tells the manager at once, even
  // of quiet replies, so that it reads them and hands out more.
  std::atomic<uint32_t> work_pending{0};
};
// Wakes every caller thread asleep in Pool::wait_for.
void wake_waiting_callers(PoolSignals *signals);

// Process target for a worker: ctx is a WorkerSetup*. Returns its exit code.
int worker_main(const void *arg, size_t arg_len, void *ctx);

// A worker started by spawn or forkserver gets its setup as bytes (the
// initializer by registered name) and these descriptors: the channel's
// four (Channel::worker_fds), the manager's results eventfd, the
// PoolSignals region.
constexpr size_t kSpawnedWorkerFds = 6;
std::vector<unsigned char> encode_worker_launch(const std::string &init_name,
                                                const std::vector<unsigned char> &init_arg,
                                                uint32_t max_chunks, bool batch_replies);
// Its entry (start/child.cc); returns its exit code.
int run_spawned_worker(ChildRequest &req);

// Exit codes a worker uses on its own (a task can also make it exit).
constexpr int kWorkerExitInitFailed = 3;
constexpr int kWorkerExitProtocol = 4;

}  // namespace mproc
