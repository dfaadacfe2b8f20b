/* The queue benchmark driver; see queue_driver.h for what it measures. */
#include "queue_driver.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------------ */
/* Small helpers shared with the peers                                       */

uint64_t qb_now_ns(void) { return bench_now_ns(); }

void qb_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

int qb_futex_wait(uint32_t *word, uint32_t expected) {
  long r = syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);
  return r == 0 ? 0 : errno;
}

void qb_futex_wake(uint32_t *word, int n) {
  syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                 */

typedef struct scenario {
  const char *id;
  const char *title;
  int mode;       /* enum qb_mode */
  int sleep;      /* ping-pong with a sleeping responder */
  size_t size;    /* bytes per message */
  size_t depth;   /* messages in flight */
  int producers;  /* = consumers */
  uint64_t count; /* messages per measured call (all producers), or round trips */
} scenario;

/* Counts give each measured call about 20-100 ms on the raw ring and at
   most a second or two on the slowest peer (POSIX mq at 64 B); the 1 MiB
   cases move 2 GiB per call. Depths: 512 KiB of 64 B payload, 1 MiB of
   4 KiB, four 1 MiB messages (as queue.md measured the peers). */
static const scenario k_scenarios[] = {
    {"tput_64_1p1c", "64 B messages, 1 producer / 1 consumer", QB_THROUGHPUT, 0, 64, 8192, 1, 500000},
    {"tput_64_2p2c", "64 B messages, 2 producers / 2 consumers", QB_THROUGHPUT, 0, 64, 8192, 2, 500000},
    {"tput_4k_1p1c", "4 KiB messages, 1 producer / 1 consumer", QB_THROUGHPUT, 0, 4096, 256, 1, 200000},
    {"tput_4k_2p2c", "4 KiB messages, 2 producers / 2 consumers", QB_THROUGHPUT, 0, 4096, 256, 2, 200000},
    {"tput_1m_1p1c", "1 MiB messages, 1 producer / 1 consumer", QB_THROUGHPUT, 0, 1u << 20, 4, 1, 2048},
    {"tput_1m_2p2c", "1 MiB messages, 2 producers / 2 consumers", QB_THROUGHPUT, 0, 1u << 20, 4, 2, 2048},
    {"pingpong_spin", "64 B ping-pong round trip, responder awake (requests back to back)",
     QB_PINGPONG, 0, 64, 64, 1, 2000},
    {"pingpong_sleep", "64 B ping-pong round trip, responder asleep (1 ms between requests)",
     QB_PINGPONG, 1, 64, 64, 1, 100},
};
enum { NSCENARIOS = sizeof k_scenarios / sizeof k_scenarios[0] };

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

#define QB_MAGIC 0x716d6271u /* "qbmq" */
#define QB_STOP UINT64_MAX
#define QB_MAX_PRODUCERS 8
#define QB_MAX_CHILDREN (2 * QB_MAX_PRODUCERS)
#define QB_CHILD_TIMEOUT_S 120

static uint64_t tail_key(uint32_t producer) {
  return 0x9e3779b97f4a7c15ull * (uint64_t)(producer + 1);
}

/* Head: sequence number, producer, magic; tail: a check word, so a message
   torn in its middle or at its end is caught without reading it all. */
static void stamp(unsigned char *b, size_t size, uint32_t producer, uint64_t seq) {
  uint32_t magic = QB_MAGIC;
  memcpy(b, &seq, 8);
  memcpy(b + 8, &producer, 4);
  memcpy(b + 12, &magic, 4);
  if (size >= 24) {
    uint64_t t = seq ^ tail_key(producer);
    memcpy(b + size - 8, &t, 8);
  }
}

/* ------------------------------------------------------------------------ */
/* Shared control block of one measured call                                 */

typedef struct child_slot {
  uint64_t t_start, t_end; /* producers: first send .. last send; consumers: end */
  uint64_t count, seqsum;  /* consumers: data messages taken, sum of their seqs */
  char pad[32];
} child_slot;

typedef struct control {
  uint32_t ready;
  char pad1[60];
  uint32_t go;
  char pad2[60];
  uint32_t failed;
  char error[256];
  child_slot slot[QB_MAX_CHILDREN];
} control;

static control *g_ctl;
static double *g_samples; /* ping-pong round trips of one call, shared */
static size_t g_samples_cap;
static int g_cpu[2] = {-1, -1};
static int g_pin = 1;

/* In a child: report the first failure to the parent and exit. */
static void child_fail(const char *fmt, ...) {
  if (__atomic_exchange_n(&g_ctl->failed, 1, __ATOMIC_ACQ_REL) == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_ctl->error, sizeof g_ctl->error, fmt, ap);
    va_end(ap);
  }
  _exit(3);
}

static void pin_to(int which) {
  if (!g_pin || g_cpu[which] < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(g_cpu[which], &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

static void child_barrier(void) {
  __atomic_add_fetch(&g_ctl->ready, 1u, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&g_ctl->go, __ATOMIC_ACQUIRE) == 0) qb_futex_wait(&g_ctl->go, 0);
}

static unsigned char *child_buffer(size_t size) {
  void *p = NULL;
  if (posix_memalign(&p, 64, size < 64 ? 64 : size) != 0) child_fail("out of memory");
  memset(p, 0xa5, size); /* fault it in before the clock starts */
  return p;
}

/* ------------------------------------------------------------------------ */
/* Child roles                                                               */

typedef struct run_ctx {
  const qb_peer *peer;
  void *state;
  const scenario *sc;
  uint64_t per_producer; /* throughput: messages each producer sends */
  uint64_t round_trips;  /* ping-pong: measured round trips */
  uint64_t warm_trips;   /* ping-pong: unmeasured round trips first */
} run_ctx;

static void role_producer(const run_ctx *r, int idx) {
  size_t size = r->sc->size;
  unsigned char *buf = child_buffer(size);
  if (r->sc->producers == 1) pin_to(0);
  child_barrier();
  uint64_t t0 = qb_now_ns();
  for (uint64_t s = 0; s < r->per_producer; s++) {
    stamp(buf, size, (uint32_t)idx, s);
    int rc = r->peer->send(r->state, idx, buf, size);
    if (rc != 0)
      child_fail("producer %d: send of message %llu failed (%d)", idx, (unsigned long long)s, rc);
  }
  stamp(buf, size, (uint32_t)idx, QB_STOP);
  if (r->peer->send(r->state, idx, buf, size) != 0)
    child_fail("producer %d: send of the stop message failed", idx);
  uint64_t t1 = qb_now_ns();
  g_ctl->slot[idx].t_start = t0;
  g_ctl->slot[idx].t_end = t1;
  if (r->peer->child_done) r->peer->child_done(r->state);
  _exit(0);
}

static void role_consumer(const run_ctx *r, int idx) {
  size_t size = r->sc->size;
  int nprod = r->sc->producers;
  unsigned char *buf = child_buffer(size);
  uint64_t last[QB_MAX_PRODUCERS];
  int have[QB_MAX_PRODUCERS] = {0};
  uint64_t count = 0, seqsum = 0;
  if (r->sc->producers == 1) pin_to(1);
  child_barrier();
  for (;;) {
    size_t len = 0;
    int rc = r->peer->recv(r->state, idx, buf, size, &len);
    if (rc != 0)
      child_fail("consumer %d: receive failed after %llu messages (%d)", idx,
                 (unsigned long long)count, rc);
    if (len != size)
      child_fail("consumer %d: got a %zu-byte message, expected %zu", idx, len, size);
    uint64_t seq;
    uint32_t prod, magic;
    memcpy(&seq, buf, 8);
    memcpy(&prod, buf + 8, 4);
    memcpy(&magic, buf + 12, 4);
    if (magic != QB_MAGIC || prod >= (uint32_t)nprod)
      child_fail("consumer %d: corrupt message header after %llu messages", idx,
                 (unsigned long long)count);
    if (size >= 24) {
      uint64_t t;
      memcpy(&t, buf + size - 8, 8);
      if (t != (seq ^ tail_key(prod)))
        child_fail("consumer %d: torn message (tail does not match head)", idx);
    }
    if (seq == QB_STOP) break;
    if (seq >= r->per_producer)
      child_fail("consumer %d: sequence number %llu out of range", idx, (unsigned long long)seq);
    if (have[prod] && seq <= last[prod])
      child_fail("consumer %d: producer %u's message %llu after %llu (out of order or repeated)",
                 idx, prod, (unsigned long long)seq, (unsigned long long)last[prod]);
    /* A lone consumer must see every number in turn. */
    if (nprod == 1 && seq != (have[prod] ? last[prod] + 1 : 0))
      child_fail("consumer %d: producer %u's message %llu arrived, expected %llu (lost)", idx,
                 prod, (unsigned long long)seq,
                 (unsigned long long)(have[prod] ? last[prod] + 1 : 0));
    have[prod] = 1;
    last[prod] = seq;
    count++;
    seqsum += seq;
  }
  uint64_t t1 = qb_now_ns();
  child_slot *sl = &g_ctl->slot[QB_MAX_PRODUCERS + idx];
  sl->t_end = t1;
  sl->count = count;
  sl->seqsum = seqsum;
  if (r->peer->child_done) r->peer->child_done(r->state);
  _exit(0);
}

static void role_requester(const run_ctx *r) {
  size_t size = r->sc->size;
  unsigned char *buf = child_buffer(size);
  unsigned char *reply = child_buffer(size);
  pin_to(0);
  child_barrier();
  uint64_t total = r->warm_trips + r->round_trips;
  for (uint64_t i = 0; i < total; i++) {
    if (r->sc->sleep) {
      uint64_t until = qb_now_ns() + QB_SLEEP_GAP_NS;
      while (qb_now_ns() < until) qb_cpu_relax();
    }
    stamp(buf, size, 0, i);
    size_t len = 0;
    uint64_t t0 = qb_now_ns();
    if (r->peer->send(r->state, 0, buf, size) != 0)
      child_fail("requester: send of request %llu failed", (unsigned long long)i);
    if (r->peer->recv(r->state, 1, reply, size, &len) != 0)
      child_fail("requester: receive of reply %llu failed", (unsigned long long)i);
    uint64_t t1 = qb_now_ns();
    if (len != size || memcmp(buf, reply, size) != 0)
      child_fail("requester: reply %llu is not the request echoed back", (unsigned long long)i);
    if (i >= r->warm_trips) g_samples[i - r->warm_trips] = (double)(t1 - t0) / 1000.0;
  }
  stamp(buf, size, 0, QB_STOP);
  if (r->peer->send(r->state, 0, buf, size) != 0) child_fail("requester: send of stop failed");
  if (r->peer->child_done) r->peer->child_done(r->state);
  _exit(0);
}

static void role_responder(const run_ctx *r) {
  size_t size = r->sc->size;
  unsigned char *buf = child_buffer(size);
  pin_to(1);
  child_barrier();
  for (uint64_t n = 0;; n++) {
    size_t len = 0;
    if (r->peer->recv(r->state, 0, buf, size, &len) != 0)
      child_fail("responder: receive of request %llu failed", (unsigned long long)n);
    uint64_t seq;
    memcpy(&seq, buf, 8);
    if (len != size) child_fail("responder: got a %zu-byte request", len);
    if (seq == QB_STOP) break;
    if (r->peer->send(r->state, 1, buf, len) != 0)
      child_fail("responder: send of reply %llu failed", (unsigned long long)n);
  }
  if (r->peer->child_done) r->peer->child_done(r->state);
  _exit(0);
}

/* ------------------------------------------------------------------------ */
/* One measured call: fork, release, wait, check                             */

enum { ROLE_PRODUCER, ROLE_CONSUMER, ROLE_REQUESTER, ROLE_RESPONDER };

static pid_t spawn(const run_ctx *r, int role, int idx) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  alarm(QB_CHILD_TIMEOUT_S); /* a hung queue must not hang the benchmark */
  switch (role) {
    case ROLE_PRODUCER: role_producer(r, idx); break;
    case ROLE_CONSUMER: role_consumer(r, idx); break;
    case ROLE_REQUESTER: role_requester(r); break;
    default: role_responder(r); break;
  }
  _exit(0);
}

static void kill_all(pid_t *pids, int n) {
  for (int i = 0; i < n; i++)
    if (pids[i] > 0) kill(pids[i], SIGKILL);
}

/* Reap pids[0..n); on the first failure kill the rest. Returns 0 or -1
   with the reason in why. */
static int reap_all(pid_t *pids, int n, char *why, size_t why_len) {
  int left = n, rc = 0;
  while (left > 0) {
    int status = 0;
    pid_t p = waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int k = -1;
    for (int i = 0; i < n; i++)
      if (pids[i] == p) k = i;
    if (k < 0) continue;
    pids[k] = -1;
    left--;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && rc == 0) {
      rc = -1;
      if (__atomic_load_n(&g_ctl->failed, __ATOMIC_ACQUIRE))
        snprintf(why, why_len, "%s", g_ctl->error);
      else if (WIFSIGNALED(status))
        snprintf(why, why_len, "a child died of signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (ran over its time limit: hung?)" : "");
      else
        snprintf(why, why_len, "a child exited with %d", WEXITSTATUS(status));
      kill_all(pids, n);
    }
  }
  return rc;
}

/* Fork the children of one call, release them together, wait. */
static int run_children(const run_ctx *r, const int *roles, const int *idxs, int n, char *why,
                        size_t why_len) {
  memset(g_ctl, 0, sizeof *g_ctl);
  if (r->peer->prepare) r->peer->prepare(r->state);
  pid_t pids[QB_MAX_CHILDREN];
  int started = 0;
  for (int i = 0; i < n; i++) {
    pids[i] = spawn(r, roles[i], idxs[i]);
    if (pids[i] < 0) {
      snprintf(why, why_len, "fork failed: %s", strerror(errno));
      char ignored[64];
      kill_all(pids, started);
      reap_all(pids, started, ignored, sizeof ignored);
      return -1;
    }
    started++;
  }
  /* All children set up (buffers faulted in, pinned): start them at once. */
  uint64_t deadline = qb_now_ns() + 60ull * 1000000000ull;
  while (__atomic_load_n(&g_ctl->ready, __ATOMIC_ACQUIRE) < (uint32_t)n) {
    if (__atomic_load_n(&g_ctl->failed, __ATOMIC_ACQUIRE) || qb_now_ns() > deadline) break;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  __atomic_store_n(&g_ctl->go, 1u, __ATOMIC_RELEASE);
  qb_futex_wake(&g_ctl->go, INT_MAX);
  return reap_all(pids, n, why, why_len);
}

/* One throughput call; *elapsed_ns on success. */
static int run_throughput(const run_ctx *r, uint64_t *elapsed_ns, char *why, size_t why_len) {
  int n = 2 * r->sc->producers;
  int roles[QB_MAX_CHILDREN], idxs[QB_MAX_CHILDREN];
  /* Consumers first: they are waiting when the producers start. */
  for (int i = 0; i < r->sc->producers; i++) {
    roles[i] = ROLE_CONSUMER;
    idxs[i] = i;
    roles[r->sc->producers + i] = ROLE_PRODUCER;
    idxs[r->sc->producers + i] = i;
  }
  if (run_children(r, roles, idxs, n, why, why_len) != 0) return -1;
  uint64_t t0 = UINT64_MAX, t1 = 0, count = 0, seqsum = 0;
  for (int i = 0; i < r->sc->producers; i++) {
    const child_slot *p = &g_ctl->slot[i];
    const child_slot *c = &g_ctl->slot[QB_MAX_PRODUCERS + i];
    if (p->t_start < t0) t0 = p->t_start;
    if (c->t_end > t1) t1 = c->t_end;
    count += c->count;
    seqsum += c->seqsum;
  }
  uint64_t np = r->per_producer;
  uint64_t want_count = np * (uint64_t)r->sc->producers;
  uint64_t want_sum = (np * (np - 1) / 2) * (uint64_t)r->sc->producers;
  if (count != want_count || seqsum != want_sum) {
    snprintf(why, why_len,
             "consumers took %llu messages (sequence sum %llu), expected %llu (sum %llu): lost "
             "or duplicated messages",
             (unsigned long long)count, (unsigned long long)seqsum,
             (unsigned long long)want_count, (unsigned long long)want_sum);
    return -1;
  }
  if (t1 <= t0) {
    snprintf(why, why_len, "bad timestamps");
    return -1;
  }
  *elapsed_ns = t1 - t0;
  return 0;
}

static int run_pingpong(const run_ctx *r, char *why, size_t why_len) {
  int roles[2] = {ROLE_RESPONDER, ROLE_REQUESTER};
  int idxs[2] = {0, 0};
  return run_children(r, roles, idxs, 2, why, why_len);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */

typedef struct options {
  size_t rounds;
  size_t warmup;
  int quick;
  int format;
  double scale;
  const char *scenarios; /* comma list of ids or prefixes, NULL = all */
  const char *peers;     /* comma list of peer ids, NULL = all */
} options;

static void usage(FILE *f, const char *prog, const char *what) {
  fprintf(f,
          "usage: %s [--iterations N] [--warmup N] [--quick] [--scale F]\n"
          "          [--scenarios LIST] [--peers LIST] [--no-pin] [--format human|machine|both]\n"
          "%s%s"
          "  --iterations N    measured calls (rounds) per peer and scenario (default 7)\n"
          "  --warmup N        unmeasured calls first, each a tenth of a measured one (default 1)\n"
          "  --quick           smoke run: 3 rounds, a tenth of the messages\n"
          "  --scale F         multiply every message / round-trip count by F\n"
          "  --scenarios LIST  comma-separated scenario ids or prefixes (tput, tput_64,\n"
          "                    pingpong_spin...); default all\n"
          "  --peers LIST      comma-separated peer ids; default all\n"
          "  --no-pin          do not pin the two sides of 1P1C and ping-pong to two CPUs\n"
          "  --format F        human table, machine-readable @ records, or both (default)\n"
          "scenarios:",
          prog, what ? what : "", what ? "\n" : "");
  for (size_t i = 0; i < NSCENARIOS; i++) fprintf(f, " %s", k_scenarios[i].id);
  fprintf(f, "\n");
}

static int parse_size(const char *opt, const char *v, size_t *out, int allow_zero) {
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(v ? v : "", &end, 10);
  if (!v || !*v || *v == '-' || *end || errno || (!allow_zero && x == 0) || x > 1000000000ull) {
    fprintf(stderr, "%s: expected a count, got '%s'\n", opt, v ? v : "");
    return -1;
  }
  *out = (size_t)x;
  return 0;
}

static int parse_options(options *o, int argc, char **argv, const char *what) {
  const char *prog = argc > 0 ? argv[0] : "queue_bench";
  int have_rounds = 0;
  o->rounds = 7;
  o->warmup = 1;
  o->quick = 0;
  o->format = BENCH_FORMAT_BOTH;
  o->scale = 1.0;
  o->scenarios = NULL;
  o->peers = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, prog, what);
      return 1;
    } else if (!strcmp(a, "--quick")) {
      o->quick = 1;
    } else if (!strcmp(a, "--no-pin")) {
      g_pin = 0;
    } else if (!strcmp(a, "--iterations")) {
      if (parse_size(a, v, &o->rounds, 0)) return -1;
      have_rounds = 1;
      i++;
    } else if (!strcmp(a, "--warmup")) {
      if (parse_size(a, v, &o->warmup, 1)) return -1;
      i++;
    } else if (!strcmp(a, "--scale")) {
      char *end = NULL;
      o->scale = v ? strtod(v, &end) : 0.0;
      if (!v || !*v || *end || !(o->scale > 0.0) || o->scale > 1000.0) {
        fprintf(stderr, "--scale: expected a positive number\n");
        return -1;
      }
      i++;
    } else if (!strcmp(a, "--scenarios") && v) {
      o->scenarios = v;
      i++;
    } else if (!strcmp(a, "--peers") && v) {
      o->peers = v;
      i++;
    } else if (!strcmp(a, "--format") && v) {
      if (bench_parse_format(v, &o->format) != 0) return -1;
      i++;
    } else {
      fprintf(stderr, "%s: unknown option or missing value '%s'\n", prog, a);
      usage(stderr, prog, what);
      return -1;
    }
  }
  if (o->quick) {
    if (!have_rounds) o->rounds = 3;
    o->scale *= 0.1;
  }
  return 0;
}

/* Is name in the comma-separated list (exactly, or as a prefix when
   prefix_ok)? A NULL list holds everything. */
static int listed(const char *list, const char *name, int prefix_ok) {
  if (!list) return 1;
  size_t nlen = strlen(name);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > 0 && (len == nlen || (prefix_ok && len < nlen)) && !strncmp(p, name, len))
      return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static void clean(char *dst, size_t n, const char *src) {
  size_t j = 0;
  for (size_t i = 0; src[i] && j + 1 < n; i++)
    dst[j++] = (src[i] == '\t' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
  dst[j] = '\0';
}

static void print_result(const options *o, const scenario *sc, const qb_peer *pe,
                         const bench_stats *st, uint64_t messages) {
  double per_s = st->median_us > 0 ? 1e6 / st->median_us : 0.0;
  double gib = per_s * (double)sc->size / (double)(1u << 30);
  int tput = sc->mode == QB_THROUGHPUT;
  if (o->format & BENCH_FORMAT_MACHINE) {
    char label[256];
    clean(label, sizeof label, pe->label);
    printf("@bench\tid=q_%s_%s\tlabel=%s\titerations=%zu\tops_per_call=%zu"
           "\tmedian_us=%.6f\tmean_us=%.6f\tmin_us=%.6f\tp10_us=%.6f\tp90_us=%.6f"
           "\tmax_us=%.6f\tstddev_us=%.6f\tops_per_s=%.1f"
           "\tscenario=%s\tkind=%s\tpeer=%s\tmsg_size=%zu\tproducers=%d\tconsumers=%d"
           "\tmessages=%llu\tgib_per_s=%.4f\n",
           sc->id, pe->id, label, st->iterations, st->ops_per_call, st->median_us, st->mean_us,
           st->min_us, st->p10_us, st->p90_us, st->max_us, st->stddev_us, per_s, sc->id,
           tput ? "throughput" : "latency", pe->id, sc->size, tput ? sc->producers : 1,
           tput ? sc->producers : 1, (unsigned long long)messages, gib);
  }
  if (o->format & BENCH_FORMAT_HUMAN) {
    if (tput)
      printf("  %-40s %12.3f M msg/s %9.3f GiB/s   (p10..p90 per msg %.4f..%.4f us)\n",
             pe->label, per_s / 1e6, gib, st->p10_us, st->p90_us);
    else
      printf("  %-40s RTT median %9.3f us   p10 %9.3f   p90 %9.3f   (%zu round trips)\n",
             pe->label, st->median_us, st->p10_us, st->p90_us, st->iterations);
  }
}

static void print_not_run(const options *o, const char *kind, const scenario *sc,
                          const qb_peer *pe, const char *reason) {
  if (o->format & BENCH_FORMAT_MACHINE) {
    char label[256], why[512];
    clean(label, sizeof label, pe->label);
    clean(why, sizeof why, reason);
    printf("@%s\tid=q_%s_%s\tscenario=%s\tpeer=%s\tlabel=%s\treason=%s\n", kind, sc->id, pe->id,
           sc->id, pe->id, label, why);
  }
  if (o->format & BENCH_FORMAT_HUMAN)
    printf("  %-40s %s: %s\n", pe->label, !strcmp(kind, "fail") ? "FAILED" : "skipped", reason);
}

/* ------------------------------------------------------------------------ */
/* Measuring one scenario                                                    */

typedef struct peer_run {
  const qb_peer *peer;
  void *state;
  int open;
  int failed;
  char why[512];
  double *samples;
  size_t nsamples;
} peer_run;

/* Message count for a call: scaled, a multiple of the producer count, at
   least 2 per producer. */
static uint64_t scaled(uint64_t base, double scale, int producers) {
  double x = (double)base * scale;
  uint64_t n = x < 1.0 ? 1 : (uint64_t)x;
  uint64_t per = n / (uint64_t)producers;
  if (per < 2) per = 2;
  return per * (uint64_t)producers;
}

static int run_one(peer_run *pr, const scenario *sc, uint64_t count, int record, char *why,
                   size_t why_len) {
  run_ctx r;
  memset(&r, 0, sizeof r);
  r.peer = pr->peer;
  r.state = pr->state;
  r.sc = sc;
  if (sc->mode == QB_THROUGHPUT) {
    r.per_producer = count / (uint64_t)sc->producers;
    uint64_t ns = 0;
    if (run_throughput(&r, &ns, why, why_len) != 0) return -1;
    if (record) pr->samples[pr->nsamples++] = (double)ns / 1000.0 / (double)count;
  } else {
    r.round_trips = count;
    r.warm_trips = record ? count / 10 + 2 : 2;
    if (count > g_samples_cap) {
      snprintf(why, why_len, "too many round trips");
      return -1;
    }
    if (run_pingpong(&r, why, why_len) != 0) return -1;
    if (record) {
      memcpy(pr->samples + pr->nsamples, g_samples, count * sizeof *g_samples);
      pr->nsamples += count;
    }
  }
  return 0;
}

static int run_scenario(const options *o, const scenario *sc, const qb_peer *const *peers,
                        size_t npeers) {
  unsigned need = 1u << sc->mode;
  if (sc->sleep) need |= QB_CAN_SLEEP_PINGPONG;
  uint64_t count = scaled(sc->count, o->scale, sc->mode == QB_THROUGHPUT ? sc->producers : 1);
  if (sc->mode == QB_PINGPONG && count < 10) count = 10;
  uint64_t warm_count =
      sc->mode == QB_THROUGHPUT ? scaled(count, 0.1, sc->producers) : count / 10 + 2;

  qb_setup s;
  memset(&s, 0, sizeof s);
  s.mode = sc->mode;
  s.msg_size = sc->size;
  s.depth = sc->depth;
  s.producers = sc->mode == QB_THROUGHPUT ? sc->producers : 1;
  s.consumers = s.producers;

  if (o->format & BENCH_FORMAT_HUMAN) {
    if (sc->mode == QB_THROUGHPUT)
      printf("\n%s: %s, %llu messages per call, depth %zu, median of %zu calls\n", sc->id,
             sc->title, (unsigned long long)count, sc->depth, o->rounds);
    else
      printf("\n%s: %s, %llu round trips per call x %zu calls\n", sc->id, sc->title,
             (unsigned long long)count, o->rounds);
  }

  peer_run runs[16];
  size_t n = 0;
  int failed = 0;
  for (size_t i = 0; i < npeers && n < 16; i++) {
    const qb_peer *pe = peers[i];
    if ((pe->modes & need) != need || !listed(o->peers, pe->id, 0)) continue;
    peer_run *pr = &runs[n];
    memset(pr, 0, sizeof *pr);
    pr->peer = pe;
    int rc = pe->open(&pr->state, &s, pr->why, sizeof pr->why);
    if (rc == QB_SKIP) {
      print_not_run(o, "skip", sc, pe, pr->why);
      continue;
    }
    if (rc != 0) {
      print_not_run(o, "fail", sc, pe, pr->why[0] ? pr->why : "could not open its channels");
      failed = 1;
      continue;
    }
    pr->open = 1;
    size_t cap = sc->mode == QB_THROUGHPUT ? o->rounds : o->rounds * (size_t)count;
    pr->samples = calloc(cap, sizeof *pr->samples);
    if (!pr->samples) {
      fprintf(stderr, "queue bench: out of memory\n");
      pe->close(pr->state);
      return -1;
    }
    n++;
  }

  for (size_t w = 0; w < o->warmup; w++)
    for (size_t k = 0; k < n; k++) {
      peer_run *pr = &runs[k];
      if (pr->failed) continue;
      if (run_one(pr, sc, warm_count, 0, pr->why, sizeof pr->why) != 0) pr->failed = 1;
    }
  for (size_t i = 0; i < o->rounds; i++)
    for (size_t k = 0; k < n; k++) {
      peer_run *pr = &runs[(i + k) % n];
      if (pr->failed) continue;
      if (run_one(pr, sc, count, 1, pr->why, sizeof pr->why) != 0) pr->failed = 1;
    }

  for (size_t k = 0; k < n; k++) {
    peer_run *pr = &runs[k];
    if (pr->failed) {
      print_not_run(o, "fail", sc, pr->peer, pr->why);
      failed = 1;
    } else {
      bench_stats st;
      size_t ops = sc->mode == QB_THROUGHPUT ? (size_t)count : 1;
      if (bench_stats_compute(pr->samples, pr->nsamples, ops, &st) == 0)
        print_result(o, sc, pr->peer, &st, sc->mode == QB_THROUGHPUT ? count : 1);
    }
    pr->peer->close(pr->state);
    free(pr->samples);
  }
  fflush(stdout);
  return failed ? 1 : 0;
}

/* ------------------------------------------------------------------------ */


int qb_main(int argc, char **argv, const char *what, const qb_peer *const *peers, size_t npeers) {
  options o;
  int rc = parse_options(&o, argc, argv, what);
  if (rc != 0) return rc > 0 ? 0 : 2;

  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int k = 0;
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
      if (CPU_ISSET(c, &set)) g_cpu[k++] = c;
    if (k < 2) g_cpu[0] = g_cpu[1] = -1; /* one CPU: nothing to spread over */
  }

  g_ctl = mmap(NULL, sizeof *g_ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  uint64_t max_trips = 0;
  for (size_t i = 0; i < NSCENARIOS; i++)
    if (k_scenarios[i].mode == QB_PINGPONG) {
      uint64_t c = scaled(k_scenarios[i].count, o.scale, 1);
      if (c < 10) c = 10;
      if (c > max_trips) max_trips = c;
    }
  g_samples_cap = (size_t)max_trips;
  g_samples = mmap(NULL, g_samples_cap * sizeof *g_samples, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_ctl == MAP_FAILED || g_samples == MAP_FAILED) {
    fprintf(stderr, "queue bench: cannot map shared memory: %s\n", strerror(errno));
    return 1;
  }

  bench_print_machine(stdout, o.format);
  double load_start = bench_loadavg1();
  if (o.format & BENCH_FORMAT_MACHINE)
    printf("@queue_config\trounds=%zu\twarmup=%zu\tscale=%g\tpin=%s\tcpus=%d,%d\tloadavg=%.2f\n",
           o.rounds, o.warmup, o.scale, g_pin && g_cpu[0] >= 0 ? "1p1c+pingpong" : "none",
           g_cpu[0], g_cpu[1], load_start);
  if (o.format & BENCH_FORMAT_HUMAN)
    printf("load average at start: %.2f (anything near the CPU count means other work competes)\n",
           load_start);
  fflush(stdout);

  int any_failed = 0, ran = 0;
  for (size_t i = 0; i < NSCENARIOS; i++) {
    if (!listed(o.scenarios, k_scenarios[i].id, 1)) continue;
    ran = 1;
    int r = run_scenario(&o, &k_scenarios[i], peers, npeers);
    if (r < 0) return 1;
    if (r > 0) any_failed = 1;
  }
  if (!ran) {
    fprintf(stderr, "queue bench: no scenario matches '%s'\n", o.scenarios);
    return 2;
  }
  /* The load average of the last minute, read again at the end: our own
     spinning children count in it too (about 2 during the ring and mproc
     runs), so only what is well above that says someone else was busy. */
  if (o.format & BENCH_FORMAT_MACHINE) printf("@queue_end\tloadavg=%.2f\n", bench_loadavg1());
  return any_failed ? 1 : 0;
}
