// extern "C" layer for mproc_pool_*, mproc_result_* and mproc_iter_*.
#include <cstdlib>
#include <cstring>

#include "base/deadline.h"
#include "capi/guard.h"
#include "start/registry.h"
#include "mproc.h"
#include "pool/pool.h"
#include "pool/results.h"
#include "pool/worker.h"

#include "capi/pool_handle.h"

// Each handle remembers the process that made it: in a forked child its
// locks may have been copied while held, so nothing there may touch them.
struct mproc_result {
  std::shared_ptr<mproc::ResultState> state;
  pid_t owner = mproc::current_pid();
};
struct mproc_iter {
  std::shared_ptr<mproc::IterState> state;
  const mproc::ItemOutcome *last = nullptr;  // what the last next() returned
  pid_t owner = mproc::current_pid();
};

using mproc::Deadline;
using mproc::guarded;

namespace {

// MPROC_E_INVAL for NULL, MPROC_E_STATE for another process's handle, else OK.
template <typename Handle>
int usable(const Handle *h) {
  if (!h) return MPROC_E_INVAL;
  return h->owner == mproc::current_pid() ? MPROC_OK : MPROC_E_STATE;
}

int submit_one(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t arg_len, void *ctx,
               mproc_result_cb cb, void *userdata, mproc_result **out) {
  if (!p || !fn || (!arg && arg_len > 0)) return MPROC_E_INVAL;
  if (arg_len > MPROC_POOL_MAX_PAYLOAD) return MPROC_E_TOOBIG;
  if (int rc = usable(p)) return rc;
  return guarded([&] {
    if (int rc = p->pool->check_task(fn, ctx)) return rc;
    auto state = std::make_shared<mproc::ResultState>(p->pool, cb, userdata);
    auto chunk = std::make_shared<mproc::Chunk>();
    chunk->fn = fn;
    chunk->ctx = ctx;
    chunk->sink = state;
    chunk->count = 1;
    mproc_bytes item{arg, arg_len};
    chunk->payload = mproc::pack_items(&item, 1);
    // p->owner is this process (usable() said so).
    mproc_result *handle = out ? new mproc_result{state, p->owner} : nullptr;
    int rc = p->pool->submit(chunk, /*from_iterator=*/false);
    if (rc != MPROC_OK) {
      delete handle;
      return rc;
    }
    if (out) *out = handle;
    return MPROC_OK;
  });
}

// Python's map rule: ceil(n / (4 * workers)), at least 1.
size_t auto_chunksize(size_t n, int workers) {
  size_t per = 4 * static_cast<size_t>(workers);
  size_t c = (n + per - 1) / per;
  return c ? c : 1;
}

int make_iter(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items, size_t n,
              size_t chunksize, void *ctx, bool ordered, mproc_iter **out) {
  if (!p || !fn || !out || (!items && n > 0)) return MPROC_E_INVAL;
  for (size_t i = 0; i < n; i++) {
    if (!items[i].data && items[i].len > 0) return MPROC_E_INVAL;
    if (items[i].len > MPROC_POOL_MAX_PAYLOAD) return MPROC_E_TOOBIG;
  }
  if (int rc = usable(p)) return rc;
  if (int rc = guarded([&] { return p->pool->check_task(fn, ctx); })) return rc;
  return guarded([&] {
    if (p->pool->closing()) return MPROC_E_STATE;
    if (chunksize == 0) chunksize = auto_chunksize(n, p->pool->workers());
    auto state = std::make_shared<mproc::IterState>(p->pool, fn, ctx, items, n, chunksize, ordered);
    if (n > 0) p->pool->register_iterator(state);
    int rc = state->refill(false);
    if (rc != MPROC_OK) {
      state->abandon();
      return rc;
    }
    *out = new mproc_iter{state, nullptr, p->owner};  // p->owner: this process, checked above
    return MPROC_OK;
  });
}

}  // namespace

extern "C" {

MPROC_API int mproc_reply_set(mproc_reply *r, const void *data, size_t len) {
  if (!r || (!data && len > 0)) return MPROC_E_INVAL;
  if (len > MPROC_POOL_MAX_PAYLOAD) {
    r->too_big = true;
    return MPROC_E_TOOBIG;
  }
  r->too_big = false;
  if (len <= r->room) {
    if (len) memmove(r->place, data, len);
    r->placed = len;
    r->in_place = true;
    return MPROC_OK;
  }
  return guarded([&] {
    const auto *bytes = static_cast<const unsigned char *>(data);
    r->data.assign(bytes, bytes + len);
    r->in_place = false;
    return MPROC_OK;
  });
}

MPROC_API int mproc_pool_new(mproc_pool **out, int workers) {
  if (!out || workers < 0 || workers > MPROC_POOL_MAX_WORKERS) return MPROC_E_INVAL;
  return guarded([&] {
    auto pool = std::make_shared<mproc::Pool>(workers);
    if (!pool->ok()) return MPROC_E_SYS;
    *out = new mproc_pool{pool};
    return MPROC_OK;
  });
}

MPROC_API int mproc_pool_start(mproc_pool *p) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->start(); });
}

MPROC_API int mproc_pool_workers(const mproc_pool *p) { return p ? p->pool->workers() : MPROC_E_INVAL; }

MPROC_API int mproc_pool_set_initializer(mproc_pool *p, mproc_target_fn init, const void *arg,
                                         size_t arg_len, void *ctx) {
  if (!p || (!arg && arg_len > 0)) return MPROC_E_INVAL;
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->set_initializer(init, arg, arg_len, ctx); });
}

MPROC_API int mproc_pool_set_maxtasksperchild(mproc_pool *p, uint32_t n) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->set_maxtasksperchild(n); });
}

MPROC_API int mproc_pool_set_start_method(mproc_pool *p, int method) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->set_start_method(method); });
}

MPROC_API int mproc_pool_set_task_timeout(mproc_pool *p, double seconds) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->set_task_timeout(seconds); });
}

MPROC_API int mproc_pool_apply_async(mproc_pool *p, mproc_task_fn fn, const void *arg,
                                     size_t arg_len, void *ctx, mproc_result **out) {
  if (!out) return MPROC_E_INVAL;
  return submit_one(p, fn, arg, arg_len, ctx, nullptr, nullptr, out);
}

MPROC_API int mproc_pool_apply_async_cb(mproc_pool *p, mproc_task_fn fn, const void *arg,
                                        size_t arg_len, void *ctx, mproc_result_cb cb,
                                        void *userdata, mproc_result **out) {
  if (!cb) return MPROC_E_INVAL;
  return submit_one(p, fn, arg, arg_len, ctx, cb, userdata, out);
}

MPROC_API int mproc_pool_apply(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t arg_len,
                               void *ctx, void **out, size_t *out_len) {
  if (!out || !out_len) return MPROC_E_INVAL;
  mproc_result *r = nullptr;
  int rc = submit_one(p, fn, arg, arg_len, ctx, nullptr, nullptr, &r);
  if (rc != MPROC_OK) return rc;
  const void *data = nullptr;
  size_t len = 0;
  rc = mproc_result_get(r, &data, &len, MPROC_FOREVER);
  if (rc == MPROC_OK || rc == MPROC_E_TASK_FAILED) {
    void *copy = nullptr;
    if (len > 0) {
      copy = malloc(len);
      if (!copy) {
        mproc_result_free(r);
        return MPROC_E_NOMEM;
      }
      memcpy(copy, data, len);
    }
    *out = copy;
    *out_len = len;
  }
  mproc_result_free(r);
  return rc;
}

MPROC_API int mproc_result_wait(mproc_result *r, double timeout) {
  if (int rc = usable(r)) return rc;
  Deadline d;
  if (int rc = Deadline::from_seconds(timeout, &d)) return rc;
  return guarded([&] { return r->state->wait(d); });
}

MPROC_API int mproc_result_ready(mproc_result *r) {
  if (int rc = usable(r)) return rc;
  return r->state->ready() ? 1 : 0;
}

MPROC_API int mproc_result_successful(mproc_result *r) {
  if (int rc = usable(r)) return rc;
  if (!r->state->ready()) return MPROC_E_BUSY;
  return r->state->outcome().status == MPROC_OK ? 1 : 0;
}

MPROC_API int mproc_result_get(mproc_result *r, const void **data, size_t *len, double timeout) {
  if (int rc = usable(r)) return rc;
  Deadline d;
  if (int rc = Deadline::from_seconds(timeout, &d)) return rc;
  return guarded([&] {
    int wrc = r->state->wait(d);
    if (wrc != MPROC_OK) return wrc;
    const mproc::ItemOutcome &o = r->state->outcome();
    if (o.status == MPROC_OK || o.status == MPROC_E_TASK_FAILED) {
      if (data) *data = o.reply.empty() ? nullptr : o.reply.data();
      if (len) *len = o.reply.size();
    }
    return o.status;
  });
}

MPROC_API int mproc_result_worker_exitcode(mproc_result *r, int *code) {
  if (!code) return MPROC_E_INVAL;
  if (int rc = usable(r)) return rc;
  if (!r->state->ready()) return MPROC_E_BUSY;
  const mproc::ItemOutcome &o = r->state->outcome();
  if (!o.has_worker_exit) return MPROC_E_STATE;
  *code = o.worker_exit;
  return MPROC_OK;
}

MPROC_API void mproc_result_free(mproc_result *r) { delete r; }

MPROC_API int mproc_pool_imap(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items,
                              size_t n, size_t chunksize, void *ctx, mproc_iter **out) {
  return make_iter(p, fn, items, n, chunksize, ctx, /*ordered=*/true, out);
}

MPROC_API int mproc_pool_imap_unordered(mproc_pool *p, mproc_task_fn fn,
                                        const mproc_bytes *items, size_t n, size_t chunksize,
                                        void *ctx, mproc_iter **out) {
  return make_iter(p, fn, items, n, chunksize, ctx, /*ordered=*/false, out);
}

MPROC_API int mproc_iter_next(mproc_iter *it, size_t *index, const void **data, size_t *len,
                              double timeout) {
  if (int rc = usable(it)) return rc;
  Deadline d;
  if (int rc = Deadline::from_seconds(timeout, &d)) return rc;
  return guarded([&] {
    size_t i = 0;
    const mproc::ItemOutcome *o = nullptr;
    int nrc = it->state->next(d, &i, &o);
    if (nrc != MPROC_OK) return nrc;
    it->last = o;
    if (index) *index = i;
    if (o->status == MPROC_OK || o->status == MPROC_E_TASK_FAILED) {
      if (data) *data = o->reply.empty() ? nullptr : o->reply.data();
      if (len) *len = o->reply.size();
    }
    return o->status;
  });
}

MPROC_API int mproc_iter_worker_exitcode(mproc_iter *it, int *code) {
  if (!it || !code) return MPROC_E_INVAL;
  if (!it->last || !it->last->has_worker_exit) return MPROC_E_STATE;
  *code = it->last->worker_exit;
  return MPROC_OK;
}

MPROC_API void mproc_iter_free(mproc_iter *it) {
  if (!it) return;
  if (usable(it) == MPROC_OK) guarded([&] {
    it->state->abandon();
    return MPROC_OK;
  });
  delete it;
}

MPROC_API int mproc_pool_map(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items,
                             size_t n, size_t chunksize, void *ctx, mproc_bytes **results) {
  if (!results) return MPROC_E_INVAL;
  mproc_iter *it = nullptr;
  int rc = mproc_pool_imap(p, fn, items, n, chunksize, ctx, &it);
  if (rc != MPROC_OK) return rc;
  return guarded([&] {
    // Every item runs; the first failure in input order is the answer.
    std::vector<mproc::OutcomeRun> runs;
    int first_error = MPROC_OK;
    for (int trc; (trc = it->state->take_runs(Deadline::forever(), &runs)) != MPROC_DONE;) {
      if (trc != MPROC_OK) {  // cannot happen while items remain; be safe
        first_error = trc;
        break;
      }
    }
    mproc_iter_free(it);
    size_t bytes = n * sizeof(mproc_bytes);
    for (const auto &run : runs) {
      size_t run_bytes = 0;
      int run_error = MPROC_OK;
      run.summary(&run_bytes, &run_error);
      bytes += run_bytes;
      if (first_error == MPROC_OK) first_error = run_error;
    }
    if (first_error != MPROC_OK) return first_error;
    if (n == 0) {
      *results = nullptr;
      return MPROC_OK;
    }
    auto *array = static_cast<mproc_bytes *>(malloc(bytes));
    if (!array) return MPROC_E_NOMEM;
    auto *cursor = reinterpret_cast<unsigned char *>(array + n);
    for (const auto &run : runs) {
      mproc_bytes *slot = array + run.first;
      run.for_each([&](int, const unsigned char *data, size_t len) {
        slot->data = len ? cursor : nullptr;
        slot->len = len;
        if (len) memcpy(cursor, data, len);
        cursor += len;
        slot++;
      });
    }
    *results = array;
    return MPROC_OK;
  });
}

MPROC_API int mproc_pool_close(mproc_pool *p) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->close(); });
}

MPROC_API int mproc_pool_terminate(mproc_pool *p) {
  if (int rc = usable(p)) return rc;
  return guarded([&] { return p->pool->terminate(); });
}

MPROC_API int mproc_pool_join(mproc_pool *p, double timeout) {
  if (int rc = usable(p)) return rc;
  Deadline d;
  if (int rc = Deadline::from_seconds(timeout, &d)) return rc;
  return guarded([&] { return p->pool->join(d); });
}

MPROC_API int mproc_pool_event_fd(mproc_pool *p) {
  if (int rc = usable(p)) return rc;
  return p->pool->event_fd();
}

MPROC_API int mproc_pool_stat(mproc_pool *p, int which, uint64_t *value) {
  if (!p || !value) return MPROC_E_INVAL;
  return p->pool->stat(which, value);
}

MPROC_API void mproc_pool_free(mproc_pool *p) {
  if (!p) return;
  guarded([&] {
    p->pool->shutdown();
    return MPROC_OK;
  });
  delete p;
}

// --- name-based submission (FFI hosts) -----------------------------------

}  // extern "C"

namespace {
// The task registered under name: MPROC_OK, MPROC_E_INVAL, MPROC_E_NOENT.
int named_task(const char *name, mproc_task_fn *fn) {
  if (!name) return MPROC_E_INVAL;
  return guarded([&] {
    *fn = mproc::find_task(name);
    return *fn ? MPROC_OK : MPROC_E_NOENT;
  });
}
}  // namespace

extern "C" {

MPROC_API int mproc_pool_apply_named(mproc_pool *p, const char *task, const void *arg,
                                     size_t arg_len, void **out, size_t *out_len) {
  mproc_task_fn fn;
  if (int rc = named_task(task, &fn)) return rc;
  return mproc_pool_apply(p, fn, arg, arg_len, nullptr, out, out_len);
}

MPROC_API int mproc_pool_apply_async_named(mproc_pool *p, const char *task, const void *arg,
                                           size_t arg_len, mproc_result **out) {
  mproc_task_fn fn;
  if (int rc = named_task(task, &fn)) return rc;
  return mproc_pool_apply_async(p, fn, arg, arg_len, nullptr, out);
}

MPROC_API int mproc_pool_map_named(mproc_pool *p, const char *task, const mproc_bytes *items,
                                   size_t n, size_t chunksize, mproc_bytes **results) {
  mproc_task_fn fn;
  if (int rc = named_task(task, &fn)) return rc;
  return mproc_pool_map(p, fn, items, n, chunksize, nullptr, results);
}

MPROC_API int mproc_pool_imap_named(mproc_pool *p, const char *task, const mproc_bytes *items,
                                    size_t n, size_t chunksize, mproc_iter **out) {
  mproc_task_fn fn;
  if (int rc = named_task(task, &fn)) return rc;
  return mproc_pool_imap(p, fn, items, n, chunksize, nullptr, out);
}

MPROC_API int mproc_pool_imap_unordered_named(mproc_pool *p, const char *task,
                                              const mproc_bytes *items, size_t n,
                                              size_t chunksize, mproc_iter **out) {
  mproc_task_fn fn;
  if (int rc = named_task(task, &fn)) return rc;
  return mproc_pool_imap_unordered(p, fn, items, n, chunksize, nullptr, out);
}

}  // extern "C"
