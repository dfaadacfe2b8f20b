// The pool: a manager thread that starts workers, hands out chunks over
// each worker's private channel, collects outcomes, and turns a worker's
// death or timeout into the failure of exactly the item it was running.
// Submitting threads hand out chunks too, and threads waiting for an
// outcome read replies themselves (wait_for), so a quick task costs two
// wake-ups, not four; the manager keeps what only it can do.
//
// A pool belongs to the process that created it; the C layer refuses a
// handle used in any other process before anything here takes a lock (a
// forked child may have inherited mu_ held).
//
// Locking: mu_ guards everything below it. Outcomes are delivered to sinks
// (which take their own locks) only after mu_ is released, so a sink may
// call back into the pool (an iterator refilling itself) without deadlock.
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/deadline.h"
#include "base/shm.h"
#include "base/sys.h"
#include "pool/callbacks.h"
#include "pool/channel.h"
#include "pool/seam.h"
#include "pool/task.h"
#include "pool/worker.h"
#include "process/process.h"
#include "queue/wait.h"

namespace mproc {

class IterState;

class Pool {
 public:
  explicit Pool(int workers);
  // A pool whose workers a transport outside the core runs (pool/seam.h):
  // no manager thread, no local workers; tasks go by registered name.
  Pool(int workers, const mproc_pool_transport &transport);
  ~Pool();
  Pool(const Pool &) = delete;
  Pool &operator=(const Pool &) = delete;

  bool ok() const;  // false if the constructor could not get its eventfds
  bool owned_here() const { return creator_ == current_pid(); }
  int workers() const { return nworkers_; }

  int set_initializer(mproc_target_fn init, const void *arg, size_t arg_len, void *ctx);
  int set_maxtasksperchild(uint32_t n);
  int set_task_timeout(double seconds);
  // MPROC_START_*; fixed when the workers start (default: the process-wide
  // default then).
  int set_start_method(int method);
  // Whether a task can run in this pool's workers: MPROC_OK, or for spawn
  // and forkserver pools MPROC_E_INVAL (ctx set) or MPROC_E_NOENT (fn not
  // registered with mproc_register_task).
  int check_task(mproc_task_fn fn, const void *ctx);

  // Starts the manager and waits until it has started every worker. When
  // one cannot start (out of processes, descriptors, memory) the pool is
  // terminated, the workers already started are killed and reaped, and the
  // failure's code is returned.
  int start();
  // Queues a chunk. Callers' submissions (from_iterator false) need a
  // running pool; an iterator's lazy input is accepted until terminate.
  int submit(std::shared_ptr<Chunk> chunk, bool from_iterator);
  // The same for several chunks at once: all taken (moved from), or none on
  // an error.
  int submit(std::shared_ptr<Chunk> *chunks, size_t n, bool from_iterator);
  // Items one chunk of this sink's may carry when chunks are merged (quick
  // items travel together: one message, one reply batch and one wake-up
  // for several), or 0 when its chunks must go as the caller cut them.
  uint32_t merge_items(const Sink &sink);
  // Blocks until done() holds (MPROC_OK) or the deadline passes
  // (MPROC_E_TIMEOUT). While it waits, this thread reads the workers'
  // replies itself, so a reply wakes it directly instead of waking the
  // manager, which then wakes it. done() must not take the pool's lock.
  template <typename Done>
  int wait_for(Done &&done, const Deadline &deadline);
  // Someone delivered outside the pool: waiting threads look again.
  void wake_waiters();
  void register_iterator(const std::shared_ptr<IterState> &it);
  void iterator_input_done();
  void cancel_queued(const Sink *sink);
  bool closing();  // closed or terminated: iterators submit all they have

  int close();
  int terminate();
  int join(const Deadline &deadline);
  int event_fd() {
    event_fd_wanted_ = true;
    return event_fd_;
  }
  int stat(int which, uint64_t *value);
  std::shared_ptr<CallbackQueue> callbacks() const { return callbacks_; }
  // free(): terminate if running, join, run queued callbacks.
  void shutdown();

  // The transport's side of the seam (pool/seam.h).
  int transport_take(std::shared_ptr<Chunk> *out);
  void transport_deliver(uint64_t id, uint32_t first, uint32_t n, const mproc_seam_item *items);
  int transport_state();
  size_t transport_pending();
  void transport_finished();
  void transport_config(mproc_seam_config *out);

 private:
  enum class State { kNew, kRunning, kClosed, kTerminated };

  struct Slot {
    std::unique_ptr<Process> process;
    std::unique_ptr<Channel> channel;
    WorkerSetup setup;
    std::deque<std::shared_ptr<Chunk>> assigned;  // sent, in order
    uint32_t chunks_sent = 0;
    bool wake_owed = false;    // tasks sent since the worker was last woken
    bool ready = false;        // initializer passed
    bool init_failed = false;  // it said so before exiting
    bool killed_for_timeout = false;
    bool bad_message = false;  // protocol error: killed
    int64_t deadline_ns = 0;   // current item's deadline (0 = none)
    int sentinel = -1;         // its pidfd, or -1: then polled on a tick
    bool exit_signaled = false;  // the pidfd turned readable
  };
  struct Delivery {
    std::shared_ptr<Sink> sink;
    OutcomeRun run;
  };
  using Deliveries = std::vector<Delivery>;
  // Appends to the last run when it continues it and has room; `expected`
  // sizes a new run.
  static void add_outcome(Deliveries &out, const std::shared_ptr<Sink> &sink, size_t index,
                          ItemOutcome &&outcome, size_t expected = 1);

  int start_locked();
  // start_locked(), then waits for the first fill_workers_locked() and, if
  // it failed, terminates the pool and returns why. Unlocks on failure.
  int start_and_wait(std::unique_lock<std::mutex> &lock);
  static void *manager_main(void *self);
  void manager_loop();
  int spawn_worker_locked();  // MPROC_E_NOMEM for std::bad_alloc
  int spawn_worker_or_throw_locked();
  void fill_workers_locked();
  // Takes every message the worker sent; true if there was any.
  bool read_outbox_locked(Slot &slot, Deliveries &out);
  bool manager_needed_locked() const;
  void sweep_for_waiter();
  bool replies_waiting();
  // Sleeps until the waiter generation moves from gen (or the deadline).
  void sleep_as_waiter(uint32_t gen, const Deadline &deadline);
  bool take_reply_locked(Slot &slot, uint64_t chunk_id, uint32_t index, int32_t status,
                         ReplyBytes &&reply, Deliveries &out, size_t expected = 1);
  bool take_batch_locked(Slot &slot, uint64_t chunk_id, std::vector<unsigned char> &&batch,
                         uint32_t count, int64_t run_ns, Deliveries &out);
  void take_log_locked(Slot &slot, Deliveries &out);
  void item_done_locked(Slot &slot, uint32_t items);
  void handle_exit_locked(size_t i, Deliveries &out);
  void dispatch_locked();
  // dispatch_locked(), or, out of memory, leaves it to the manager.
  void dispatch_or_defer_locked();
  bool can_take_locked(const Slot &s, const Chunk &next) const;
  uint32_t merge_items_locked(const Sink &sink) const;
  // Joins to pending_.front() the chunks queued behind it that continue it,
  // as merge_items_locked() allows.
  void merge_pending_front_locked();
  bool send_locked(Slot &s);
  void steal_for_idle_locked();
  bool should_sleep_locked();
  void check_timeouts_locked();
  void fail_chunk_locked(Chunk &c, int status, Deliveries &out);
  void fail_all_locked(int status, Deliveries &out);
  bool work_left_locked() const;
  void deliver(Deliveries &out);
  void wake_manager();
  size_t depth() const;
  void set_asleep(bool asleep);
  int method_locked() const;
  int check_initializer_locked(int method);

  const int nworkers_;
  const pid_t creator_;
  bool has_transport_ = false;
  mproc_pool_transport transport_{};
  // Chunks the transport took and has not finished, by id.
  std::map<uint64_t, std::shared_ptr<Chunk>> taken_;
  int wake_fd_ = -1;     // submissions, close, terminate -> manager
  int results_fd_ = -1;  // workers -> manager
  int event_fd_ = -1;    // manager -> caller's event loop
  SharedRegion signals_region_;  // shared with the workers (and handed to spawned ones)
  PoolSignals *signals_ = nullptr;  // in it: who sleeps, where waiting callers sleep
  std::shared_ptr<CallbackQueue> callbacks_;

  std::mutex mu_;
  std::condition_variable finished_cv_;
  std::condition_variable workers_cv_;  // fill_workers_locked() ran (Pool::start waits)
  State state_ = State::kNew;
  bool manager_running_ = false;
  bool manager_finished_ = false;
  bool manager_joined_ = false;
  pthread_t manager_{};

  mproc_target_fn init_ = nullptr;
  std::vector<unsigned char> init_arg_;
  void *init_ctx_ = nullptr;
  uint32_t max_tasks_ = 0;
  int64_t task_timeout_ns_ = 0;  // 0 = none
  int method_ = 0;               // 0 until chosen or fixed at the first start
  bool method_chosen_ = false;   // set_start_method() was called
  std::string init_name_;        // the initializer's registered name (spawn, forkserver)

  uint64_t next_chunk_id_ = 1;
  std::deque<std::shared_ptr<Chunk>> pending_;
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t active_iterators_ = 0;  // iterators with input not yet submitted
  std::vector<std::weak_ptr<IterState>> iterators_;
  bool broken_ = false;          // initializer keeps failing
  int init_fail_streak_ = 0;
  bool spawn_failed_ = false;    // last fork failed: retry on a tick
  bool first_fill_done_ = false;  // every worker of the first start started
  int start_error_ = MPROC_OK;    // why the first start failed: no retries then
  Deliveries pending_failures_;  // outcomes decided while dispatching
  Deliveries manager_out_;       // the manager's current round's outcomes (its thread only)

  std::atomic<bool> event_fd_wanted_{false};  // nobody polls it until asked for
  queue::Spinner waiter_spinner_;             // callers' spin before sleeping in wait_for
  std::atomic<uint64_t> tasks_submitted_{0}, tasks_succeeded_{0}, tasks_failed_{0};
  std::atomic<uint64_t> workers_started_{0}, workers_died_{0}, workers_alive_{0};
};

template <typename Done>
int Pool::wait_for(Done &&done, const Deadline &deadline) {
  for (;;) {
    sweep_for_waiter();
    if (done()) return MPROC_OK;
    if (deadline.expired()) return MPROC_E_TIMEOUT;
    // Announce, then look once more: what was delivered or replied before
    // the announcement is seen here, what comes after it wakes us (see
    // notify() in worker.cc and wake_waiters()).
    uint32_t gen = signals_->waiter_gen.load(std::memory_order_seq_cst);
    signals_->sleepers.fetch_add(kWaiterUnit, std::memory_order_seq_cst);
    if (!done() && !replies_waiting()) {
      // Watch the generation a while before sleeping on it (adaptively, as
      // the queue does): a reply due in microseconds then costs no sleep,
      // and this CPU does not drop into an idle state that takes tens of
      // microseconds to leave (a halted vCPU).
      int rc = waiter_spinner_.spin(deadline, [&] {
        return signals_->waiter_gen.load(std::memory_order_acquire) != gen ? MPROC_OK : queue::kAgain;
      });
      if (rc != MPROC_OK) sleep_as_waiter(gen, deadline);
    }
    // Withdrawn, we sweep again: a worker that saw us waiting woke only
    // us, so its reply is ours to read.
    signals_->sleepers.fetch_sub(kWaiterUnit, std::memory_order_seq_cst);
  }
}

}  // namespace mproc
