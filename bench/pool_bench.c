/*
 * pool_bench: mproc_pool against a plain C fork+pipe pool, interleaved in
 * one process, in four scenarios (issue 4):
 *
 *   rtt    round trip of one trivial task: submit, wait for the answer,
 *          one at a time (the task returns its 8-byte argument)
 *            mproc   mproc_pool_apply_async + mproc_result_get + result_free
 *            cpool   one 24-byte request record written to a worker's pipe,
 *                    one 24-byte response record read back
 *   imap   throughput of many one-item tasks (chunksize 1), N items per call
 *          (default 10,000; each task returns its argument + 1)
 *            mproc   mproc_pool_imap_unordered(chunksize 1), drained
 *            cpool   one request record per item, pipelined: requests are
 *                    written as fast as the pipes take them (at most
 *                    CP_WINDOW items in flight per worker), responses read
 *                    as they come
 *   map    1,000,000 8-byte items in one call (each returns its argument + 1)
 *            mproc   mproc_pool_map(chunksize 0 = automatic: ceil(n / (4 *
 *                    workers)), Python's rule)
 *            cpool   the same chunks, one request record of many items each
 *   cpu    a CPU-bound item set: 64 items, each a fixed integer-hashing loop
 *          (about 50 ms of work per set on a 2020s x86 VM)
 *            serial  the loop in this process, one item after the other
 *            mproc   mproc_pool_map, chunksize 0 (8 items per task)
 *            cpool   the same chunks over the pipes
 *
 * Both pools have 2 workers (--workers), forked once before anything is
 * timed; the plain pool's workers are forked first, so mproc's workers are
 * the younger copies (they inherit the plain pool's pipe ends, which is why
 * the plain pool stops its workers with an explicit exit record rather than
 * by closing the pipes). Every answer is checked inside the timed calls
 * (value and index, every index exactly once), as a user's loop would
 * consume it. Times are per operation: per round trip, per item (imap,
 * map) or per item set (cpu).
 *
 * Output: the harness's machine line, a human table per scenario, and one
 * @bench record per case with extra fields scenario=, peer=, items= (per
 * call). bench/run (mode `pool`) joins them with the Python peers'
 * (peers/py_pool.py) into one table per scenario. --help for the options.
 */
#include <mproc.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------------ */
/* Workloads, shared by every peer                                           */

#define CPU_ITEMS 64
#define CPU_ROUNDS 200000u /* ~0.7 ms per item at ~3.5 ns a round: ~45 ms a set */
#define MAP_ITEMS 1000000u
#define IMAP_ITEMS 10000u

/* The CPU-bound item: a dependent chain of multiply/xor-shift rounds. */
static uint64_t cpu_hash(uint64_t x, uint32_t rounds) {
  for (uint32_t i = 0; i < rounds; i++) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 29;
    x += i;
  }
  return x;
}

static uint64_t load_u64(const void *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* mproc tasks. ctx is unused except by the CPU task (its round count). */
static int task_echo(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)ctx;
  return mproc_reply_set(reply, arg, len) == MPROC_OK ? 0 : 1;
}

static int task_plus_one(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)ctx;
  if (len != sizeof(uint64_t)) return 1;
  uint64_t v = load_u64(arg) + 1;
  return mproc_reply_set(reply, &v, sizeof v) == MPROC_OK ? 0 : 1;
}

static int task_cpu(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  if (len != sizeof(uint64_t)) return 1;
  uint64_t v = cpu_hash(load_u64(arg), *(const uint32_t *)ctx);
  return mproc_reply_set(reply, &v, sizeof v) == MPROC_OK ? 0 : 1;
}

static uint32_t cpu_rounds = CPU_ROUNDS;

/* ------------------------------------------------------------------------ */
/* The plain C pool: fork + a pipe per direction per worker                  */

/* Every request and response starts with this record; `count` 8-byte
   values follow (1 for the one-item operations: a fixed 24-byte record). */
typedef struct cp_rec {
  uint32_t op;
  uint32_t count;
  uint64_t tag; /* index of the first item */
} cp_rec;

enum { CP_ECHO = 1, CP_PLUS_ONE = 2, CP_CPU = 3, CP_EXIT = 4 };

/* Items in flight per worker in the pipelined (imap) case: 24 KiB of
   records, well under the 64 KiB a pipe holds. */
#define CP_WINDOW 1024u
#define CP_MAX_WORKERS 16

typedef struct cp_worker {
  pid_t pid;
  int req_fd;  /* parent writes */
  int resp_fd; /* parent reads */
} cp_worker;

typedef struct cpool {
  cp_worker w[CP_MAX_WORKERS];
  int n;
  int next; /* round-robin for the round trip */
} cpool;

static int write_full(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t r = write(fd, p, len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* A worker: reads whatever the pipe holds into a buffer, answers every
   complete request in it (the answers of one read go out in one write),
   keeps the partial tail for the next read. */
static void cp_worker_main(int req_fd, int resp_fd) {
  size_t cap = 1u << 16, have = 0, ocap = 1u << 16;
  unsigned char *in = malloc(cap), *outb = malloc(ocap);
  if (!in || !outb) _exit(3);
  for (;;) {
    if (have == cap) {
      unsigned char *bigger = realloc(in, cap * 2);
      if (!bigger) _exit(3);
      in = bigger;
      cap *= 2;
    }
    ssize_t r = read(req_fd, in + have, cap - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(r == 0 ? 0 : 4);
    have += (size_t)r;
    size_t pos = 0, olen = 0;
    while (have - pos >= sizeof(cp_rec)) {
      cp_rec h;
      memcpy(&h, in + pos, sizeof h);
      if (h.op == CP_EXIT) _exit(0);
      size_t body = (size_t)h.count * sizeof(uint64_t);
      size_t need = sizeof h + body;
      if (have - pos < need) {
        /* incomplete: make room for the whole record */
        while (cap < need) {
          unsigned char *bigger = realloc(in, cap * 2);
          if (!bigger) _exit(3);
          in = bigger;
          cap *= 2;
        }
        break;
      }
      if (olen + need > ocap) {
        size_t ncap = ocap;
        while (olen + need > ncap) ncap *= 2;
        unsigned char *bigger = realloc(outb, ncap);
        if (!bigger) _exit(3);
        outb = bigger;
        ocap = ncap;
      }
      memcpy(outb + olen, &h, sizeof h);
      const unsigned char *src = in + pos + sizeof h;
      unsigned char *dst = outb + olen + sizeof h;
      for (uint32_t i = 0; i < h.count; i++) {
        uint64_t v = load_u64(src + (size_t)i * 8);
        if (h.op == CP_PLUS_ONE)
          v += 1;
        else if (h.op == CP_CPU)
          v = cpu_hash(v, cpu_rounds);
        else if (h.op != CP_ECHO)
          _exit(5);
        memcpy(dst + (size_t)i * 8, &v, sizeof v);
      }
      olen += need;
      pos += need;
    }
    if (olen > 0 && write_full(resp_fd, outb, olen) != 0) _exit(4);
    memmove(in, in + pos, have - pos);
    have -= pos;
  }
}

static void cpool_stop(cpool *cp) {
  cp_rec bye = {CP_EXIT, 0, 0};
  for (int i = 0; i < cp->n; i++) {
    if (write_full(cp->w[i].req_fd, &bye, sizeof bye) != 0) kill(cp->w[i].pid, SIGKILL);
    close(cp->w[i].req_fd);
    close(cp->w[i].resp_fd);
  }
  for (int i = 0; i < cp->n; i++) {
    int st;
    while (waitpid(cp->w[i].pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
  cp->n = 0;
}

static int cpool_start(cpool *cp, int n) {
  memset(cp, 0, sizeof *cp);
  for (int i = 0; i < n; i++) {
    int req[2], resp[2];
    if (pipe(req) != 0) goto fail;
    if (pipe(resp) != 0) {
      close(req[0]);
      close(req[1]);
      goto fail;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      close(req[0]);
      close(req[1]);
      close(resp[0]);
      close(resp[1]);
      goto fail;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (int k = 0; k < cp->n; k++) {
        close(cp->w[k].req_fd);
        close(cp->w[k].resp_fd);
      }
      close(req[1]);
      close(resp[0]);
      cp_worker_main(req[0], resp[1]);
      _exit(0);
    }
    close(req[0]);
    close(resp[1]);
    cp->w[i].pid = pid;
    cp->w[i].req_fd = req[1];
    cp->w[i].resp_fd = resp[0];
    cp->n = i + 1;
  }
  return 0;
fail:
  perror("pool_bench: plain pool start");
  cpool_stop(cp);
  return -1;
}

static int set_nonblock(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -1;
  fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, fl);
}

/* One round trip on the next worker (blocking write, blocking read). */
static int cpool_roundtrip(cpool *cp, uint64_t tag, uint64_t value, uint64_t *answer) {
  cp_worker *w = &cp->w[cp->next];
  cp->next = (cp->next + 1) % cp->n;
  unsigned char rec[sizeof(cp_rec) + 8];
  cp_rec h = {CP_ECHO, 1, tag};
  memcpy(rec, &h, sizeof h);
  memcpy(rec + sizeof h, &value, 8);
  if (write_full(w->req_fd, rec, sizeof rec) != 0) return -1;
  if (read_full(w->resp_fd, rec, sizeof rec) != 0) return -1;
  memcpy(&h, rec, sizeof h);
  if (h.op != CP_ECHO || h.count != 1 || h.tag != tag) return -2;
  *answer = load_u64(rec + sizeof h);
  return 0;
}

/* Per-worker buffers of the batch loop. */
typedef struct cp_io {
  unsigned char *out;
  size_t out_len, out_off, out_cap;
  unsigned char *in;
  size_t in_len, in_cap;
  size_t inflight; /* items sent, not yet answered */
} cp_io;

static int grow(unsigned char **buf, size_t *cap, size_t need) {
  if (*cap >= need) return 0;
  size_t ncap = *cap ? *cap : 4096;
  while (ncap < need) ncap *= 2;
  unsigned char *b = realloc(*buf, ncap);
  if (!b) return -1;
  *buf = b;
  *cap = ncap;
  return 0;
}

/*
 * Runs op over in[0..n) in chunks of `chunk` items, answers into out[] by
 * index. Up to `window` items in flight per worker. The parent's ends are
 * non-blocking for the duration and every wait is one poll() over all of
 * them, so a worker blocked writing answers never deadlocks against the
 * parent writing requests.
 */
static cp_io cp_ios[CP_MAX_WORKERS];

static int cpool_batch(cpool *cp, uint32_t op, const uint64_t *in, uint64_t *out, size_t n,
                       size_t chunk, size_t window) {
  int rc = -1;
  size_t next = 0, answered = 0;
  if (window < chunk) window = chunk;
  for (int i = 0; i < cp->n; i++) {
    cp_io *io = &cp_ios[i];
    io->out_len = io->out_off = io->in_len = io->inflight = 0;
    if (set_nonblock(cp->w[i].req_fd, 1) != 0 || set_nonblock(cp->w[i].resp_fd, 1) != 0)
      goto done;
  }
  while (answered < n) {
    struct pollfd pfd[2 * CP_MAX_WORKERS];
    int np = 0, rd[CP_MAX_WORKERS]; /* rd[i]: pfd slot of worker i's answers, or -1 */
    for (int i = 0; i < cp->n; i++) {
      cp_io *io = &cp_ios[i];
      rd[i] = -1;
      /* Queue as many requests as the window allows (round-robin: fill
         worker i only with what its share allows this pass). */
      if (io->out_off == io->out_len) {
        io->out_off = io->out_len = 0;
        while (next < n && io->inflight + chunk <= window) {
          size_t c = n - next < chunk ? n - next : chunk;
          cp_rec h = {op, (uint32_t)c, (uint64_t)next};
          if (grow(&io->out, &io->out_cap, io->out_len + sizeof h + c * 8) != 0) goto done;
          memcpy(io->out + io->out_len, &h, sizeof h);
          memcpy(io->out + io->out_len + sizeof h, in + next, c * 8);
          io->out_len += sizeof h + c * 8;
          io->inflight += c;
          next += c;
          if (chunk > 1) break; /* big records: one at a time, spread over workers */
        }
      }
      if (io->out_off < io->out_len) {
        ssize_t r = write(cp->w[i].req_fd, io->out + io->out_off, io->out_len - io->out_off);
        if (r > 0) io->out_off += (size_t)r;
        else if (r < 0 && errno != EAGAIN && errno != EINTR) goto done;
      }
      if (io->out_off < io->out_len) pfd[np++] = (struct pollfd){cp->w[i].req_fd, POLLOUT, 0};
      if (io->inflight > 0) {
        rd[i] = np;
        pfd[np++] = (struct pollfd){cp->w[i].resp_fd, POLLIN, 0};
      }
    }
    if (np == 0) goto done; /* nothing in flight, yet not finished: a bug */
    if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR) goto done;
    for (int i = 0; i < cp->n; i++) {
      cp_io *io = &cp_ios[i];
      if (rd[i] < 0 || pfd[rd[i]].revents == 0) continue;
      if (grow(&io->in, &io->in_cap, io->in_len + 65536) != 0) goto done;
      ssize_t r = read(cp->w[i].resp_fd, io->in + io->in_len, io->in_cap - io->in_len);
      if (r == 0) goto done; /* worker gone */
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        goto done;
      }
      io->in_len += (size_t)r;
      size_t pos = 0;
      while (io->in_len - pos >= sizeof(cp_rec)) {
        cp_rec h;
        memcpy(&h, io->in + pos, sizeof h);
        size_t need = sizeof h + (size_t)h.count * 8;
        if (io->in_len - pos < need) break;
        if (h.op != op || h.count == 0 || h.tag >= n || h.count > n - h.tag ||
            h.count > io->inflight)
          goto done;
        memcpy(out + h.tag, io->in + pos + sizeof h, (size_t)h.count * 8);
        io->inflight -= h.count;
        answered += h.count;
        pos += need;
      }
      memmove(io->in, io->in + pos, io->in_len - pos);
      io->in_len -= pos;
    }
  }
  rc = 0;
done:
  for (int i = 0; i < cp->n; i++) {
    set_nonblock(cp->w[i].req_fd, 0);
    set_nonblock(cp->w[i].resp_fd, 0);
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                     */

typedef struct bench_ctx {
  mproc_pool *pool;
  cpool cp;
  uint64_t counter; /* varies the round-trip argument */
  /* imap and map: inputs in[i] = seed + i, answers must be in[i] + 1 */
  uint64_t *in;
  mproc_bytes *items;
  uint64_t *out;     /* plain pool's answers */
  unsigned char *seen;
  size_t imap_n;
  /* cpu */
  uint64_t cpu_in[CPU_ITEMS];
  uint64_t cpu_expect[CPU_ITEMS];
  mproc_bytes cpu_items[CPU_ITEMS];
  uint64_t cpu_out[CPU_ITEMS];
} bench_ctx;

static void report_mproc(const char *what, int rc) {
  fprintf(stderr, "pool_bench: %s: %s\n", what, mproc_strerror(rc));
}

static int op_rtt_mproc(void *vp) {
  bench_ctx *b = vp;
  uint64_t v = 0x5eed000000000000ULL + b->counter++;
  mproc_result *r = NULL;
  int rc = mproc_pool_apply_async(b->pool, task_echo, &v, sizeof v, NULL, &r);
  if (rc != MPROC_OK) {
    report_mproc("apply_async", rc);
    return rc;
  }
  const void *data = NULL;
  size_t len = 0;
  rc = mproc_result_get(r, &data, &len, MPROC_FOREVER);
  int bad = rc != MPROC_OK || len != sizeof v || load_u64(data) != v;
  mproc_result_free(r);
  if (bad) {
    if (rc != MPROC_OK) report_mproc("result_get", rc);
    else fprintf(stderr, "pool_bench: rtt: wrong answer\n");
    return 1;
  }
  return 0;
}

static int op_rtt_cpool(void *vp) {
  bench_ctx *b = vp;
  uint64_t v = 0x5eed000000000000ULL + b->counter++, answer = 0;
  int rc = cpool_roundtrip(&b->cp, b->counter, v, &answer);
  if (rc != 0 || answer != v) {
    fprintf(stderr, "pool_bench: plain pool round trip failed (%d)\n", rc);
    return 1;
  }
  return 0;
}

static int op_imap_mproc(void *vp) {
  bench_ctx *b = vp;
  size_t n = b->imap_n;
  mproc_iter *it = NULL;
  int rc = mproc_pool_imap_unordered(b->pool, task_plus_one, b->items, n, 1, NULL, &it);
  if (rc != MPROC_OK) {
    report_mproc("imap_unordered", rc);
    return rc;
  }
  memset(b->seen, 0, n);
  size_t got = 0;
  for (;;) {
    size_t idx = 0;
    const void *data = NULL;
    size_t len = 0;
    rc = mproc_iter_next(it, &idx, &data, &len, MPROC_FOREVER);
    if (rc == MPROC_DONE) break;
    if (rc != MPROC_OK || idx >= n || len != 8 || b->seen[idx] ||
        load_u64(data) != b->in[idx] + 1) {
      if (rc != MPROC_OK) report_mproc("iter_next", rc);
      else fprintf(stderr, "pool_bench: imap: wrong answer for item %zu\n", idx);
      mproc_iter_free(it);
      return 1;
    }
    b->seen[idx] = 1;
    got++;
  }
  mproc_iter_free(it);
  if (got != n) {
    fprintf(stderr, "pool_bench: imap: %zu answers for %zu items\n", got, n);
    return 1;
  }
  return 0;
}

static int check_plus_one(const uint64_t *in, const uint64_t *out, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++) {
    if (out[i] != in[i] + 1) {
      fprintf(stderr, "pool_bench: %s: wrong answer for item %zu\n", what, i);
      return 1;
    }
  }
  return 0;
}

static int op_imap_cpool(void *vp) {
  bench_ctx *b = vp;
  memset(b->out, 0, b->imap_n * sizeof *b->out);
  if (cpool_batch(&b->cp, CP_PLUS_ONE, b->in, b->out, b->imap_n, 1, CP_WINDOW) != 0) {
    fprintf(stderr, "pool_bench: plain pool imap failed\n");
    return 1;
  }
  return check_plus_one(b->in, b->out, b->imap_n, "plain pool imap");
}

static size_t auto_chunk(size_t n, int workers) {
  size_t div = 4 * (size_t)workers;
  return n == 0 ? 1 : (n + div - 1) / div;
}

static int op_map_mproc(void *vp) {
  bench_ctx *b = vp;
  mproc_bytes *res = NULL;
  int rc = mproc_pool_map(b->pool, task_plus_one, b->items, MAP_ITEMS, 0, NULL, &res);
  if (rc != MPROC_OK) {
    report_mproc("map", rc);
    return rc;
  }
  for (size_t i = 0; i < MAP_ITEMS; i++) {
    if (res[i].len != 8 || load_u64(res[i].data) != b->in[i] + 1) {
      fprintf(stderr, "pool_bench: map: wrong answer for item %zu\n", i);
      mproc_free(res);
      return 1;
    }
  }
  mproc_free(res);
  return 0;
}

static int op_map_cpool(void *vp) {
  bench_ctx *b = vp;
  size_t chunk = auto_chunk(MAP_ITEMS, b->cp.n);
  if (cpool_batch(&b->cp, CP_PLUS_ONE, b->in, b->out, MAP_ITEMS, chunk, 2 * chunk) != 0) {
    fprintf(stderr, "pool_bench: plain pool map failed\n");
    return 1;
  }
  return check_plus_one(b->in, b->out, MAP_ITEMS, "plain pool map");
}

static int check_cpu(const bench_ctx *b, const uint64_t *out, const char *what) {
  for (size_t i = 0; i < CPU_ITEMS; i++) {
    if (out[i] != b->cpu_expect[i]) {
      fprintf(stderr, "pool_bench: %s: wrong hash for item %zu\n", what, i);
      return 1;
    }
  }
  return 0;
}

static int op_cpu_serial(void *vp) {
  bench_ctx *b = vp;
  uint64_t out[CPU_ITEMS];
  for (size_t i = 0; i < CPU_ITEMS; i++) out[i] = cpu_hash(b->cpu_in[i], cpu_rounds);
  return check_cpu(b, out, "serial");
}

static int op_cpu_mproc(void *vp) {
  bench_ctx *b = vp;
  mproc_bytes *res = NULL;
  int rc = mproc_pool_map(b->pool, task_cpu, b->cpu_items, CPU_ITEMS, 0, &cpu_rounds, &res);
  if (rc != MPROC_OK) {
    report_mproc("map (cpu)", rc);
    return rc;
  }
  uint64_t out[CPU_ITEMS];
  for (size_t i = 0; i < CPU_ITEMS; i++) out[i] = res[i].len == 8 ? load_u64(res[i].data) : 0;
  mproc_free(res);
  return check_cpu(b, out, "mproc cpu");
}

static int op_cpu_cpool(void *vp) {
  bench_ctx *b = vp;
  size_t chunk = auto_chunk(CPU_ITEMS, b->cp.n);
  memset(b->cpu_out, 0, sizeof b->cpu_out);
  if (cpool_batch(&b->cp, CP_CPU, b->cpu_in, b->cpu_out, CPU_ITEMS, chunk, 2 * chunk) != 0) {
    fprintf(stderr, "pool_bench: plain pool cpu failed\n");
    return 1;
  }
  return check_cpu(b, b->cpu_out, "plain pool cpu");
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                    */

typedef struct scenario {
  const char *id;
  const char *title;
  size_t calls, quick_calls, warmup;
  size_t items; /* operations per call */
  bench_case cases[3];
  const char *peers[3];
  size_t ncases;
  size_t baseline; /* row the human table compares with */
} scenario;

static void print_record(const scenario *sc, size_t k, const bench_stats *s) {
  const bench_case *c = &sc->cases[k];
  printf("@bench\tid=%s\tscenario=%s\tpeer=%s\tlabel=%s\titems=%zu\titerations=%zu"
         "\tops_per_call=%zu\tmedian_us=%.4f\tmean_us=%.4f\tmin_us=%.4f\tp10_us=%.4f"
         "\tp90_us=%.4f\tmax_us=%.4f\tstddev_us=%.4f\tops_per_s=%.1f\n",
         c->id, sc->id, sc->peers[k], c->label, sc->items, s->iterations, s->ops_per_call,
         s->median_us, s->mean_us, s->min_us, s->p10_us, s->p90_us, s->max_us, s->stddev_us,
         s->median_us > 0 ? 1e6 / s->median_us : 0.0);
}


static int parse_size(const char *opt, const char *text, size_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text ? text : "", &end, 10);
  if (!text || !*text || *text == '-' || *end || errno || v == 0 || v > 100000000ULL) {
    fprintf(stderr, "%s: expected a positive count, got '%s'\n", opt, text ? text : "");
    return -1;
  }
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv) {
  /* Options of our own come out first; the rest go to the harness. Whether
     --iterations / --warmup were given decides between them and each
     scenario's own defaults. */
  const char *only = NULL;
  size_t workers = 2, imap_n = IMAP_ITEMS;
  int have_iter = 0, have_warmup = 0;
  char **hargv = calloc((size_t)argc + 1, sizeof *hargv);
  if (!hargv) return 1;
  int hargc = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (i > 0 && strcmp(a, "--scenario") == 0) {
      if (!val) {
        fprintf(stderr, "--scenario: expected rtt, imap, map or cpu\n");
        return 2;
      }
      only = val;
      i++;
      continue;
    }
    if (i > 0 && (strcmp(a, "--workers") == 0 || strcmp(a, "--imap-items") == 0)) {
      size_t *dst = strcmp(a, "--workers") == 0 ? &workers : &imap_n;
      if (parse_size(a, val, dst) != 0) return 2;
      i++;
      continue;
    }
    if (strcmp(a, "--iterations") == 0) have_iter = 1;
    if (strcmp(a, "--warmup") == 0) have_warmup = 1;
    hargv[hargc++] = argv[i];
  }
  if (workers > CP_MAX_WORKERS) {
    fprintf(stderr, "--workers: at most %d\n", CP_MAX_WORKERS);
    return 2;
  }
  bench_config cfg;
  bench_config_init(&cfg, 100);
  int prc = bench_parse_args(
      &cfg, hargc, hargv,
      "mproc_pool against a plain C fork+pipe pool (2 workers each), interleaved:\n"
      "  rtt   apply_async + get of a trivial task, one at a time (per round trip)\n"
      "  imap  imap_unordered chunksize 1 over --imap-items items (default 10000; per item)\n"
      "  map   map of 1,000,000 8-byte items, chunksize 0 = automatic (per item)\n"
      "  cpu   64 CPU-bound items (~50 ms of hashing): serial vs the pools (per set)\n"
      "extra options: --scenario rtt|imap|map|cpu (default: all), --workers N (default 2),\n"
      "--imap-items N. Without --iterations each scenario uses its own call count\n"
      "(rtt 3000, imap 15, map 9, cpu 15; --quick: 300, 3, 3, 3).");
  if (prc != 0) return prc > 0 ? 0 : 2;
  if (only && strcmp(only, "rtt") && strcmp(only, "imap") && strcmp(only, "map") &&
      strcmp(only, "cpu")) {
    fprintf(stderr, "--scenario: expected rtt, imap, map or cpu, got '%s'\n", only);
    return 2;
  }

  static bench_ctx b;
  size_t nin = imap_n > MAP_ITEMS ? imap_n : MAP_ITEMS;
  b.imap_n = imap_n;
  b.in = malloc(nin * sizeof *b.in);
  b.out = calloc(nin, sizeof *b.out);
  b.items = malloc(nin * sizeof *b.items);
  b.seen = malloc(nin);
  if (!b.in || !b.out || !b.items || !b.seen) {
    fprintf(stderr, "pool_bench: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < nin; i++) {
    b.in[i] = 0x1000000000ULL + i * 7;
    b.items[i].data = &b.in[i];
    b.items[i].len = sizeof b.in[i];
  }
  for (size_t i = 0; i < CPU_ITEMS; i++) {
    b.cpu_in[i] = 0xc0ffee00ULL + i;
    b.cpu_expect[i] = cpu_hash(b.cpu_in[i], cpu_rounds);
    b.cpu_items[i].data = &b.cpu_in[i];
    b.cpu_items[i].len = 8;
  }

  /* The plain pool forks first (see the top of the file). */
  if (cpool_start(&b.cp, (int)workers) != 0) return 1;
  int rc = mproc_pool_new(&b.pool, (int)workers);
  if (rc == MPROC_OK) rc = mproc_pool_start(b.pool);
  if (rc != MPROC_OK) {
    report_mproc("pool start", rc);
    cpool_stop(&b.cp);
    return 1;
  }

  scenario scs[] = {
      {"rtt", "round trip, trivial task (apply_async + get, one at a time; per round trip)",
       3000, 300, 200, 1,
       {{"rtt_mproc", "mproc apply_async+result_get", op_rtt_mproc, &b, 1},
        {"rtt_cpool", "plain C fork+pipe pool, 24 B records", op_rtt_cpool, &b, 1}},
       {"mproc", "cpool"}, 2, 1},
      {"imap", "imap_unordered, chunksize 1 (per item)", 15, 3, 2, imap_n,
       {{"imap_mproc", "mproc imap_unordered chunksize 1", op_imap_mproc, &b, imap_n},
        {"imap_cpool", "plain C pool, 1 item per record, pipelined", op_imap_cpool, &b, imap_n}},
       {"mproc", "cpool"}, 2, 1},
      {"map", "map over 1,000,000 8-byte items, automatic chunksize (per item)", 9, 3, 1,
       MAP_ITEMS,
       {{"map_mproc", "mproc map chunksize 0 (auto)", op_map_mproc, &b, MAP_ITEMS},
        {"map_cpool", "plain C pool, same chunks", op_map_cpool, &b, MAP_ITEMS}},
       {"mproc", "cpool"}, 2, 1},
      {"cpu", "CPU-bound: 64 items of integer hashing (per item set)", 15, 3, 2, 1,
       {{"cpu_serial", "serial, in this process", op_cpu_serial, &b, 1},
        {"cpu_mproc", "mproc map, 2 workers", op_cpu_mproc, &b, 1},
        {"cpu_cpool", "plain C pool, 2 workers", op_cpu_cpool, &b, 1}},
       {"serial", "mproc", "cpool"}, 3, 0},
  };
  if (workers != 2) {
    scs[3].cases[1].label = "mproc map";
    scs[3].cases[2].label = "plain C pool";
  }

  bench_print_machine(stdout, cfg.format);
  if (cfg.format & BENCH_FORMAT_MACHINE)
    printf("@pool_config\tworkers=%zu\timap_items=%zu\tmap_items=%u\tcpu_items=%d"
           "\tcpu_rounds=%u\tcpool_window=%u\tloadavg=%.2f\n",
           workers, imap_n, MAP_ITEMS, CPU_ITEMS, cpu_rounds, CP_WINDOW, bench_loadavg1());
  fflush(stdout);

  int status = 0;
  for (size_t s = 0; s < sizeof scs / sizeof scs[0] && status == 0; s++) {
    scenario *sc = &scs[s];
    if (only && strcmp(only, sc->id) != 0) continue;
    bench_config run = cfg;
    if (!have_iter) run.iterations = cfg.quick ? sc->quick_calls : sc->calls;
    if (!have_warmup) run.warmup = sc->warmup;
    bench_stats st[3];
    if (bench_run(&run, sc->cases, sc->ncases, st) != 0) {
      status = 1;
      break;
    }
    if (cfg.format & BENCH_FORMAT_HUMAN) {
      char title[160];
      snprintf(title, sizeof title, "\n%s: %s", sc->id, sc->title);
      bench_print_table(stdout, title, sc->cases, st, sc->ncases, sc->baseline);
    }
    if (cfg.format & BENCH_FORMAT_MACHINE)
      for (size_t k = 0; k < sc->ncases; k++) print_record(sc, k, &st[k]);
    fflush(stdout);
  }

  if (cfg.format & BENCH_FORMAT_MACHINE) printf("@pool_end\tloadavg=%.2f\n", bench_loadavg1());

  /* Graceful end: every task answered, every worker gone. */
  rc = mproc_pool_close(b.pool);
  if (rc == MPROC_OK) rc = mproc_pool_join(b.pool, 30.0);
  if (rc != MPROC_OK) {
    report_mproc("close/join", rc);
    status = 1;
  }
  mproc_pool_free(b.pool);
  cpool_stop(&b.cp);
  for (int i = 0; i < CP_MAX_WORKERS; i++) {
    free(cp_ios[i].out);
    free(cp_ios[i].in);
  }
  free(b.in);
  free(b.out);
  free(b.items);
  free(b.seen);
  free(hargv);
  return status;
}
