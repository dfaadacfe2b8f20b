// The two kinds of sink a caller holds: one async result (apply_async),
// and an iterator over many (imap, imap_unordered, map).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "base/deadline.h"
#include "pool/callbacks.h"
#include "pool/task.h"

namespace mproc {

class Pool;

// Items an iterator keeps submitted beyond what its caller consumed: the
// larger of 4 chunks and 128 items per worker.
constexpr size_t kWindowChunksPerWorker = 4;
constexpr size_t kWindowItemsPerWorker = 128;
// Input bytes one chunk carries at most (so a chunk stays far below
// MPROC_POOL_MAX_PAYLOAD whatever the chunksize).
constexpr size_t kMaxChunkBytes = 64u << 20;
// Input bytes after which refill() hands the chunks packed so far to the pool.
constexpr size_t kSubmitGroupBytes = 64u << 10;
size_t in_flight_window(int workers, size_t chunksize);

class ResultState : public Sink, public std::enable_shared_from_this<ResultState> {
 public:
  ResultState(const std::shared_ptr<Pool> &pool, mproc_result_cb cb, void *userdata);

  void deliver(OutcomeRun &&run) override;
  // MPROC_OK once ready, MPROC_E_TIMEOUT otherwise.
  int wait(const Deadline &deadline);
  bool ready();
  // Valid once ready: the outcome never changes after that.
  const ItemOutcome &outcome() const { return outcome_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;
  ItemOutcome outcome_;
  std::weak_ptr<Pool> pool_;  // waits help it while it lives
  mproc_result_cb cb_;
  void *userdata_;
  std::shared_ptr<CallbackQueue> callbacks_;
};

class IterState : public Sink, public std::enable_shared_from_this<IterState> {
 public:
  IterState(std::shared_ptr<Pool> pool, mproc_task_fn fn, void *ctx, const mproc_bytes *items,
            size_t n, size_t chunksize, bool ordered);
  ~IterState() override;

  void deliver(OutcomeRun &&run) override;
  // Submits input up to the window (or all of it once the pool is closing).
  // Returns MPROC_OK or the pool's refusal (MPROC_E_STATE..., MPROC_E_NOMEM);
  // the items it claimed but could not submit then end with that code.
  int refill(bool all);
  int next(const Deadline &deadline, size_t *index, const ItemOutcome **outcome);
  // Moves the runs of outcomes available now (waiting for one if none is)
  // to *runs, in the iterator's order; MPROC_DONE once all were taken.
  int take_runs(const Deadline &deadline, std::vector<OutcomeRun> *runs);
  // The iterator is being freed: drop its queued work.
  void abandon();

 private:
  // Cuts items [from, to) into chunks and submits them in groups; on failure
  // *group_from is the first item no submitted group holds. May throw std::bad_alloc.
  int submit_range(size_t from, size_t to, size_t per_chunk, size_t merge_bytes,
                   size_t *group_from);
  bool available_locked() const;
  template <typename Take>
  int consume(const Deadline &deadline, size_t max, Take &&take);

  std::shared_ptr<Pool> pool_;
  mproc_task_fn fn_;
  void *ctx_;
  const mproc_bytes *items_;
  size_t n_;
  size_t chunksize_;
  bool ordered_;
  size_t window_;  // items in flight beyond what was consumed
  size_t refill_step_;  // whole chunks: room needed before refilling

  std::mutex mu_;
  size_t submitted_ = 0;  // input items handed to the pool
  size_t consumed_ = 0;   // outcomes returned by next()
  bool input_done_ = false;
  // Outcomes not consumed yet, in the runs they were delivered in.
  std::map<size_t, OutcomeRun> by_index_;  // ordered mode, keyed by a run's next index
  std::deque<OutcomeRun> by_arrival_;      // unordered mode
  size_t current_index_ = 0;
  ItemOutcome current_;
};

}  // namespace mproc
