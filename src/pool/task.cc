#include "pool/task.h"

#include <cstring>

namespace mproc {

Payload pack_items(const mproc_bytes *items, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += sizeof(uint64_t) + items[i].len;
  Payload out(total);
  unsigned char *p = out.data();
  for (size_t i = 0; i < n; i++) {
    uint64_t len = items[i].len;
    memcpy(p, &len, sizeof len);
    p += sizeof len;
    if (len) memcpy(p, items[i].data, len);
    p += len;
  }
  return out;
}

bool unpack_items(const unsigned char *payload, size_t size, uint32_t count, mproc_bytes *out) {
  size_t off = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint64_t len;
    if (size - off < sizeof len) return false;
    memcpy(&len, payload + off, sizeof len);
    off += sizeof len;
    if (size - off < len) return false;
    out[i] = mproc_bytes{len ? payload + off : nullptr, static_cast<size_t>(len)};
    off += len;
  }
  return off == size;
}

bool unpack_items(const std::vector<unsigned char> &payload, uint32_t count,
                  std::vector<mproc_bytes> *out) {
  out->resize(count);
  return unpack_items(payload.data(), payload.size(), count, out->data());
}

ItemOutcome OutcomeRun::take_next() {
  if (batch.empty()) return std::move(items[taken++]);
  ReplyEntry e;
  memcpy(&e, batch.data() + offset, sizeof e);
  ItemOutcome o{e.status, ReplyBytes(batch.data() + offset + sizeof e, static_cast<size_t>(e.len)),
                false, 0};
  offset += reply_entry_size(static_cast<size_t>(e.len));
  taken++;
  return o;
}

void OutcomeRun::summary(size_t *reply_bytes, int *first_error) const {
  if (!batch.empty() && taken == 0) {
    *reply_bytes = batch_reply_bytes;
    *first_error = batch_first_error;
  } else {
    tally(reply_bytes, first_error);
  }
}

void OutcomeRun::tally(size_t *reply_bytes, int *first_error) const {
  *reply_bytes = 0;
  *first_error = MPROC_OK;
  for_each([&](int status, const unsigned char *, size_t len) {
    *reply_bytes += len;
    if (*first_error == MPROC_OK) *first_error = status;
  });
}

void OutcomeRun::drop_taken() {
  if (taken == 0) return;
  if (batch.empty()) {
    items.erase(items.begin(), items.begin() + static_cast<ptrdiff_t>(taken));
  } else {
    batch.erase(batch.begin(), batch.begin() + static_cast<ptrdiff_t>(offset));
    batch_count -= static_cast<uint32_t>(taken);
    offset = 0;
  }
  first += taken;
  taken = 0;
  // The check's sums covered the dropped items too.
  if (!batch.empty()) tally(&batch_reply_bytes, &batch_first_error);
}

std::shared_ptr<Chunk> chunk_tail(const Chunk &c, uint32_t from) {
  std::vector<mproc_bytes> items(c.count);
  unpack_items(c.payload.data(), c.payload.size(), c.count, items.data());  // our own packing: well formed
  auto tail = std::make_shared<Chunk>();
  tail->fn = c.fn;
  tail->ctx = c.ctx;
  tail->sink = c.sink;
  tail->first_index = c.first_index + from;
  tail->count = c.count - from;
  tail->payload = pack_items(items.data() + from, tail->count);
  return tail;
}

}  // namespace mproc
