#!/usr/bin/env python3
"""Python peers of bench/pool_bench.c: multiprocessing.Pool and ProcessPoolExecutor.

Same scenarios as the C benchmark, both pools with the fork start method and
2 workers (--workers), created once before anything is timed, measured in
interleaved rounds (call i of every peer before call i+1 of any, the order
rotating):

  rtt   round trip of a trivial task returning its argument, one at a time
          Pool.apply_async(echo, (v,)).get()
          ProcessPoolExecutor.submit(echo, v).result()
  imap  one-item tasks (x + 1) over --imap-items items (default 10,000)
          Pool.imap_unordered(plus_one, items, chunksize=1)
          ProcessPoolExecutor.map(plus_one, items, chunksize=1) (results in
          order: the executor has no imap_unordered)
  map   1,000,000 integers, x + 1
          Pool.map(plus_one, items) (chunksize None: automatic)
          ProcessPoolExecutor.map(..., chunksize=ceil(n / (4 * workers))),
          Pool's automatic rule: the executor has none (its default, 1,
          would take minutes)
  cpu   64 items of integer hashing (the C benchmark's loop, with fewer
        rounds, CPU_ROUNDS, so a set is about 50 ms of Python): serial in
        this process, Pool.map, ProcessPoolExecutor.map (same chunks)

Every answer is checked inside the timed call. Python runs fewer calls than
the C benchmark (the default counts below), and the label says so. Output:
"@bench" records as bench/harness.h describes, with scenario=, peer= and
items= fields like pool_bench's, so bench/run (mode `pool`) can put them in
its tables; times are per round trip, per item (imap, map) or per item set
(cpu). Standard library only.
"""

import argparse
import concurrent.futures
import multiprocessing
import platform
import sys
import time

from benchstats import stats

MASK64 = (1 << 64) - 1
CPU_ITEMS = 64
CPU_ROUNDS = 3000  # the C benchmark does 200000 per item: Python is ~70x slower a round
MAP_ITEMS = 1_000_000
IMAP_ITEMS = 10_000

# scenario: (default calls, calls with --quick, warm-up calls)
DEFAULT_CALLS = {"rtt": (300, 30, 30), "imap": (5, 2, 1), "map": (5, 2, 1), "cpu": (7, 2, 1)}
SCENARIOS = ("rtt", "imap", "map", "cpu")


def echo(x):
    return x


def plus_one(x):
    return x + 1


def cpu_hash(x, rounds=CPU_ROUNDS):
    for i in range(rounds):
        x ^= x >> 33
        x = (x * 0xFF51AFD7ED558CCD) & MASK64
        x ^= x >> 29
        x = (x + i) & MASK64
    return x


def auto_chunk(n, workers):
    return max(1, -(-n // (4 * workers)))


class Bench:
    def __init__(self, workers, imap_items):
        self.workers = workers
        ctx = multiprocessing.get_context("fork")
        self.pool = ctx.Pool(workers)
        self.ppe = concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        self.counter = 0
        self.imap_in = [0x1000000000 + i * 7 for i in range(imap_items)]
        self.imap_expect = [x + 1 for x in self.imap_in]
        self.map_in = [0x1000000000 + i * 7 for i in range(MAP_ITEMS)]
        self.map_expect = [x + 1 for x in self.map_in]
        self.cpu_in = [0xC0FFEE00 + i for i in range(CPU_ITEMS)]
        self.cpu_expect = [cpu_hash(x) for x in self.cpu_in]

    def close(self):
        self.pool.close()
        self.pool.join()
        self.ppe.shutdown(wait=True)

    @staticmethod
    def check(ok, what):
        if not ok:
            raise RuntimeError(f"{what}: wrong answer")

    # rtt
    def rtt_pool(self):
        self.counter += 1
        v = 0x5EED000000000000 + self.counter
        self.check(self.pool.apply_async(echo, (v,)).get() == v, "Pool rtt")

    def rtt_ppe(self):
        self.counter += 1
        v = 0x5EED000000000000 + self.counter
        self.check(self.ppe.submit(echo, v).result() == v, "executor rtt")

    # imap
    def imap_pool(self):
        got = list(self.pool.imap_unordered(plus_one, self.imap_in, chunksize=1))
        got.sort()
        self.check(got == self.imap_expect, "Pool imap_unordered")

    def imap_ppe(self):
        got = list(self.ppe.map(plus_one, self.imap_in, chunksize=1))
        self.check(got == self.imap_expect, "executor map chunksize 1")

    # map
    def map_pool(self):
        self.check(self.pool.map(plus_one, self.map_in) == self.map_expect, "Pool map")

    def map_ppe(self):
        chunk = auto_chunk(MAP_ITEMS, self.workers)
        got = list(self.ppe.map(plus_one, self.map_in, chunksize=chunk))
        self.check(got == self.map_expect, "executor map")

    # cpu
    def cpu_serial(self):
        self.check([cpu_hash(x) for x in self.cpu_in] == self.cpu_expect, "serial cpu")

    def cpu_pool(self):
        self.check(self.pool.map(cpu_hash, self.cpu_in) == self.cpu_expect, "Pool cpu")

    def cpu_ppe(self):
        chunk = auto_chunk(CPU_ITEMS, self.workers)
        got = list(self.ppe.map(cpu_hash, self.cpu_in, chunksize=chunk))
        self.check(got == self.cpu_expect, "executor cpu")


def cases_for(b, scenario, workers, imap_items):
    """(items per call, [(id, peer, label, callable)]); labels are short:
    the runtime and the call count are appended by main()."""
    if scenario == "rtt":
        return 1, [
            ("rtt_pypool", "py_pool", "Python Pool apply_async+get", b.rtt_pool),
            ("rtt_ppe", "py_ppe", "Python PoolExecutor submit+result", b.rtt_ppe),
        ]
    if scenario == "imap":
        return imap_items, [
            ("imap_pypool", "py_pool", "Python Pool imap_unordered chunksize 1", b.imap_pool),
            ("imap_ppe", "py_ppe", "Python PoolExecutor map chunksize 1 (ordered)", b.imap_ppe),
        ]
    if scenario == "map":
        chunk = auto_chunk(MAP_ITEMS, workers)
        return MAP_ITEMS, [
            ("map_pypool", "py_pool", "Python Pool map (auto chunksize)", b.map_pool),
            ("map_ppe", "py_ppe", f"Python PoolExecutor map chunksize {chunk}", b.map_ppe),
        ]
    return 1, [
        ("cpu_pyserial", "py_serial", f"Python serial ({CPU_ROUNDS} rounds/item)", b.cpu_serial),
        ("cpu_pypool", "py_pool", f"Python Pool map, {workers} workers", b.cpu_pool),
        ("cpu_ppe", "py_ppe", f"Python PoolExecutor map, {workers} workers", b.cpu_ppe),
    ]


def run_scenario(cases, calls, warmup):
    """Interleaved like bench_run(): warm-up rounds, then measured rounds."""
    clock = time.perf_counter_ns
    n = len(cases)
    samples = [[] for _ in cases]
    for i in range(warmup):
        for k in range(n):
            cases[(i + k) % n][3]()
    for i in range(calls):
        for k in range(n):
            idx = (i + k) % n
            t0 = clock()
            cases[idx][3]()
            t1 = clock()
            samples[idx].append((t1 - t0) / 1000.0)
    return samples


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=None,
                    help="measured calls per scenario and peer (default: per scenario)")
    ap.add_argument("--warmup", type=int, default=None, help="unmeasured calls first")
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--format", choices=("human", "machine", "both"), default="both")
    ap.add_argument("--scenario", choices=SCENARIOS, default=None, help="one scenario only")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--imap-items", type=int, default=IMAP_ITEMS)
    args = ap.parse_args(argv)
    if args.iterations is not None and args.iterations <= 0:
        ap.error("--iterations must be positive")
    if args.warmup is not None and args.warmup < 0:
        ap.error("--warmup must not be negative")
    if args.workers <= 0 or args.imap_items <= 0:
        ap.error("--workers and --imap-items must be positive")

    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    machine = args.format in ("machine", "both")
    human = args.format in ("human", "both")
    scenarios = [args.scenario] if args.scenario else list(SCENARIOS)
    try:
        multiprocessing.get_context("fork")
    except ValueError as exc:
        for sc in scenarios:
            if machine:
                print(f"@skip\tid={sc}_python\tscenario={sc}\tpeer=python\treason=no fork "
                      f"context: {exc}")
        return 0

    b = Bench(args.workers, args.imap_items)
    try:
        for sc in scenarios:
            default, quick, warm = DEFAULT_CALLS[sc]
            calls = args.iterations or (quick if args.quick else default)
            warmup = warm if args.warmup is None else args.warmup
            items, cases = cases_for(b, sc, args.workers, args.imap_items)
            samples = run_scenario(cases, calls, warmup)
            for (cid, peer, label, _), smp in zip(cases, samples):
                st = stats([s / items for s in smp])
                full = f"{label} [{calls} calls]"
                if machine:
                    fields = ["@bench", f"id={cid}", f"scenario={sc}", f"peer={peer}",
                              f"label={full}", f"runtime={runtime}", f"items={items}",
                              f"iterations={len(smp)}", f"ops_per_call={items}"]
                    for key in ("median_us", "mean_us", "min_us", "p10_us", "p90_us",
                                "max_us", "stddev_us"):
                        fields.append(f"{key}={st[key]:.4f}")
                    fields.append(f"ops_per_s={1e6 / st['median_us']:.1f}")
                    print("\t".join(fields))
                if human:
                    print(f"{sc}: {full}: median {st['median_us']:.3f} us per op, "
                          f"p10 {st['p10_us']:.3f}, p90 {st['p90_us']:.3f}")
                sys.stdout.flush()
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
