/*
 * A tour of mproc, following the notes on Python's multiprocessing that
 * mproc was born from (shared/seeds/): every section restates one of their
 * Python examples with the C API. Sleeps are shortened so the whole tour
 * runs in a few seconds.
 *
 * Build and run: meson setup build && ninja -C build && build/examples/tour
 */
#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Stops the tour with a readable message when a call fails. */
static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "tour: %s failed: %s (%s)\n", what, mproc_error_name(rc), mproc_strerror(rc));
    exit(1);
  }
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void section(const char *title) { printf("\n=== %s ===\n", title); }

/* Creates and starts a process in one step. */
static mproc_process *spawn(mproc_target_fn fn, const void *arg, size_t len, void *ctx) {
  mproc_process *p = NULL;
  check(mproc_process_new(&p, fn, arg, len, ctx), "mproc_process_new");
  check(mproc_process_start(p), "mproc_process_start");
  return p;
}

static int join_and_free(mproc_process *p) {
  int code = 0;
  check(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join");
  check(mproc_process_exitcode(p, &code), "mproc_process_exitcode");
  mproc_process_free(p);
  return code;
}

/* --- 1. Two tasks at once: singing and dancing ------------------------------ */

static int sing_or_dance(const void *arg, size_t len, void *ctx) {
  (void)len;
  (void)ctx;
  for (int i = 0; i < 3; i++) {
    printf("%s...\n", (const char *)arg);
    fflush(stdout);
    sleep_ms(100);
  }
  return 0;
}

static void two_tasks(void) {
  section("1. Two processes run at the same time (singing / dancing)");
  mproc_process *p1 = spawn(sing_or_dance, "singing", sizeof "singing", NULL);
  mproc_process *p2 = spawn(sing_or_dance, "dancing", sizeof "dancing", NULL);
  join_and_free(p1);
  join_and_free(p2);
}

/* --- 2. Arguments, terminate() and join() ---------------------------------- */

/* Python passes args=('test', 18), kwargs={"m": 20}; C passes bytes. */
struct run_proc_args {
  char name[16];
  int age;
  int m;
};

static int run_proc(const void *arg, size_t len, void *ctx) {
  (void)ctx;
  if (len != sizeof(struct run_proc_args)) return 2;
  const struct run_proc_args *a = arg;
  for (int i = 0; i < 10; i++) {
    printf("child running, name=%s, age=%d, pid=%d, kwargs={m: %d}\n", a->name, a->age,
           (int)getpid(), a->m);
    fflush(stdout);
    sleep_ms(200);
  }
  return 0;
}

static void arguments_and_terminate(void) {
  section("2. Arguments, terminate() after a second, then join()");
  struct run_proc_args args = {"test", 18, 20};
  mproc_process *p = spawn(run_proc, &args, sizeof args, NULL);
  sleep_ms(1000);
  check(mproc_process_terminate(p), "mproc_process_terminate");
  int code = join_and_free(p);
  printf("terminated before finishing: exit code %d (-15 = killed by SIGTERM)\n", code);
}

/* --- 3. Globals are not shared ------------------------------------------- */

static int nums[8] = {11, 22};
static int nums_len = 2;

static void print_nums(const char *who) {
  printf("in %s pid=%d, nums=[", who, (int)getpid());
  for (int i = 0; i < nums_len; i++) printf(i ? ", %d" : "%d", nums[i]);
  printf("]\n");
  fflush(stdout);
}

static int work1(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len, (void)ctx;
  print_nums("process1");
  for (int i = 0; i < 3; i++) {
    nums[nums_len++] = i;
    print_nums("process1");
  }
  return 0;
}

static int work2(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len, (void)ctx;
  nums_len--;
  print_nums("process2");
  return 0;
}

static void globals_not_shared(void) {
  section("3. Processes do not share global variables");
  join_and_free(spawn(work1, NULL, 0, NULL));
  mproc_process *p2 = spawn(work2, NULL, 0, NULL);
  print_nums("process0");
  join_and_free(p2);
}

/* --- 4. Names, pids, is_alive and join with a timeout ------------------- */

static int show_identity(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len, (void)ctx;
  printf("I am %s, pid=%d, parent pid=%d\n", mproc_current_name(), (int)getpid(),
         (int)getppid());
  fflush(stdout);
  sleep_ms(300);
  return 0;
}

static void names_and_pids(void) {
  section("4. Names, pids, is_alive() and join(timeout)");
  printf("the main program is %s, pid=%d\n", mproc_current_name(), (int)getpid());
  mproc_process *a = NULL, *b = NULL;
  check(mproc_process_new(&a, show_identity, NULL, 0, NULL), "new");
  check(mproc_process_new(&b, show_identity, NULL, 0, NULL), "new");
  check(mproc_process_set_name(b, "downloader"), "set_name");
  printf("default name: %s; chosen name: %s; is_alive before start: %d\n",
         mproc_process_name(a), mproc_process_name(b), mproc_process_is_alive(a));
  check(mproc_process_start(a), "start");
  check(mproc_process_start(b), "start");
  printf("started %s as pid %d, is_alive: %d\n", mproc_process_name(a), mproc_process_pid(a),
         mproc_process_is_alive(a));
  int rc = mproc_process_join(a, 0.05);
  printf("join(0.05 s) while it sleeps: %s\n", mproc_error_name(rc));
  int code = join_and_free(a);
  join_and_free(b);
  printf("after join: exit code %d\n", code);
}

/* --- 5. Daemon processes ------------------------------------------------- */

static int get_web(const void *arg, size_t len, void *ctx) {
  (void)len, (void)ctx;
  printf("get web according %s (daemon child %s)\n", (const char *)arg, mproc_current_name());
  fflush(stdout);
  return 0;
}

static int loop_forever(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len, (void)ctx;
  for (;;) pause(); /* until a signal ends the process */
  return 0;
}

static void daemons(void) {
  section("5. Daemon processes");
  const char *sites[] = {"baidu", "tengxun"};
  mproc_process *p[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    check(mproc_process_new(&p[i], get_web, sites[i], strlen(sites[i]) + 1, NULL), "new");
    check(mproc_process_set_daemon(p[i], 1), "set_daemon");
    check(mproc_process_start(p[i]), "start");
  }
  for (int i = 0; i < 2; i++) join_and_free(p[i]);
  /* A daemon that never ends: it is terminated when the tour exits, and it
   * would also die if the tour were killed with SIGKILL. */
  mproc_process *forever = NULL;
  check(mproc_process_new(&forever, loop_forever, NULL, 0, NULL), "new");
  check(mproc_process_set_daemon(forever, 1), "set_daemon");
  check(mproc_process_start(forever), "start");
  printf("left daemon pid %d running; it ends with the program\n", mproc_process_pid(forever));
  mproc_process_free(forever); /* never blocks; mproc still reaps it */
}

/* --- 6. Ten processes, started then joined -------------------------------- */

static int runner(const void *arg, size_t len, void *ctx) {
  (void)len, (void)ctx;
  printf("pool_id: %d\n", *(const int *)arg);
  fflush(stdout);
  return 0;
}

static void ten_processes(void) {
  section("6. Ten processes, all started, then all joined");
  mproc_process *list[10];
  for (int id = 0; id < 10; id++) list[id] = spawn(runner, &id, sizeof id, NULL);
  for (int id = 0; id < 10; id++) join_and_free(list[id]);
  printf("CPUs available to this program: %d\n", mproc_cpu_count());
}

/* --- 7. Exit codes and the main guard -------------------------------------- */

static int exit_seven(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len, (void)ctx;
  return 7;
}

static void exit_codes(void) {
  section("7. Exit codes, and why C needs no main guard with fork");
  printf("a target returning 7 exits with %d\n", join_and_free(spawn(exit_seven, NULL, 0, NULL)));
  mproc_process *p = spawn(loop_forever, NULL, 0, NULL);
  check(mproc_process_kill(p), "kill");
  printf("a killed process exits with %d (-9 = SIGKILL)\n", join_and_free(p));
  printf("with fork the child starts inside mproc_process_start(), a copy of this\n"
         "program: nothing is re-run, so Python's `if __name__ == '__main__'` guard\n"
         "has no C equivalent to forget.\n");
}

int main(void) {
  printf("mproc %s tour (Python multiprocessing, in C)\n", mproc_version_string());
  two_tasks();
  arguments_and_terminate();
  globals_not_shared();
  names_and_pids();
  daemons();
  ten_processes();
  exit_codes();
  printf("\ntour finished\n");
  return 0;
}
