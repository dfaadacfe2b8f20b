#include "pool/worker.h"

#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/deadline.h"
#include "base/eventfd.h"
#include "base/shm.h"
#include "queue/wait.h"
#include "start/registry.h"

namespace mproc {

namespace {

// How long a batch may gather replies before it goes out mid-chunk.
constexpr int64_t kFlushNs = 2 * 1000 * 1000;
// When this worker's current batch began (its last flush, or its chunk's start).
int64_t batch_started_ns = 0;

// How long a worker out of tasks keeps quiet replies (kFlagQuiet) untold
// to the manager: their consumer, busy with earlier ones, reads them or
// sends more tasks well within it.
constexpr double kQuietGraceSeconds = 200e-6;

// Wakes the callers asleep for replies, or else, if `manager`, the
// manager when it sleeps. False: nobody woken, as only the manager could
// have been and `manager` was false.
bool notify(const WorkerSetup *s, bool manager = true) {
  // Pairs with the sleepers' announce-then-recheck (and a waiter's
  // withdraw-then-recheck): the read-modify-writes on the word are ordered,
  // so either a sleeper sees our message, or we see it asleep and wake it.
  uint32_t v = s->signals->sleepers.fetch_add(0, std::memory_order_seq_cst);
  if (v >= kWaiterUnit) {
    wake_waiting_callers(s->signals);
  } else if (!manager) {
    return false;
  } else if (v & kManagerAsleep) {
    signal_eventfd(s->notify_fd);
  }
  return true;
}

// A notify put off because more tasks are queued here: the results are in
// the outbox already, and whoever waits for them hears once this worker's
// inbox runs dry (or kFlushNs on), so a burst of small chunks costs the
// caller one wake-up rather than one per chunk. Quiet replies wake
// waiting callers then, but the manager only once the worker has been out
// of tasks for kQuietGraceSeconds with them still unread.
bool notify_owed = false;
bool owed_loud = false;  // some of the replies owed for are not quiet
int64_t owed_since_ns = 0;

void pay_owed_notify(WorkerSetup *s) {
  if (!notify_owed) return;
  notify_owed = false;
  // Replies somebody read already need no telling: the reader delivers.
  if (s->channel->replies_waiting()) notify(s);
}

void notify_unless_busy(WorkerSetup *s, int64_t now, bool quiet) {
  if (!notify_owed) {
    owed_since_ns = now;
    owed_loud = false;
  }
  notify_owed = true;
  owed_loud |= !quiet;
  if (now - owed_since_ns < kFlushNs && s->channel->tasks_waiting()) return;
  if (owed_loud)
    pay_owed_notify(s);
  else if (notify(s, /*manager=*/false))
    notify_owed = false;
}

// A worker waiting for room in its outbox pays first: nobody else might
// ever read the replies it put off telling of.
void pay_before_waiting(void *s) { pay_owed_notify(static_cast<WorkerSetup *>(s)); }

// The next task: at once if one is queued, else after paying an owed
// notify (also when the worker is about to leave: closed or broken inbox).
int next_task(WorkerSetup *s, MsgHeader *task, std::vector<unsigned char> *payload) {
  if (notify_owed) {
    int rc = s->channel->receive(false, 0.0, task, payload);
    if (rc == MPROC_E_EMPTY && !owed_loud &&
        s->signals->work_pending.load(std::memory_order_relaxed) == 0)
      rc = s->channel->receive(false, kQuietGraceSeconds, task, payload);
    if (rc == MPROC_OK) return rc;
    pay_owed_notify(s);
    if (rc != MPROC_E_EMPTY) return rc;
  }
  return s->channel->receive(false, MPROC_FOREVER, task, payload);
}

int send_to_manager(WorkerSetup *s, const MsgHeader &h, const std::vector<unsigned char> &payload) {
  int rc = s->channel->send(false, h, payload.data(), payload.size(), MPROC_FOREVER);
  if (rc == MPROC_OK) notify(s);
  return rc;
}

// The function a task message names: its address in a forked worker, the
// id of its registered name in a spawned one (see MsgHeader::fn).
mproc_task_fn task_function(const WorkerSetup *s, const MsgHeader &task) {
  if (!s->by_name) return reinterpret_cast<mproc_task_fn>(static_cast<uintptr_t>(task.fn));
  static uint64_t last_id = 0;
  static mproc_task_fn last_fn = nullptr;
  if (task.fn != last_id) {
    last_fn = find_task_by_id(task.fn);
    last_id = task.fn;
  }
  return last_fn;
}

// Runs one task item; returns its status, the reply in *reply.
int run_item(mproc_task_fn fn, const MsgHeader &task, const mproc_bytes &item, mproc_reply *reply) {
  int status;
  try {
    if (!fn) {
      // The parent registered a task name this program did not.
      static const char what[] = "no pool task with this name is registered in the worker";
      reply->data.assign(what, what + sizeof what - 1);
      return MPROC_E_TASK_FAILED;
    }
    int rc = fn(item.data, item.len, reply, reinterpret_cast<void *>(static_cast<uintptr_t>(task.ctx)));
    status = rc == 0 ? MPROC_OK : MPROC_E_TASK_FAILED;
  } catch (...) {
    // A C++ exception from a task fails the task, not the worker.
    static const char what[] = "uncaught C++ exception in the task";
    reply->data.assign(what, what + sizeof what - 1);
    reply->in_place = false;
    reply->too_big = false;
    status = MPROC_E_TASK_FAILED;
  }
  if (reply->too_big) {
    status = MPROC_E_TOOBIG;
    reply->data.clear();
    reply->in_place = false;
  }
  return status;
}

// Sends the replies the log holds as one message, then empties the log.
int flush(WorkerSetup *s, const MsgHeader &task) {
  ReplyLog &log = s->channel->reply_log();
  if (log.count() == 0) return MPROC_OK;
  MsgHeader h{};
  h.kind = static_cast<uint32_t>(MsgKind::kResults);
  h.chunk_id = task.chunk_id;
  h.index = log.count();
  h.run_ns = monotonic_ns() - batch_started_ns;
  int rc = s->channel->send(false, h, log.data(), log.used(), MPROC_FOREVER);
  if (rc != MPROC_OK) return rc;
  log.clear();  // a death before this leaves duplicates, which the manager skips
  batch_started_ns = monotonic_ns();
  notify_unless_busy(s, batch_started_ns, (task.flags & kFlagQuiet) != 0);
  return MPROC_OK;
}

// Records one item's outcome: in the log (sent with the chunk's other
// replies), or, when it does not fit there or batching is off, alone.
int report(WorkerSetup *s, const MsgHeader &task, uint32_t index, int status,
           const std::vector<unsigned char> &reply) {
  ReplyLog &log = s->channel->reply_log();
  if (s->batch_replies) {
    if (log.append(index, status, reply.data(), reply.size())) return MPROC_OK;
    int rc = flush(s, task);  // replies leave in item order
    if (rc != MPROC_OK) return rc;
    if (log.append(index, status, reply.data(), reply.size())) return MPROC_OK;
  }
  MsgHeader h{};
  h.kind = static_cast<uint32_t>(MsgKind::kResult);
  h.chunk_id = task.chunk_id;
  h.index = index;
  h.status = status;
  return send_to_manager(s, h, reply);
}

// Runs a chunk. Its replies go out together at its end, or earlier when
// they have waited kFlushNs, so a long chunk of slow items still streams.
// The clock is read after items 1, 2, 4, ... 64 of a batch, then every
// 64th: slow items flush at once, quick ones cost no clock read each.
int run_chunk(WorkerSetup *s, const MsgHeader &task, const std::vector<mproc_bytes> &items) {
  ReplyLog &log = s->channel->reply_log();
  log.begin(task.chunk_id);
  batch_started_ns = monotonic_ns();
  mproc_reply reply;  // one for the chunk: its buffer is reused
  mproc_task_fn fn = task_function(s, task);
  for (uint32_t i = 0; i < items.size(); i++) {
    reply.data.clear();
    reply.too_big = false;
    reply.in_place = false;
    // Batched replies may be written in place (alone, each is a message).
    if (s->batch_replies) reply.place = log.next_reply(&reply.room);
    int status = run_item(fn, task, items[i], &reply);
    int rc = MPROC_OK;
    if (reply.in_place)
      log.commit(i, status, reply.placed);
    else
      rc = report(s, task, i, status, reply.data);
    if (rc != MPROC_OK) return rc;
    uint32_t n = log.count();
    if (n == 0 || (n & (n - 1) && n % 64)) continue;
    if (monotonic_ns() - batch_started_ns >= kFlushNs && (rc = flush(s, task)) != MPROC_OK)
      return rc;
  }
  return flush(s, task);
}

}  // namespace

void wake_waiting_callers(PoolSignals *signals) {
  signals->waiter_gen.fetch_add(1, std::memory_order_seq_cst);
  queue::futex_wake(reinterpret_cast<uint32_t *>(&signals->waiter_gen), INT_MAX);
}

int worker_main(const void *, size_t, void *ctx) {
  auto *s = static_cast<WorkerSetup *>(ctx);
  // The manager thread that forked us blocks every signal; a worker must
  // die of SIGTERM like any process. SIGINT belongs to the parent.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_IGN);
  s->channel->become_worker_end();
  s->channel->on_outbox_full(pay_before_waiting, s);

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
    int rc = next_task(s, &task, &payload);
    if (rc == MPROC_E_CLOSED) return 0;  // the pool is closing: done
    if (rc != MPROC_OK || task.kind != static_cast<uint32_t>(MsgKind::kTask)) return kWorkerExitProtocol;
    uint32_t count = static_cast<uint32_t>(task.index);  // a task's index field carries its item count
    if (!unpack_items(payload, count, &items)) return kWorkerExitProtocol;
    if (run_chunk(s, task, items) != MPROC_OK) return kWorkerExitProtocol;
    if (s->max_chunks && ++chunks_run >= s->max_chunks) {
      pay_owed_notify(s);
      return 0;
    }
  }
}

namespace {

// What a spawned worker gets in its request's argument bytes.
void put_u64(std::vector<unsigned char> *b, uint64_t v) {
  unsigned char raw[8];
  memcpy(raw, &v, 8);
  b->insert(b->end(), raw, raw + 8);
}
bool get_u64(const std::vector<unsigned char> &b, size_t *off, uint64_t *v) {
  if (b.size() - *off < 8) return false;
  memcpy(v, b.data() + *off, 8);
  *off += 8;
  return true;
}
bool get_bytes(const std::vector<unsigned char> &b, size_t *off, std::vector<unsigned char> *out) {
  uint64_t n;
  if (!get_u64(b, off, &n) || n > b.size() - *off) return false;
  out->assign(b.begin() + static_cast<long>(*off), b.begin() + static_cast<long>(*off + n));
  *off += n;
  return true;
}

// An initializer the worker cannot find fails like one that returns 1.
int missing_initializer(const void *, size_t, void *) {
  fprintf(stderr, "mproc: pool worker %d: its initializer is not registered here\n",
          static_cast<int>(getpid()));
  return 1;
}

}  // namespace

std::vector<unsigned char> encode_worker_launch(const std::string &init_name,
                                                const std::vector<unsigned char> &init_arg,
                                                uint32_t max_chunks, bool batch_replies) {
  std::vector<unsigned char> b;
  put_u64(&b, init_name.size());
  b.insert(b.end(), init_name.begin(), init_name.end());
  put_u64(&b, init_arg.size());
  b.insert(b.end(), init_arg.begin(), init_arg.end());
  put_u64(&b, max_chunks);
  put_u64(&b, batch_replies ? 1 : 0);
  return b;
}

// NOLINTBEGIN(clang-analyzer-cplusplus.NewDeleteLeaks): see below.
int run_spawned_worker(ChildRequest &req) {
  // Never freed: the worker leaves with _exit(), on every path.
  auto *setup = new WorkerSetup();
  auto *channel = new Channel();
  auto *signals = new SharedRegion();
  auto *init_arg = new std::vector<unsigned char>();
  std::vector<unsigned char> init_name;
  uint64_t max_chunks = 0, batch = 0;
  size_t off = 0;
  const std::vector<unsigned char> &a = req.arg;
  if (!get_bytes(a, &off, &init_name) || !get_bytes(a, &off, init_arg) ||
      !get_u64(a, &off, &max_chunks) || !get_u64(a, &off, &batch) ||
      req.fds.size() != kSpawnedWorkerFds)
    return kWorkerExitProtocol;
  std::vector<int> channel_fds(req.fds.begin(), req.fds.begin() + 4);
  if (channel->open_worker_end(channel_fds) != MPROC_OK ||
      !signals->attach(req.fds[5], sizeof(PoolSignals)))
    return kWorkerExitProtocol;
  setup->channel = channel;
  setup->notify_fd = req.fds[4];
  setup->signals = static_cast<PoolSignals *>(signals->data());
  if (!init_name.empty()) {
    setup->init = find_target(std::string(init_name.begin(), init_name.end()));
    if (!setup->init) setup->init = missing_initializer;
  }
  setup->init_arg = init_arg;
  setup->max_chunks = static_cast<uint32_t>(max_chunks);
  setup->batch_replies = batch != 0;
  setup->by_name = true;
  return worker_main(nullptr, 0, setup);
}
// NOLINTEND(clang-analyzer-cplusplus.NewDeleteLeaks)

}  // namespace mproc
