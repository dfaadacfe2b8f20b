#!/usr/bin/env python3
"""Python peer of bench/process_start.c: multiprocessing.Process start+join.

Times, per operation, what a Python program pays to run a trivial function
in a child process with each start method:

    p = multiprocessing.get_context(method).Process(target=f)
    p.start(); p.join()

(object creation included, as mproc_process_new is in the C benchmark).
--method fork,spawn,forkserver (a list, or all: the default) picks them; each
prints its own "@bench" record, id python_mp_<method>. The forkserver's
server is started (and timed, once) before measuring, as in the C program.
--resident-mib N first writes a bytearray of N MiB, so the parent is that
much larger (resident) when it forks.

Standard library only. Takes the same options as the C benchmarks
(--iterations, --warmup, --quick, --format human|machine|both) and prints
the same "@bench" record (see bench/harness.h), so bench/run can put it
in one table with them. Statistics follow harness.h too: quantiles
interpolate linearly between sorted samples.
"""

import argparse
import multiprocessing
import multiprocessing.forkserver
import platform
import resource
import sys
import time

from benchstats import stats

# Measured runs per method. A spawn costs 70-90 ms (a fresh interpreter
# that imports this module), so it gets fewer runs to keep bench/run short.
DEFAULT_ITERATIONS = {"fork": 300, "forkserver": 300, "spawn": 30}
METHODS = ("fork", "spawn", "forkserver")

# Kept alive for the whole run: the memory that makes the parent large.
_resident = None


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


def rss_mib():
    """Resident set size in MiB (/proc/self/statm), or -1 if unknown."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() // (1 << 20)
    except (OSError, ValueError, IndexError):
        return -1


def method_list(text):
    """--method: "all" or a comma-separated list of METHODS, in their order."""
    if text == "all":
        return METHODS
    chosen = set(text.split(","))
    unknown = chosen - set(METHODS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown start method: {', '.join(sorted(unknown))}")
    return tuple(m for m in METHODS if m in chosen)


def measure(method, iterations, warmup):
    ctx = multiprocessing.get_context(method)
    for _ in range(warmup):
        one_run(ctx)
    clock = time.perf_counter_ns  # monotonic, like CLOCK_MONOTONIC in C
    samples = []
    for _ in range(iterations):
        t0 = clock()
        one_run(ctx)
        t1 = clock()
        samples.append((t1 - t0) / 1000.0)
    return stats(samples)


def main(argv=None):
    global _resident
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", type=method_list, default=METHODS,
                    help="start methods to measure, comma-separated: fork, spawn, "
                         "forkserver or all (default: all three)")
    ap.add_argument("--resident-mib", type=int, default=0, metavar="N",
                    help="make the parent N MiB larger (written, so resident) first")
    ap.add_argument("--iterations", type=int, default=None,
                    help="measured runs per method (default: fork and forkserver 300, spawn 30)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured runs first")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--format", choices=("human", "machine", "both"), default="both")
    args = ap.parse_args(argv)
    if args.iterations is not None and args.iterations <= 0:
        ap.error("--iterations must be positive")
    if args.warmup is not None and args.warmup < 0:
        ap.error("--warmup must not be negative")
    if args.resident_mib < 0:
        ap.error("--resident-mib must not be negative")
    methods = args.method
    machine = args.format in ("machine", "both")
    human = args.format in ("human", "both")

    if args.resident_mib:
        # Repetition writes every byte (bytearray(n) alone would leave the
        # zero pages untouched, not resident).
        _resident = bytearray(b"\x5a") * (args.resident_mib << 20)
    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    if machine:
        print(f"@config\tresident_mib={args.resident_mib}\trss_mib={rss_mib()}\truntime={runtime}")

    for method in methods:
        if method not in multiprocessing.get_all_start_methods():
            if machine:
                print(f"@skip\tid=python_mp_{method}\treason=no {method} start method here")
            continue
        if method == "forkserver":
            # The one-time server start is reported apart from the steady state.
            t0 = time.perf_counter_ns()
            multiprocessing.forkserver.ensure_running()
            server_us = (time.perf_counter_ns() - t0) / 1000.0
            if machine:
                print(f"@forkserver_start\tid=python_mp_forkserver\tus={server_us:.1f}")
            if human:
                print(f"python forkserver start (once): {server_us:.0f} us")
        iterations = args.iterations
        if iterations is None:
            iterations = DEFAULT_ITERATIONS[method]
            if args.quick:
                iterations = max(20, iterations // 10)
        warmup = default_warmup(iterations) if args.warmup is None else args.warmup
        st = measure(method, iterations, warmup)

        label = f"python multiprocessing Process {method} ({runtime})"
        if machine:
            fields = ["@bench", f"id=python_mp_{method}", f"label={label}", f"runtime={runtime}",
                      f"method={method}", f"resident_mib={args.resident_mib}",
                      f"iterations={st['iterations']}", f"ops_per_call={st['ops_per_call']}"]
            for key in ("median_us", "mean_us", "min_us", "p10_us", "p90_us", "max_us",
                        "stddev_us"):
                fields.append(f"{key}={st[key]:.3f}")
            fields.append(f"ops_per_s={1e6 / st['median_us']:.1f}")
            print("\t".join(fields))
        if human:
            print(f"{label}: {st['iterations']} runs, median {st['median_us']:.2f} us, "
                  f"mean {st['mean_us']:.2f} us, p10 {st['p10_us']:.2f} us, "
                  f"p90 {st['p90_us']:.2f} us")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
