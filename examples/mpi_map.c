/* Map a function over inputs on the ranks of an MPI job.
 *
 *   mpiexec -n 3 build/tests/mpi/mpi-map
 *
 * Rank 0 runs main() and maps `square` over 10 numbers, 2 per chunk; ranks
 * 1 and 2 run the chunks, each task in a child process of their own, so a
 * task that crashes would fail alone (MPROC_E_WORKER_DIED) and the job
 * would go on. Every rank runs the same registrations before mproc_main(). */
#include <mproc/mproc-mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A task: the square of a long, as text, with the rank that computed it. */
static int square(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  long v;
  char out[64];
  const char *rank = getenv("OMPI_COMM_WORLD_RANK"); /* Open MPI tells every process */
  (void)ctx;
  if (len != sizeof v) return 1;
  memcpy(&v, arg, sizeof v);
  snprintf(out, sizeof out, "%ld (rank %s)", v * v, rank ? rank : "?");
  return mproc_reply_set(reply, out, strlen(out) + 1);
}

int main(int argc, char **argv) {
  long inputs[10];
  mproc_bytes items[10];
  mproc_pool *pool;
  mproc_iter *it;
  size_t i, index, len;
  const void *data;
  int rc, role;

  mproc_register_task("square", square);
  mproc_main(argc, argv); /* the fork server and its children run here */
  role = mproc_mpi_init(&argc, &argv);
  if (role < 0) {
    fprintf(stderr, "mpi-map: %s\n", mproc_mpi_last_error());
    return 1;
  }
  if (role == MPROC_MPI_WORKER) return 0; /* served rank 0 until it finalized */

  if (mproc_mpi_pool_new(&pool) != MPROC_OK) {
    fprintf(stderr, "mpi-map: %s\n", mproc_mpi_last_error());
    return 1;
  }
  printf("a pool of %d worker ranks\n", mproc_pool_workers(pool));
  for (i = 0; i < 10; i++) {
    inputs[i] = (long)i;
    items[i].data = &inputs[i];
    items[i].len = sizeof inputs[i];
  }
  rc = mproc_pool_imap(pool, square, items, 10, 2, NULL, &it);
  while (rc == MPROC_OK && (rc = mproc_iter_next(it, &index, &data, &len, MPROC_FOREVER)) == MPROC_OK)
    printf("square(%zu) = %s\n", index, (const char *)data);
  if (rc != MPROC_DONE) fprintf(stderr, "mpi-map: %s\n", mproc_strerror(rc));
  mproc_iter_free(it);
  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
  if (mproc_mpi_finalize() != MPROC_OK) return 1;
  return rc == MPROC_DONE ? 0 : 1;
}
