// What the pool moves around: chunks of items (Python's "task"), the
// outcome of one item, and the sinks (a result handle, an iterator) that
// outcomes are delivered to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "mproc/mproc-pool.h"
#include "pool/reply_log.h"

namespace mproc {

// A reply's bytes: short ones (most results of a map) inline, so a
// batch of small replies costs no allocation per item.
class ReplyBytes {
 public:
  ReplyBytes() = default;
  ReplyBytes(const unsigned char *p, size_t n) {
    if (n <= sizeof small_) {
      if (n) __builtin_memcpy(small_, p, n);
      small_len_ = static_cast<uint8_t>(n);
    } else {
      heap_.assign(p, p + n);
    }
  }
  ReplyBytes(std::vector<unsigned char> &&v) : heap_(std::move(v)) {}  // NOLINT: implicit on purpose
  const unsigned char *data() const { return heap_.empty() ? small_ : heap_.data(); }
  size_t size() const { return heap_.empty() ? small_len_ : heap_.size(); }
  bool empty() const { return size() == 0; }

 private:
  std::vector<unsigned char> heap_;
  unsigned char small_[16];
  uint8_t small_len_ = 0;
};

// How one item ended: MPROC_OK or an MPROC_E_* code, the reply bytes, and
// for a worker that died, its exit code.
struct ItemOutcome {
  int status = MPROC_OK;
  ReplyBytes reply;
  bool has_worker_exit = false;
  int worker_exit = 0;
};

// Consecutive outcomes for one sink, as they arrived: one ItemOutcome per
// item, or (batch not empty) a worker's batch message of ReplyEntry
// records, read in place so that a big map allocates nothing per item.
struct OutcomeRun {
  size_t first = 0;  // index of item 0
  std::vector<ItemOutcome> items;
  std::vector<unsigned char> batch;  // checked by the pool when it arrived
  uint32_t batch_count = 0;
  size_t batch_reply_bytes = 0;     // the batch's reply bytes, summed by that check
  int batch_first_error = MPROC_OK;  // its first status that is not MPROC_OK
  size_t taken = 0;   // items consumed from the front
  size_t offset = 0;  // batch: byte offset of the first item not consumed

  size_t size() const { return batch.empty() ? items.size() : batch_count; }
  // Consumes the next item.
  ItemOutcome take_next();
  // Forgets the consumed items, so item 0 is the first one left.
  void drop_taken();
  // The reply bytes of the items left, and the first of their statuses that
  // is not MPROC_OK (MPROC_OK if none): from the batch's check, not a walk.
  void summary(size_t *reply_bytes, int *first_error) const;
  // Calls fn(status, data, len) for every item left, in order.
  template <typename Fn>
  void for_each(Fn &&fn) const;

 private:
  void tally(size_t *reply_bytes, int *first_error) const;  // summary() by a walk
};

// Receives outcomes, a run of consecutive items at a time (the replies a
// worker sent together), from whichever pool thread read them, never with
// the pool's lock held. Every item is delivered exactly once.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void deliver(OutcomeRun &&run) = 0;

  // The workers' recent time per item of this sink's batches (-1: none
  // yet), which decides whether its chunks may be merged; the pool's, under
  // its lock.
  int64_t item_ns = -1;
  // Whoever waits for its outcomes reads the workers' replies itself
  // (Pool::wait_for), so they need not wake the manager at once: true for
  // an iterator; a result's readiness and callback are the manager's to
  // deliver (mproc_result_ready() only looks).
  const bool reads_own_replies;

 protected:
  explicit Sink(bool reads_own) : reads_own_replies(reads_own) {}
};

// Input bytes a merged chunk (see Pool::merge_items) carries at most, so
// that it stays a small queue message.
constexpr size_t kMergeBytes = 16 * 1024;

// Bytes whose resize leaves new elements uninitialised: a payload is written
// in full right after it is sized (pack_items), so zero-filling it first
// was a second pass over every item.
template <typename T>
struct UninitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() noexcept = default;
  template <typename U>
  UninitAllocator(const UninitAllocator<U> &) noexcept {}  // NOLINT(google-explicit-constructor)
  template <typename U>
  void construct(U *p) noexcept {
    ::new (static_cast<void *>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
};
using Payload = std::vector<unsigned char, UninitAllocator<unsigned char>>;

// A run of consecutive items for one worker. `payload` is the serialized
// items (for each: uint64 length, then the bytes), kept so the chunk can be
// sent again if its worker dies before running it.
struct Chunk {
  uint64_t id = 0;
  mproc_task_fn fn = nullptr;
  void *ctx = nullptr;
  std::shared_ptr<Sink> sink;
  size_t first_index = 0;  // the sink's index of item 0
  uint32_t count = 0;
  uint32_t done = 0;       // outcomes received so far (items run in order)
  bool sent_in_memfd = false;  // its last send went through a memfd
  Payload payload;
};

// Serializes items[0..n) into a chunk payload.
Payload pack_items(const mproc_bytes *items, size_t n);
// Splits a payload back into (pointer, length) views; false if malformed.
bool unpack_items(const std::vector<unsigned char> &payload, uint32_t count,
                  std::vector<mproc_bytes> *out);
// The same into out[0..count) (views into payload[0..size)).
bool unpack_items(const unsigned char *payload, size_t size, uint32_t count, mproc_bytes *out);
// A new chunk holding the items of `c` from item `from` on (same sink).
std::shared_ptr<Chunk> chunk_tail(const Chunk &c, uint32_t from);

template <typename Fn>
void OutcomeRun::for_each(Fn &&fn) const {
  if (batch.empty()) {
    for (size_t k = taken; k < items.size(); k++)
      fn(items[k].status, items[k].reply.data(), items[k].reply.size());
    return;
  }
  for_each_reply(batch.data() + offset, batch.size() - offset,
                 static_cast<uint32_t>(batch_count - taken),
                 [&](uint32_t, int32_t status, const unsigned char *data, size_t len) {
                   fn(status, data, len);
                   return true;
                 });
}

}  // namespace mproc
