/**
 * @file harness.h
 * A small timing harness shared by mproc's C benchmarks (bench/).
 *
 * A benchmark program describes what it measures as an array of
 * bench_case entries (one per competitor: mproc, a raw syscall baseline,
 * another library...), hands them to bench_run(), and prints the result with
 * bench_report(). bench_run() interleaves the cases: measured call i of every
 * case runs before call i+1 of any case, and the order inside each round
 * rotates, so all competitors see the same machine conditions (frequency
 * scaling, a noisy neighbour on a VM, page-cache state) and a slow spell
 * hurts them all alike. Results are per *operation*: a case whose callback
 * performs many operations per call (a throughput loop moving 10,000 queue
 * items, say) sets ops_per_call and the harness divides.
 *
 * Typical program:
 *
 *     static int op_a(void *ctx) { ...one operation...; return 0; }
 *     int main(int argc, char **argv) {
 *       bench_config cfg;
 *       bench_config_init(&cfg, 2000);
 *       int rc = bench_parse_args(&cfg, argc, argv, "what this measures");
 *       if (rc != 0) return rc > 0 ? 0 : 2;
 *       bench_case cases[] = {{"a", "A, one op", op_a, NULL, 1}, ...};
 *       bench_stats st[2];
 *       if (bench_run(&cfg, cases, 2, st) != 0) return 1;
 *       bench_report(&cfg, "title", cases, st, 2, 0);
 *       return 0;
 *     }
 *
 * Output formats (selected with --format; both by default):
 * - human: a machine description and an aligned table, with every case's
 *   median compared with the baseline case;
 * - machine: one line per record, the first character '@', then
 *   tab-separated key=value fields (values never contain tabs or newlines):
 *
 *     @machine  cpu=...  nproc=2  kernel=Linux 6.1.0 x86_64  libc=glibc 2.36  cc=gcc 12.2.0
 *     @bench    id=...  label=...  iterations=2000  ops_per_call=1
 *               median_us=...  mean_us=...  min_us=...  p10_us=...  p90_us=...
 *               max_us=...  stddev_us=...  ops_per_s=...
 *
 *   (shown wrapped here; each record is one line). Readers must ignore
 *   fields and record types they do not know, so fields can be added later.
 *   bench/run parses these lines, as do peers written in other languages,
 *   which print the same @bench record for their own measurements.
 *
 * Statistics: quantiles interpolate linearly between order statistics
 * (position q * (n - 1) in the sorted samples), so the median of an even
 * count is the mean of the two middle samples. Compare medians: on a shared
 * VM the mean and the max carry the scheduler's noise.
 */
#ifndef MPROC_BENCH_HARNESS_H
#define MPROC_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * One measured call. Returns 0 on success; any other value aborts the run
 * (a benchmark of an operation that failed measures nothing useful).
 */
typedef int (*bench_op_fn)(void *ctx);

/** One competitor in a benchmark. */
typedef struct bench_case {
  /** Stable machine name, [a-z0-9_] only: scripts key on it. */
  const char *id;
  /** Human description, shown in tables. */
  const char *label;
  /** The measured callback. */
  bench_op_fn op;
  /** Passed to op unchanged. */
  void *ctx;
  /** Operations one call performs (0 is taken as 1). */
  size_t ops_per_call;
} bench_case;

/** Output selection for bench_report(). */
enum bench_format {
  BENCH_FORMAT_HUMAN = 1,
  BENCH_FORMAT_MACHINE = 2,
  BENCH_FORMAT_BOTH = 3
};

/** Run parameters; fill with bench_config_init(), then bench_parse_args(). */
typedef struct bench_config {
  /** Measured calls per case. */
  size_t iterations;
  /** Unmeasured calls per case before measuring. */
  size_t warmup;
  /** Bit set of enum bench_format. */
  int format;
  /** Non-zero when --quick was given. */
  int quick;
} bench_config;

/** Per-operation statistics of one case, in microseconds. */
typedef struct bench_stats {
  size_t iterations;
  size_t ops_per_call;
  double median_us;
  double mean_us;
  double min_us;
  double p10_us;
  double p90_us;
  double max_us;
  double stddev_us;
} bench_stats;

/** Monotonic clock (CLOCK_MONOTONIC) in nanoseconds. */
uint64_t bench_now_ns(void);

/**
 * Defaults: @p default_iterations measured calls, a warm-up of a tenth of
 * that (10 to 100 calls), both output formats.
 */
void bench_config_init(bench_config *cfg, size_t default_iterations);

/**
 * Parse the options every benchmark accepts:
 *   --iterations N   measured calls per case
 *   --warmup N       unmeasured calls per case first
 *   --quick          a tenth of the default iterations (at least 20), for a
 *                    smoke run; --iterations still wins
 *   --format F       human, machine or both
 *   --help
 * @param what  One line saying what the program measures, for --help.
 * @returns 0 to go on, 1 when help was printed (exit 0), -1 on a bad option
 *          (a message went to stderr; exit 2).
 */
int bench_parse_args(bench_config *cfg, int argc, char **argv, const char *what);

/**
 * Parses a --format value ("human", "machine" or "both") into *format.
 * Returns 0, or -1 after printing what was expected.
 */
int bench_parse_format(const char *value, int *format);

/**
 * The 1-minute load average (/proc/loadavg), or -1 if unknown: worth printing
 * next to numbers taken on a machine that may be busy.
 */
double bench_loadavg1(void);

/**
 * Measure every case cfg->iterations times after cfg->warmup calls,
 * interleaved as described at the top of this file.
 * @param[out] out  ncases entries, in the order of @p cases.
 * @returns 0, or -1 when a callback failed or memory ran out (a message went
 *          to stderr).
 */
int bench_run(const bench_config *cfg, const bench_case *cases, size_t ncases,
              bench_stats *out);

/**
 * Statistics of @p n per-operation samples in microseconds (the array is
 * left unchanged). Exposed for benchmarks that collect samples themselves.
 * @returns 0, or -1 when n is 0 or memory ran out.
 */
int bench_stats_compute(const double *samples_us, size_t n, size_t ops_per_call,
                        bench_stats *out);

/** What the machine is: filled by bench_machine_describe(). */
typedef struct bench_machine {
  char cpu[128];    /**< CPU model from /proc/cpuinfo, or the architecture. */
  long nproc;       /**< CPUs this process may run on (like nproc(1)). */
  char kernel[160]; /**< uname: system, release, machine. */
  char libc[64];    /**< "glibc 2.36", or "unknown". */
  char cc[96];      /**< Compiler that built the benchmark. */
} bench_machine;

void bench_machine_describe(bench_machine *m);

/** Print the @machine record (MACHINE format) or a "machine: ..." line. */
void bench_print_machine(FILE *f, int format);

/** Print one @bench record. */
void bench_print_record(FILE *f, const bench_case *c, const bench_stats *s);

/**
 * Print the aligned table. Every row is compared with row @p baseline
 * ("1.00x"); pass (size_t)-1 for no comparison column.
 */
void bench_print_table(FILE *f, const char *title, const bench_case *cases,
                       const bench_stats *stats, size_t ncases, size_t baseline);

/**
 * Print whatever cfg->format asks for to stdout: the machine line, then the
 * table and/or the @bench records.
 */
void bench_report(const bench_config *cfg, const char *title, const bench_case *cases,
                  const bench_stats *stats, size_t ncases, size_t baseline);

#ifdef __cplusplus
}
#endif

#endif
