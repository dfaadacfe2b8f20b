/**
 * @file mproc-process.h
 * mproc_process: run a function in a child process, like Python's
 * multiprocessing.Process. Include <mproc.h> rather than this file.
 *
 * Life cycle: mproc_process_new() -> optional set_name/set_daemon ->
 * mproc_process_start() -> mproc_process_join() -> mproc_process_free().
 *
 * How mproc differs from CPython, on purpose:
 * - join() returns MPROC_E_TIMEOUT instead of "None, check again";
 * - misuse (start twice, join before start, terminate before start) is an
 *   error code, not an assert that vanishes under -O;
 * - signals go through a pidfd, so a PID that was already reaped (and maybe
 *   reused) is never signalled; mproc never installs a SIGCHLD handler and
 *   never calls wait(-1): it reaps only its own children;
 * - daemon children die with their parent even when the parent is
 *   SIGKILLed (PR_SET_PDEATHSIG, armed without the fork/prctl race), not
 *   only at a normal exit.
 *
 * Start method: by default the child is a fork() of the caller (copy-on-write
 * memory, function pointers and globals stay valid, nothing is serialised),
 * which is only safe from a single-threaded process, as in Python. Spawn and
 * forkserver (mproc-start.h) start a fresh copy of the program instead: the
 * target must then be registered (mproc_register()) and ctx must be NULL.
 *
 * What the child does: its stdin is redirected to /dev/null (as in Python),
 * mproc_current_name() returns its name, the target runs, then the child's
 * own daemon children are terminated and its non-daemon children joined
 * (Python's exit rule), stdio is flushed, and the child _exit()s with the
 * target's return value, so the parent's atexit handlers never run in it.
 * The parent flushes all stdio streams before fork, so buffered output is
 * never printed twice.
 *
 * What the parent does at a normal exit (atexit): it sends SIGTERM to its
 * live daemon children, gives them one second, SIGKILLs the stragglers, and
 * joins every non-daemon child, freed handles included (Python's rule).
 *
 * Thread-safety: a handle may be used from several threads at once
 * (internally locked), except that mproc_process_free() must not race with
 * any other call on the same handle. A handle belongs to the process that
 * created it: in any other process (a forked child, say) every call except
 * the getters and free returns MPROC_E_STATE.
 */
#ifndef MPROC_MPROC_PROCESS_H
#define MPROC_MPROC_PROCESS_H

#include <mproc/mproc-common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque handle to one child process. @since 0.1.0 */
typedef struct mproc_process mproc_process;

/**
 * A process target. Runs in the child; its return value is the child's exit
 * code (only the low 8 bits survive, as with exit(): use 0..255).
 * @param arg      The bytes given to mproc_process_new() (a private copy;
 *                 NULL when arg_len is 0).
 * @param arg_len  Their length.
 * @param ctx      The ctx pointer given to mproc_process_new(), unchanged.
 * @since 0.1.0
 */
typedef int (*mproc_target_fn)(const void *arg, size_t arg_len, void *ctx);

/**
 * Create a process handle (nothing runs until mproc_process_start()).
 * Its default name is "Process-N", N counting the handles this process has
 * created from 1; a child's handles are named "Process-N:1", "Process-N:2"...
 * Its daemon flag defaults to the calling process's own (0 in a program not
 * started by mproc).
 * @param[out] out     Receives the handle; free it with mproc_process_free().
 * @param[in]  target  The function to run in the child. Must not be NULL.
 * @param[in]  arg     Argument bytes, copied before this returns; may be NULL
 *                     only when @p arg_len is 0.
 * @param[in]  arg_len Length of @p arg.
 * @param[in]  ctx     Passed to @p target untouched (the child sees the same
 *                     address, a copy-on-write view of the parent's memory).
 * @returns MPROC_OK, MPROC_E_INVAL (NULL out/target, NULL arg with arg_len >
 *          0), MPROC_E_NOMEM.
 * @since 0.1.0
 */
MPROC_API int mproc_process_new(mproc_process **out, mproc_target_fn target,
                                const void *arg, size_t arg_len, void *ctx);

/**
 * Rename the process before it starts (the child sees the name through
 * mproc_current_name()). The string is copied.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_STATE (already started,
 *          or not this process's handle), MPROC_E_NOMEM.
 * @since 0.1.0
 */
MPROC_API int mproc_process_set_name(mproc_process *p, const char *name);

/**
 * Set the daemon flag before the process starts (non-zero = daemon). A daemon
 * child is killed when its parent exits, however the parent exits.
 * With PR_SET_PDEATHSIG the kernel delivers "parent died" when the *thread*
 * that called mproc_process_start() exits: start daemon processes from a
 * thread that outlives them (normally the main thread).
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_STATE (already started).
 * @since 0.1.0
 */
MPROC_API int mproc_process_set_daemon(mproc_process *p, int daemon);

/**
 * Start the child with the handle's start method (the process-wide default
 * unless mproc_process_set_start_method() chose one). A handle starts at
 * most once; a failed start leaves it unstarted, to be started again.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL; with spawn or forkserver, a
 *          non-NULL ctx), MPROC_E_STATE (already started, not this
 *          process's handle, or a spawned program that skipped
 *          mproc_main()), MPROC_E_NOENT (spawn or forkserver: the target is
 *          not registered, or the executable does not exist),
 *          MPROC_E_PERM (the executable may not be run), MPROC_E_NOMEM or
 *          MPROC_E_SYS (fork, exec or the fork server failed).
 * @since 0.1.0
 */
MPROC_API int mproc_process_start(mproc_process *p);

/**
 * Wait for the child to exit and reap it.
 * @param timeout  Seconds: < 0 (MPROC_FOREVER) waits forever, 0 only checks,
 *                 > 0 waits at most that long (monotonic clock, EINTR-safe).
 * @returns MPROC_OK once it has exited (again on every later call),
 *          MPROC_E_TIMEOUT if it is still running, MPROC_E_STATE if it was
 *          never started or is not this process's handle, MPROC_E_INVAL
 *          (NULL, NaN timeout).
 * @since 0.1.0
 */
MPROC_API int mproc_process_join(mproc_process *p, double timeout);

/**
 * 1 while the child runs, 0 before start and after it exited (a finished
 * child is reaped here, so polling never leaves a zombie).
 * @returns 1, 0, MPROC_E_INVAL (NULL), MPROC_E_STATE (not this process's).
 * @since 0.1.0
 */
MPROC_API int mproc_process_is_alive(mproc_process *p);

/**
 * Send SIGTERM (does not wait: join afterwards). A child that already exited
 * is not signalled and the call succeeds.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_STATE (before start, or
 *          not this process's), MPROC_E_PERM, MPROC_E_SYS.
 * @since 0.1.0
 */
MPROC_API int mproc_process_terminate(mproc_process *p);

/**
 * Send SIGKILL; same rules as mproc_process_terminate().
 * @since 0.1.0
 */
MPROC_API int mproc_process_kill(mproc_process *p);

/**
 * The child's PID, 0 before start (it stays readable after the child has
 * exited, but do not signal it yourself: use terminate/kill).
 * @returns the PID, 0, or MPROC_E_INVAL for NULL.
 * @since 0.1.0
 */
MPROC_API int mproc_process_pid(const mproc_process *p);

/**
 * The child's exit code once it has exited: the target's return value (or
 * the status given to exit()), or -N when signal N killed it (-15 after
 * terminate, -9 after kill, -11 for a segfault). If someone else reaped the
 * child (the host set SIGCHLD to SIG_IGN, or called wait(-1)), the status is
 * lost and the code is 255, CPython's convention for an unknown status.
 * @param[out] code  Receives the exit code on MPROC_OK.
 * @returns MPROC_OK, MPROC_E_BUSY (still running), MPROC_E_STATE (not
 *          started, or not this process's), MPROC_E_INVAL (NULL).
 * @since 0.1.0
 */
MPROC_API int mproc_process_exitcode(mproc_process *p, int *code);

/**
 * The process's name (owned by the handle, valid until set_name or free);
 * NULL for a NULL handle.
 * @since 0.1.0
 */
MPROC_API const char *mproc_process_name(const mproc_process *p);

/**
 * The daemon flag: 1 or 0, or MPROC_E_INVAL for NULL.
 * @since 0.1.0
 */
MPROC_API int mproc_process_daemon(const mproc_process *p);

/**
 * A file descriptor that becomes readable (POLLIN) when the child exits, for
 * event loops (Python's Process.sentinel). It is a pidfd owned by the handle:
 * poll it, never close it; it stays valid until mproc_process_free(). After
 * it fires, call mproc_process_join() (which then returns at once).
 * @returns the fd (>= 0), MPROC_E_STATE (not started, or not this process's),
 *          MPROC_E_SYS (the kernel has no pidfds: Linux < 5.4),
 *          MPROC_E_INVAL (NULL).
 * @since 0.1.0
 */
MPROC_API int mproc_process_sentinel(const mproc_process *p);

/**
 * Create a process handle for the target registered under @p target_name
 * (mproc_register()), for FFI hosts that cannot hand over a C function
 * pointer. Otherwise like mproc_process_new() with ctx NULL.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL out or name, NULL arg with arg_len
 *          > 0), MPROC_E_NOENT (no target registered under that name),
 *          MPROC_E_NOMEM.
 * @since 0.2.0
 */
MPROC_API int mproc_process_new_named(mproc_process **out, const char *target_name,
                                      const void *arg, size_t arg_len);

/**
 * Choose this process's start method before it starts (see mproc-start.h):
 * MPROC_START_FORK, MPROC_START_SPAWN or MPROC_START_FORKSERVER. Choosing
 * fork explicitly also silences the fork-with-threads warning for it.
 * @returns MPROC_OK, MPROC_E_INVAL (NULL, unknown method), MPROC_E_STATE
 *          (already started, or not this process's handle).
 * @since 0.2.0
 */
MPROC_API int mproc_process_set_start_method(mproc_process *p, int method);

/**
 * Release the handle. Never blocks and never leaves a zombie: a child that
 * is still running keeps running and is reaped by mproc when it exits (a
 * library thread waits for it), and a non-daemon one is still joined at the
 * parent's normal exit. NULL is a no-op. Safe in any process.
 * @since 0.1.0
 */
MPROC_API void mproc_process_free(mproc_process *p);

#ifdef __cplusplus
}
#endif

#endif
