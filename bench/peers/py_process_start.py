#!/usr/bin/env python3
"""Python peer of bench/process_start.c: multiprocessing.Process start+join.

Times, per operation, what a Python program pays to run a trivial function
in a child process with the fork start method:

    p = multiprocessing.get_context("fork").Process(target=f)
    p.start(); p.join()

(object creation included, as mproc_process_new is in the C benchmark).
Standard library only. Takes the same options as the C benchmarks
(--iterations, --warmup, --quick, --format human|machine|both) and prints
the same "@bench" record (see bench/harness.h), so bench/run can put it
in one table with them. Statistics follow harness.h too: quantiles
interpolate linearly between sorted samples.
"""

import argparse
import multiprocessing
import platform
import sys
import time

from benchstats import stats

DEFAULT_ITERATIONS = 300


def trivial_target():
    """The child's whole job: return at once (exit code 0)."""


def default_warmup(iterations):
    return max(10, min(100, iterations // 10))


def one_run(ctx):
    p = ctx.Process(target=trivial_target)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"child exited with {p.exitcode}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=None, help="measured runs")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured runs first")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--format", choices=("human", "machine", "both"), default="both")
    args = ap.parse_args(argv)

    iterations = args.iterations
    if iterations is None:
        iterations = max(20, DEFAULT_ITERATIONS // 10) if args.quick else DEFAULT_ITERATIONS
    if iterations <= 0:
        ap.error("--iterations must be positive")
    warmup = default_warmup(iterations) if args.warmup is None else args.warmup
    if warmup < 0:
        ap.error("--warmup must not be negative")

    ctx = multiprocessing.get_context("fork")
    for _ in range(warmup):
        one_run(ctx)
    clock = time.perf_counter_ns  # monotonic, like CLOCK_MONOTONIC in C
    samples = []
    for _ in range(iterations):
        t0 = clock()
        one_run(ctx)
        t1 = clock()
        samples.append((t1 - t0) / 1000.0)
    st = stats(samples)

    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    label = f"python multiprocessing Process fork ({runtime})"
    if args.format in ("machine", "both"):
        fields = ["@bench", "id=python_mp_fork", f"label={label}", f"runtime={runtime}",
                  f"iterations={st['iterations']}", f"ops_per_call={st['ops_per_call']}"]
        for key in ("median_us", "mean_us", "min_us", "p10_us", "p90_us", "max_us",
                    "stddev_us"):
            fields.append(f"{key}={st[key]:.3f}")
        fields.append(f"ops_per_s={1e6 / st['median_us']:.1f}")
        print("\t".join(fields))
    if args.format in ("human", "both"):
        print(f"{label}: {st['iterations']} runs, median {st['median_us']:.2f} us, "
              f"mean {st['mean_us']:.2f} us, p10 {st['p10_us']:.2f} us, "
              f"p90 {st['p90_us']:.2f} us")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
