/* MPI pool benchmark (bench/run BUILD mpi): run as `mpiexec -n R mpi_bench`.
 * Rank 0 measures, with R - 1 workers each time:
 *   trivial  imap_unordered, chunksize 1, of an empty task: items per second
 *   cpu      map, chunksize 1, of CPU_ITEMS integer-hashing items: seconds,
 *            and the same set run serially on rank 0
 * on the MPI pool and on a local forkserver pool (started before MPI_Init,
 * like the worker ranks' task children). Prints "mpi|local|serial KEY VALUE". */
#include <mproc/mproc-mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CPU_ITEMS 32
#define CPU_ROUNDS 4000000u

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nop(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)arg; (void)len; (void)reply; (void)ctx;
  return 0;
}

static uint64_t hash_rounds(uint64_t x) {
  unsigned i;
  for (i = 0; i < CPU_ROUNDS; i++) x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull + i;
  return x;
}

static int cpu(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  uint64_t x = 0;
  (void)ctx;
  if (len == sizeof x) memcpy(&x, arg, sizeof x);
  x = hash_rounds(x);
  return mproc_reply_set(reply, &x, sizeof x);
}

static void measure(const char *label, mproc_pool *pool, size_t trivial_items) {
  mproc_bytes *items = calloc(trivial_items, sizeof *items);
  uint64_t in[CPU_ITEMS];
  mproc_bytes cpu_items[CPU_ITEMS];
  mproc_bytes *results = NULL;
  mproc_iter *it;
  size_t i, n = 0;
  double t;
  mproc_pool_start(pool);
  t = now();
  if (mproc_pool_imap_unordered(pool, nop, items, trivial_items, 1, NULL, &it) == MPROC_OK) {
    while (mproc_iter_next(it, NULL, NULL, NULL, MPROC_FOREVER) == MPROC_OK) n++;
    mproc_iter_free(it);
  }
  t = now() - t;
  printf("%s trivial_per_s %.0f\n", label, n == trivial_items ? (double)n / t : 0.0);
  for (i = 0; i < CPU_ITEMS; i++) {
    in[i] = i;
    cpu_items[i].data = &in[i];
    cpu_items[i].len = sizeof in[i];
  }
  t = now();
  if (mproc_pool_map(pool, cpu, cpu_items, CPU_ITEMS, 1, NULL, &results) == MPROC_OK)
    printf("%s cpu_s %.4f\n", label, now() - t);
  mproc_free(results);
  free(items);
}

int main(int argc, char **argv) {
  mproc_pool *pool;
  size_t trivial = argc > 1 ? (size_t)atol(argv[1]) : 20000;
  uint64_t sink = 0;
  unsigned i;
  double t;
  int role, workers;
  mproc_register_task("nop", nop);
  mproc_register_task("cpu", cpu);
  mproc_main(argc, argv);
  role = mproc_mpi_init(&argc, &argv);
  if (role < 0) {
    fprintf(stderr, "mpi_bench: %s\n", mproc_mpi_last_error());
    return 1;
  }
  if (role == MPROC_MPI_WORKER) return 0;
  if (mproc_mpi_pool_new(&pool) != MPROC_OK) return 1;
  printf("workers %d\n", mproc_pool_workers(pool));
  measure("mpi", pool, trivial);
  workers = mproc_pool_workers(pool);
  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
  /* The local pool's workers come from the fork server started before MPI_Init. */
  mproc_pool_new(&pool, workers);
  mproc_pool_set_start_method(pool, MPROC_START_FORKSERVER);
  measure("local", pool, trivial);
  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  t = now();
  for (i = 0; i < CPU_ITEMS; i++) sink += hash_rounds(i);
  printf("serial cpu_s %.4f\n", now() - t);
  mproc_pool_free(pool);
  return mproc_mpi_finalize() == MPROC_OK && sink != 1 ? 0 : 1;
}
