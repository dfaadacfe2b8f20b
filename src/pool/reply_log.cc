#include "pool/reply_log.h"

#include <cstring>
#include <new>

namespace mproc {

namespace {
// Replies one batch carries at most: far below a quarter of the outbox
// ring, so a batch is always a plain queue message.
constexpr size_t kLogBytes = 128 * 1024;
}  // namespace

ReplyLog::~ReplyLog() = default;

bool ReplyLog::open() {
  // The head rounded up to a cache line, then the entries.
  if (!region_.create(64 + kLogBytes)) return false;
  head_ = new (region_.data()) Head{};
  entries_ = static_cast<unsigned char *>(region_.data()) + 64;
  capacity_ = kLogBytes;
  return true;
}

bool ReplyLog::attach(int fd) {
  if (!region_.attach(fd, 64 + kLogBytes)) return false;
  // The manager constructed the head; a spawned worker only maps it.
  head_ = static_cast<Head *>(region_.data());
  entries_ = static_cast<unsigned char *>(region_.data()) + 64;
  capacity_ = kLogBytes;
  return true;
}

void ReplyLog::begin(uint64_t chunk_id) {
  // Count first: a worker dying between the two stores leaves an empty log.
  head_->count.store(0, std::memory_order_release);
  head_->used.store(0, std::memory_order_release);
  head_->chunk_id.store(chunk_id, std::memory_order_release);
}

bool ReplyLog::append(uint32_t index, int32_t status, const void *data, size_t len) {
  size_t room;
  unsigned char *p = next_reply(&room);
  if (len > room) return false;
  if (len) memcpy(p, data, len);
  commit(index, status, len);
  return true;
}

unsigned char *ReplyLog::next_reply(size_t *room) {
  // Entries are padded to 8 bytes, so the room left is a multiple of 8.
  size_t used = head_->used.load(std::memory_order_relaxed);
  size_t left = capacity_ - used;
  *room = left > sizeof(ReplyEntry) ? left - sizeof(ReplyEntry) : 0;
  return entries_ + used + sizeof(ReplyEntry);
}

void ReplyLog::commit(uint32_t index, int32_t status, size_t len) {
  size_t used = head_->used.load(std::memory_order_relaxed);
  ReplyEntry e{index, status, len};
  memcpy(entries_ + used, &e, sizeof e);
  // The entry is written before it is counted: a death in between loses
  // only this reply, whose item then counts as the one that was running.
  head_->used.store(used + reply_entry_size(len), std::memory_order_release);
  head_->count.store(head_->count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void ReplyLog::clear() {
  head_->count.store(0, std::memory_order_release);
  head_->used.store(0, std::memory_order_release);
}

}  // namespace mproc
