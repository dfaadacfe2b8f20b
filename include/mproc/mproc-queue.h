/**
 * @file mproc-queue.h
 * mproc_queue: a bounded multi-producer multi-consumer queue of byte
 * messages in shared memory, like Python's multiprocessing.Queue. Include
 * <mproc.h> rather than this file.
 *
 * Two kinds of queue:
 * - anonymous (mproc_queue_new()): no name in the file system; processes
 *   forked after its creation (mproc_process_start() included) share it
 *   through the handle they inherit;
 * - named (mproc_queue_create(), mproc_queue_open()): a file
 *   `/dev/shm/<name>`, mode 0600, that any process of the same user attaches
 *   to by name, written in any language. Its byte layout and protocol are
 *   versioned and documented in docs/queue-layout.md; a segment that is
 *   foreign, truncated or of an incompatible version is refused with
 *   MPROC_E_BAD_SEGMENT. A named queue lives until mproc_queue_unlink() and
 *   the last handle are gone.
 *
 * Capacity: a queue is bounded by bytes (capacity_bytes, rounded up to a
 * multiple of 64; MPROC_QUEUE_DEFAULT_CAPACITY when 0) and optionally by a
 * message count (maxsize). A message of len payload bytes occupies
 * MPROC_QUEUE_RECORD_HEADER + len bytes rounded up to a multiple of
 * MPROC_QUEUE_RECORD_ALIGN, i.e. ((16 + len + 63) / 64) * 64: 64 bytes for
 * 0..48 payload bytes, 128 bytes for 49..112, and so on. The largest message
 * is capacity - 16 bytes (mproc_queue_max_message()). A message that is too
 * large for the end of the ring starts again at its beginning; the unused
 * end is reclaimed with the messages before it.
 *
 * How mproc differs from CPython, on purpose:
 * - put copies the message into the queue before it returns: there is no
 *   feeder thread and no hidden buffer, so a producer may exit right after
 *   a put and nothing is lost, and joining a producer never deadlocks;
 * - a message whose put returned is visible to the next get_nowait() from
 *   any process, and qsize()/empty()/full() are exact when no put or get is
 *   in progress (they are snapshots otherwise);
 * - a timeout never raises a different error than a non-blocking call:
 *   MPROC_E_FULL / MPROC_E_EMPTY in both cases;
 * - a process killed at any instant (even SIGKILL inside put or get) never
 *   blocks the others for more than a fraction of a second, never makes a
 *   half-written message visible, and never loses a message whose put
 *   returned: a message a dead consumer had taken but not finished copying
 *   out is delivered again (possibly out of order). A put that had not
 *   returned when its process died is dropped.
 *
 * Order: FIFO per producer (a thread's messages come out in the order it
 * put them); messages of different producers interleave in the order their
 * puts started. Each message goes to exactly one consumer.
 *
 * Waiting: a blocked call spins briefly (not at all when the process may
 * use only one CPU), then sleeps on a futex shared between processes; no
 * system call is made while messages and room are available. Before it
 * sleeps it runs membarrier(2) (MEMBARRIER_CMD_GLOBAL_EXPEDITED), which is
 * what spares every put and get a full memory barrier. Where the kernel or
 * a seccomp filter refuses membarrier, the queue falls back to full
 * barriers and such a sleeper also looks again every millisecond.
 *
 * Thread-safety: safe. Several threads (and processes) may use one handle
 * at once, except that mproc_queue_free() must not race with any other call
 * on the same handle. (Up to 12 threads of a process copy messages in or out
 * at the same instant; a 13th waits for one of them to finish its copy.) A handle inherited through fork() works in the child
 * (the child registers itself with the queue on first use).
 */
#ifndef MPROC_MPROC_QUEUE_H
#define MPROC_MPROC_QUEUE_H

#include <mproc/mproc-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque handle to one process's attachment to a queue. @since 0.1.0 */
typedef struct mproc_queue mproc_queue;

/** Ring size used when capacity_bytes is 0: 1 MiB. @since 0.1.0 */
#define MPROC_QUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)
/** Largest capacity_bytes accepted: 4 GiB (64-bit platforms). @since 0.1.0 */
#define MPROC_QUEUE_MAX_CAPACITY ((uint64_t)1 << 32)
/** Bytes of bookkeeping stored with every message. @since 0.1.0 */
#define MPROC_QUEUE_RECORD_HEADER 16
/** Every message occupies a multiple of this many bytes. @since 0.1.0 */
#define MPROC_QUEUE_RECORD_ALIGN 64
/** Longest queue name, in characters. @since 0.1.0 */
#define MPROC_QUEUE_NAME_MAX 200
/** Most handles (one per process normally) attached at the same time to a
 *  queue this library created; each handle also holds two file
 *  descriptors. @since 0.1.0 */
#define MPROC_QUEUE_MAX_HANDLES 256

/**
 * Create an anonymous queue. Processes forked afterwards share it through
 * their copy of the handle; nothing is left in the file system.
 * @param[out] out             Receives the handle; free it with mproc_queue_free().
 * @param[in]  maxsize         Most messages queued at once; 0 = no count
 *                             limit (only bytes bound the queue).
 * @param[in]  capacity_bytes  Ring size in bytes, rounded up to a multiple
 *                             of 64; 0 = MPROC_QUEUE_DEFAULT_CAPACITY. The
 *                             memory is reserved at once.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL out, capacity_bytes over
 *          MPROC_QUEUE_MAX_CAPACITY), MPROC_E_NOMEM (no memory or shm space
 *          for the ring), MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_new(mproc_queue **out, size_t maxsize, size_t capacity_bytes);

/**
 * Create a named queue at `/dev/shm/<name>`, mode 0600. The segment appears
 * under its name only once fully initialised, so a concurrent
 * mproc_queue_open() never sees it half-built, and a creator killed
 * half-way leaves nothing behind.
 * @param[out] out   Receives the handle; free it with mproc_queue_free().
 * @param[in]  name  1 to MPROC_QUEUE_NAME_MAX characters of [A-Za-z0-9._-],
 *                   not starting with '.'; borrowed (copied).
 * @param[in]  maxsize, capacity_bytes  As for mproc_queue_new().
 * @returns MPROC_OK, MPROC_E_INVAL (NULL out or name, invalid name, absurd
 *          capacity), MPROC_E_EXIST (the name is taken, by a queue or
 *          anything else), MPROC_E_PERM, MPROC_E_NOMEM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_create(mproc_queue **out, const char *name, size_t maxsize,
                                 size_t capacity_bytes);

/**
 * Attach to a named queue created by any process (any language that
 * follows docs/queue-layout.md), or to a queue handed over with
 * mproc_queue_export(). Attaching also releases what crashed participants
 * left behind.
 * @param[out] out   Receives the handle; free it with mproc_queue_free().
 * @param[in]  name  The queue's name (same rules as mproc_queue_create()),
 *                   or a token from mproc_queue_export().
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, invalid name), MPROC_E_NOENT (no
 *          such name; a token this process did not receive), MPROC_E_PERM, MPROC_E_BAD_SEGMENT (the file is not a
 *          queue, is truncated or corrupt, or has an incompatible layout
 *          version), MPROC_E_BUSY (MPROC_QUEUE_MAX_HANDLES live handles are
 *          attached already), MPROC_E_NOMEM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_open(mproc_queue **out, const char *name);

/** Room for any token mproc_queue_export() writes, NUL included. @since 0.2.0 */
#define MPROC_QUEUE_TOKEN_MAX 208

/**
 * Hand a queue to children started by spawn or forkserver, which share no
 * memory (and no descriptors) with this process: writes a token that
 * mproc_queue_open() accepts in such a child. A named queue's token is its
 * name. An anonymous queue's token is "@" and 16 hex digits; its segment
 * descriptor is then passed to every spawn or forkserver child this
 * process starts afterwards (pool workers included), until this handle is
 * freed. Forked children inherit the handle itself and need no token (the
 * token works there too). Pass the token to the child as you like, e.g.
 * in the target's argument bytes.
 * @param[in]  q      The queue.
 * @param[out] token  Receives the NUL-terminated token.
 * @param[in]  cap    Size of @p token: MPROC_QUEUE_TOKEN_MAX always fits.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_TOOBIG (cap too small),
 *          MPROC_E_SYS (no descriptor left to keep the segment).
 * @since 0.2.0
 */
MPROC_API int mproc_queue_export(mproc_queue *q, char *token, size_t cap);

/**
 * Remove a queue's name, like shm_unlink(): attached handles keep working,
 * the memory goes when the last one is freed, and the name may be created
 * again at once. Whatever file has that name under /dev/shm is removed.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, invalid name), MPROC_E_NOENT,
 *          MPROC_E_PERM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_unlink(const char *name);

/**
 * Append a copy of a message. The bytes are in the queue when this
 * returns: the calling process may exit at once without losing it.
 * @param[in] q        The queue.
 * @param[in] data     The message; borrowed for the call. May be NULL only
 *                     when @p len is 0 (an empty message is a message).
 * @param[in] len      Its length, 0 to mproc_queue_max_message().
 * @param[in] timeout  Seconds to wait for room: < 0 (MPROC_FOREVER) waits
 *                     forever, 0 never blocks, > 0 waits at most that long
 *                     (monotonic clock, EINTR-safe).
 * @returns MPROC_OK; MPROC_E_FULL (no room, or maxsize messages queued,
 *          within the timeout); MPROC_E_TOOBIG (@p len is over
 *          mproc_queue_max_message(): it can never fit; nothing is queued);
 *          MPROC_E_CLOSED (this handle was closed, or the queue shut down,
 *          also while waiting); MPROC_E_INVAL (NULL q, NULL data with
 *          len > 0, NaN timeout); MPROC_E_BAD_SEGMENT (the shared state was
 *          found corrupt); MPROC_E_BUSY (first use in a forked child and
 *          no handle slot is free); MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len, double timeout);

/**
 * mproc_queue_put() with timeout 0: MPROC_E_FULL at once if there is no room.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_put_nowait(mproc_queue *q, const void *data, size_t len);

/**
 * Take the oldest deliverable message and copy it into a buffer.
 * @param[in]  q        The queue.
 * @param[out] buf      Receives the message; may be NULL only when
 *                      @p cap is 0.
 * @param[in]  cap      Size of @p buf.
 * @param[out] len      On MPROC_OK the message's length; on MPROC_E_TOOBIG
 *                      the size @p buf needs. Untouched otherwise.
 * @param[in]  timeout  Seconds to wait for a message, as for put.
 * @returns MPROC_OK; MPROC_E_EMPTY (nothing within the timeout);
 *          MPROC_E_TOOBIG (the next message is longer than @p cap: it
 *          stays queued, first in line, and *len says how long it is);
 *          MPROC_E_CLOSED (this handle was closed; or the queue was shut
 *          down and nothing is left, or shut down immediately);
 *          MPROC_E_INVAL (NULL q or len, NULL buf with cap > 0, NaN
 *          timeout); MPROC_E_BAD_SEGMENT; MPROC_E_BUSY (as for put);
 *          MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_get(mproc_queue *q, void *buf, size_t cap, size_t *len, double timeout);

/**
 * mproc_queue_get() with timeout 0: MPROC_E_EMPTY at once if nothing is there.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_get_nowait(mproc_queue *q, void *buf, size_t cap, size_t *len);

/**
 * Take the oldest deliverable message into memory allocated for it.
 * @param[out] data     On MPROC_OK the message, owned by the caller:
 *                      release it with mproc_free(). Never NULL on success,
 *                      even for an empty message.
 * @param[out] len      On MPROC_OK its length.
 * @param[in]  timeout  As for mproc_queue_get().
 * @returns As mproc_queue_get() (never MPROC_E_TOOBIG), plus MPROC_E_NOMEM:
 *          the message then stays queued.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_get_alloc(mproc_queue *q, void **data, size_t *len, double timeout);

/**
 * The number of messages queued: exact when no put or get is in progress.
 * It counts puts that have started copying, and it drops to 0 after an
 * immediate shutdown. After a consumer died mid-get, the message it held
 * counts again (and may briefly push the count over maxsize).
 * @returns The count (>= 0), MPROC_E_INVAL (NULL), MPROC_E_BAD_SEGMENT.
 * @since 0.1.0
 */
MPROC_API int64_t mproc_queue_qsize(mproc_queue *q);

/**
 * 1 if mproc_queue_qsize() is 0, else 0.
 * @returns 1, 0, MPROC_E_INVAL (NULL), MPROC_E_BAD_SEGMENT.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_empty(mproc_queue *q);

/**
 * 1 when maxsize messages are queued or not even an empty message would
 * fit, else 0 (0 after an immediate shutdown).
 * @returns 1, 0, MPROC_E_INVAL (NULL), MPROC_E_BAD_SEGMENT, MPROC_E_BUSY
 *          (as for put).
 * @since 0.1.0
 */
MPROC_API int mproc_queue_full(mproc_queue *q);

/**
 * Close this handle: its later puts and gets return MPROC_E_CLOSED, and
 * threads blocked in them wake up with MPROC_E_CLOSED. Other handles, and
 * copies of this one in other processes, are unaffected. The queries
 * (qsize, empty, full) and shutdown still work. A second close is a no-op.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL).
 * @since 0.1.0
 */
MPROC_API int mproc_queue_close(mproc_queue *q);

/**
 * Shut the queue down for every process: puts fail with MPROC_E_CLOSED,
 * and every blocked put and get wakes up. With @p immediate 0, gets go on
 * delivering what is left (puts already copying included) and then return
 * MPROC_E_CLOSED; with non-zero @p immediate what is left is dropped and
 * gets return MPROC_E_CLOSED at once. Shutdown is permanent; shutting down
 * again is a no-op, except that immediate may follow a draining shutdown.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_BAD_SEGMENT.
 * @since 0.1.0
 */
MPROC_API int mproc_queue_shutdown(mproc_queue *q, int immediate);

/**
 * The queue's name (owned by the handle, valid until mproc_queue_free()),
 * or NULL for an anonymous queue or a NULL handle.
 * @since 0.1.0
 */
MPROC_API const char *mproc_queue_name(const mproc_queue *q);

/**
 * The largest payload one put can take: the capacity minus 16. 0 for NULL.
 * @since 0.1.0
 */
MPROC_API size_t mproc_queue_max_message(const mproc_queue *q);

/**
 * The ring's size in bytes (capacity_bytes as rounded at creation). 0 for NULL.
 * @since 0.1.0
 */
MPROC_API size_t mproc_queue_capacity(const mproc_queue *q);

/**
 * Release the handle and unmap the queue. Messages stay queued for the
 * other handles; a named segment lives until it is unlinked and no handle
 * is left. Must not race with other calls on the same handle. NULL is a
 * no-op. Safe in any process.
 * @since 0.1.0
 */
MPROC_API void mproc_queue_free(mproc_queue *q);

#ifdef __cplusplus
}
#endif

#endif
