/* Timing harness for mproc's benchmarks; see harness.h for the contract. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t default_warmup(size_t iterations) {
  size_t w = iterations / 10;
  if (w < 10) w = 10;
  if (w > 100) w = 100;
  return w;
}

int bench_parse_format(const char *value, int *format) {
  if (value && strcmp(value, "human") == 0)
    *format = BENCH_FORMAT_HUMAN;
  else if (value && strcmp(value, "machine") == 0)
    *format = BENCH_FORMAT_MACHINE;
  else if (value && strcmp(value, "both") == 0)
    *format = BENCH_FORMAT_BOTH;
  else {
    fprintf(stderr, "--format: expected human, machine or both\n");
    return -1;
  }
  return 0;
}

double bench_loadavg1(void) {
  double v = -1.0;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &v) != 1) v = -1.0;
    fclose(f);
  }
  return v;
}

void bench_config_init(bench_config *cfg, size_t default_iterations) {
  cfg->iterations = default_iterations;
  cfg->warmup = default_warmup(default_iterations);
  cfg->format = BENCH_FORMAT_BOTH;
  cfg->quick = 0;
}

/* Parse a positive count; returns 0 on success. */
static int parse_count(const char *opt, const char *text, size_t *out, int allow_zero) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text ? text : "", &end, 10);
  if (!text || *text == '\0' || *text == '-' || *end != '\0' || errno != 0 ||
      (v == 0 && !allow_zero) || v > (unsigned long long)SIZE_MAX / 2) {
    fprintf(stderr, "%s: expected a %s count, got '%s'\n", opt,
            allow_zero ? "non-negative" : "positive", text ? text : "");
    return -1;
  }
  *out = (size_t)v;
  return 0;
}

static void print_usage(FILE *f, const char *prog, const char *what) {
  fprintf(f,
          "usage: %s [--iterations N] [--warmup N] [--quick] [--format human|machine|both]\n"
          "%s%s"
          "  --iterations N  measured calls per case\n"
          "  --warmup N      unmeasured calls per case before measuring\n"
          "  --quick         short smoke run (a tenth of the default iterations)\n"
          "  --format F      human table, machine-readable @ records, or both (default)\n",
          prog, what ? what : "", what ? "\n" : "");
}

int bench_parse_args(bench_config *cfg, int argc, char **argv, const char *what) {
  const char *prog = argc > 0 ? argv[0] : "bench";
  int have_iterations = 0, have_warmup = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_usage(stdout, prog, what);
      return 1;
    } else if (strcmp(a, "--quick") == 0) {
      cfg->quick = 1;
    } else if (strcmp(a, "--iterations") == 0) {
      if (parse_count(a, val, &cfg->iterations, 0) != 0) return -1;
      have_iterations = 1;
      i++;
    } else if (strcmp(a, "--warmup") == 0) {
      if (parse_count(a, val, &cfg->warmup, 1) != 0) return -1;
      have_warmup = 1;
      i++;
    } else if (strcmp(a, "--format") == 0) {
      if (bench_parse_format(val, &cfg->format) != 0) return -1;
      i++;
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      print_usage(stderr, prog, what);
      return -1;
    }
  }
  if (cfg->quick && !have_iterations) {
    cfg->iterations /= 10;
    if (cfg->iterations < 20) cfg->iterations = 20;
  }
  if (!have_warmup) cfg->warmup = default_warmup(cfg->iterations);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Quantile q of sorted samples, interpolating between neighbours. */
static double quantile(const double *sorted, size_t n, double q) {
  double pos = q * (double)(n - 1);
  size_t lo = (size_t)pos;
  if (lo + 1 >= n) return sorted[n - 1];
  double frac = pos - (double)lo;
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

int bench_stats_compute(const double *samples_us, size_t n, size_t ops_per_call,
                        bench_stats *out) {
  if (n == 0) return -1;
  double *sorted = malloc(n * sizeof *sorted);
  if (!sorted) return -1;
  memcpy(sorted, samples_us, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_double);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += sorted[i];
  double mean = sum / (double)n;
  double sq = 0.0;
  for (size_t i = 0; i < n; i++) sq += (sorted[i] - mean) * (sorted[i] - mean);
  out->iterations = n;
  out->ops_per_call = ops_per_call ? ops_per_call : 1;
  out->median_us = quantile(sorted, n, 0.5);
  out->mean_us = mean;
  out->min_us = sorted[0];
  out->p10_us = quantile(sorted, n, 0.1);
  out->p90_us = quantile(sorted, n, 0.9);
  out->max_us = sorted[n - 1];
  out->stddev_us = n > 1 ? sqrt(sq / (double)(n - 1)) : 0.0;
  free(sorted);
  return 0;
}

int bench_run(const bench_config *cfg, const bench_case *cases, size_t ncases,
              bench_stats *out) {
  if (ncases == 0 || cfg->iterations == 0) return -1;
  double *samples = calloc(ncases * cfg->iterations, sizeof *samples);
  if (!samples) {
    fprintf(stderr, "bench: out of memory for %zu samples\n", ncases * cfg->iterations);
    return -1;
  }
  int rc = 0;
  /* Warm-up, interleaved like the measurement: page faults in fresh code
     paths, lazy binding, allocator pools and first-time library set-up. */
  for (size_t i = 0; i < cfg->warmup && rc == 0; i++) {
    for (size_t k = 0; k < ncases; k++) {
      const bench_case *c = &cases[(i + k) % ncases];
      int r = c->op(c->ctx);
      if (r != 0) {
        fprintf(stderr, "bench: %s failed during warm-up (rc %d)\n", c->id, r);
        rc = -1;
        break;
      }
    }
  }
  /* Measurement. Round i starts with case i mod ncases, so each case runs
     first, second... equally often, and no case always follows another. */
  for (size_t i = 0; i < cfg->iterations && rc == 0; i++) {
    for (size_t k = 0; k < ncases; k++) {
      size_t idx = (i + k) % ncases;
      const bench_case *c = &cases[idx];
      size_t ops = c->ops_per_call ? c->ops_per_call : 1;
      uint64_t t0 = bench_now_ns();
      int r = c->op(c->ctx);
      uint64_t t1 = bench_now_ns();
      if (r != 0) {
        fprintf(stderr, "bench: %s failed at iteration %zu (rc %d)\n", c->id, i, r);
        rc = -1;
        break;
      }
      samples[idx * cfg->iterations + i] = (double)(t1 - t0) / 1000.0 / (double)ops;
    }
  }
  for (size_t k = 0; k < ncases && rc == 0; k++) {
    if (bench_stats_compute(samples + k * cfg->iterations, cfg->iterations,
                            cases[k].ops_per_call, &out[k]) != 0) {
      fprintf(stderr, "bench: out of memory computing statistics\n");
      rc = -1;
    }
  }
  free(samples);
  return rc;
}

/* Copy src into dst (size n), turning tabs and newlines into spaces and
   squeezing runs of blanks, so the text is safe in a @ record. */
static void copy_clean(char *dst, size_t n, const char *src) {
  size_t j = 0;
  int blank = 1; /* drops leading blanks too */
  for (size_t i = 0; src[i] != '\0' && j + 1 < n; i++) {
    char ch = src[i];
    if (ch == '\t' || ch == '\n' || ch == '\r' || ch == ' ') {
      if (blank) continue;
      ch = ' ';
      blank = 1;
    } else {
      blank = 0;
    }
    dst[j++] = ch;
  }
  while (j > 0 && dst[j - 1] == ' ') j--;
  dst[j] = '\0';
}

/* The value of the first "key : value" line in /proc/cpuinfo whose key is one
   of keys (x86 has "model name"; arm64 boards vary). */
static int cpuinfo_value(char *dst, size_t n) {
  static const char *const keys[] = {"model name", "Model", "cpu model", "Hardware", "cpu"};
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return -1;
  char line[512];
  char found[sizeof keys / sizeof keys[0]][256];
  memset(found, 0, sizeof found);
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    size_t klen = (size_t)(colon - line);
    while (klen > 0 && (line[klen - 1] == ' ' || line[klen - 1] == '\t')) klen--;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      if (found[k][0] == '\0' && strlen(keys[k]) == klen && strncmp(line, keys[k], klen) == 0)
        copy_clean(found[k], sizeof found[k], colon + 1);
    }
  }
  fclose(f);
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    if (found[k][0] != '\0') {
      copy_clean(dst, n, found[k]);
      return 0;
    }
  }
  return -1;
}

void bench_machine_describe(bench_machine *m) {
  memset(m, 0, sizeof *m);
  struct utsname u;
  int have_uname = uname(&u) == 0;
  if (cpuinfo_value(m->cpu, sizeof m->cpu) != 0)
    copy_clean(m->cpu, sizeof m->cpu, have_uname ? u.machine : "unknown");

  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    m->nproc = CPU_COUNT(&set);
  else
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);

  if (have_uname) {
    char buf[3 * sizeof u.release + 3];
    snprintf(buf, sizeof buf, "%s %s %s", u.sysname, u.release, u.machine);
    copy_clean(m->kernel, sizeof m->kernel, buf);
  } else {
    copy_clean(m->kernel, sizeof m->kernel, "unknown");
  }

#ifdef __GLIBC__
  snprintf(m->libc, sizeof m->libc, "glibc %s", gnu_get_libc_version());
#else
  copy_clean(m->libc, sizeof m->libc, "unknown");
#endif

#if defined(__clang__)
  copy_clean(m->cc, sizeof m->cc, "clang " __clang_version__);
#elif defined(__GNUC__)
  copy_clean(m->cc, sizeof m->cc, "gcc " __VERSION__);
#else
  copy_clean(m->cc, sizeof m->cc, "unknown");
#endif
}

void bench_print_machine(FILE *f, int format) {
  bench_machine m;
  bench_machine_describe(&m);
  if (format & BENCH_FORMAT_MACHINE)
    fprintf(f, "@machine\tcpu=%s\tnproc=%ld\tkernel=%s\tlibc=%s\tcc=%s\n", m.cpu, m.nproc,
            m.kernel, m.libc, m.cc);
  if (format & BENCH_FORMAT_HUMAN)
    fprintf(f, "machine: %s, %ld CPUs, %s, %s, %s\n", m.cpu, m.nproc, m.kernel, m.libc, m.cc);
}

void bench_print_record(FILE *f, const bench_case *c, const bench_stats *s) {
  char label[256];
  copy_clean(label, sizeof label, c->label ? c->label : c->id);
  fprintf(f,
          "@bench\tid=%s\tlabel=%s\titerations=%zu\tops_per_call=%zu"
          "\tmedian_us=%.3f\tmean_us=%.3f\tmin_us=%.3f\tp10_us=%.3f\tp90_us=%.3f"
          "\tmax_us=%.3f\tstddev_us=%.3f\tops_per_s=%.1f\n",
          c->id, label, s->iterations, s->ops_per_call, s->median_us, s->mean_us, s->min_us,
          s->p10_us, s->p90_us, s->max_us, s->stddev_us,
          s->median_us > 0 ? 1e6 / s->median_us : 0.0);
}

void bench_print_table(FILE *f, const char *title, const bench_case *cases,
                       const bench_stats *stats, size_t ncases, size_t baseline) {
  int width = 5;
  for (size_t k = 0; k < ncases; k++) {
    int len = (int)strlen(cases[k].label ? cases[k].label : cases[k].id);
    if (len > width) width = len;
  }
  int compare = baseline < ncases;
  if (title) fprintf(f, "%s\n", title);
  fprintf(f, "%-*s %7s %11s %11s %11s %11s%s\n", width, "case", "iters", "median us", "mean us",
          "p10 us", "p90 us", compare ? "   vs base" : "");
  for (size_t k = 0; k < ncases; k++) {
    const bench_stats *s = &stats[k];
    fprintf(f, "%-*s %7zu %11.2f %11.2f %11.2f %11.2f", width,
            cases[k].label ? cases[k].label : cases[k].id, s->iterations, s->median_us,
            s->mean_us, s->p10_us, s->p90_us);
    if (compare && stats[baseline].median_us > 0)
      fprintf(f, "   %6.2fx", s->median_us / stats[baseline].median_us);
    fputc('\n', f);
  }
}

void bench_report(const bench_config *cfg, const char *title, const bench_case *cases,
                  const bench_stats *stats, size_t ncases, size_t baseline) {
  bench_print_machine(stdout, cfg->format);
  if (cfg->format & BENCH_FORMAT_HUMAN)
    bench_print_table(stdout, title, cases, stats, ncases, baseline);
  if (cfg->format & BENCH_FORMAT_MACHINE)
    for (size_t k = 0; k < ncases; k++) bench_print_record(stdout, &cases[k], &stats[k]);
  fflush(stdout);
}
