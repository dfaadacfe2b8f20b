/**
 * @file mproc-pool.h
 * mproc_pool: a pool of worker processes with async result handles, like
 * Python's multiprocessing.Pool. Include <mproc.h> rather than this file.
 *
 * Life cycle: mproc_pool_new() -> optional setters -> submit work
 * (apply, apply_async, map, imap, imap_unordered) -> mproc_pool_close() ->
 * mproc_pool_join() -> mproc_pool_free(). mproc_pool_terminate() stops
 * everything at once instead.
 *
 * Tasks are mproc_task_fn functions run in a worker with the argument
 * bytes; they answer with mproc_reply_set() and return 0 (success) or
 * non-zero (failure: the reply then usually carries an error message).
 * With the fork start method the function pointer and ctx are used as they
 * are in the worker (a copy-on-write image of the parent at the time the
 * worker was started).
 *
 * Crash isolation, the reason to use a process pool: a worker that dies
 * while running a task (segfault, abort, _exit, SIGKILL, the OOM killer)
 * fails exactly that task with MPROC_E_WORKER_DIED (its exit status is
 * available with mproc_result_worker_exitcode()), a replacement worker is
 * started, every other task completes normally, and close + join always
 * return. With chunks (chunksize > 1) the items of the dead worker's chunk
 * that had not run yet are run again, not lost. A task that runs past the
 * task timeout is killed with its worker and fails with
 * MPROC_E_TASK_TIMEOUT. (Python's Pool hangs forever in these cases, and
 * ProcessPoolExecutor fails every pending task.)
 *
 * How it works: a manager thread in the pool's process starts the workers
 * (fork), hands each one its tasks through a private shared-memory queue,
 * and reads their replies from a second one; payloads too large for the
 * queues travel in a memfd. Workers are daemon children: they die with the
 * pool's process however it dies, they ignore SIGINT (the parent decides),
 * and they exit when their queue is shut down.
 *
 * Payloads: task arguments and replies up to MPROC_POOL_MAX_PAYLOAD bytes
 * work; larger ones fail with MPROC_E_TOOBIG.
 *
 * Backpressure: imap and imap_unordered submit their input lazily, in whole
 * chunks, keeping at most max(4 chunks, 128 items) per worker in flight
 * beyond what the caller has consumed. When the pool is closed or joined while an iterator still has
 * input left, that input is submitted at once so that join never waits for
 * a consumer that is itself waiting for join.
 *
 * Thread-safety: safe (internally locked): any thread may submit, wait and
 * iterate, except that mproc_pool_free(), mproc_result_free() and
 * mproc_iter_free() must not race with other calls on the same handle.
 * One mproc_iter must not be advanced by two threads at once. A pool, and
 * its results and iterators, belong to the process that created them: in a
 * forked child every call on them returns MPROC_E_STATE (the *_free calls
 * are safe and only release memory there).
 */
#ifndef MPROC_MPROC_POOL_H
#define MPROC_MPROC_POOL_H

#include <mproc/mproc-common.h>
#include <mproc/mproc-process.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque pool handle. @since 0.1.0 */
typedef struct mproc_pool mproc_pool;
/** Opaque handle to the result of one mproc_pool_apply_async(). @since 0.1.0 */
typedef struct mproc_result mproc_result;
/** Opaque iterator over the results of imap / imap_unordered. @since 0.1.0 */
typedef struct mproc_iter mproc_iter;
/** Opaque reply under construction in a worker. @since 0.1.0 */
typedef struct mproc_reply mproc_reply;

/** A borrowed byte string (input items, results of mproc_pool_map). @since 0.1.0 */
typedef struct mproc_bytes {
  const void *data; /**< The first byte; may be NULL when len is 0. */
  size_t len;       /**< Length of data in bytes. */
} mproc_bytes;

/** Largest task argument or reply, in bytes: 1 GiB. @since 0.1.0 */
#define MPROC_POOL_MAX_PAYLOAD ((size_t)1 << 30)
/** Largest worker count mproc_pool_new() accepts. @since 0.1.0 */
#define MPROC_POOL_MAX_WORKERS 1024

/**
 * A pool task. Runs in a worker process.
 * @param arg      The argument bytes (a private copy; NULL when arg_len is 0).
 * @param arg_len  Their length.
 * @param reply    Where to put the answer with mproc_reply_set(); an empty
 *                 reply is fine.
 * @param ctx      The ctx given at submission, unchanged.
 * @returns 0 for success; anything else fails the task with
 *          MPROC_E_TASK_FAILED (the reply still reaches the caller).
 * @since 0.1.0
 */
typedef int (*mproc_task_fn)(const void *arg, size_t arg_len, mproc_reply *reply, void *ctx);

/**
 * Set the task's answer (copied; the last call wins). Call it only from the
 * task function, with the reply handle it was given.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL reply, NULL data with len > 0),
 *          MPROC_E_TOOBIG (len > MPROC_POOL_MAX_PAYLOAD), MPROC_E_NOMEM.
 * @since 0.1.0
 */
MPROC_API int mproc_reply_set(mproc_reply *r, const void *data, size_t len);

/**
 * Called once when a result is ready, on the pool's callback thread (never
 * on a worker, never on the manager thread), one callback at a time in
 * completion order. A slow callback delays only later callbacks, never
 * results: mproc_result_get() and iterators keep working meanwhile.
 * @param status    MPROC_OK or the task's error code (as mproc_result_get()).
 * @param data      The reply (or NULL); valid only during the call.
 * @param len       Its length.
 * @param userdata  As given at submission.
 * @since 0.1.0
 */
typedef void (*mproc_result_cb)(int status, const void *data, size_t len, void *userdata);

/**
 * Create a pool (no process starts until mproc_pool_start() or the first
 * task).
 * @param[out] out      Receives the pool; free it with mproc_pool_free().
 * @param[in]  workers  Worker count; 0 = mproc_cpu_count().
 * @returns MPROC_OK, MPROC_E_INVAL (NULL out, workers < 0 or over
 *          MPROC_POOL_MAX_WORKERS), MPROC_E_NOMEM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_new(mproc_pool **out, int workers);

/**
 * Start the workers now instead of at the first task. Returns once every
 * worker has been started (forked or spawned; not necessarily through its
 * initializer yet), or after 60 s: with fork, the workers copy the caller's
 * memory as it is during this call, which hosts with a runtime of their own
 * rely on. Workers started later (replacements) are forked by the pool's
 * manager thread whenever needed; one that cannot start is retried.
 *
 * If a worker (or the pool's thread) cannot be started (out of processes,
 * descriptors or memory), the pool does not run short-handed: the workers
 * already started are killed and reaped, the pool is left terminated (free
 * it) and the reason is returned. The first task submitted to a pool not yet started (apply,
 * map, imap...) starts it the same way and returns the same codes.
 * @returns MPROC_OK (also when already started), MPROC_E_STATE (closed or
 *          terminated, or another process's pool), MPROC_E_NOENT or
 *          MPROC_E_INVAL (spawn or forkserver: see
 *          mproc_pool_set_start_method()), MPROC_E_NOMEM, MPROC_E_SYS (a
 *          worker could not be started: fork failed, e.g. the process limit
 *          was reached, or no descriptors were left).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_start(mproc_pool *p);

/** Number of workers the pool keeps running; MPROC_E_INVAL for NULL. @since 0.1.0 */
MPROC_API int mproc_pool_workers(const mproc_pool *p);

/**
 * Run init(arg, arg_len, ctx) once in every worker, replacements included,
 * before its first task. A worker whose initializer returns non-zero exits;
 * after 3 such failures in a row the pool stops starting workers and fails
 * pending and new tasks with MPROC_E_INIT_FAILED (Python would respawn
 * forever). The argument is copied. NULL init removes it.
 * @returns MPROC_OK, MPROC_E_INVAL, MPROC_E_STATE (workers already started).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_set_initializer(mproc_pool *p, mproc_target_fn init, const void *arg,
                                         size_t arg_len, void *ctx);

/**
 * Replace each worker after it has run n tasks (a chunk counts as one task,
 * as in Python); 0 = never.
 * @returns MPROC_OK, MPROC_E_INVAL, MPROC_E_STATE (workers already started).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_set_maxtasksperchild(mproc_pool *p, uint32_t n);

/**
 * Choose how the workers start (mproc-start.h): MPROC_START_FORK,
 * MPROC_START_SPAWN or MPROC_START_FORKSERVER; otherwise the process-wide
 * default when the workers start. With spawn and forkserver the workers
 * are fresh images of the program: tasks must be registered with
 * mproc_register_task() (a registered function pointer or the _named
 * functions), the initializer with mproc_register(), and every ctx must be
 * NULL; callbacks still run in this process. Worker names follow Python:
 * ForkPoolWorker-N, SpawnPoolWorker-N, ForkServerPoolWorker-N.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, unknown method; an initializer
 *          with a ctx), MPROC_E_NOENT (the initializer is not registered),
 *          MPROC_E_STATE (the workers have started, or not this process's
 *          pool).
 * @since 0.2.0
 */
MPROC_API int mproc_pool_set_start_method(mproc_pool *p, int method);

/**
 * Kill a task (with its worker, which is replaced) when it runs longer than
 * this many seconds; it then fails with MPROC_E_TASK_TIMEOUT. For a chunk
 * the limit applies to each item. < 0, infinity or 1e9 s and over = no
 * limit (the default).
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, NaN, 0), MPROC_E_STATE (started).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_set_task_timeout(mproc_pool *p, double seconds);

/**
 * Submit one task. The argument is copied before this returns.
 * @param[out] out  Receives the result handle (free it with
 *                  mproc_result_free(); freeing early is fine, the task
 *                  still runs).
 * @returns MPROC_OK, MPROC_E_INVAL (NULL p/fn/out, NULL arg with arg_len >
 *          0), MPROC_E_TOOBIG (arg_len > MPROC_POOL_MAX_PAYLOAD),
 *          MPROC_E_STATE (closed or terminated), MPROC_E_INIT_FAILED (the
 *          pool gave up on its initializer), MPROC_E_NOMEM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_apply_async(mproc_pool *p, mproc_task_fn fn, const void *arg,
                                     size_t arg_len, void *ctx, mproc_result **out);

/**
 * mproc_pool_apply_async() with a callback run once the result is ready
 * (see mproc_result_cb for the thread). @p out may be NULL when only the
 * callback matters. The callback runs even if the result handle was freed.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_apply_async_cb(mproc_pool *p, mproc_task_fn fn, const void *arg,
                                        size_t arg_len, void *ctx, mproc_result_cb cb,
                                        void *userdata, mproc_result **out);

/**
 * Run one task and wait for it.
 * @param[out] out      The reply, to release with mproc_free() (NULL when
 *                      empty); also set on MPROC_E_TASK_FAILED.
 * @param[out] out_len  Its length.
 * @returns MPROC_OK or any code mproc_pool_apply_async() and
 *          mproc_result_get() return.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_apply(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t arg_len,
                               void *ctx, void **out, size_t *out_len);

/**
 * Wait until the result is ready.
 * @returns MPROC_OK (ready, whatever the outcome), MPROC_E_TIMEOUT,
 *          MPROC_E_INVAL (NULL, NaN).
 * @since 0.1.0
 */
MPROC_API int mproc_result_wait(mproc_result *r, double timeout);

/** 1 when the result is ready, 0 if not, MPROC_E_INVAL for NULL. @since 0.1.0 */
MPROC_API int mproc_result_ready(mproc_result *r);

/**
 * 1 if the task succeeded, 0 if it failed (any reason).
 * @returns 1, 0, MPROC_E_BUSY (not ready yet: Python raises here),
 *          MPROC_E_INVAL (NULL).
 * @since 0.1.0
 */
MPROC_API int mproc_result_successful(mproc_result *r);

/**
 * Wait for the result and give its reply.
 * @param[out] data  The reply bytes, owned by @p r (valid until
 *                   mproc_result_free()); NULL for an empty reply.
 * @param[out] len   Their length.
 * @returns MPROC_OK; MPROC_E_TIMEOUT (still running; @p r stays valid);
 *          MPROC_E_TASK_FAILED (data/len = the task's reply, e.g. a message);
 *          MPROC_E_WORKER_DIED (the worker died running it);
 *          MPROC_E_TASK_TIMEOUT; MPROC_E_CANCELLED (pool terminated first);
 *          MPROC_E_INIT_FAILED; MPROC_E_TOOBIG (the reply was over
 *          MPROC_POOL_MAX_PAYLOAD); MPROC_E_INVAL (NULL, NaN).
 *          data/len are written on OK and TASK_FAILED only.
 * @since 0.1.0
 */
MPROC_API int mproc_result_get(mproc_result *r, const void **data, size_t *len, double timeout);

/**
 * Exit code of the worker that died running this task (as
 * mproc_process_exitcode(): -9 for SIGKILL, -11 for a segfault...).
 * @returns MPROC_OK, MPROC_E_STATE (the task did not end by a worker's death),
 *          MPROC_E_BUSY (not ready), MPROC_E_INVAL.
 * @since 0.1.0
 */
MPROC_API int mproc_result_worker_exitcode(mproc_result *r, int *code);

/** Release a result handle (the task itself is not affected). NULL is a no-op. @since 0.1.0 */
MPROC_API void mproc_result_free(mproc_result *r);

/**
 * Map fn over items, yielding results in input order.
 * @param[in] items      n input byte strings. They and the bytes they point
 *                       to must stay valid until the iterator is freed
 *                       (input is submitted lazily).
 * @param[in] chunksize  Items per task; 0 = automatic: ceil(n / (4 *
 *                       workers)), Python's rule for map.
 * @param[out] out       The iterator; free it with mproc_iter_free().
 * @returns MPROC_OK, MPROC_E_INVAL (NULL p/fn/out, NULL items with n > 0, an
 *          item with NULL data and len > 0), MPROC_E_TOOBIG, MPROC_E_STATE,
 *          MPROC_E_INIT_FAILED, MPROC_E_NOMEM.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_imap(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items,
                              size_t n, size_t chunksize, void *ctx, mproc_iter **out);

/** As mproc_pool_imap(), yielding results in completion order. @since 0.1.0 */
MPROC_API int mproc_pool_imap_unordered(mproc_pool *p, mproc_task_fn fn,
                                        const mproc_bytes *items, size_t n, size_t chunksize,
                                        void *ctx, mproc_iter **out);

/**
 * Map fn over items and wait for every result. Every task runs even if some
 * fail.
 * @param[out] results  On MPROC_OK: an array of n replies in input order,
 *                      in one allocation (array and bytes) released with
 *                      mproc_free(); NULL when n is 0.
 * @returns MPROC_OK, or the code of the first failed item in input order
 *          (no array then), or any code mproc_pool_imap() returns.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_map(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items,
                             size_t n, size_t chunksize, void *ctx, mproc_bytes **results);

/**
 * Next result of an iterator.
 * @param[out] index  The input index of the item returned.
 * @param[out] data   Its reply, owned by the iterator until the next call.
 * @param[out] len    Its length.
 * @returns MPROC_OK; MPROC_DONE at the end (and on every later call);
 *          MPROC_E_TIMEOUT (nothing ready in time; call again); or the
 *          item's error code (index set; for MPROC_E_TASK_FAILED data/len =
 *          its reply) after which iteration continues; MPROC_E_INVAL.
 *          Any of index/data/len may be NULL.
 * @since 0.1.0
 */
MPROC_API int mproc_iter_next(mproc_iter *it, size_t *index, const void **data, size_t *len,
                              double timeout);

/**
 * Worker exit code for the item the last mproc_iter_next() returned with
 * MPROC_E_WORKER_DIED or MPROC_E_TASK_TIMEOUT.
 * @returns MPROC_OK, MPROC_E_STATE (the last item did not end that way),
 *          MPROC_E_INVAL.
 * @since 0.1.0
 */
MPROC_API int mproc_iter_worker_exitcode(mproc_iter *it, int *code);

/** Free an iterator; its unfinished tasks are cancelled. NULL is a no-op. @since 0.1.0 */
MPROC_API void mproc_iter_free(mproc_iter *it);

/**
 * Accept no new tasks; queued ones still run and workers exit when done.
 * Idempotent. @returns MPROC_OK, MPROC_E_INVAL, MPROC_E_STATE (another process's).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_close(mproc_pool *p);

/**
 * Stop now: unfinished results become ready with MPROC_E_CANCELLED and the
 * workers are killed (SIGKILL). Idempotent.
 * @returns MPROC_OK, MPROC_E_INVAL, MPROC_E_STATE (another process's).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_terminate(mproc_pool *p);

/**
 * Wait until every worker has exited (after close: every task finished).
 * @returns MPROC_OK, MPROC_E_TIMEOUT, MPROC_E_STATE (neither closed nor
 *          terminated: Python's "Pool is still running"), MPROC_E_INVAL.
 * @since 0.1.0
 */
MPROC_API int mproc_pool_join(mproc_pool *p, double timeout);

/**
 * An eventfd that becomes readable each time results become ready, for
 * event loops (libuv, Go, Lua): poll it, then read 8 bytes from it to reset
 * it and check your results with mproc_result_ready() or
 * mproc_iter_next(..., 0). Owned by the pool: never close it.
 * @returns the fd, MPROC_E_INVAL, MPROC_E_STATE (another process's).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_event_fd(mproc_pool *p);

/** Counters for mproc_pool_stat(). @since 0.1.0 */
#define MPROC_POOL_STAT_TASKS_SUBMITTED 1 /**< tasks (items) accepted */
#define MPROC_POOL_STAT_TASKS_SUCCEEDED 2 /**< items that returned 0 */
#define MPROC_POOL_STAT_TASKS_FAILED 3    /**< items that ended any other way */
#define MPROC_POOL_STAT_WORKERS_STARTED 4 /**< workers started, replacements included */
#define MPROC_POOL_STAT_WORKERS_DIED 5    /**< workers that died running a task */
#define MPROC_POOL_STAT_WORKERS_ALIVE 6   /**< workers running now */

/**
 * Read one pool counter.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, unknown counter).
 * @since 0.1.0
 */
MPROC_API int mproc_pool_stat(mproc_pool *p, int which, uint64_t *value);

/**
 * Release the pool. A pool that is still running is terminated first (like
 * leaving Python's `with Pool()` block); a graceful end is close, join,
 * free. Waits for the workers to exit and for queued callbacks to run
 * (called from a result callback, it cannot wait for the callbacks still
 * queued: they run after it returns). NULL is a no-op.
 * @since 0.1.0
 */
MPROC_API void mproc_pool_free(mproc_pool *p);

/**
 * @name Name-based submission
 * For FFI hosts (Go) that cannot hand over a C function pointer: the task
 * is the one registered under @p task with mproc_register_task(), ctx is
 * NULL, and everything else is as in the function without `_named`.
 * Each returns MPROC_E_NOENT when no task is registered under the name
 * (MPROC_E_INVAL for a NULL name), else what its counterpart returns.
 * @{
 */
/** mproc_pool_apply() by task name. @since 0.2.0 */
MPROC_API int mproc_pool_apply_named(mproc_pool *p, const char *task, const void *arg,
                                     size_t arg_len, void **out, size_t *out_len);
/** mproc_pool_apply_async() by task name. @since 0.2.0 */
MPROC_API int mproc_pool_apply_async_named(mproc_pool *p, const char *task, const void *arg,
                                           size_t arg_len, mproc_result **out);
/** mproc_pool_map() by task name. @since 0.2.0 */
MPROC_API int mproc_pool_map_named(mproc_pool *p, const char *task, const mproc_bytes *items,
                                   size_t n, size_t chunksize, mproc_bytes **results);
/** mproc_pool_imap() by task name. @since 0.2.0 */
MPROC_API int mproc_pool_imap_named(mproc_pool *p, const char *task, const mproc_bytes *items,
                                    size_t n, size_t chunksize, mproc_iter **out);
/** mproc_pool_imap_unordered() by task name. @since 0.2.0 */
MPROC_API int mproc_pool_imap_unordered_named(mproc_pool *p, const char *task,
                                              const mproc_bytes *items, size_t n,
                                              size_t chunksize, mproc_iter **out);
/** @} */

#ifdef __cplusplus
}
#endif

#endif
