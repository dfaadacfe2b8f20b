/*
 * process_start: the cost of running a trivial function in a child process
 * and waiting for it, with mproc and with the bare system calls.
 *
 *   mproc_process   mproc_process_new + start + join + free, target returns 0
 *   raw_fork        fork(); the child _exit(0)s; the parent waitpid()s
 *
 * Both run in this one process (same memory size, so the same page-table
 * copy cost per fork), interleaved round by round (see harness.h). The
 * Python multiprocessing peer lives in peers/py_process_start.py, and
 * bench/run puts all three in one table.
 */
#include <mproc.h>

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int trivial_target(const void *arg, size_t arg_len, void *ctx) {
  (void)arg;
  (void)arg_len;
  (void)ctx;
  return 0;
}

/* (a) mproc: the whole life of a handle, as a user would write it. */
static int op_mproc(void *ctx) {
  (void)ctx;
  mproc_process *p = NULL;
  int rc = mproc_process_new(&p, trivial_target, NULL, 0, NULL);
  if (rc != MPROC_OK) return rc;
  rc = mproc_process_start(p);
  if (rc == MPROC_OK) rc = mproc_process_join(p, MPROC_FOREVER);
  mproc_process_free(p);
  return rc;
}

/* (b) the floor: what any fork-based implementation has to pay. */
static int op_raw_fork(void *ctx) {
  (void)ctx;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(0);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -2;
  return 0;
}

/* One checked run before timing anything: the target really ran and its
   exit code came back, so the numbers below measure working code. */
static int sanity_check(void) {
  mproc_process *p = NULL;
  int code = -1;
  int rc = mproc_process_new(&p, trivial_target, NULL, 0, NULL);
  if (rc == MPROC_OK) rc = mproc_process_start(p);
  if (rc == MPROC_OK) rc = mproc_process_join(p, MPROC_FOREVER);
  if (rc == MPROC_OK) rc = mproc_process_exitcode(p, &code);
  mproc_process_free(p);
  if (rc != MPROC_OK || code != 0) {
    fprintf(stderr, "process_start: sanity check failed: %s (exit code %d)\n",
            mproc_strerror(rc), code);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_config cfg;
  bench_config_init(&cfg, 2000);
  int rc = bench_parse_args(&cfg, argc, argv,
                            "Time to start and join a child running a trivial function:\n"
                            "mproc_process_* against raw fork()+waitpid(), interleaved.");
  if (rc != 0) return rc > 0 ? 0 : 2;
  if (sanity_check() != 0) return 1;

  bench_case cases[] = {
      {"mproc_process", "mproc new+start+join+free", op_mproc, NULL, 1},
      {"raw_fork", "raw fork+_exit+waitpid", op_raw_fork, NULL, 1},
  };
  enum { NCASES = sizeof cases / sizeof cases[0] };
  bench_stats stats[NCASES];
  if (bench_run(&cfg, cases, NCASES, stats) != 0) return 1;
  bench_report(&cfg, "process start+join, trivial target (per operation; vs base = / raw fork)",
               cases, stats, NCASES, 1);
  return 0;
}
