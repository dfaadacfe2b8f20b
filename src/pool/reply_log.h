// A worker's replies for the chunk it is running, kept in memory shared
// with the manager until they are sent as one message. A worker that dies
// mid-chunk leaves here the items it finished but had not sent yet, so the
// manager can still deliver them and fail exactly the item that was running.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/shm.h"

namespace mproc {

// One reply in a batch (message payload or log): this header, then `len`
// bytes, padded to 8. Both ends are the same binary: native layout.
struct ReplyEntry {
  uint32_t index;  // item index in its chunk
  int32_t status;  // MPROC_OK, MPROC_E_TASK_FAILED or MPROC_E_TOOBIG
  uint64_t len;
};

// Walks a batch of `count` entries, calling fn(index, status, data, len)
// for each; false at the first entry that overruns `len` or that fn refuses.
template <typename Fn>
bool for_each_reply(const unsigned char *p, size_t len, uint32_t count, Fn &&fn);

class ReplyLog {
 public:
  ReplyLog() = default;
  ~ReplyLog();
  ReplyLog(const ReplyLog &) = delete;
  ReplyLog &operator=(const ReplyLog &) = delete;

  bool open();  // maps the shared region (before the fork)
  bool attach(int fd);  // a spawned worker maps the region the manager made
  int fd() const { return region_.fd(); }

  // Worker side. begin() starts a chunk's log; append() is false when the
  // entry does not fit (flush first; an entry larger than the log travels
  // alone); clear() follows a flush, once the batch is in the outbox.
  void begin(uint64_t chunk_id);
  bool append(uint32_t index, int32_t status, const void *data, size_t len);
  // append() in two steps, so a reply can be written in place: the next
  // entry's bytes go at the address returned (*room of them at most), then
  // commit() counts the entry.
  unsigned char *next_reply(size_t *room);
  void commit(uint32_t index, int32_t status, size_t len);
  void clear();
  uint32_t count() const { return head_->count.load(std::memory_order_relaxed); }
  const unsigned char *data() const { return entries_; }
  size_t used() const { return head_->used.load(std::memory_order_relaxed); }
  uint64_t chunk_id() const { return head_->chunk_id.load(std::memory_order_relaxed); }

 private:
  struct Head {
    std::atomic<uint64_t> chunk_id;
    std::atomic<uint64_t> used;   // bytes of committed entries
    std::atomic<uint32_t> count;  // committed entries; published last
  };
  Head *head_ = nullptr;
  unsigned char *entries_ = nullptr;
  size_t capacity_ = 0;
  SharedRegion region_;
};

constexpr size_t reply_entry_size(size_t len) { return sizeof(ReplyEntry) + ((len + 7) & ~size_t{7}); }

template <typename Fn>
bool for_each_reply(const unsigned char *p, size_t len, uint32_t count, Fn &&fn) {
  size_t off = 0;
  for (uint32_t k = 0; k < count; k++) {
    ReplyEntry e;
    if (len - off < sizeof e) return false;
    __builtin_memcpy(&e, p + off, sizeof e);
    if (e.len > len - off - sizeof e) return false;
    if (!fn(e.index, e.status, p + off + sizeof e, static_cast<size_t>(e.len))) return false;
    off += reply_entry_size(static_cast<size_t>(e.len));
    if (off > len) return false;
  }
  return true;
}

}  // namespace mproc
