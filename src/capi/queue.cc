// extern "C" layer for mproc_queue_*: argument checks, then the C++ core.
#include "queue/queue.h"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "capi/guard.h"
#include "capi/queue_handle.h"
#include "queue/handover.h"
#include "mproc.h"

struct mproc_queue {
  std::unique_ptr<mproc::queue::Queue> impl;
  std::string exported;  // its handover token once mproc_queue_export() ran
};

using mproc::guarded;
using mproc::queue::Queue;

namespace {

int wrap(std::unique_ptr<Queue> q, mproc_queue **out) {
  *out = new mproc_queue{std::move(q)};
  return MPROC_OK;
}

}  // namespace

namespace mproc {

int queue_handle_fd(const mproc_queue *q) { return q->impl->fd(); }

int queue_handle_put_quiet(mproc_queue *q, const void *data, size_t len, double timeout) {
  return guarded([&] { return q->impl->put(data, len, timeout, /*wake=*/false); });
}

void queue_handle_wake(mproc_queue *q) { q->impl->wake_consumer(); }

int queue_handle_from_fd(int fd, mproc_queue **out) {
  return guarded([&] {
    std::unique_ptr<Queue> q;
    int rc = Queue::open_fd(fd, &q);
    return rc != MPROC_OK ? rc : wrap(std::move(q), out);
  });
}

}  // namespace mproc

extern "C" {

MPROC_API int mproc_queue_new(mproc_queue **out, size_t maxsize, size_t capacity_bytes) {
  if (!out) return MPROC_E_INVAL;
  return guarded([&] {
    std::unique_ptr<Queue> q;
    int rc = Queue::create(nullptr, maxsize, capacity_bytes, &q);
    return rc != MPROC_OK ? rc : wrap(std::move(q), out);
  });
}

MPROC_API int mproc_queue_create(mproc_queue **out, const char *name, size_t maxsize,
                                 size_t capacity_bytes) {
  if (!out || !name) return MPROC_E_INVAL;
  return guarded([&] {
    // The handle first: once the name is linked nothing may throw.
    auto handle = std::make_unique<mproc_queue>();
    int rc = Queue::create(name, maxsize, capacity_bytes, &handle->impl);
    if (rc == MPROC_OK) *out = handle.release();
    return rc;
  });
}

MPROC_API int mproc_queue_open(mproc_queue **out, const char *name) {
  if (!out || !name) return MPROC_E_INVAL;
  return guarded([&] {
    std::unique_ptr<Queue> q;
    int rc;
    if (name[0] == '@') {
      // A handover token (mproc_queue_export): the segment came with us.
      if (!mproc::queue::valid_token(name)) return MPROC_E_INVAL;
      int fd = mproc::queue::dup_exported(name);
      if (fd < 0) return MPROC_E_NOENT;
      rc = Queue::open_fd(fd, &q);
      close(fd);
    } else {
      rc = Queue::open(name, &q);
    }
    return rc != MPROC_OK ? rc : wrap(std::move(q), out);
  });
}

MPROC_API int mproc_queue_export(mproc_queue *q, char *token, size_t cap) {
  if (!q || !token) return MPROC_E_INVAL;
  return guarded([&] {
    std::string t = q->impl->name() ? std::string(q->impl->name()) : q->impl->token();
    if (t.size() + 1 > cap) return MPROC_E_TOOBIG;
    if (!q->impl->name()) {
      if (int rc = mproc::queue::export_segment(t, q->impl->fd())) return rc;
      q->exported = t;
    }
    memcpy(token, t.c_str(), t.size() + 1);
    return MPROC_OK;
  });
}

MPROC_API int mproc_queue_unlink(const char *name) {
  if (!name) return MPROC_E_INVAL;
  return guarded([&] { return Queue::unlink(name); });
}

MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len, double timeout) {
  if (!q || (!data && len > 0)) return MPROC_E_INVAL;
  return guarded([&] { return q->impl->put(data, len, timeout); });
}

MPROC_API int mproc_queue_put_nowait(mproc_queue *q, const void *data, size_t len) {
  return mproc_queue_put(q, data, len, 0);
}

MPROC_API int mproc_queue_get(mproc_queue *q, void *buf, size_t cap, size_t *len, double timeout) {
  if (!q || !len || (!buf && cap > 0)) return MPROC_E_INVAL;
  return guarded([&] { return q->impl->get(buf, cap, len, timeout); });
}

MPROC_API int mproc_queue_get_nowait(mproc_queue *q, void *buf, size_t cap, size_t *len) {
  return mproc_queue_get(q, buf, cap, len, 0);
}

MPROC_API int mproc_queue_get_alloc(mproc_queue *q, void **data, size_t *len, double timeout) {
  if (!q || !data || !len) return MPROC_E_INVAL;
  return guarded([&] { return q->impl->get_alloc(data, len, timeout); });
}

MPROC_API int64_t mproc_queue_qsize(mproc_queue *q) {
  if (!q) return MPROC_E_INVAL;
  return q->impl->qsize();
}

MPROC_API int mproc_queue_empty(mproc_queue *q) {
  if (!q) return MPROC_E_INVAL;
  return q->impl->empty();
}

MPROC_API int mproc_queue_full(mproc_queue *q) {
  if (!q) return MPROC_E_INVAL;
  return guarded([&] { return q->impl->full(); });
}

MPROC_API int mproc_queue_close(mproc_queue *q) {
  if (!q) return MPROC_E_INVAL;
  return q->impl->close();
}

MPROC_API int mproc_queue_shutdown(mproc_queue *q, int immediate) {
  if (!q) return MPROC_E_INVAL;
  return q->impl->shutdown(immediate != 0);
}

MPROC_API const char *mproc_queue_name(const mproc_queue *q) { return q ? q->impl->name() : nullptr; }

MPROC_API size_t mproc_queue_max_message(const mproc_queue *q) {
  return q ? q->impl->max_message() : 0;
}

MPROC_API size_t mproc_queue_capacity(const mproc_queue *q) { return q ? q->impl->capacity() : 0; }

MPROC_API void mproc_queue_free(mproc_queue *q) {
  if (q && !q->exported.empty()) mproc::queue::withdraw_segment(q->exported);
  delete q;
}

}  // extern "C"
