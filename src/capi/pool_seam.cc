// The pool's private seam (pool/seam.h): what libmproc-mpi calls. Every
// entry is guarded, like the public ones: no C++ exception crosses.
#include "pool/seam.h"

#include <string>

#include "capi/guard.h"
#include "capi/pool_handle.h"
#include "start/registry.h"

namespace {

using mproc::guarded;
using mproc::Pool;

Pool *core_of(void *core) { return static_cast<Pool *>(core); }

// What a mproc_seam_chunk's ref points to: the chunk kept alive, and the
// task's name that `task` points into.
struct TakenRef {
  std::shared_ptr<mproc::Chunk> chunk;
  std::string task;
};

int seam_pool_new(mproc_pool **out, int workers, const mproc_pool_transport *t, void **core) {
  if (!out || !t || !core || workers < 1 || workers > MPROC_POOL_MAX_WORKERS || !t->start ||
      !t->wake || !t->destroy)
    return MPROC_E_INVAL;
  return guarded([&] {
    auto pool = std::make_shared<Pool>(workers, *t);
    if (!pool->ok()) return MPROC_E_SYS;
    *core = pool.get();
    *out = new mproc_pool{pool};
    return MPROC_OK;
  });
}

int seam_take(void *core, mproc_seam_chunk *out) {
  return guarded([&] {
    auto ref = std::make_unique<TakenRef>();
    if (int rc = core_of(core)->transport_take(&ref->chunk)) return rc;
    // check_task() let only registered tasks in.
    mproc::task_name(ref->chunk->fn, &ref->task);
    out->id = ref->chunk->id;
    out->count = ref->chunk->count;
    out->task = ref->task.c_str();
    out->payload = ref->chunk->payload.data();
    out->payload_len = ref->chunk->payload.size();
    out->ref = ref.release();
    return MPROC_OK;
  });
}

void seam_release(mproc_seam_chunk *chunk) {
  delete static_cast<TakenRef *>(chunk->ref);
  chunk->ref = nullptr;
}

void seam_deliver(void *core, uint64_t id, uint32_t first, uint32_t n,
                  const mproc_seam_item *items) {
  guarded([&] {
    core_of(core)->transport_deliver(id, first, n, items);
    return MPROC_OK;
  });
}

int seam_state(void *core) { return core_of(core)->transport_state(); }

size_t seam_pending(void *core) { return core_of(core)->transport_pending(); }

void seam_finished(void *core) { core_of(core)->transport_finished(); }

void seam_config(void *core, mproc_seam_config *out) { core_of(core)->transport_config(out); }

int seam_unpack(const void *payload, size_t len, uint32_t count, mproc_bytes *out) {
  return mproc::unpack_items(static_cast<const unsigned char *>(payload), len, count, out)
             ? MPROC_OK
             : MPROC_E_INVAL;
}

mproc_target_fn seam_find_target(const char *name) {
  mproc_target_fn fn = nullptr;
  guarded([&] {
    fn = name ? mproc::find_target(name) : nullptr;
    return MPROC_OK;
  });
  return fn;
}

const mproc_pool_seam kSeam = {
    MPROC_POOL_SEAM_VERSION, seam_pool_new, seam_take,   seam_release, seam_deliver,
    seam_state,              seam_pending,  seam_finished, seam_config, seam_unpack,
    seam_find_target,
};

}  // namespace

extern "C" MPROC_API const mproc_pool_seam *mproc_private_pool_seam(uint32_t version) {
  return version == MPROC_POOL_SEAM_VERSION ? &kSeam : nullptr;
}
