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
         "program: nothing is re-run, so no main guard is needed (spawn: section 13).\n");
}

/* --- 8. A bounded queue: full(), empty(), timeouts ------------------------- */

static void put_str(mproc_queue *q, const char *s, double timeout, const char *what) {
  int rc = mproc_queue_put(q, s, strlen(s) + 1, timeout);
  printf("%-34s -> %s\n", what, rc == MPROC_OK ? "ok" : mproc_error_name(rc));
}

static void bounded_queue(void) {
  section("8. Queue(3): full(), put with a timeout, put_nowait, get_nowait");
  mproc_queue *q = NULL;
  check(mproc_queue_new(&q, 3, 0), "mproc_queue_new");
  put_str(q, "message 1", MPROC_FOREVER, "put(\"message 1\")");
  put_str(q, "message 2", MPROC_FOREVER, "put(\"message 2\")");
  printf("full() = %d\n", mproc_queue_full(q));
  put_str(q, "message 3", MPROC_FOREVER, "put(\"message 3\")");
  printf("full() = %d\n", mproc_queue_full(q));
  put_str(q, "message 4", 0.2, "put(\"message 4\", timeout 0.2 s)");
  check(mproc_queue_put_nowait(q, "x", 2) == MPROC_E_FULL ? MPROC_OK : -1, "put_nowait on full");
  printf("put_nowait(\"message 4\")             -> MPROC_E_FULL; qsize() = %lld\n",
         (long long)mproc_queue_qsize(q));
  char buf[64];
  size_t len = 0;
  while (!mproc_queue_empty(q)) {
    check(mproc_queue_get_nowait(q, buf, sizeof buf, &len), "get_nowait");
    printf("get_nowait() = \"%s\"\n", buf);
  }
  int rc = mproc_queue_get(q, buf, sizeof buf, &len, 0.2);
  printf("get(timeout 0.2 s) on an empty queue -> %s\n", mproc_error_name(rc));
  mproc_queue_free(q);
}

/* --- 9. Producer and consumer processes ------------------------------------- */

static int download_from_web(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len;
  mproc_queue *q = ctx;
  const int data[] = {11, 22, 33, 44};
  for (int i = 0; i < 4; i++) check(mproc_queue_put(q, &data[i], sizeof data[i], MPROC_FOREVER), "put");
  printf("download: finished, everything is in the queue\n");
  fflush(stdout);
  return 0;
}

static int analysis_data(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len;
  mproc_queue *q = ctx;
  int got[4], n = 0, v;
  size_t vlen;
  while (n < 4 && mproc_queue_get(q, &v, sizeof v, &vlen, 5.0) == MPROC_OK) got[n++] = v;
  printf("analysis: [");
  for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", got[i]);
  printf("]\n");
  fflush(stdout);
  return n == 4 ? 0 : 1;
}

static int product(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len;
  mproc_queue *q = ctx;
  const char *kinds[] = {"pork", "cabbage", "red bean"};
  for (int i = 0; i < 3; i++) {
    printf("%s makes a %s bun\n", mproc_current_name(), kinds[i]);
    fflush(stdout);
    check(mproc_queue_put(q, kinds[i], strlen(kinds[i]) + 1, MPROC_FOREVER), "put");
  }
  return 0;
}

static int consumer(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len;
  mproc_queue *q = ctx;
  char bun[32];
  size_t n;
  for (int eaten = 0; eaten < 6; eaten++) {
    check(mproc_queue_get(q, bun, sizeof bun, &n, MPROC_FOREVER), "get");
    printf("the consumer ate a %s bun\n", bun);
    fflush(stdout);
  }
  return 0;
}

static void producers_and_consumers(void) {
  section("9. Processes talk through a queue: producer / consumer");
  mproc_queue *q = NULL;
  check(mproc_queue_new(&q, 3, 0), "mproc_queue_new");
  mproc_process *pw = spawn(download_from_web, NULL, 0, q);
  mproc_process *pr = spawn(analysis_data, NULL, 0, q);
  join_and_free(pw);
  join_and_free(pr);
  mproc_queue_free(q);

  /* Two bun makers and one eater share a queue that holds a single bun. */
  check(mproc_queue_new(&q, 1, 0), "mproc_queue_new");
  mproc_process *p1 = spawn(product, NULL, 0, q);
  mproc_process *p2 = spawn(product, NULL, 0, q);
  mproc_process *c = spawn(consumer, NULL, 0, q);
  join_and_free(p1);
  join_and_free(p2);
  join_and_free(c);
  mproc_queue_free(q);
}

static int say_hello_through(const void *arg, size_t len, void *ctx) {
  (void)len;
  char msg[64];
  int n = snprintf(msg, sizeof msg, "i am %d communicating through the queue", *(const int *)arg);
  return mproc_queue_put(ctx, msg, (size_t)n + 1, MPROC_FOREVER) == MPROC_OK ? 0 : 1;
}

static void many_writers(void) {
  section("10. Several children write to one queue; the parent reads");
  mproc_queue *q = NULL;
  check(mproc_queue_new(&q, 0, 0), "mproc_queue_new");
  mproc_process *list[3];
  for (int i = 0; i < 3; i++) list[i] = spawn(say_hello_through, &i, sizeof i, q);
  /* Unlike Python, joining writers before reading cannot deadlock: a put
   * has copied its message into shared memory before it returns. */
  for (int i = 0; i < 3; i++) join_and_free(list[i]);
  char buf[64];
  size_t len;
  for (int i = 0; i < 3; i++) {
    check(mproc_queue_get(q, buf, sizeof buf, &len, 5.0), "get");
    printf("main got: %s\n", buf);
  }
  mproc_queue_free(q);
}

/* --- 11. A pool of three workers -------------------------------------------- */

static int work(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)len, (void)reply, (void)ctx;
  int i = *(const int *)arg;
  printf("job %d running in %s, pid %d\n", i, mproc_current_name(), (int)getpid());
  fflush(stdout);
  sleep_ms(20 * (i % 4));
  return 0;
}

static int get_html(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)len, (void)ctx;
  int n = *(const int *)arg;
  sleep_ms(100L * n);
  printf("%d: got the page\n", n);
  fflush(stdout);
  return mproc_reply_set(reply, &n, sizeof n);
}

static void pools(void) {
  section("11. Pool(3): apply_async over 10 jobs, close(), join()");
  mproc_pool *pool = NULL;
  check(mproc_pool_new(&pool, 3), "mproc_pool_new");
  mproc_result *results[10];
  for (int i = 0; i < 10; i++)
    check(mproc_pool_apply_async(pool, work, &i, sizeof i, NULL, &results[i]), "apply_async");
  printf("-----start-----\n");
  fflush(stdout);
  check(mproc_pool_close(pool), "close");
  check(mproc_pool_join(pool, MPROC_FOREVER), "join");
  printf("-----end-----\n");
  for (int i = 0; i < 10; i++) mproc_result_free(results[i]);
  mproc_pool_free(pool);

  section("12. result.get(), imap (input order) and imap_unordered (completion order)");
  check(mproc_pool_new(&pool, mproc_cpu_count() < 3 ? 3 : mproc_cpu_count()), "mproc_pool_new");
  int three = 3;
  mproc_result *r = NULL;
  check(mproc_pool_apply_async(pool, get_html, &three, sizeof three, NULL, &r), "apply_async");
  const void *data;
  size_t len;
  check(mproc_result_get(r, &data, &len, MPROC_FOREVER), "get");
  printf("result.get() = %d\n", *(const int *)data);
  mproc_result_free(r);

  int sleeps[] = {4, 3, 2};
  mproc_bytes items[3];
  for (int i = 0; i < 3; i++) items[i] = (mproc_bytes){&sleeps[i], sizeof sleeps[i]};
  for (int ordered = 1; ordered >= 0; ordered--) {
    mproc_iter *it = NULL;
    check(ordered ? mproc_pool_imap(pool, get_html, items, 3, 1, NULL, &it)
                  : mproc_pool_imap_unordered(pool, get_html, items, 3, 1, NULL, &it),
          "imap");
    size_t idx;
    while (mproc_iter_next(it, &idx, &data, &len, MPROC_FOREVER) == MPROC_OK)
      printf("%s: %d finished sleeping\n", ordered ? "imap" : "imap_unordered", *(const int *)data);
    mproc_iter_free(it);
  }
  check(mproc_pool_close(pool), "close");
  check(mproc_pool_join(pool, MPROC_FOREVER), "join");
  mproc_pool_free(pool);
  printf("cpu_count() = %d\n", mproc_cpu_count());
}

/* --- 13. Start methods: spawn and forkserver -------------------------------- */

/* Spawn and forkserver children are fresh copies of this program, not of
   the parent's memory: they find their target by the name registered here
   (the same registration runs in every copy, before mproc_main()). */
MPROC_REGISTER(show_identity)
MPROC_REGISTER(work1)
MPROC_REGISTER_TASK(work)

static void start_methods(void) {
  section("13. Start methods: spawn and forkserver (safe with threads)");
  nums[nums_len++] = 99; /* a fork child would see this; a spawned one does not */
  print_nums("process0");
  mproc_process *p = NULL;
  check(mproc_process_new(&p, work1, NULL, 0, NULL), "new");
  check(mproc_process_set_start_method(p, MPROC_START_SPAWN), "set_start_method");
  check(mproc_process_start(p), "start (spawn)");
  join_and_free(p);
  check(mproc_forkserver_start(), "mproc_forkserver_start");
  printf("fork server running as pid %d\n", mproc_forkserver_pid());
  check(mproc_process_new(&p, show_identity, NULL, 0, NULL), "new");
  check(mproc_process_set_start_method(p, MPROC_START_FORKSERVER), "set_start_method");
  check(mproc_process_start(p), "start (forkserver)");
  int pid = mproc_process_pid(p);
  printf("its child %d has the server as parent; exit code %d\n", pid, join_and_free(p));
  mproc_pool *pool = NULL;
  check(mproc_pool_new(&pool, 2), "mproc_pool_new");
  check(mproc_pool_set_start_method(pool, MPROC_START_FORKSERVER), "pool_set_start_method");
  for (int i = 0; i < 3; i++) {
    void *reply = NULL;
    size_t reply_len = 0;
    check(mproc_pool_apply(pool, work, &i, sizeof i, NULL, &reply, &reply_len), "apply");
    mproc_free(reply);
  }
  check(mproc_pool_close(pool), "close");
  check(mproc_pool_join(pool, MPROC_FOREVER), "join");
  mproc_pool_free(pool);
  printf("mproc_main(argc, argv) at the top of main() is the C form of Python's\n"
         "`if __name__ == '__main__'` guard: a spawned copy runs its target in\n"
         "there and never reaches the rest of main().\n");
}

int main(int argc, char **argv) {
  check(mproc_main(argc, argv), "mproc_main"); /* spawned children stop here */
  setvbuf(stdout, NULL, _IOLBF, 0); /* readable order even through a pipe */
  printf("mproc %s tour (Python multiprocessing, in C)\n", mproc_version_string());
  two_tasks();
  arguments_and_terminate();
  globals_not_shared();
  names_and_pids();
  daemons();
  ten_processes();
  exit_codes();
  bounded_queue();
  producers_and_consumers();
  many_writers();
  pools();
  start_methods();
  printf("\ntour finished\n");
  return 0;
}
