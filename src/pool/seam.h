/* The pool's private seam: how a transport outside libmproc (libmproc-mpi)
 * runs a pool's chunks on workers of its own while the core keeps what the
 * caller sees (result handles, callbacks, imap iterators, chunking, close,
 * terminate, join, counters).
 *
 * Not a public API: one symbol, mproc_private_pool_seam, in the version
 * node MPROC_PRIVATE of libmproc.so.0, which returns a table of functions.
 * Only libraries built from the same source tree may use it; the table's
 * version changes whenever its layout or meaning does (docs/design.md,
 * "The pool seam"). Plain C so that the two libraries share no C++ ABI.
 *
 * How a transport uses it: pool_new() with its callbacks gives a normal
 * mproc_pool handle plus the core; the core calls start() once (first task
 * or mproc_pool_start), then wake() whenever there is something to look at
 * (queued chunks, close, terminate). The transport's own thread take()s
 * chunks, runs them, deliver()s their items' outcomes in order, watches
 * state(), and calls finished() once it is done: then join returns.
 * destroy() comes last, when the pool object is released. */
#ifndef MPROC_POOL_SEAM_H
#define MPROC_POOL_SEAM_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/mproc-pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of struct mproc_pool_seam this source tree defines. */
#define MPROC_POOL_SEAM_VERSION 1

/** A transport's callbacks; each gets `self`. */
typedef struct mproc_pool_transport {
  void *self;
  /* The pool started (first task, or mproc_pool_start): called once, with
   * the pool's lock held; must not call back into the seam. */
  void (*start)(void *self);
  /* Something to look at; may be called with the pool's lock held, from
   * any thread: must only signal (an eventfd write). */
  void (*wake)(void *self);
  /* The pool object is being released (after finished(), or never
   * started): stop the thread, free self. */
  void (*destroy)(void *self);
} mproc_pool_transport;

/** A chunk handed to the transport: `count` items of task `task`
 * (registered name), packed as the core packs them (unpack()). Valid until
 * release(). */
typedef struct mproc_seam_chunk {
  uint64_t id;
  uint32_t count;
  const char *task;
  const void *payload;
  size_t payload_len;
  void *ref; /* the core's reference; release() drops it */
} mproc_seam_chunk;

/** One item's outcome as the transport learnt it. */
typedef struct mproc_seam_item {
  int status;    /* MPROC_OK or an item code (MPROC_E_TASK_FAILED, ...) */
  int has_exit;  /* the item ended with its worker's death or timeout */
  int exit_code; /* that worker's exit code (-9, -11, ...) */
  const void *data;
  size_t len;
} mproc_seam_item;

/** What the caller set before the pool started. */
typedef struct mproc_seam_config {
  double task_timeout;     /* seconds, < 0 for none */
  uint32_t maxtasksperchild;
  const char *init_name;   /* registered initializer, or NULL */
  const void *init_arg;
  size_t init_arg_len;
} mproc_seam_config;

/** state(): keep going; closed with nothing left; terminated. */
#define MPROC_SEAM_RUNNING 0
#define MPROC_SEAM_DRAINED 1
#define MPROC_SEAM_TERMINATED 2

typedef struct mproc_pool_seam {
  uint32_t version; /* MPROC_POOL_SEAM_VERSION */
  /* A pool of `workers` remote workers run by `t` (copied). Its tasks must
   * be registered by name (as for a forkserver pool); core is what the
   * other calls take. MPROC_OK, MPROC_E_INVAL, MPROC_E_NOMEM, MPROC_E_SYS. */
  int (*pool_new)(mproc_pool **out, int workers, const mproc_pool_transport *t, void **core);
  /* The next queued chunk: MPROC_OK, or MPROC_E_EMPTY (none, or
   * terminated). */
  int (*take)(void *core, mproc_seam_chunk *out);
  void (*release)(mproc_seam_chunk *chunk);
  /* Outcomes of items first..first+n-1 of chunk `id`, in order; ignored
   * for items already delivered (or failed by terminate). */
  void (*deliver)(void *core, uint64_t id, uint32_t first, uint32_t n,
                  const mproc_seam_item *items);
  int (*state)(void *core);
  /* Chunks queued and not taken yet. */
  size_t (*pending)(void *core);
  void (*finished)(void *core);
  /* Valid while the pool lives. */
  void (*config)(void *core, mproc_seam_config *out);
  /* Splits a payload into `count` views into it: MPROC_OK, MPROC_E_INVAL. */
  int (*unpack)(const void *payload, size_t len, uint32_t count, mproc_bytes *out);
  /* The process target registered under name, or NULL. */
  mproc_target_fn (*find_target)(const char *name);
} mproc_pool_seam;

/** The seam, or NULL when this library's seam is not `version`. */
MPROC_API const mproc_pool_seam *mproc_private_pool_seam(uint32_t version);

#ifdef __cplusplus
}
#endif

#endif
