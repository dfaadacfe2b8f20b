/*
 * queue_throughput: mproc_queue against the other ways C processes pass
 * messages, plus the physical limit, in one process, interleaved.
 *
 *   mproc   mproc_queue_put / mproc_queue_get, blocking (MPROC_FOREVER)
 *   ring    a raw single-producer single-consumer ring of fixed slots in
 *           shared memory, both sides spinning: one copy in, one copy out,
 *           one release store per message; the physical limit
 *   futex   (ping-pong only) a one-slot hand-off that always sleeps in
 *           FUTEX_WAIT and always calls FUTEX_WAKE: the floor for waking a
 *           sleeping peer
 *   pipe    pipe(2), fixed-size records, the pipe sized to the depth
 *   posixmq POSIX mq_send / mq_receive
 *   boost   Boost.Interprocess message_queue (queue_boost.cc), when Boost
 *           was found at configure time
 *
 * The scenarios, the message checks, the timing and the output are the
 * driver's (queue_driver.h); bench/run turns the records into tables with
 * ratios and goals. Run with --help for the options.
 */
#include <mproc.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "queue_driver.h"

#define MAX_CHANNELS 8

/* ------------------------------------------------------------------------ */
/* mproc                                                                     */

typedef struct mproc_state {
  mproc_queue *q[2];
  int n;
  int pingpong;
} mproc_state;

static int mproc_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  mproc_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  size_t record = (MPROC_QUEUE_RECORD_HEADER + s->msg_size + MPROC_QUEUE_RECORD_ALIGN - 1) /
                  MPROC_QUEUE_RECORD_ALIGN * MPROC_QUEUE_RECORD_ALIGN;
  st->pingpong = s->mode == QB_PINGPONG;
  st->n = st->pingpong ? 2 : 1; /* one queue shared by all producers and consumers */
  for (int i = 0; i < st->n; i++) {
    int rc = mproc_queue_new(&st->q[i], 0, s->depth * record);
    if (rc == MPROC_OK && mproc_queue_max_message(st->q[i]) < s->msg_size) rc = MPROC_E_TOOBIG;
    if (rc != MPROC_OK) {
      snprintf(why, why_len, "mproc_queue_new(capacity %zu): %s", s->depth * record,
               mproc_error_name(rc));
      for (int k = 0; k <= i; k++) mproc_queue_free(st->q[k]);
      free(st);
      return -1;
    }
  }
  *state = st;
  return 0;
}

static int mproc_send(void *state, int chan, const void *buf, size_t len) {
  mproc_state *st = state;
  return mproc_queue_put(st->q[st->pingpong ? chan : 0], buf, len, MPROC_FOREVER);
}

static int mproc_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  mproc_state *st = state;
  return mproc_queue_get(st->q[st->pingpong ? chan : 0], buf, cap, len, MPROC_FOREVER);
}

/* In a child: release the inherited handles (its registration included). */
static void mproc_child_done(void *state) {
  mproc_state *st = state;
  for (int i = 0; i < st->n; i++) mproc_queue_free(st->q[i]);
}

static void mproc_close(void *state) {
  mproc_child_done(state);
  free(state);
}

static const qb_peer k_mproc = {
    "mproc", "mproc queue", QB_CAN_THROUGHPUT | QB_CAN_PINGPONG | QB_CAN_SLEEP_PINGPONG,
    mproc_open, NULL, mproc_send, mproc_recv, mproc_child_done, mproc_close};

/* ------------------------------------------------------------------------ */
/* Raw SPSC ring: the physical limit                                         */

typedef struct ring_shared {
  uint64_t head; /* written by the consumer */
  char pad1[56];
  uint64_t tail; /* written by the producer */
  char pad2[56];
} ring_shared;

typedef struct ring {
  ring_shared *sh;
  unsigned char *slots;
  size_t map_len, slot, nslots, size;
  /* Process-local: each process is producer or consumer of a ring. */
  uint64_t tail_local, head_cache; /* producer */
  uint64_t head_local, tail_cache; /* consumer */
} ring;

typedef struct ring_state {
  ring r[MAX_CHANNELS];
  int n;
} ring_state;

static void ring_close(void *state) {
  ring_state *st = state;
  for (int i = 0; i < st->n; i++)
    if (st->r[i].sh) munmap(st->r[i].sh, st->r[i].map_len);
  free(st);
}

static int ring_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  ring_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  /* Throughput: one private ring per producer/consumer pair (2P2C is two
     independent pairs: the bound when nothing is shared). Ping-pong: a
     request ring and a reply ring. */
  st->n = s->mode == QB_PINGPONG ? 2 : s->producers;
  for (int i = 0; i < st->n; i++) {
    ring *r = &st->r[i];
    r->size = s->msg_size;
    r->slot = (s->msg_size + 63) / 64 * 64;
    r->nslots = s->depth;
    r->map_len = sizeof(ring_shared) + r->slot * r->nslots;
    void *p = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      snprintf(why, why_len, "mmap(%zu): %s", r->map_len, strerror(errno));
      st->n = i;
      ring_close(st);
      return -1;
    }
    memset(p, 0, r->map_len);
    r->sh = p;
    r->slots = (unsigned char *)p + sizeof(ring_shared);
  }
  *state = st;
  return 0;
}

static void ring_prepare(void *state) {
  ring_state *st = state;
  for (int i = 0; i < st->n; i++) {
    ring *r = &st->r[i];
    r->sh->head = r->sh->tail = 0;
    r->tail_local = r->head_cache = r->head_local = r->tail_cache = 0;
  }
}

/* Spin; after a few thousand pauses let the scheduler run someone (2P2C
   has four spinning processes on two CPUs). */
static void ring_backoff(unsigned *spins) {
  if (++*spins < 4096) {
    qb_cpu_relax();
  } else {
    *spins = 0;
    sched_yield();
  }
}

static int ring_send(void *state, int chan, const void *buf, size_t len) {
  ring *r = &((ring_state *)state)->r[chan];
  uint64_t t = r->tail_local;
  unsigned spins = 0;
  while (t - r->head_cache >= r->nslots) {
    r->head_cache = __atomic_load_n(&r->sh->head, __ATOMIC_ACQUIRE);
    if (t - r->head_cache >= r->nslots) ring_backoff(&spins);
  }
  memcpy(r->slots + (t % r->nslots) * r->slot, buf, len);
  __atomic_store_n(&r->sh->tail, t + 1, __ATOMIC_RELEASE);
  r->tail_local = t + 1;
  return 0;
}

static int ring_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  ring *r = &((ring_state *)state)->r[chan];
  uint64_t h = r->head_local;
  unsigned spins = 0;
  while (h == r->tail_cache) {
    r->tail_cache = __atomic_load_n(&r->sh->tail, __ATOMIC_ACQUIRE);
    if (h == r->tail_cache) ring_backoff(&spins);
  }
  if (cap < r->size) return -1;
  memcpy(buf, r->slots + (h % r->nslots) * r->slot, r->size);
  __atomic_store_n(&r->sh->head, h + 1, __ATOMIC_RELEASE);
  r->head_local = h + 1;
  *len = r->size;
  return 0;
}

static const qb_peer k_ring = {"ring",      "raw SPSC shm ring (spin)",
                               QB_CAN_THROUGHPUT | QB_CAN_PINGPONG,
                               ring_open,   ring_prepare,
                               ring_send,   ring_recv,
                               NULL,        ring_close};

/* ------------------------------------------------------------------------ */
/* Raw futex hand-off (ping-pong): always sleeps, always wakes               */

typedef struct futex_chan {
  uint32_t seq; /* bumped by the sender after it wrote msg */
  char pad[60];
  size_t len;
  unsigned char msg[64];
} futex_chan;

typedef struct futex_state {
  futex_chan *ch; /* two, shared */
  uint32_t seen[2];
} futex_state;

static int futex_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  if (s->msg_size > sizeof ((futex_chan *)0)->msg) {
    snprintf(why, why_len, "messages over 64 bytes");
    return QB_SKIP;
  }
  futex_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  st->ch = mmap(NULL, 2 * sizeof *st->ch, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                0);
  if (st->ch == MAP_FAILED) {
    snprintf(why, why_len, "mmap: %s", strerror(errno));
    free(st);
    return -1;
  }
  *state = st;
  return 0;
}

static void futex_prepare(void *state) {
  futex_state *st = state;
  memset(st->ch, 0, 2 * sizeof *st->ch);
  st->seen[0] = st->seen[1] = 0;
}

static int futex_send(void *state, int chan, const void *buf, size_t len) {
  futex_chan *c = &((futex_state *)state)->ch[chan];
  memcpy(c->msg, buf, len);
  c->len = len;
  __atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
  qb_futex_wake(&c->seq, 1);
  return 0;
}

static int futex_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  futex_state *st = state;
  futex_chan *c = &st->ch[chan];
  uint32_t v;
  while ((v = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE)) == st->seen[chan])
    qb_futex_wait(&c->seq, st->seen[chan]);
  st->seen[chan] = v;
  if (c->len > cap) return -1;
  memcpy(buf, c->msg, c->len);
  *len = c->len;
  return 0;
}

static void futex_close(void *state) {
  futex_state *st = state;
  munmap(st->ch, 2 * sizeof *st->ch);
  free(st);
}

static const qb_peer k_futex = {"futex",       "raw futex hand-off (always sleeps)",
                                QB_CAN_PINGPONG | QB_CAN_SLEEP_PINGPONG,
                                futex_open,    futex_prepare,
                                futex_send,    futex_recv,
                                NULL,          futex_close};

/* ------------------------------------------------------------------------ */
/* pipe(2)                                                                   */

typedef struct pipe_state {
  int fd[2][2];
  int n;
  size_t size;
} pipe_state;

static long read_proc_long(const char *path, long dflt) {
  FILE *f = fopen(path, "r");
  long v = dflt;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) v = dflt;
    fclose(f);
  }
  return v;
}

static void pipe_close(void *state) {
  pipe_state *st = state;
  for (int i = 0; i < st->n; i++) {
    close(st->fd[i][0]);
    close(st->fd[i][1]);
  }
  free(st);
}

static int pipe_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  if (s->mode == QB_THROUGHPUT && s->producers > 1 && s->msg_size > PIPE_BUF) {
    snprintf(why, why_len, "writes over PIPE_BUF (%d B) are not atomic: producers would interleave",
             PIPE_BUF);
    return QB_SKIP;
  }
  pipe_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  st->size = s->msg_size;
  int want = s->mode == QB_PINGPONG ? 2 : 1;
  long max = read_proc_long("/proc/sys/fs/pipe-max-size", 1 << 20);
  size_t bytes = s->depth * s->msg_size;
  if (bytes > (size_t)max) bytes = (size_t)max;
  for (int i = 0; i < want; i++) {
    if (pipe(st->fd[i]) != 0) {
      snprintf(why, why_len, "pipe: %s", strerror(errno));
      pipe_close(st);
      return -1;
    }
    st->n++;
    (void)fcntl(st->fd[i][1], F_SETPIPE_SZ, (int)bytes); /* best effort */
  }
  *state = st;
  return 0;
}

static int pipe_send(void *state, int chan, const void *buf, size_t len) {
  pipe_state *st = state;
  int fd = st->fd[st->n == 2 ? chan : 0][1];
  const unsigned char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int pipe_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  pipe_state *st = state;
  int fd = st->fd[st->n == 2 ? chan : 0][0];
  if (cap < st->size) return -1;
  unsigned char *p = buf;
  size_t got = 0;
  while (got < st->size) {
    ssize_t r = read(fd, p + got, st->size - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return -1;
    got += (size_t)r;
  }
  *len = got;
  return 0;
}

static const qb_peer k_pipe = {"pipe",      "pipe(2)",
                               QB_CAN_THROUGHPUT | QB_CAN_PINGPONG | QB_CAN_SLEEP_PINGPONG,
                               pipe_open,   NULL,
                               pipe_send,   pipe_recv,
                               NULL,        pipe_close};

/* ------------------------------------------------------------------------ */
/* POSIX message queues                                                      */

typedef struct posixmq_state {
  mqd_t q[2];
  int n;
} posixmq_state;

static void posixmq_close(void *state) {
  posixmq_state *st = state;
  for (int i = 0; i < st->n; i++) mq_close(st->q[i]);
  free(st);
}

/* The label says so when the kernel's limits forced a smaller depth. */
static char posixmq_label[96] = "POSIX mq";

static int posixmq_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  static unsigned counter;
  snprintf(posixmq_label, sizeof posixmq_label, "POSIX mq");
  /* Root may raise the per-user byte limit; others keep theirs. */
  struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MSGQUEUE, &rl) != 0 && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_MSGQUEUE, &rl);
  }
  posixmq_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  int want = s->mode == QB_PINGPONG ? 2 : 1;
  for (int i = 0; i < want; i++) {
    char name[64];
    snprintf(name, sizeof name, "/mproc-qbench-%ld-%u", (long)getpid(), counter++);
    struct mq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = (long)s->depth;
    attr.mq_msgsize = (long)s->msg_size;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    if (q == (mqd_t)-1 && (errno == EINVAL || errno == EMFILE || errno == ENOMEM)) {
      /* Unprivileged: stay within /proc/sys/fs/mqueue/msg_max. */
      long cap = read_proc_long("/proc/sys/fs/mqueue/msg_max", 10);
      if (attr.mq_maxmsg > cap) {
        attr.mq_maxmsg = cap;
        q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
        if (q != (mqd_t)-1)
          snprintf(posixmq_label, sizeof posixmq_label, "POSIX mq (depth %ld: fs.mqueue.msg_max)",
                   cap);
      }
    }
    if (q == (mqd_t)-1) {
      int e = errno;
      snprintf(why, why_len,
               "mq_open(maxmsg %ld, msgsize %zu): %s (limits: fs.mqueue.msg_max %ld, "
               "msgsize_max %ld, RLIMIT_MSGQUEUE)",
               (long)attr.mq_maxmsg, s->msg_size, strerror(e),
               read_proc_long("/proc/sys/fs/mqueue/msg_max", -1),
               read_proc_long("/proc/sys/fs/mqueue/msgsize_max", -1));
      posixmq_close(st);
      return (e == EINVAL || e == EMFILE || e == ENOMEM || e == ENOSYS || e == EACCES) ? QB_SKIP
                                                                                        : -1;
    }
    mq_unlink(name); /* the descriptor (inherited by fork) keeps it alive */
    st->q[st->n++] = q;
  }
  *state = st;
  return 0;
}

static int posixmq_send(void *state, int chan, const void *buf, size_t len) {
  posixmq_state *st = state;
  mqd_t q = st->q[st->n == 2 ? chan : 0];
  while (mq_send(q, buf, len, 0) != 0)
    if (errno != EINTR) return -1;
  return 0;
}

static int posixmq_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  posixmq_state *st = state;
  mqd_t q = st->q[st->n == 2 ? chan : 0];
  ssize_t r;
  while ((r = mq_receive(q, buf, cap, NULL)) < 0)
    if (errno != EINTR) return -1;
  *len = (size_t)r;
  return 0;
}

static const qb_peer k_posixmq = {"posixmq",    posixmq_label,
                                  QB_CAN_THROUGHPUT | QB_CAN_PINGPONG | QB_CAN_SLEEP_PINGPONG,
                                  posixmq_open, NULL,
                                  posixmq_send, posixmq_recv,
                                  NULL,         posixmq_close};

/* ------------------------------------------------------------------------ */

#ifdef QB_HAVE_BOOST
extern const qb_peer qb_boost_peer; /* queue_boost.cc */
#endif

/* One checked round trip through an mproc queue before anything is timed. */
static int sanity_check(void) {
  mproc_queue *q = NULL;
  char out[8] = {0};
  size_t len = 0;
  int rc = mproc_queue_new(&q, 0, 0);
  if (rc == MPROC_OK) rc = mproc_queue_put(q, "mproc", 6, 0);
  if (rc == MPROC_OK) rc = mproc_queue_get(q, out, sizeof out, &len, 0);
  mproc_queue_free(q);
  if (rc != MPROC_OK || len != 6 || strcmp(out, "mproc") != 0) {
    fprintf(stderr, "queue_throughput: sanity check failed: %s\n", mproc_strerror(rc));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const qb_peer *peers[] = {
      &k_mproc, &k_ring, &k_futex, &k_pipe, &k_posixmq,
#ifdef QB_HAVE_BOOST
      &qb_boost_peer,
#endif
  };
  int help = 0;
  for (int i = 1; i < argc; i++) help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
  if (!help && sanity_check() != 0) return 1;
  return qb_main(argc, argv,
                 "Queue throughput (64 B, 4 KiB, 1 MiB; 1P1C and 2P2C) and 64 B ping-pong:\n"
                 "mproc_queue against a raw shared-memory ring, a raw futex hand-off, pipe(2),\n"
                 "POSIX mq"
#ifdef QB_HAVE_BOOST
                 " and Boost.Interprocess message_queue"
#endif
                 ", interleaved in one process.",
                 peers, sizeof peers / sizeof peers[0]);
}
