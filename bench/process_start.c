/*
 * process_start: the cost of running a trivial function in a child process
 * and waiting for it, with each of mproc's start methods and with the bare
 * system calls they are built on.
 *
 *   mproc_fork        mproc_process_new + set_start_method(FORK) + start
 *                     + join + free, target returns 0
 *   mproc_spawn       the same with MPROC_START_SPAWN: vfork + execve of
 *                     this program, which enters mproc_main()
 *   mproc_forkserver  the same with MPROC_START_FORKSERVER; the server is
 *                     started (and timed, once) before measuring
 *   raw_fork          fork(); the child _exit(0)s; the parent waitpid()s:
 *                     the floor for any fork-based start
 *   posix_spawn_true  posix_spawn("/bin/true") + waitpid(): the floor for
 *                     any exec-based start (the reference)
 *   posix_spawn_self  posix_spawn of this program with --exit-at-once +
 *                     waitpid(): what exec'ing *this* binary costs (dynamic
 *                     loading of libmproc and the C++ runtime), so the
 *                     difference to mproc_spawn is mproc's own work
 *
 * All run in this one process, interleaved round by round (see harness.h),
 * so they see the same machine conditions and the same parent size.
 * --resident-mib N makes the parent large first (N MiB written, so it is
 * resident and fork must copy its page tables). The Python multiprocessing
 * peers live in peers/py_process_start.py; bench/run puts everything in one
 * table per parent size.
 */
#include <mproc.h>

#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

/* argv[1] of a child started by posix_spawn_self: leave at once. */
#define EXIT_AT_ONCE "--exit-at-once"

static int trivial_target(const void *arg, size_t arg_len, void *ctx) {
  (void)arg;
  (void)arg_len;
  (void)ctx;
  return 0;
}

/* Exits with the code its one argument byte holds: the sanity check sees
   the target really ran in the child and its code came back. */
static int echo_code_target(const void *arg, size_t arg_len, void *ctx) {
  (void)ctx;
  return arg_len == 1 ? *(const unsigned char *)arg : 99;
}

/* What every measured mproc call needs: the method under test. */
typedef struct mproc_ctx {
  int method;
} mproc_ctx;

/* The whole life of a handle, as a user would write it. */
static int run_mproc(int method, mproc_target_fn fn, const void *arg, size_t arg_len,
                     int *code) {
  mproc_process *p = NULL;
  int rc = mproc_process_new(&p, fn, arg, arg_len, NULL);
  if (rc != MPROC_OK) return rc;
  rc = mproc_process_set_start_method(p, method);
  if (rc == MPROC_OK) rc = mproc_process_start(p);
  if (rc == MPROC_OK) rc = mproc_process_join(p, MPROC_FOREVER);
  if (rc == MPROC_OK && code) rc = mproc_process_exitcode(p, code);
  mproc_process_free(p);
  return rc;
}

static int op_mproc(void *ctx) {
  const mproc_ctx *m = ctx;
  return run_mproc(m->method, trivial_target, NULL, 0, NULL);
}

static int wait_ok(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -2;
  return 0;
}

static int op_raw_fork(void *ctx) {
  (void)ctx;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(0);
  return wait_ok(pid);
}

/* argv for posix_spawn: ctx points at it. */
static int op_posix_spawn(void *ctx) {
  char *const *argv = ctx;
  pid_t pid;
  int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  if (err != 0) {
    fprintf(stderr, "process_start: posix_spawn(%s): %s\n", argv[0], strerror(err));
    return -1;
  }
  return wait_ok(pid);
}

static const char *method_name(int method) {
  switch (method) {
    case MPROC_START_FORK: return "fork";
    case MPROC_START_SPAWN: return "spawn";
    default: return "forkserver";
  }
}

/* One checked run per method before timing anything, so the numbers below
   measure working code: the target ran in a child and its exit code came
   back (42, not a default 0). */
static int sanity_check(void) {
  static const int methods[] = {MPROC_START_FORK, MPROC_START_SPAWN, MPROC_START_FORKSERVER};
  const unsigned char want = 42;
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    int code = -1;
    int rc = run_mproc(methods[i], echo_code_target, &want, 1, &code);
    if (rc != MPROC_OK || code != want) {
      fprintf(stderr, "process_start: sanity check (%s) failed: %s (exit code %d, want %d)\n",
              method_name(methods[i]), mproc_strerror(rc), code, want);
      return -1;
    }
  }
  return 0;
}

/* Kept reachable so the compiler cannot drop the memset. */
static unsigned char *volatile g_resident;

/* Make the parent N MiB larger and resident: fork then has N MiB worth of
   page tables to copy. Plain 4 KiB pages unless the system applies
   transparent huge pages to every mapping (the @config record says which
   THP mode was in force). */
static int make_resident(size_t mib) {
  if (mib == 0) return 0;
  size_t len = mib << 20;
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fprintf(stderr, "process_start: cannot map %zu MiB: %s\n", mib, strerror(errno));
    return -1;
  }
  memset(p, 0x5a, len);
  g_resident = p;
  return 0;
}

/* Resident set size of this process in MiB (/proc/self/statm), -1 if unknown. */
static long rss_mib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long size = 0, resident = -1;
  if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024) / 1024;
}

/* The bracketed THP mode of /sys/kernel/mm/transparent_hugepage/enabled. */
static void thp_mode(char *out, size_t n) {
  snprintf(out, n, "unknown");
  FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return;
  char line[128];
  if (fgets(line, sizeof line, f)) {
    char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
    if (a && b) snprintf(out, n, "%.*s", (int)(b - a - 1), a + 1);
  }
  fclose(f);
}

static int parse_mib(const char *text, size_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text ? text : "", &end, 10);
  if (!text || !*text || *text == '-' || *end || errno || v > (1ULL << 20)) {
    fprintf(stderr, "--resident-mib: expected a size in MiB, got '%s'\n", text ? text : "");
    return -1;
  }
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv) {
  /* Spawned children re-execute this program: the targets must be
     registered, and mproc_main() must run before anything else so a child
     runs its target here and never reaches the benchmark below. */
  if (mproc_register("trivial_target", trivial_target) != MPROC_OK ||
      mproc_register("echo_code_target", echo_code_target) != MPROC_OK)
    return 1;
  mproc_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], EXIT_AT_ONCE) == 0) return 0;

  /* Our option comes out first; the rest go to the harness. */
  size_t resident = 0;
  char **hargv = calloc((size_t)argc + 1, sizeof *hargv);
  if (!hargv) return 1;
  int hargc = 0;
  for (int i = 0; i < argc; i++) {
    if (i > 0 && strcmp(argv[i], "--resident-mib") == 0) {
      if (parse_mib(i + 1 < argc ? argv[i + 1] : NULL, &resident) != 0) return 2;
      i++;
      continue;
    }
    hargv[hargc++] = argv[i];
  }
  bench_config cfg;
  bench_config_init(&cfg, 2000);
  int rc = bench_parse_args(
      &cfg, hargc, hargv,
      "Time to start and join a child running a trivial function with mproc's\n"
      "start methods (fork, spawn, forkserver) against raw fork()+waitpid() and\n"
      "posix_spawn() of /bin/true and of this program, interleaved.\n"
      "extra option: --resident-mib N  write N MiB first, so the parent is that\n"
      "much larger when it forks (default 0)");
  if (rc != 0) return rc > 0 ? 0 : 2;

  if (make_resident(resident) != 0) return 1;
  char thp[32];
  thp_mode(thp, sizeof thp);
  long rss = rss_mib();

  /* The one-time cost of forkserver (spawning the server) is paid here and
     reported on its own, so the measured calls show the steady state. */
  uint64_t t0 = bench_now_ns();
  rc = mproc_forkserver_start();
  uint64_t t1 = bench_now_ns();
  if (rc != MPROC_OK) {
    fprintf(stderr, "process_start: mproc_forkserver_start: %s\n", mproc_strerror(rc));
    return 1;
  }
  double server_us = (double)(t1 - t0) / 1000.0;
  if (sanity_check() != 0) return 1;

  if (cfg.format & BENCH_FORMAT_MACHINE) {
    printf("@config\tresident_mib=%zu\trss_mib=%ld\tthp=%s\tload1=%.2f\n", resident, rss, thp,
           bench_loadavg1());
    printf("@forkserver_start\tus=%.1f\tpid=%d\n", server_us, mproc_forkserver_pid());
  }
  if (cfg.format & BENCH_FORMAT_HUMAN) {
    printf("parent: %zu MiB made resident, RSS %ld MiB, transparent huge pages: %s\n",
           resident, rss, thp);
    printf("fork server start (once, not in the table): %.0f us\n", server_us);
  }

  mproc_ctx fork_ctx = {MPROC_START_FORK}, spawn_ctx = {MPROC_START_SPAWN},
            fs_ctx = {MPROC_START_FORKSERVER};
  char *true_argv[] = {"/bin/true", NULL};
  char *self_argv[] = {"/proc/self/exe", EXIT_AT_ONCE, NULL};
  bench_case cases[] = {
      {"mproc_fork", "mproc fork: new+set_start_method+start+join+free", op_mproc, &fork_ctx, 1},
      {"mproc_spawn", "mproc spawn: new+set_start_method+start+join+free", op_mproc, &spawn_ctx, 1},
      {"mproc_forkserver", "mproc forkserver: new+set_start_method+start+join+free", op_mproc,
       &fs_ctx, 1},
      {"raw_fork", "raw fork+_exit+waitpid", op_raw_fork, NULL, 1},
      {"posix_spawn_true", "posix_spawn /bin/true + waitpid", op_posix_spawn, true_argv, 1},
      {"posix_spawn_self", "posix_spawn this program (exits at once) + waitpid", op_posix_spawn,
       self_argv, 1},
  };
  enum { NCASES = sizeof cases / sizeof cases[0] };
  bench_stats stats[NCASES];
  if (bench_run(&cfg, cases, NCASES, stats) != 0) return 1;
  bench_report(&cfg, "process start+join, trivial target (per operation; vs base = / raw fork)",
               cases, stats, NCASES, 3);
  free(hargv);
  return 0;
}
