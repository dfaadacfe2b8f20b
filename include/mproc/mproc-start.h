/**
 * @file mproc-start.h
 * Start methods and named entry points: how a child process comes to life.
 * Include <mproc.h> rather than this file.
 *
 * Three start methods, as in Python:
 * - MPROC_START_FORK (the default): the child is a fork() of the caller.
 *   Fastest from a small parent; function pointers, ctx pointers and
 *   globals stay valid. Only safe from a single-threaded process: a child
 *   forked while other threads run inherits their locks (malloc's, a BLAS
 *   pool's, the Go runtime's) in whatever state they were. mproc prints one
 *   warning on stderr the first time it forks while threads other than its
 *   own run, unless fork was chosen explicitly (mproc_set_start_method(
 *   MPROC_START_FORK), or the per-process / per-pool setter).
 * - MPROC_START_SPAWN: the child is a fresh exec of the program itself
 *   (/proc/self/exe unless mproc_set_executable() says otherwise, built in
 *   the parent with vfork + execve, only async-signal-safe calls in
 *   between). It calls mproc_main() at the top of main(), which finds the
 *   registered target by name and runs it. Safe from any process, whatever
 *   its threads; costs one exec (about a millisecond) whatever the parent's
 *   size. Exec failure is reported by mproc_process_start().
 * - MPROC_START_FORKSERVER: children are forked by a small single-threaded
 *   server, itself spawned (exec of the program, as above) the first time
 *   it is needed or by mproc_forkserver_start(). Safe from threaded
 *   processes, and a fork of the small server is fast even when the caller
 *   holds gigabytes. Exit codes, pid, signals, join and timeouts behave as
 *   with fork. The server is a fork of the program as mproc_main() found
 *   it, so it is single-threaded only if the program runs no thread before
 *   main(): a runtime that starts threads first (Go's) must use spawn. The server exits when the process that started it exits; if
 *   it dies before, the next start restarts it, and a child whose exit
 *   status died with it reports exit code 255 (CPython's rule) rather than
 *   leaving its join hanging.
 *
 * Spawn and forkserver children do not share the parent's memory, so:
 * - targets (mproc_register()) and pool tasks (mproc_register_task()) are
 *   registered by name, with the same calls in every process, before
 *   mproc_main(); a registered function pointer is looked up by its name,
 *   or the *_named variants take the name (for FFI hosts such as Go that
 *   cannot hand over a C function pointer);
 * - ctx pointers cannot travel: they must be NULL (MPROC_E_INVAL);
 * - argument bytes travel (copied), as with fork;
 * - named queues are opened by name; an anonymous queue is handed over with
 *   mproc_queue_export() (see mproc-queue.h);
 * - the child has stdin on /dev/null, the parent's stdout and stderr and no
 *   other inherited descriptor; its environment and working directory are
 *   the parent's at start. Forkserver children get those of the server,
 *   i.e. the parent's when the server was started: start it after setting
 *   up stdio and the environment, or restart the process if they change.
 *
 * The main-guard: Python re-runs the main module in a spawned child and
 * relies on `if __name__ == '__main__'` to stop it from starting children
 * again. mproc's answer is mproc_main(): a spawned child runs its target in
 * there and never returns to the rest of main(). A program that forgets to
 * call it gets a clear error instead of a fork bomb: the child (which then
 * runs main() as a normal program) is refused with MPROC_E_STATE and a
 * message on stderr when it tries to start processes itself.
 */
#ifndef MPROC_MPROC_START_H
#define MPROC_MPROC_START_H

#include <mproc/mproc-common.h>
#include <mproc/mproc-process.h>
#include <mproc/mproc-pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The child is a fork() of the caller. @since 0.2.0 */
#define MPROC_START_FORK 1
/** The child is a fresh exec of the program, entering mproc_main(). @since 0.2.0 */
#define MPROC_START_SPAWN 2
/** The child is forked by mproc's single-threaded fork server. @since 0.2.0 */
#define MPROC_START_FORKSERVER 3

/**
 * Set the process-wide default start method, used by processes and pools
 * that do not choose their own. A spawned or forkserver child starts with
 * its parent's default.
 * @param method MPROC_START_FORK, MPROC_START_SPAWN or MPROC_START_FORKSERVER.
 * @returns MPROC_OK, MPROC_E_INVAL (unknown method), MPROC_E_STATE (this
 *          process has already started a process or a pool worker).
 * @since 0.2.0
 */
MPROC_API int mproc_set_start_method(int method);

/**
 * The process-wide default start method (MPROC_START_FORK unless set).
 * @since 0.2.0
 */
MPROC_API int mproc_get_start_method(void);

/**
 * Register a process target under a name, so spawn and forkserver children
 * can find it. Registration has no side effects: run the same calls, in
 * every process, before mproc_main() (MPROC_REGISTER() does it from a
 * constructor).
 * @param name 1 to 200 printable ASCII characters, no space.
 * @param fn   The target.
 * @returns MPROC_OK (also when @p name is already registered to @p fn),
 *          MPROC_E_EXIST (registered to another function), MPROC_E_INVAL
 *          (bad name, NULL fn).
 * @since 0.2.0
 */
MPROC_API int mproc_register(const char *name, mproc_target_fn fn);

/**
 * Register a pool task under a name (same rules as mproc_register(), a
 * separate namespace).
 * @since 0.2.0
 */
MPROC_API int mproc_register_task(const char *name, mproc_task_fn fn);

/**
 * Call first thing in main(), after the mproc_register*() calls and
 * before anything else. In a child started by spawn (its last argument is
 * "--mproc-spawn") (or in the fork
 * server) it runs what the parent requested and never returns: the child
 * exits with its target's return value, or with code 1 after a message on
 * stderr if the request is damaged or names a target this program did not
 * register. In any other process it returns MPROC_OK at once.
 * @param argc, argv main()'s arguments (argv may be NULL when argc is 0).
 * @since 0.2.0
 */
MPROC_API int mproc_main(int argc, char **argv);

/**
 * The program spawned children execute (Python's set_executable()).
 * It must call mproc_main() and register the same names.
 * @param path An executable path, or NULL for the running program
 *             (/proc/self/exe, the default).
 * @returns MPROC_OK, MPROC_E_INVAL (empty path), MPROC_E_NOMEM.
 * @since 0.2.0
 */
MPROC_API int mproc_set_executable(const char *path);

/**
 * The program spawned children execute, with arguments placed between its
 * argv[0] and the "--mproc-spawn" flag that mproc_main() looks for as the
 * last argument. This is how interpreters host spawned children: a Python
 * binding runs `python3 -c "import mproc; mproc.spawn_main()" --mproc-spawn`
 * by passing sys.executable and {"-c", "import mproc; mproc.spawn_main()",
 * NULL}, and that code calls mproc_main() with sys.argv.
 * @param path An executable path, or NULL for the running program.
 * @param args NULL-terminated arguments, or NULL for none.
 * @returns MPROC_OK, MPROC_E_INVAL (empty path), MPROC_E_NOMEM.
 * @since 0.2.0
 */
MPROC_API int mproc_set_executable_argv(const char *path, const char *const *args);

/**
 * Start the fork server now (otherwise it starts with the first forkserver
 * child), e.g. early in a program before it grows large or starts threads.
 * A no-op while the server runs; restarts a server that died.
 * @returns MPROC_OK, or the error of spawning it (MPROC_E_NOENT if the
 *          executable is missing, MPROC_E_STATE in a spawned child that
 *          skipped mproc_main(), ...).
 * @since 0.2.0
 */
MPROC_API int mproc_forkserver_start(void);

/**
 * The fork server's pid, or 0 when none runs for this process.
 * @since 0.2.0
 */
MPROC_API int mproc_forkserver_pid(void);

#if defined(__GNUC__) || defined(__clang__)
/**
 * Register fn (a process target) under its own name from a constructor,
 * before main() runs: `MPROC_REGISTER(my_target);` at file scope.
 * @since 0.2.0
 */
#define MPROC_REGISTER(fn)                                                     \
  static void mproc_register_ctor_##fn(void) __attribute__((constructor));     \
  static void mproc_register_ctor_##fn(void) { (void)mproc_register(#fn, fn); }
/**
 * Register fn (a pool task) under its own name from a constructor.
 * @since 0.2.0
 */
#define MPROC_REGISTER_TASK(fn)                                                \
  static void mproc_register_task_ctor_##fn(void) __attribute__((constructor)); \
  static void mproc_register_task_ctor_##fn(void) { (void)mproc_register_task(#fn, fn); }
#endif

#ifdef __cplusplus
}
#endif

#endif /* MPROC_MPROC_START_H */
