#include "pool/pool.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <new>

#include "base/cpu.h"
#include "base/eventfd.h"
#include "base/oom.h"
#include "base/thread.h"
#include "mproc/mproc-start.h"
#include "start/method.h"
#include "start/registry.h"
#include "pool/results.h"
#include "queue/wait.h"

namespace mproc {

namespace {
// Initializer failures in a row after which the pool stops respawning.
constexpr int kMaxInitFailures = 3;
// Polling interval when something cannot be waited for on an fd.
constexpr int64_t kTickNs = 20 * 1000 * 1000;
// A merged chunk carries at most this much work (by the workers' recent
// time per item of its sink) and this many items.
constexpr int64_t kMergeNs = 50 * 1000;
constexpr uint32_t kMergeItems = 32;
}  // namespace

Pool::Pool(int workers)
    : nworkers_(workers == 0 ? cpu_count() : workers),
      creator_(current_pid()),
      callbacks_(std::make_shared<CallbackQueue>()) {
  if (signals_region_.create(sizeof(PoolSignals)))
    signals_ = new (signals_region_.data()) PoolSignals();
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  results_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Pool::Pool(int workers, const mproc_pool_transport &transport) : Pool(workers) {
  has_transport_ = true;
  transport_ = transport;
  // Remote workers know tasks only by name, like forkserver workers (and
  // the transport runs them in forkserver children).
  method_ = MPROC_START_FORKSERVER;
  method_chosen_ = true;
}

Pool::~Pool() {
  shutdown();
  if (has_transport_) transport_.destroy(transport_.self);
  for (int fd : {wake_fd_, results_fd_, event_fd_})
    if (fd >= 0) ::close(fd);
}

bool Pool::ok() const {
  return signals_ && wake_fd_ >= 0 && results_fd_ >= 0 && event_fd_ >= 0;
}

int Pool::method_locked() const { return method_ ? method_ : default_start_method(); }

// Spawn and forkserver workers find the initializer by its registered name.
int Pool::check_initializer_locked(int method) {
  init_name_.clear();
  if (!init_ || method == MPROC_START_FORK) return MPROC_OK;
  if (init_ctx_) return MPROC_E_INVAL;
  return target_name(init_, &init_name_) ? MPROC_OK : MPROC_E_NOENT;
}

int Pool::set_start_method(int method) {
  if (!valid_start_method(method)) return MPROC_E_INVAL;
  std::lock_guard<std::mutex> lock(mu_);
  if (manager_running_ || state_ != State::kNew || has_transport_) return MPROC_E_STATE;
  if (int rc = check_initializer_locked(method)) return rc;
  method_ = method;
  method_chosen_ = true;
  return MPROC_OK;
}

int Pool::check_task(mproc_task_fn fn, const void *ctx) {
  int method;
  {
    std::lock_guard<std::mutex> lock(mu_);
    method = method_locked();
  }
  if (method == MPROC_START_FORK) return MPROC_OK;
  if (ctx) return MPROC_E_INVAL;  // nothing but bytes reaches a spawned worker
  uint64_t id;
  return task_id_of(fn, &id) ? MPROC_OK : MPROC_E_NOENT;
}

int Pool::set_initializer(mproc_target_fn init, const void *arg, size_t arg_len, void *ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (manager_running_ || state_ != State::kNew) return MPROC_E_STATE;
  if (method_ && method_ != MPROC_START_FORK) {
    if (ctx) return MPROC_E_INVAL;
    std::string name;
    if (init && !target_name(init, &name)) return MPROC_E_NOENT;
  }
  const auto *bytes = static_cast<const unsigned char *>(arg);
  init_arg_.assign(bytes, bytes + arg_len);
  init_ = init;
  init_ctx_ = ctx;
  return MPROC_OK;
}

int Pool::set_maxtasksperchild(uint32_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (manager_running_ || state_ != State::kNew) return MPROC_E_STATE;
  max_tasks_ = n;
  return MPROC_OK;
}

int Pool::set_task_timeout(double seconds) {
  if (std::isnan(seconds) || seconds == 0) return MPROC_E_INVAL;
  std::lock_guard<std::mutex> lock(mu_);
  if (manager_running_ || state_ != State::kNew) return MPROC_E_STATE;
  bool none = seconds < 0 || seconds >= kForeverSeconds;
  task_timeout_ns_ = none ? 0 : static_cast<int64_t>(seconds * 1e9);
  return MPROC_OK;
}

size_t Pool::depth() const {
  // Chunks queued per worker, so a busy worker never waits for the manager.
  // With a timeout a task must start when it is sent: no prefetch then.
  return task_timeout_ns_ ? 1 : 8;
}

int Pool::start() {
  std::unique_lock<std::mutex> lock(mu_);
  if (state_ == State::kClosed || state_ == State::kTerminated) return MPROC_E_STATE;
  return start_and_wait(lock);
}

int Pool::start_and_wait(std::unique_lock<std::mutex> &lock) {
  if (int rc = start_locked()) return rc;
  if (has_transport_) return MPROC_OK;  // its workers are not ours to count
  // Return once the manager has started the workers, so that what they
  // copy (fork) is the caller's state at this call: bindings for languages
  // with a runtime (Lua, Rust's stdout lock) depend on it.
  workers_cv_.wait_for(lock, std::chrono::seconds(60), [this] {
    return first_fill_done_ || start_error_ != MPROC_OK || broken_ ||
           state_ == State::kTerminated;
  });
  int rc = start_error_;
  if (rc == MPROC_OK) return MPROC_OK;
  // Fewer workers than asked for is not the pool the caller made: stop the
  // ones that started (terminate kills them, the manager reaps them).
  lock.unlock();
  terminate();
  join(Deadline::forever());
  return rc;
}

int Pool::start_locked() {
  if (manager_running_) return MPROC_OK;
  if (!method_) {
    // Fixed now: the process-wide default at the pool's first start.
    if (int rc = check_initializer_locked(default_start_method())) return rc;
    method_ = default_start_method();
  } else if (int rc = check_initializer_locked(method_)) {
    return rc;
  }
  if (has_transport_) {
    if (state_ == State::kNew) state_ = State::kRunning;
    manager_running_ = true;
    workers_started_ = workers_alive_ = static_cast<uint64_t>(nworkers_);
    transport_.start(transport_.self);
    return MPROC_OK;
  }
  if (!start_thread(&manager_, manager_main, this, /*detached=*/false)) {
    // Out of threads (the process limit counts them) or memory: as if a
    // worker had failed to start, the pool is terminated (start_and_wait).
    int rc = errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
    state_ = State::kTerminated;
    return rc;
  }
  if (state_ == State::kNew) state_ = State::kRunning;
  manager_running_ = true;
  return MPROC_OK;
}

void Pool::wake_manager() {
  if (has_transport_)
    transport_.wake(transport_.self);
  else
    signal_eventfd(wake_fd_);
}

int Pool::submit(std::shared_ptr<Chunk> chunk, bool from_iterator) {
  return submit(&chunk, 1, from_iterator);
}

int Pool::submit(std::shared_ptr<Chunk> *chunks, size_t n, bool from_iterator) {
  Deliveries out;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!from_iterator) {
      if (state_ == State::kClosed || state_ == State::kTerminated) return MPROC_E_STATE;
      if (broken_) return MPROC_E_INIT_FAILED;
    }
    // The first submission starts the workers, and fails as start() would.
    if (!manager_running_ && state_ != State::kTerminated && !broken_)
      if (int rc = start_and_wait(lock)) return rc;
    uint64_t items = 0;
    for (size_t k = 0; k < n; k++) items += chunks[k]->count;
    if (state_ == State::kTerminated || broken_) {
      tasks_submitted_ += items;
      for (size_t k = 0; k < n; k++)
        fail_chunk_locked(*chunks[k], broken_ ? MPROC_E_INIT_FAILED : MPROC_E_CANCELLED, out);
    } else {
      // All or nothing: a caller told MPROC_E_NOMEM must find none of them run.
      size_t queued = 0;
      try {
        for (; queued < n; queued++) pending_.push_back(std::move(chunks[queued]));
      } catch (const std::bad_alloc &) {
        for (; queued > 0; pending_.pop_back()) chunks[--queued] = std::move(pending_.back());
        throw;
      }
      tasks_submitted_ += items;
      // Hand them to workers from this thread when they can take them: the
      // manager need not wake. It still must for what only it does.
      if (!slots_.empty()) dispatch_or_defer_locked();
      if (manager_needed_locked()) wake_manager();
    }
  }
  deliver(out);
  return MPROC_OK;
}

bool Pool::manager_needed_locked() const {
  // Deadlines, closing, failures and new workers are the manager's. Chunks
  // still pending are not, while replies are due: whoever reads one (a
  // waiter, or the manager it wakes) dispatches again.
  if (state_ != State::kRunning || task_timeout_ns_ || !pending_failures_.empty()) return true;
  if (pending_.empty()) return false;
  return std::none_of(slots_.begin(), slots_.end(),
                      [](const std::unique_ptr<Slot> &s) { return !s->assigned.empty(); });
}

void Pool::sweep_for_waiter() {
  Deliveries out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool read = false;
    for (auto &s : slots_) read |= read_outbox_locked(*s, out);
    if (!read) return;
    // The replies may have freed room for pending chunks; a worker's
    // "ready" (no delivery) may have started a task's deadline, which only
    // the manager watches.
    if (!out.empty()) dispatch_or_defer_locked();
    if (manager_needed_locked()) wake_manager();
  }
  deliver(out);
}

bool Pool::replies_waiting() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto &s : slots_)
    if (s->channel->replies_waiting()) return true;
  return false;
}

void Pool::sleep_as_waiter(uint32_t gen, const Deadline &deadline) {
  timespec ts;
  queue::futex_wait(reinterpret_cast<uint32_t *>(&signals_->waiter_gen), gen, deadline.remaining(&ts));
}

void Pool::wake_waiters() {
  if (signals_->sleepers.load(std::memory_order_seq_cst) >= kWaiterUnit) wake_waiting_callers(signals_);
}

void Pool::register_iterator(const std::shared_ptr<IterState> &it) {
  std::lock_guard<std::mutex> lock(mu_);
  active_iterators_++;
  iterators_.push_back(it);
}

void Pool::iterator_input_done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_iterators_ > 0) active_iterators_--;
  wake_manager();
}

void Pool::cancel_queued(const Sink *sink) {
  std::lock_guard<std::mutex> lock(mu_);
  auto gone = std::remove_if(pending_.begin(), pending_.end(),
                             [&](const std::shared_ptr<Chunk> &c) { return c->sink.get() == sink; });
  for (auto it = gone; it != pending_.end(); ++it) tasks_failed_ += (*it)->count;
  pending_.erase(gone, pending_.end());
}

bool Pool::closing() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == State::kClosed || state_ == State::kTerminated;
}

int Pool::close() {
  std::vector<std::shared_ptr<IterState>> iters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kClosed || state_ == State::kTerminated) return MPROC_OK;
    iters.reserve(iterators_.size());  // out of memory, the pool is not closed yet
    state_ = State::kClosed;
    for (auto &w : iterators_)
      if (auto it = w.lock()) iters.push_back(std::move(it));
    iterators_.clear();
    wake_manager();
  }
  // Nobody may have to consume an iterator for join to return: submit the
  // input they still hold back.
  for (auto &it : iters) it->refill(/*all=*/true);
  return MPROC_OK;
}

int Pool::terminate() {
  Deliveries out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ == State::kTerminated) return MPROC_OK;
    state_ = State::kTerminated;
    fail_all_locked(MPROC_E_CANCELLED, out);
    for (auto &s : slots_) s->process->send_signal(SIGKILL);
    iterators_.clear();
    wake_manager();
  }
  deliver(out);
  return MPROC_OK;
}

int Pool::join(const Deadline &deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (state_ == State::kNew || state_ == State::kRunning) return MPROC_E_STATE;
  if (!manager_running_) return MPROC_OK;
  while (!manager_finished_) {
    if (deadline.is_forever()) {
      finished_cv_.wait(lock);
      continue;
    }
    timespec ts;
    deadline.remaining(&ts);
    if (ts.tv_sec == 0 && ts.tv_nsec == 0) return MPROC_E_TIMEOUT;
    finished_cv_.wait_for(lock,
                          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
  if (!manager_joined_ && !has_transport_) {
    manager_joined_ = true;
    lock.unlock();
    pthread_join(manager_, nullptr);
  }
  return MPROC_OK;
}

void Pool::shutdown() {
  // In a forked child the manager thread does not exist: nothing to stop.
  if (!owned_here()) return;
  bool running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = state_ == State::kNew || state_ == State::kRunning;
  }
  if (running) terminate();
  join(Deadline::forever());
  callbacks_->stop();
}

int Pool::stat(int which, uint64_t *value) {
  switch (which) {
    case MPROC_POOL_STAT_TASKS_SUBMITTED: *value = tasks_submitted_; return MPROC_OK;
    case MPROC_POOL_STAT_TASKS_SUCCEEDED: *value = tasks_succeeded_; return MPROC_OK;
    case MPROC_POOL_STAT_TASKS_FAILED: *value = tasks_failed_; return MPROC_OK;
    case MPROC_POOL_STAT_WORKERS_STARTED: *value = workers_started_; return MPROC_OK;
    case MPROC_POOL_STAT_WORKERS_DIED: *value = workers_died_; return MPROC_OK;
    case MPROC_POOL_STAT_WORKERS_ALIVE: *value = workers_alive_; return MPROC_OK;
    default: return MPROC_E_INVAL;
  }
}

void Pool::add_outcome(Deliveries &out, const std::shared_ptr<Sink> &sink, size_t index,
                       ItemOutcome &&outcome, size_t expected) {
  // The outcome is decided (a reply was taken, a failure counted): it must
  // not be lost to an allocation. Each try either completes or changes nothing.
  retry_on_oom([&] {
    // A full run is not grown (moving what it holds) but followed by a new one.
    if (out.empty() || out.back().sink != sink || !out.back().run.batch.empty() ||
        out.back().run.first + out.back().run.items.size() != index ||
        out.back().run.items.size() == out.back().run.items.capacity()) {
      Delivery d{sink, {}};
      d.run.first = index;
      d.run.items.reserve(std::max<size_t>(expected, 1));
      out.push_back(std::move(d));
    }
    out.back().run.items.push_back(std::move(outcome));  // within capacity: cannot throw
  });
}

void Pool::deliver(Deliveries &out) {
  if (out.empty()) return;
  // Sinks change nothing when they throw (results.cc), so a retry is safe.
  for (Delivery &d : out) retry_on_oom([&] { d.sink->deliver(std::move(d.run)); });
  out.clear();
  wake_waiters();
  if (event_fd_wanted_) signal_eventfd(event_fd_);
}

void Pool::fail_chunk_locked(Chunk &c, int status, Deliveries &out) {
  for (; c.done < c.count; c.done++) {
    add_outcome(out, c.sink, c.first_index + c.done, ItemOutcome{status, {}, false, 0},
                c.count - c.done);
    tasks_failed_++;
  }
}

void Pool::fail_all_locked(int status, Deliveries &out) {
  for (auto &c : pending_) fail_chunk_locked(*c, status, out);
  pending_.clear();
  for (auto &s : slots_) {
    for (auto &c : s->assigned) fail_chunk_locked(*c, status, out);
    s->assigned.clear();
  }
  for (auto &kv : taken_) fail_chunk_locked(*kv.second, status, out);
  taken_.clear();
}

bool Pool::work_left_locked() const {
  if (!pending_.empty() || active_iterators_ > 0 || !taken_.empty()) return true;
  for (const auto &s : slots_)
    if (!s->assigned.empty()) return true;
  return false;
}

void *Pool::manager_main(void *self) {
  auto *pool = static_cast<Pool *>(self);
  // An exception escaping a thread aborts the program. Out of memory in
  // the middle of a round, the manager naps and runs the loop again (its
  // state is the pool's members, its round's outcomes in manager_out_).
  retry_on_oom([pool] { pool->manager_loop(); });
  return nullptr;
}

int Pool::spawn_worker_locked() {
  try {
    return spawn_worker_or_throw_locked();
  } catch (const std::bad_alloc &) {
    return MPROC_E_NOMEM;  // the half-made slot is gone, no process started
  }
}

int Pool::spawn_worker_or_throw_locked() {
  auto slot = std::make_unique<Slot>();
  slot->channel = std::make_unique<Channel>();
  int rc = slot->channel->open();
  if (rc != MPROC_OK) return rc;
  slot->setup.channel = slot->channel.get();
  slot->setup.notify_fd = results_fd_;
  slot->setup.signals = signals_;
  slot->setup.init = init_;
  slot->setup.init_arg = &init_arg_;
  slot->setup.init_ctx = init_ctx_;
  slot->setup.max_chunks = max_tasks_;
  slot->setup.batch_replies = task_timeout_ns_ == 0;
  slot->process = std::make_unique<Process>(worker_main, nullptr, 0, &slot->setup);
  const char *kind = method_ == MPROC_START_SPAWN        ? "SpawnPoolWorker-"
                     : method_ == MPROC_START_FORKSERVER ? "ForkServerPoolWorker-"
                                                          : "ForkPoolWorker-";
  slot->process->set_name((kind + slot->process->identity()).c_str());
  slot->process->set_daemon(true);
  // An explicit fork pool forks even if the process-wide default differs
  // (and, chosen knowingly, without the fork-with-threads warning).
  if (method_ != MPROC_START_FORK || method_chosen_ || method_ != default_start_method())
    slot->process->set_start_method(method_);
  if (method_ != MPROC_START_FORK) {
    // What a fresh image needs instead of a copy of our memory.
    std::vector<int> fds = slot->channel->worker_fds();
    fds.insert(fds.end(), {results_fd_, signals_region_.fd()});
    slot->process->set_launch(
        ChildKind::kPoolWorker,
        encode_worker_launch(init_name_, init_arg_, max_tasks_, slot->setup.batch_replies), fds);
  }
  slots_.reserve(slots_.size() + 1);  // nothing may throw once it runs
  // Forked from this long-lived thread, so the workers' parent-death signal
  // fires only when the pool's process (or this thread, at its end) goes.
  rc = slot->process->start();
  if (rc != MPROC_OK) return rc;
  slot->sentinel = slot->process->sentinel();
  workers_started_++;
  workers_alive_++;
  slots_.push_back(std::move(slot));
  return MPROC_OK;
}

void Pool::fill_workers_locked() {
  if (state_ == State::kTerminated || broken_ || start_error_ != MPROC_OK) return;
  size_t want = state_ == State::kRunning || work_left_locked() ? static_cast<size_t>(nworkers_) : 0;
  spawn_failed_ = false;
  while (slots_.size() < want) {
    if (int rc = spawn_worker_locked()) {
      // The first start reports it (start_and_wait); a replacement that
      // cannot start (fork or memory exhausted) is retried on a tick.
      if (first_fill_done_)
        spawn_failed_ = true;
      else
        start_error_ = rc;
      break;
    }
  }
  if (start_error_ == MPROC_OK) first_fill_done_ = true;
  workers_cv_.notify_all();
}

bool Pool::read_outbox_locked(Slot &slot, Deliveries &out) {
  for (bool read = false;; read = true) {
    // Looking costs far less than a get that finds nothing.
    if (!slot.channel->replies_waiting()) return read;
    MsgHeader h;
    std::vector<unsigned char> payload;
    int rc = slot.channel->receive(true, 0.0, &h, &payload);
    if (rc == MPROC_E_EMPTY || rc == MPROC_E_CLOSED || rc == MPROC_E_NOMEM) return read;
    bool valid = rc == MPROC_OK;
    if (valid && h.kind == static_cast<uint32_t>(MsgKind::kReady)) {
      slot.ready = true;
      init_fail_streak_ = 0;
      if (task_timeout_ns_ && !slot.assigned.empty())
        slot.deadline_ns = monotonic_ns() + task_timeout_ns_;
      continue;
    }
    if (valid && h.kind == static_cast<uint32_t>(MsgKind::kInitFailed)) {
      slot.init_failed = true;
      continue;
    }
    if (valid && h.kind == static_cast<uint32_t>(MsgKind::kResult))
      valid = take_reply_locked(slot, h.chunk_id, h.index, h.status, std::move(payload), out);
    else if (valid && h.kind == static_cast<uint32_t>(MsgKind::kResults))
      valid = take_batch_locked(slot, h.chunk_id, std::move(payload), h.index, h.run_ns, out);
    else
      valid = false;
    if (!valid) {
      // A worker whose messages make no sense (a task scribbled over its
      // memory, say) is stopped; its task fails as if it had crashed.
      slot.bad_message = true;
      slot.process->send_signal(SIGKILL);
      return true;
    }
  }
}

namespace {
bool valid_reply_status(int32_t status) {
  return status == MPROC_OK || status == MPROC_E_TASK_FAILED || status == MPROC_E_TOOBIG;
}
}  // namespace

void Pool::item_done_locked(Slot &slot, uint32_t items) {
  Chunk &c = *slot.assigned.front();
  c.done += items;
  if (c.done == c.count) slot.assigned.pop_front();
  slot.deadline_ns =
      task_timeout_ns_ && !slot.assigned.empty() ? monotonic_ns() + task_timeout_ns_ : 0;
}

bool Pool::take_reply_locked(Slot &slot, uint64_t chunk_id, uint32_t index, int32_t status,
                             ReplyBytes &&reply, Deliveries &out, size_t expected) {
  // Replies come in order: the next item of the oldest chunk sent.
  if (slot.assigned.empty() || slot.assigned.front()->id != chunk_id ||
      slot.assigned.front()->done != index || !valid_reply_status(status))
    return false;
  Chunk &c = *slot.assigned.front();
  (status == MPROC_OK ? tasks_succeeded_ : tasks_failed_)++;
  add_outcome(out, c.sink, c.first_index + c.done, ItemOutcome{status, std::move(reply), false, 0},
              expected);
  item_done_locked(slot, 1);
  return true;
}

bool Pool::take_batch_locked(Slot &slot, uint64_t chunk_id, std::vector<unsigned char> &&batch,
                             uint32_t count, int64_t run_ns, Deliveries &out) {
  if (slot.assigned.empty() || slot.assigned.front()->id != chunk_id) return false;
  Chunk &c = *slot.assigned.front();
  if (count == 0 || count > c.count - c.done) return false;
  // Checked once here, so its readers can trust it.
  uint32_t next = c.done;
  uint64_t succeeded = 0;
  size_t reply_bytes = 0;
  int first_error = MPROC_OK;
  bool valid = for_each_reply(batch.data(), batch.size(), count,
                              [&](uint32_t index, int32_t status, const unsigned char *, size_t n) {
                                succeeded += status == MPROC_OK;
                                reply_bytes += n;
                                if (first_error == MPROC_OK) first_error = status;
                                return index == next++ && valid_reply_status(status);
                              });
  if (!valid) return false;
  // Slower items count at once, quicker ones gradually: merging stops as
  // soon as a batch says the items are slow.
  int64_t per_item = std::max<int64_t>(run_ns, 0) / count;
  int64_t &est = c.sink->item_ns;
  est = per_item > est ? per_item : (3 * est + per_item) / 4;
  tasks_succeeded_ += succeeded;
  tasks_failed_ += count - succeeded;
  Delivery d{c.sink, {}};
  d.run.first = c.first_index + c.done;
  d.run.batch = std::move(batch);
  d.run.batch_count = count;
  d.run.batch_reply_bytes = reply_bytes;
  d.run.batch_first_error = first_error;
  retry_on_oom([&] { out.push_back(std::move(d)); });
  item_done_locked(slot, count);
  return true;
}

void Pool::take_log_locked(Slot &slot, Deliveries &out) {
  // The replies a dead worker finished but had not sent, unless their
  // chunk is already complete; the log may repeat ones its last message
  // carried.
  ReplyLog &log = slot.channel->reply_log();
  uint64_t id = log.chunk_id();
  for_each_reply(log.data(), log.used(), log.count(),
                 [&](uint32_t index, int32_t status, const unsigned char *data, size_t n) {
                   if (slot.assigned.empty() || slot.assigned.front()->id != id) return false;
                   if (index < slot.assigned.front()->done) return true;
                   return take_reply_locked(slot, id, index, status,
                                            retry_on_oom([&] { return ReplyBytes(data, n); }), out,
                                            log.count());
                 });
}

void Pool::handle_exit_locked(size_t i, Deliveries &out) {
  Slot &s = *slots_[i];
  int code = 0;
  s.process->exitcode(&code);
  read_outbox_locked(s, out);  // replies sent before the end still count
  take_log_locked(s, out);     // and so do those it had not sent yet
  size_t unread = std::min(s.channel->discard_unread_tasks(), s.assigned.size());
  size_t started = s.assigned.size() - unread;

  // The item running when the worker died fails; the rest of its chunk and
  // the chunks it never took run elsewhere, first in line, in order.
  std::vector<std::shared_ptr<Chunk>> again;
  bool died_in_task = false;
  for (size_t k = 0; k < started; k++) {
    Chunk &c = *s.assigned[k];
    if (c.done >= c.count) continue;
    died_in_task = true;
    int status = s.killed_for_timeout ? MPROC_E_TASK_TIMEOUT : MPROC_E_WORKER_DIED;
    add_outcome(out, c.sink, c.first_index + c.done, ItemOutcome{status, {}, true, code});
    tasks_failed_++;
    if (++c.done < c.count) retry_on_oom([&] { again.push_back(chunk_tail(c, c.done)); });
  }
  // Past the point of no return (the worker's queue is discarded): the
  // chunks must get back in line whatever memory is left.
  for (size_t k = started; k < s.assigned.size(); k++)
    retry_on_oom([&] { again.push_back(s.assigned[k]); });
  for (auto it = again.rbegin(); it != again.rend(); ++it)
    retry_on_oom([&] { pending_.push_front(*it); });

  if (died_in_task) workers_died_++;
  if (!s.ready && (s.init_failed || code != 0) && ++init_fail_streak_ >= kMaxInitFailures)
    broken_ = true;
  workers_alive_--;
  slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(i));
}

bool Pool::can_take_locked(const Slot &s, const Chunk &next) const {
  if (s.bad_message || s.killed_for_timeout) return false;
  if (max_tasks_ && s.chunks_sent >= max_tasks_) return false;
  if (s.assigned.empty()) return true;
  // A memfd task is never queued behind or ahead of another one: the
  // worker's socket must see fds in the order of their headers, and only
  // plain messages may be stolen back (see steal_for_idle_locked).
  if (s.assigned.size() >= depth() || s.assigned.back()->sent_in_memfd) return false;
  return !s.channel->task_needs_memfd(next.payload.size());
}

uint32_t Pool::merge_items(const Sink &sink) {
  std::lock_guard<std::mutex> lock(mu_);
  return merge_items_locked(sink);
}

uint32_t Pool::merge_items_locked(const Sink &sink) const {
  // Not where a chunk is a unit the pool counts (maxtasksperchild), times
  // (a task timeout) or hands to a transport, and not for items of unknown
  // or long duration, so that a slow item never holds back others another
  // worker could run (the estimate is the sink's own: a new iterator's
  // first chunks go as they were cut).
  if (max_tasks_ || task_timeout_ns_ || has_transport_ || sink.item_ns < 0) return 0;
  return static_cast<uint32_t>(
      std::min<int64_t>(kMergeItems, kMergeNs / std::max<int64_t>(sink.item_ns, 1)));
}

void Pool::merge_pending_front_locked() {
  // Each worker gets at most its share of what is pending.
  if (pending_.size() < 2) return;
  const Chunk &f = *pending_.front();
  uint32_t max_items = merge_items_locked(*f.sink);
  if (max_items <= f.count || f.done != 0) return;
  size_t share = (pending_.size() + slots_.size() - 1) / std::max<size_t>(slots_.size(), 1);
  uint32_t items = f.count;
  size_t bytes = f.payload.size(), n = 1;
  for (; n < share && n < pending_.size(); n++) {
    const Chunk &g = *pending_[n];
    if (g.sink != f.sink || g.fn != f.fn || g.ctx != f.ctx || g.done != 0 ||
        g.first_index != f.first_index + items || uint64_t{items} + g.count > max_items ||
        bytes + g.payload.size() > kMergeBytes)
      break;
    items += g.count;
    bytes += g.payload.size();
  }
  if (n < 2) return;
  pending_.front()->payload.reserve(bytes);  // first: out of memory, nothing has changed
  std::shared_ptr<Chunk> merged = std::move(pending_.front());
  for (size_t k = 1; k < n; k++) {
    const Payload &p = pending_[k]->payload;
    merged->payload.insert(merged->payload.end(), p.begin(), p.end());
  }
  merged->count = items;
  pending_.erase(pending_.begin() + 1, pending_.begin() + static_cast<std::ptrdiff_t>(n));
  pending_.front() = std::move(merged);
}

bool Pool::send_locked(Slot &s) {
  merge_pending_front_locked();
  std::shared_ptr<Chunk> c = pending_.front();
  c->id = next_chunk_id_++;
  c->sent_in_memfd = s.channel->task_needs_memfd(c->payload.size());
  MsgHeader h{};
  h.kind = static_cast<uint32_t>(MsgKind::kTask);
  h.chunk_id = c->id;
  h.index = c->count;
  // Not when the manager must see every reply (a task timeout restarts the
  // next item's clock) or somebody polls the event fd.
  if (c->sink->reads_own_replies && !task_timeout_ns_ && !event_fd_wanted_)
    h.flags |= kFlagQuiet;
  if (method_ == MPROC_START_FORK) {
    h.fn = reinterpret_cast<uintptr_t>(c->fn);
    h.ctx = reinterpret_cast<uintptr_t>(c->ctx);
  } else {
    // A spawned worker knows tasks by name (check_task() vetted it; a worker
    // that lacks the name fails the items, see worker.cc).
    uint64_t id = 0;
    task_id_of(c->fn, &id);
    h.fn = id;
  }
  int rc = s.channel->send(true, h, c->payload.data(), c->payload.size(), 0.0);
  if (rc == MPROC_E_FULL) return false;  // this worker is behind; try another
  pending_.pop_front();
  if (rc != MPROC_OK) {
    fail_chunk_locked(*c, rc, pending_failures_);
    return true;
  }
  retry_on_oom([&] { s.assigned.push_back(c); });  // the worker has it: track it
  s.chunks_sent++;
  s.wake_owed = true;
  if (task_timeout_ns_ && s.ready && s.assigned.size() == 1)
    s.deadline_ns = monotonic_ns() + task_timeout_ns_;
  return true;
}

void Pool::dispatch_locked() {
  if (state_ == State::kTerminated) return;
  // Round robin, least loaded first: one chunk per worker per pass.
  for (size_t pass = 0; pass < depth() && !pending_.empty(); pass++) {
    for (auto &sp : slots_) {
      if (pending_.empty()) break;
      if (sp->assigned.size() == pass && can_take_locked(*sp, *pending_.front())) send_locked(*sp);
    }
  }
  if (pending_.empty()) steal_for_idle_locked();
  signals_->work_pending.store(pending_.empty() ? 0 : 1, std::memory_order_relaxed);
  // One wake per worker for the whole burst (sends do not wake).
  for (auto &sp : slots_) {
    if (!sp->wake_owed) continue;
    sp->wake_owed = false;
    sp->channel->wake_worker();
  }
}

void Pool::dispatch_or_defer_locked() {
  // Out of memory, what is pending stays pending, for the manager's next round.
  try {
    dispatch_locked();
  } catch (const std::bad_alloc &) {
    wake_manager();
  }
}

void Pool::steal_for_idle_locked() {
  // An idle worker takes the oldest untaken chunk of the busiest one, so a
  // quick task never waits behind a slow one while a worker sits idle.
  for (auto &idle : slots_) {
    if (!idle->assigned.empty() || idle->bad_message || idle->killed_for_timeout) continue;
    if (max_tasks_ && idle->chunks_sent >= max_tasks_) continue;
    Slot *victim = nullptr;
    for (auto &s : slots_)
      if (s->assigned.size() >= 2 && (!victim || s->assigned.size() > victim->assigned.size()))
        victim = s.get();
    if (!victim) return;
    uint64_t id = 0;
    if (victim->channel->steal_task(&id) != MPROC_OK) continue;
    auto it = std::find_if(victim->assigned.begin(), victim->assigned.end(),
                           [id](const std::shared_ptr<Chunk> &c) { return c->id == id; });
    if (it == victim->assigned.end()) continue;  // cannot happen: ids are ours
    retry_on_oom([&] { pending_.push_front(*it); });  // taken back from the worker
    victim->assigned.erase(it);
    victim->chunks_sent--;
    send_locked(*idle);
  }
}

void Pool::check_timeouts_locked() {
  if (!task_timeout_ns_) return;
  int64_t now = monotonic_ns();
  for (auto &s : slots_) {
    if (s->deadline_ns && now >= s->deadline_ns && !s->killed_for_timeout) {
      s->killed_for_timeout = true;
      s->process->send_signal(SIGKILL);
    }
  }
}

void Pool::set_asleep(bool asleep) {
  // A read-modify-write, not a store: see notify() in worker.cc.
  if (asleep)
    signals_->sleepers.fetch_or(kManagerAsleep, std::memory_order_seq_cst);
  else
    signals_->sleepers.fetch_and(~kManagerAsleep, std::memory_order_seq_cst);
}

bool Pool::should_sleep_locked() {
  // Announce the sleep, then look once more: a worker that put a reply
  // before seeing the flag is caught here (see worker.cc, notify()).
  set_asleep(true);
  for (auto &s : slots_)
    if (s->channel->replies_waiting()) {
      set_asleep(false);
      return false;
    }
  return true;
}

void Pool::manager_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A member, not a local: if this round runs out of memory part-way
    // (manager_main runs the loop again), what it collected is kept.
    Deliveries &out = manager_out_;
    if (out.empty()) {
      out.swap(pending_failures_);
    } else if (!pending_failures_.empty()) {
      out.reserve(out.size() + pending_failures_.size());  // throws before anything moves
      for (Delivery &d : pending_failures_) out.push_back(std::move(d));
      pending_failures_.clear();
    }
    for (size_t i = 0; i < slots_.size();) {
      Slot &s = *slots_[i];
      read_outbox_locked(s, out);
      // Only a readable pidfd (or, without pidfds, every tick) means an exit.
      if ((s.sentinel < 0 || s.exit_signaled) && s.process->is_alive() == 0)
        handle_exit_locked(i, out);
      else
        i++;
    }
    check_timeouts_locked();
    if (state_ == State::kTerminated) {
      for (auto &s : slots_) s->process->send_signal(SIGKILL);
    } else {
      if (broken_ || start_error_ != MPROC_OK) {
        // Nothing pending can run (only work queued after a caller stopped
        // waiting for the first start can be here in the second case).
        for (auto &c : pending_)
          fail_chunk_locked(*c, broken_ ? MPROC_E_INIT_FAILED : start_error_, out);
        pending_.clear();
      }
      fill_workers_locked();
      dispatch_locked();
    }
    bool idle = !work_left_locked();
    if (state_ == State::kClosed && idle)
      for (auto &s : slots_) s->channel->shutdown_inbox();  // workers exit when drained
    bool finished =
        (state_ == State::kTerminated || (state_ == State::kClosed && idle)) && slots_.empty();

    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {results_fd_, POLLIN, 0}};
    std::vector<Slot *> polled;  // polled[k] owns fds[k + 2]
    bool tick = spawn_failed_ || !pending_failures_.empty();
    int64_t wake_at = 0;
    for (auto &s : slots_) {
      if (s->sentinel >= 0) {
        fds.push_back(pollfd{s->sentinel, POLLIN, 0});
        polled.push_back(s.get());
      } else {
        tick = true;  // no pidfd: poll is_alive on a tick
      }
      if (s->deadline_ns && (!wake_at || s->deadline_ns < wake_at)) wake_at = s->deadline_ns;
    }
    bool sleep = !finished && out.empty() && should_sleep_locked();
    lock.unlock();
    deliver(out);
    if (finished) break;
    Deadline until = Deadline::forever();
    if (wake_at) until = Deadline::after_ns(std::max<int64_t>(0, wake_at - monotonic_ns()));
    if (tick && (until.is_forever() || !wake_at || wake_at - monotonic_ns() > kTickNs))
      until = Deadline::after_ns(kTickNs);
    if (!sleep) until = Deadline::after_ns(0);  // replies are waiting: just look
    timespec ts;
    int ready = ppoll(fds.data(), fds.size(), until.remaining(&ts), nullptr);
    set_asleep(false);
    if (ready > 0 && fds[0].revents) drain_eventfd(wake_fd_);
    if (ready > 0 && fds[1].revents) drain_eventfd(results_fd_);
    lock.lock();
    // Only this thread removes slots, so the pointers are still good.
    for (size_t k = 0; ready > 0 && k < polled.size(); k++)
      if (fds[k + 2].revents) polled[k]->exit_signaled = true;
  }
  lock.lock();
  manager_finished_ = true;
  finished_cv_.notify_all();
}

// --- the transport's side of the seam (pool/seam.h) ----------------------

int Pool::transport_take(std::shared_ptr<Chunk> *out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kTerminated || pending_.empty()) return MPROC_E_EMPTY;
  std::shared_ptr<Chunk> c = std::move(pending_.front());
  pending_.pop_front();
  c->id = next_chunk_id_++;
  taken_.emplace(c->id, c);
  *out = std::move(c);
  return MPROC_OK;
}

void Pool::transport_deliver(uint64_t id, uint32_t first, uint32_t n,
                             const mproc_seam_item *items) {
  Deliveries out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = taken_.find(id);
    if (it == taken_.end()) return;  // failed by terminate meanwhile
    Chunk &c = *it->second;
    for (uint32_t k = 0; k < n && first + k < c.count; k++) {
      if (first + k < c.done) continue;  // delivered before
      if (first + k > c.done) break;     // out of order: the transport's bug, keep ours sane
      const mproc_seam_item &item = items[k];
      (item.status == MPROC_OK ? tasks_succeeded_ : tasks_failed_)++;
      if (item.has_exit) workers_died_++;
      add_outcome(out, c.sink, c.first_index + c.done,
                  ItemOutcome{item.status,
                              ReplyBytes(static_cast<const unsigned char *>(item.data), item.len),
                              item.has_exit != 0, item.exit_code},
                  n - k);
      c.done++;
    }
    if (c.done == c.count) taken_.erase(it);
  }
  deliver(out);
}

int Pool::transport_state() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kTerminated) return MPROC_SEAM_TERMINATED;
  if (state_ == State::kClosed && !work_left_locked()) return MPROC_SEAM_DRAINED;
  return MPROC_SEAM_RUNNING;
}

size_t Pool::transport_pending() {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

void Pool::transport_finished() {
  std::lock_guard<std::mutex> lock(mu_);
  workers_alive_ = 0;
  manager_finished_ = true;
  finished_cv_.notify_all();
}

void Pool::transport_config(mproc_seam_config *out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->task_timeout = task_timeout_ns_ ? static_cast<double>(task_timeout_ns_) / 1e9 : -1.0;
  out->maxtasksperchild = max_tasks_;
  out->init_name = init_ ? init_name_.c_str() : nullptr;
  out->init_arg = init_arg_.data();
  out->init_arg_len = init_arg_.size();
}

}  // namespace mproc
