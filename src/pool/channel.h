// The private link between the pool's manager and one worker: an inbox
// queue (tasks), an outbox queue (replies), and a socketpair that carries
// a memfd when a payload is too large for the queues. One channel per
// worker, so a worker that dies can only damage its own link, which is
// drained and dropped with it.
#pragma once

#include <cstdint>
#include <vector>

#include "mproc/mproc-queue.h"
#include "pool/reply_log.h"

namespace mproc {

enum class MsgKind : uint32_t {
  kTask = 1,        // manager -> worker: a chunk of items
  kResult = 2,      // worker -> manager: one item's outcome
  kReady = 3,       // worker -> manager: the initializer passed
  kInitFailed = 4,  // worker -> manager: the initializer failed
  kResults = 5,     // worker -> manager: consecutive outcomes of one chunk (ReplyEntry list)
};

// Fixed header in front of every message (both ends are the same binary on
// the same machine, so native layout is fine).
struct MsgHeader {
  uint32_t kind;
  uint32_t flags;     // kFlagBig: the payload travels in a memfd; kFlagQuiet
  uint64_t chunk_id;
  uint32_t index;     // kResult: item index in the chunk; kTask, kResults: item count
  int32_t status;     // kResult: MPROC_OK or an MPROC_E_* code
  uint64_t fn;        // kTask: the task function's address (fork), or the id of
                      // its registered name (spawn, forkserver: start/registry.h)
  uint64_t ctx;       // kTask: its ctx pointer
  uint64_t payload_len;
  int64_t run_ns;     // kResults: how long the worker took over these items
};
constexpr uint32_t kFlagBig = 1;
// kTask: its replies are pulled by their consumer (Sink::reads_own_replies)
// and need not wake the manager at once (see worker.cc).
constexpr uint32_t kFlagQuiet = 2;

class Channel {
 public:
  Channel() = default;
  ~Channel();
  Channel(const Channel &) = delete;
  Channel &operator=(const Channel &) = delete;

  int open();  // creates both queues, the socketpair and the reply log
  // What a spawned worker needs (inbox, outbox, its socket, the reply log),
  // and how it rebuilds its end from them (the socket is taken, the rest
  // duplicated).
  std::vector<int> worker_fds() const;
  int open_worker_end(const std::vector<int> &fds);
  // The end this process uses: true in the manager, false in the worker
  // (which closes the manager's socket end on entry).
  void become_worker_end();

  // Sends header + payload towards the other end. The manager never blocks
  // (timeout 0: MPROC_E_FULL means try later); the worker waits for room.
  // The manager's sends do not wake the worker: it sends a burst, then
  // calls wake_worker() once (one futex wake, not one per task).
  int send(bool from_manager, MsgHeader h, const void *payload, size_t len, double timeout);
  void wake_worker();
  // Worker side: fn(ctx) runs before a send waits for room in the outbox,
  // so that a reader it has not told of the messages there yet hears now.
  void on_outbox_full(void (*fn)(void *), void *ctx) {
    outbox_full_ = fn;
    outbox_full_ctx_ = ctx;
  }
  // Receives the next message for this end. MPROC_E_EMPTY with timeout 0
  // when nothing is there, MPROC_E_CLOSED once the inbox is shut down.
  int receive(bool at_manager, double timeout, MsgHeader *h, std::vector<unsigned char> *payload);
  // True when a payload of this size travels in a memfd (manager -> worker).
  bool task_needs_memfd(size_t payload_len) const;
  // Manager side: takes back the oldest task the worker has not taken yet,
  // to give it to an idle worker. Never used while a memfd task is queued.
  // Returns MPROC_OK and its chunk id, or MPROC_E_EMPTY.
  int steal_task(uint64_t *chunk_id);
  // Manager side: whether replies are waiting (checked before sleeping).
  bool replies_waiting() const;
  // Worker side: whether more tasks are queued for it.
  bool tasks_waiting() const;
  // Manager side: stop the worker after its queued tasks (graceful close).
  void shutdown_inbox();
  // Manager side, after the worker died: how many task messages it never took.
  size_t discard_unread_tasks();
  // Replies the worker has finished but not sent (shared with it).
  ReplyLog &reply_log() { return log_; }

 private:
  int put(bool from_manager, const void *data, size_t len, double timeout);

  mproc_queue *inbox_ = nullptr;   // manager -> worker
  mproc_queue *outbox_ = nullptr;  // worker -> manager
  int manager_sock_ = -1;
  int worker_sock_ = -1;
  bool inbox_shut_ = false;
  void (*outbox_full_)(void *) = nullptr;
  void *outbox_full_ctx_ = nullptr;
  ReplyLog log_;
  // Reused message buffers: each end of a channel is used by one thread.
  std::vector<unsigned char> send_buf_;
  std::vector<unsigned char> recv_buf_;
};

}  // namespace mproc
