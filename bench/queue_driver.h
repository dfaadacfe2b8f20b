/**
 * @file queue_driver.h
 * The driver shared by mproc's queue benchmarks (queue_throughput.c, and
 * queue_boost.cc for the Boost.Interprocess peer).
 *
 * A peer (mproc, a pipe, POSIX mq, a raw shared-memory ring...) is a
 * qb_peer: a few callbacks that open channels, send one message and receive
 * one message. The driver does everything else, identically for every peer:
 *
 * - Throughput scenarios (64 B, 4 KiB, 1 MiB; 1 producer / 1 consumer and
 *   2 / 2): each measured call forks the producers and consumers, releases
 *   them together through a futex barrier, and times from the first
 *   producer's start to the last consumer's end (fork and exit are not
 *   timed). Every message carries its producer's index and a sequence
 *   number at its head and a check word at its tail; consumers verify the
 *   per-producer order (strictly increasing, and gap-free with one
 *   consumer), the length and the tail, and the parent checks that the
 *   number of messages and the sum of the sequence numbers add up, so
 *   every message arrived exactly once. Each producer ends with one stop
 *   message; a consumer stops at the first stop it takes, so with C
 *   consumers and C producers every consumer takes exactly one.
 * - Ping-pong (64 B): a requester sends on channel 0 and waits for the
 *   echo on channel 1; every round trip is timed on its own. "spin" sends
 *   the next request at once (the responder is awake); "sleep" waits
 *   QB_SLEEP_GAP_NS, spinning on the clock, before each request, so the
 *   responder has gone to sleep in its blocking receive.
 *
 * The peers of one scenario are measured in one process, interleaved round
 * by round with the order rotating (as bench_run() does in harness.h), and
 * every peer gets the same depth (messages in flight) in its own format.
 *
 * Output: the @machine record, then one record per (scenario, peer):
 *
 *   @bench  id=q_<scenario>_<peer>  label=...  iterations=...  ops_per_call=...
 *           median_us=... (per message, or per round trip) ... ops_per_s=...
 *           scenario=...  kind=throughput|latency  peer=...  msg_size=...
 *           producers=...  consumers=...  messages=...  gib_per_s=...
 *   @skip   id=...  scenario=...  peer=...  label=...  reason=...
 *   @fail   id=...  scenario=...  peer=...  label=...  reason=...
 *
 * (tab-separated, one line each; readers ignore what they do not know).
 * The program exits 1 when a peer failed (a message lost, torn or out of
 * order, a child that died...), after printing everything else.
 */
#ifndef MPROC_BENCH_QUEUE_DRIVER_H
#define MPROC_BENCH_QUEUE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What a set of channels is opened for. */
enum qb_mode {
  QB_THROUGHPUT = 1, /**< producers send on chan = their index, consumers receive likewise */
  QB_PINGPONG = 2    /**< channel 0: requests, channel 1: replies */
};

/** The scenario a peer opens its channels for. */
typedef struct qb_setup {
  int mode;         /**< enum qb_mode */
  size_t msg_size;  /**< every message has exactly this many bytes */
  size_t depth;     /**< messages in flight the channel should hold */
  int producers;    /**< throughput: producer (and consumer) count */
  int consumers;
} qb_setup;

/** Returned by qb_peer.open when the peer cannot run the scenario. */
#define QB_SKIP 1

/** One competitor. Callbacks return 0 on success. */
typedef struct qb_peer {
  const char *id;    /**< [a-z0-9_], used in record ids */
  const char *label; /**< human description */
  /** Bit set of (1 << enum qb_mode) plus QB_CAN_SLEEP_PINGPONG. */
  unsigned modes;
  /**
   * Create the channels, in the parent, before any child is forked. On
   * QB_SKIP or -1, write the reason to @p why.
   */
  int (*open)(void **state, const qb_setup *s, char *why, size_t why_len);
  /** Optional: in the parent before each measured call (no child alive). */
  void (*prepare)(void *state);
  /** Send one message; may block until there is room. */
  int (*send)(void *state, int chan, const void *buf, size_t len);
  /** Receive one message into buf (cap bytes); may block until one comes. */
  int (*recv)(void *state, int chan, void *buf, size_t cap, size_t *len);
  /** Optional: in a child, after its work, before it exits. */
  void (*child_done)(void *state);
  /** Release everything, in the parent. */
  void (*close)(void *state);
} qb_peer;

#define QB_CAN_THROUGHPUT (1u << QB_THROUGHPUT)
#define QB_CAN_PINGPONG (1u << QB_PINGPONG)
/** Worth measuring with a sleeping responder (it blocks, not only spins). */
#define QB_CAN_SLEEP_PINGPONG (1u << 8)

/** Gap before each request of the "sleep" ping-pong: 1 ms. */
#define QB_SLEEP_GAP_NS 1000000ull

/** Monotonic nanoseconds, comparable between processes. */
uint64_t qb_now_ns(void);

/** One spin-wait pause. */
void qb_cpu_relax(void);

/** Shared (cross-process) futex helpers. */
int qb_futex_wait(uint32_t *word, uint32_t expected);
void qb_futex_wake(uint32_t *word, int n);

/**
 * Run the benchmark over @p peers: parse argc/argv (see --help), measure,
 * print. Returns the process exit status.
 */
int qb_main(int argc, char **argv, const char *what, const qb_peer *const *peers, size_t npeers);

#ifdef __cplusplus
}
#endif

#endif
