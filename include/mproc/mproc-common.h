/**
 * @file mproc-common.h
 * Error codes, timeouts, versions and the small process-wide helpers every
 * other mproc header builds on. Include <mproc.h> rather than this file.
 */
#ifndef MPROC_MPROC_COMMON_H
#define MPROC_MPROC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MPROC_API marks the exported functions; everything else in libmproc is
 * hidden. Programs using mproc never define MPROC_BUILDING. */
#if defined(MPROC_BUILDING) && defined(__GNUC__)
#  define MPROC_API __attribute__((visibility("default")))
#else
#  define MPROC_API
#endif

/**
 * @defgroup mproc_errors Error codes
 * Every fallible function returns MPROC_OK or one of these negative codes.
 * Where an errno equivalent exists the value is -errno (the Linux value,
 * checked when the library is built); mproc's own codes are <= -1000. The
 * values are ABI: they never change and are never reused.
 * @{
 */
/** Success. @since 0.1.0 */
#define MPROC_OK 0
/** An iteration has no more items (not an error). @since 0.1.0 */
#define MPROC_DONE 1
/** Invalid argument: NULL handle or pointer, NaN timeout, bad name or size. (-EINVAL) @since 0.1.0 */
#define MPROC_E_INVAL (-22)
/** Out of memory. (-ENOMEM) @since 0.1.0 */
#define MPROC_E_NOMEM (-12)
/** No such object, e.g. no queue with that name. (-ENOENT) @since 0.1.0 */
#define MPROC_E_NOENT (-2)
/** The object already exists. (-EEXIST) @since 0.1.0 */
#define MPROC_E_EXIST (-17)
/** Operation not permitted by the OS. (-EPERM) @since 0.1.0 */
#define MPROC_E_PERM (-1)
/** The wait timed out. (-ETIMEDOUT) @since 0.1.0 */
#define MPROC_E_TIMEOUT (-110)
/** Still running / not ready yet. (-EBUSY) @since 0.1.0 */
#define MPROC_E_BUSY (-16)
/** Wrong state for this call (start twice, join before start, a handle
 *  used in a process that does not own it, ...). @since 0.1.0 */
#define MPROC_E_STATE (-1001)
/** The queue had no room in time. @since 0.1.0 */
#define MPROC_E_FULL (-1002)
/** The queue had no message in time. @since 0.1.0 */
#define MPROC_E_EMPTY (-1003)
/** The queue or handle is closed or shut down. @since 0.1.0 */
#define MPROC_E_CLOSED (-1004)
/** The payload can never fit, or a buffer is too small. @since 0.1.0 */
#define MPROC_E_TOOBIG (-1005)
/** A shared-memory segment is foreign, corrupt or incompatible. @since 0.1.0 */
#define MPROC_E_BAD_SEGMENT (-1006)
/** A pool task returned non-zero. @since 0.1.0 */
#define MPROC_E_TASK_FAILED (-1007)
/** The worker running a task died (crash, kill, exit). @since 0.1.0 */
#define MPROC_E_WORKER_DIED (-1008)
/** A task ran past the pool's task timeout and was killed. @since 0.1.0 */
#define MPROC_E_TASK_TIMEOUT (-1009)
/** The task was cancelled (the pool was terminated first). @since 0.1.0 */
#define MPROC_E_CANCELLED (-1010)
/** Pool workers cannot pass their initializer. @since 0.1.0 */
#define MPROC_E_INIT_FAILED (-1011)
/** Any other operating-system failure (fork, pipe, mmap ...). @since 0.1.0 */
#define MPROC_E_SYS (-1012)
/** @} */

/** Timeout value meaning "wait forever" (any negative value does). @since 0.1.0 */
#define MPROC_FOREVER (-1.0)

/**
 * The version of the library actually loaded, as MAJOR*10000+MINOR*100+PATCH.
 * Bindings compare it with MPROC_VERSION_NUMBER from the headers they were
 * built against and require runtime >= compiled.
 * Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API uint32_t mproc_version_number(void);

/**
 * The loaded library's version as "MAJOR.MINOR.PATCH" (static storage).
 * Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API const char *mproc_version_string(void);

/**
 * A one-line human description of an error code (static storage, never NULL).
 * Unknown codes give "Unknown error". Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API const char *mproc_strerror(int err);

/**
 * The stable symbolic name of a code, such as "MPROC_E_FULL" or "MPROC_OK"
 * (static storage, never NULL). Unknown codes give "MPROC_E_UNKNOWN".
 * Bindings put this name in their error types. Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API const char *mproc_error_name(int err);

/**
 * The number of CPUs this process may run on: the size of its affinity mask
 * (so taskset and cpusets are honoured), falling back to the number of
 * online CPUs. Always >= 1. This is what a pool with 0 workers uses.
 * Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API int mproc_cpu_count(void);

/**
 * Release memory that mproc handed to the caller (get_alloc payloads, result
 * arrays). NULL is a no-op. Never use free() on such memory from a binding
 * that may link another allocator. Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API void mproc_free(void *p);

/**
 * The name of the calling process: "MainProcess" in a program that was not
 * started by mproc, or the name of the mproc child we are ("Process-2",
 * "Process-1:1", or the name given with mproc_process_set_name()).
 * The string stays valid for the life of the process. Thread-safety: safe.
 * @since 0.1.0
 */
MPROC_API const char *mproc_current_name(void);

#ifdef __cplusplus
}
#endif

#endif
