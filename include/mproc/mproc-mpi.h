/**
 * @file mproc-mpi.h
 * A pool whose workers are the other ranks of an MPI job
 * (libmproc-mpi.so.0, `pkg-config mproc-mpi`; installed only when mproc
 * was built with MPI). The core library does not depend on MPI.
 *
 * The mpi4py.futures model: `mpiexec -n N ./app` starts N copies of the
 * program; rank 0 runs main() and gets a pool of N - 1 workers, ranks 1 to
 * N - 1 serve its tasks until rank 0 calls mproc_mpi_finalize(). Every
 * copy registers the same tasks by name before mproc_main():
 *
 * @code
 * int main(int argc, char **argv) {
 *   mproc_register_task("square", square);
 *   mproc_main(argc, argv);                   // forkserver children run here
 *   int role = mproc_mpi_init(&argc, &argv);
 *   if (role < 0) { fprintf(stderr, "%s\n", mproc_mpi_last_error()); return 1; }
 *   if (role == MPROC_MPI_WORKER) return 0;   // served rank 0 until it finalized
 *   mproc_pool *pool;
 *   mproc_mpi_pool_new(&pool);                // then the usual mproc_pool_* calls
 *   ...
 *   mproc_pool_close(pool); mproc_pool_join(pool, MPROC_FOREVER); mproc_pool_free(pool);
 *   return mproc_mpi_finalize() == MPROC_OK ? 0 : 1;
 * }
 * @endcode
 *
 * The pool is an ordinary mproc_pool: apply_async and result handles,
 * callbacks, map, imap, imap_unordered, chunksize, close, terminate, join,
 * task timeout, maxtasksperchild, the initializer and the counters work as
 * in mproc-pool.h, with tasks and the initializer given by registered name
 * (or a registered function pointer) and ctx NULL, as in a forkserver pool.
 * mproc_pool_set_start_method() returns MPROC_E_STATE: the start method is
 * fixed (below).
 *
 * Crash isolation: a worker rank never runs a task itself. Before MPI_Init
 * it starts mproc's fork server (a fresh, single-threaded image of the
 * program that never initializes MPI), and it runs each task in a child of
 * that server: a task that segfaults, aborts or exits fails alone with
 * MPROC_E_WORKER_DIED (mproc_result_worker_exitcode() gives -11, -6, ...),
 * one that outlives the task timeout is killed and fails with
 * MPROC_E_TASK_TIMEOUT, and the rank, the MPI job and every other task go
 * on. The loss of a whole rank (the rank process killed, a node lost) is
 * not survivable without MPI fault tolerance: the MPI runtime ends the job.
 *
 * Scheduling: rank 0 keeps a few chunks in flight per worker rank (fewer
 * when little work is queued, so slow tasks spread over the ranks) and
 * gives the next chunk to the least loaded rank. One thread of rank 0 makes
 * every MPI call (MPI_THREAD_SERIALIZED); the other threads of the program
 * must not call MPI while an MPI pool runs.
 *
 * Thread-safety: mproc_mpi_init() and mproc_mpi_finalize() from the main
 * thread; the pool itself as in mproc-pool.h.
 */
#ifndef MPROC_MPROC_MPI_H
#define MPROC_MPROC_MPI_H

#include <mproc.h>

#ifdef __cplusplus
extern "C" {
#endif

/** mproc_mpi_init() on rank 0: run the program, use mproc_mpi_pool_new(). @since 0.2.0 */
#define MPROC_MPI_MASTER 1
/** mproc_mpi_init() on a worker rank, once rank 0 has finalized: exit. @since 0.2.0 */
#define MPROC_MPI_WORKER 2

/**
 * Join the MPI job: start the fork server, MPI_Init_thread(), and on a
 * worker rank serve rank 0's pools until it calls mproc_mpi_finalize()
 * (then finalize MPI here too and return MPROC_MPI_WORKER). Call it after
 * mproc_main(), once, from the main thread, instead of MPI_Init.
 * @param argc, argv main()'s, passed on to MPI_Init_thread (may be NULL).
 * @returns MPROC_MPI_MASTER on rank 0, MPROC_MPI_WORKER on the others
 *          when the job ends, or: MPROC_E_STATE (not started by an MPI
 *          launcher such as mpiexec, a job of only one rank, or called
 *          twice), MPROC_E_SYS (MPI failed to initialize, or gives less than
 *          MPI_THREAD_SERIALIZED), or the fork server's start error. On an
 *          error mproc_mpi_last_error() says what to do.
 * @since 0.2.0
 */
MPROC_API int mproc_mpi_init(int *argc, char ***argv);

/**
 * A pool whose workers are the worker ranks (mproc_pool_workers() = the
 * job's size minus one). Rank 0 only; one MPI pool at a time (free one
 * before making the next). Settings and use as any pool (see the file
 * comment); the worker ranks learn the settings when the pool starts.
 * @param[out] out  Receives the pool; release it with mproc_pool_free().
 * @returns MPROC_OK, MPROC_E_INVAL (NULL), MPROC_E_STATE (not rank 0 of
 *          an initialized job, or after mproc_mpi_finalize()),
 *          MPROC_E_BUSY (another MPI pool still exists), MPROC_E_NOMEM,
 *          MPROC_E_SYS.
 * @since 0.2.0
 */
MPROC_API int mproc_mpi_pool_new(mproc_pool **out);

/**
 * On rank 0: tell the worker ranks to stop and finalize MPI. Every MPI pool
 * must have been freed. A rank 0 that exits without calling it finalizes
 * at exit, or aborts the job (MPI_Abort) when a pool is still running, so
 * mpiexec never hangs.
 * @returns MPROC_OK, MPROC_E_STATE (not rank 0 of an initialized job, or
 *          already finalized), MPROC_E_BUSY (a pool was not freed).
 * @since 0.2.0
 */
MPROC_API int mproc_mpi_finalize(void);

/**
 * This process's rank in the job, or MPROC_E_STATE before
 * mproc_mpi_init() succeeded.
 * @since 0.2.0
 */
MPROC_API int mproc_mpi_rank(void);

/**
 * What the last failed mproc_mpi_* call of this process got wrong and how
 * to fix it, e.g. "mproc_mpi_init: not started by an MPI launcher: run
 * `mpiexec -n N ./program` with N >= 2". Never NULL; "" when nothing failed.
 * @since 0.2.0
 */
MPROC_API const char *mproc_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
