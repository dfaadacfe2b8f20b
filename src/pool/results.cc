#include "pool/results.h"

#include <algorithm>

#include "base/oom.h"
#include "pool/pool.h"

namespace mproc {

ResultState::ResultState(const std::shared_ptr<Pool> &pool, mproc_result_cb cb, void *userdata)
    : Sink(/*reads_own=*/false),
      pool_(pool),
      cb_(cb),
      userdata_(userdata),
      callbacks_(pool->callbacks()) {}

void ResultState::deliver(OutcomeRun &&run) {
  // Sinks change nothing when they throw (Pool::deliver retries): the
  // outcome is taken out of the run before anything is marked.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ready_ || run.size() == 0) return;
    outcome_ = run.take_next();
    ready_ = true;
  }
  cv_.notify_all();
  if (cb_) {
    // The callback thread keeps the state alive until the call is done. The
    // result is ready now: its callback is owed, whatever memory is left.
    auto self = shared_from_this();
    retry_on_oom([&] {
      callbacks_->post([self] {
        const ItemOutcome &o = self->outcome_;
        self->cb_(o.status, o.reply.empty() ? nullptr : o.reply.data(), o.reply.size(),
                  self->userdata_);
      });
    });
  }
}

int ResultState::wait(const Deadline &deadline) {
  if (auto pool = pool_.lock()) return pool->wait_for([this] { return ready(); }, deadline);
  // The pool is gone: whatever delivers now (nothing, normally) notifies.
  std::unique_lock<std::mutex> lock(mu_);
  while (!ready_) {
    if (deadline.is_forever()) {
      cv_.wait(lock);
    } else {
      timespec ts;
      deadline.remaining(&ts);
      if (ts.tv_sec == 0 && ts.tv_nsec == 0) return MPROC_E_TIMEOUT;
      cv_.wait_for(lock, std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
    }
  }
  return MPROC_OK;
}

bool ResultState::ready() {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

size_t in_flight_window(int workers, size_t chunksize) {
  // Enough to keep every worker's queue full (and the pipeline busy with
  // chunksize 1), small enough that a huge input is never taken in at once.
  size_t w = static_cast<size_t>(workers);
  return std::max(kWindowChunksPerWorker * w * chunksize, kWindowItemsPerWorker * w);
}

IterState::IterState(std::shared_ptr<Pool> pool, mproc_task_fn fn, void *ctx,
                     const mproc_bytes *items, size_t n, size_t chunksize, bool ordered)
    : Sink(/*reads_own=*/true),
      pool_(std::move(pool)),
      fn_(fn),
      ctx_(ctx),
      items_(items),
      n_(n),
      chunksize_(std::min<size_t>(chunksize, UINT32_MAX)),  // a chunk counts items in 32 bits
      ordered_(ordered),
      window_(in_flight_window(pool_->workers(), chunksize_)),
      refill_step_(std::max(chunksize_, window_ / 8 / chunksize_ * chunksize_)) {
  input_done_ = n_ == 0;
}

IterState::~IterState() = default;

void IterState::deliver(OutcomeRun &&run) {
  if (run.size() == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  // Both inserts leave run untouched when they throw.
  if (ordered_)
    by_index_.emplace(run.first, std::move(run));
  else
    by_arrival_.push_back(std::move(run));
}

int IterState::refill(bool all) {
  size_t from, to;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (input_done_) return MPROC_OK;
    from = submitted_;
    to = all ? n_ : std::min(n_, consumed_ + window_);
    // Whole chunks only (the last may be short): topping the window up one
    // item at a time would turn every chunk into chunks of one.
    if (to < n_) to = from + (to - from) / chunksize_ * chunksize_;
    if (to <= from) return MPROC_OK;
    submitted_ = to;  // claimed: no other caller submits these
    if (to == n_) input_done_ = true;
  }
  // Quick items are cut in chunks of several of the caller's, each worker
  // getting at most its share of this step.
  size_t per_chunk = chunksize_, merge_bytes = kMaxChunkBytes;
  size_t merge = pool_->merge_items(*this);
  if (merge > chunksize_) {
    size_t share = (to - from + static_cast<size_t>(pool_->workers()) - 1) /
                   static_cast<size_t>(pool_->workers());
    per_chunk = std::max<size_t>(1, std::min(merge, share) / chunksize_) * chunksize_;
    merge_bytes = kMergeBytes;
  }
  size_t group_from = from;
  int rc = MPROC_OK;
  try {
    rc = submit_range(from, to, per_chunk, merge_bytes, &group_from);
  } catch (const std::bad_alloc &) {
    rc = MPROC_E_NOMEM;  // submit() queued none of the group that failed
  }
  if (rc != MPROC_OK) {
    // Claimed items must still produce an outcome, or next() would wait forever.
    retry_on_oom([&] {
      OutcomeRun failed;
      failed.first = group_from;
      failed.items.assign(to - group_from, ItemOutcome{rc, {}, false, 0});
      deliver(std::move(failed));
    });
    pool_->wake_waiters();
  }
  if (to == n_) pool_->iterator_input_done();
  return rc;
}

int IterState::submit_range(size_t from, size_t to, size_t per_chunk, size_t merge_bytes,
                            size_t *group_from) {
  // Chunks go to the pool in groups (one lock and one dispatch pass for
  // many small chunks), a group closing at kSubmitGroupBytes of input so
  // workers start on big chunks while the next ones are packed.
  std::vector<std::shared_ptr<Chunk>> group;
  size_t group_bytes = 0;
  *group_from = from;
  for (size_t i = from, j; i < to; i = j) {
    // A chunk ends after chunksize items or kMaxChunkBytes of input,
    // whichever comes first; an item larger than that travels alone. A
    // merged one also ends between the caller's chunks at merge_bytes.
    size_t bytes = items_[i].len;
    for (j = i + 1; j < to && j - i < per_chunk; j++) {
      size_t more = bytes + items_[j].len;
      if (more > kMaxChunkBytes || ((j - i) % chunksize_ == 0 && more > merge_bytes)) break;
      bytes = more;
    }
    auto chunk = std::make_shared<Chunk>();
    chunk->fn = fn_;
    chunk->ctx = ctx_;
    chunk->sink = shared_from_this();
    chunk->first_index = i;
    chunk->count = static_cast<uint32_t>(j - i);
    chunk->payload = pack_items(items_ + i, chunk->count);
    group_bytes += chunk->payload.size();
    group.push_back(std::move(chunk));
    if (j < to && group_bytes < kSubmitGroupBytes) continue;
    int rc = pool_->submit(group.data(), group.size(), /*from_iterator=*/true);
    if (rc != MPROC_OK) return rc;
    group.clear();
    group_bytes = 0;
    *group_from = j;
  }
  return MPROC_OK;
}

bool IterState::available_locked() const {
  return ordered_ ? by_index_.count(consumed_) > 0 : !by_arrival_.empty();
}

template <typename Take>
int IterState::consume(const Deadline &deadline, size_t max, Take &&take) {
  std::unique_lock<std::mutex> lock(mu_);
  if (consumed_ == n_) return MPROC_DONE;
  while (!available_locked()) {
    lock.unlock();
    int rc = pool_->wait_for(
        [this] {
          std::lock_guard<std::mutex> l(mu_);
          return available_locked();
        },
        deadline);
    if (rc != MPROC_OK) return rc;
    lock.lock();
  }
  // take(run, room) consumes items from run.taken on (at most room) and
  // says how many; a run it empties is dropped, one it cuts is re-keyed.
  for (size_t got = 0; got < max && available_locked();) {
    OutcomeRun &run = ordered_ ? by_index_.find(consumed_)->second : by_arrival_.front();
    size_t left = run.size() - run.taken;
    size_t n = take(run, max - got);
    size_t key = consumed_;
    got += n;
    consumed_ += n;
    if (!ordered_) {
      if (n == left) by_arrival_.pop_front();
    } else if (n == left) {
      by_index_.erase(key);
    } else {  // the run now starts at the next index: re-key it, no copy
      auto node = by_index_.extract(key);
      node.key() = consumed_;
      by_index_.insert(std::move(node));
    }
  }
  // Keep the window full as we consume (close() submits the rest), in
  // steps of an eighth of it: refilling after every item costs a pool
  // lock and a dispatch pass per item.
  bool top_up = !input_done_ && consumed_ + window_ >= submitted_ + refill_step_;
  lock.unlock();
  if (top_up) refill(/*all=*/false);
  return MPROC_OK;
}

int IterState::next(const Deadline &deadline, size_t *index, const ItemOutcome **outcome) {
  int rc = consume(deadline, 1, [this](OutcomeRun &run, size_t) {
    current_index_ = run.first + run.taken;
    current_ = run.take_next();
    return size_t{1};
  });
  if (rc != MPROC_OK) return rc;
  *index = current_index_;
  *outcome = &current_;
  return MPROC_OK;
}

int IterState::take_runs(const Deadline &deadline, std::vector<OutcomeRun> *runs) {
  return consume(deadline, SIZE_MAX, [runs](OutcomeRun &run, size_t) {
    size_t n = run.size() - run.taken;
    run.drop_taken();  // next() may have taken its head
    runs->push_back(std::move(run));
    return n;
  });
}

void IterState::abandon() {
  bool had_input;
  {
    std::lock_guard<std::mutex> lock(mu_);
    had_input = !input_done_;
    input_done_ = true;
  }
  pool_->cancel_queued(this);
  if (had_input) pool_->iterator_input_done();
}

}  // namespace mproc
