#!/usr/bin/env python3
"""Python peer of bench/queue_throughput.c: multiprocessing.Queue.

Runs the scenarios of the C queue benchmark (see bench/queue_driver.h) with
Python's multiprocessing.Queue and the fork start method:

  tput_<size>_<P>p<C>c  64 B, 4 KiB and 1 MiB messages (bytes objects),
                        1 producer / 1 consumer and 2 / 2, each measured call
                        moving a fixed number of messages from the first
                        producer's start to the last consumer's end
  pingpong_spin         64 B round trips through two queues, back to back
  pingpong_sleep        the same with 1 ms between requests

as the C driver does them: forked producers and consumers released together
by a barrier, every message stamped with its producer and sequence number
(head) and a check word (tail) that consumers verify, one stop message per
producer, and a parent check that every message arrived exactly once. The
queues are created with the default maxsize (unbounded), as most programs
use them; put() hands the message to the queue's feeder thread, so only the
consumer side tells when a message has really arrived.

Python is about a hundred times slower than the C peers, so each call moves
fewer messages (see COUNTS); per-message rates do not depend on the count
once a call lasts a few tenths of a second. Standard library only. Options
as the C benchmarks (--iterations = measured calls per scenario, --quick,
--format human|machine|both), plus --scenarios LIST and --no-pin; prints
the same @bench records (with scenario=, kind=, peer=python... fields).
"""

import argparse
import multiprocessing
import os
import platform
import struct
import sys
import time

from benchstats import stats

MAGIC = 0x716D6271
STOP = (1 << 64) - 1
SLEEP_GAP_NS = 1_000_000
HEAD = struct.Struct("<QII")
TAIL = struct.Struct("<Q")

# id, title, mode, sleep, size, producers, count per call
SCENARIOS = [
    ("tput_64_1p1c", "64 B messages, 1 producer / 1 consumer", "tput", False, 64, 1, 40000),
    ("tput_64_2p2c", "64 B messages, 2 producers / 2 consumers", "tput", False, 64, 2, 40000),
    ("tput_4k_1p1c", "4 KiB messages, 1 producer / 1 consumer", "tput", False, 4096, 1, 20000),
    ("tput_4k_2p2c", "4 KiB messages, 2 producers / 2 consumers", "tput", False, 4096, 2, 20000),
    ("tput_1m_1p1c", "1 MiB messages, 1 producer / 1 consumer", "tput", False, 1 << 20, 1, 256),
    ("tput_1m_2p2c", "1 MiB messages, 2 producers / 2 consumers", "tput", False, 1 << 20, 2, 256),
    ("pingpong_spin", "64 B ping-pong, back to back", "pingpong", False, 64, 1, 500),
    ("pingpong_sleep", "64 B ping-pong, 1 ms between requests", "pingpong", True, 64, 1, 50),
]
COUNTS = {s[0]: s[6] for s in SCENARIOS}

clock = time.monotonic_ns  # CLOCK_MONOTONIC, as in the C driver


def tail_key(producer):
    return (0x9E3779B97F4A7C15 * (producer + 1)) & 0xFFFFFFFFFFFFFFFF


def make_message(size, producer, seq, middle):
    """A fresh bytes object (a queued bytes object must never change)."""
    head = HEAD.pack(seq, producer, MAGIC)
    if size < 24:
        return head[:size] if size < 16 else head + bytes(size - 16)
    return head + middle + TAIL.pack(seq ^ tail_key(producer))


def pin(cpus, which):
    if cpus is not None:
        try:
            os.sched_setaffinity(0, {cpus[which]})
        except OSError:
            pass


class Failure(Exception):
    pass


def producer_main(q, barrier, times, idx, size, count, cpus):
    pin(cpus, 0)
    middle = bytes([0xA5]) * max(0, size - 24)
    barrier.wait()
    t0 = clock()
    for s in range(count):
        q.put(make_message(size, idx, s, middle))
    q.put(make_message(size, idx, STOP, middle))
    times[2 * idx] = t0
    # The process exit joins the feeder thread, which flushes what is left.


def consumer_main(q, barrier, times, stats, err, idx, size, nprod, per_producer, cpus):
    pin(cpus, 1)
    last = [-1] * nprod
    count = seqsum = 0
    barrier.wait()
    try:
        while True:
            m = q.get()
            if len(m) != size:
                raise Failure(f"consumer {idx}: got {len(m)} bytes, expected {size}")
            seq, prod, magic = HEAD.unpack_from(m)
            if magic != MAGIC or prod >= nprod:
                raise Failure(f"consumer {idx}: corrupt message header")
            if size >= 24 and TAIL.unpack_from(m, size - 8)[0] != seq ^ tail_key(prod):
                raise Failure(f"consumer {idx}: torn message")
            if seq == STOP:
                break
            if seq >= per_producer or seq <= last[prod]:
                raise Failure(f"consumer {idx}: message {seq} of producer {prod} out of order")
            if nprod == 1 and seq != last[prod] + 1:
                raise Failure(f"consumer {idx}: message {seq} arrived, expected {last[prod] + 1}")
            last[prod] = seq
            count += 1
            seqsum += seq
    except Failure as exc:
        err.put(str(exc))
        sys.exit(3)
    times[2 * idx + 1] = clock()
    stats[2 * idx] = count
    stats[2 * idx + 1] = seqsum


def requester_main(req, rep, barrier, samples, err, warm, count, sleep, cpus):
    pin(cpus, 0)
    middle = bytes([0xA5]) * 40
    barrier.wait()
    try:
        for i in range(warm + count):
            if sleep:
                until = clock() + SLEEP_GAP_NS
                while clock() < until:
                    pass
            m = make_message(64, 0, i, middle)
            t0 = clock()
            req.put(m)
            r = rep.get()
            t1 = clock()
            if r != m:
                raise Failure(f"requester: reply {i} is not the request echoed back")
            if i >= warm:
                samples[i - warm] = (t1 - t0) / 1000.0
    except Failure as exc:
        err.put(str(exc))
        sys.exit(3)
    req.put(make_message(64, 0, STOP, middle))


def responder_main(req, rep, barrier, cpus):
    pin(cpus, 1)
    barrier.wait()
    while True:
        m = req.get()
        if HEAD.unpack_from(m)[0] == STOP:
            break
        rep.put(m)


def run_children(ctx, procs, barrier, err, timeout=600):
    for p in procs:
        p.start()
    barrier.wait()
    deadline = time.monotonic() + timeout
    failed = None
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.exitcode is None:
            failed = failed or "a child ran over its time limit (hung?)"
        elif p.exitcode != 0:
            failed = failed or f"a child exited with {p.exitcode}"
        if failed:
            break
    if failed:
        for p in procs:
            if p.exitcode is None:
                p.kill()
                p.join()
        try:
            failed = err.get(timeout=0.5)
        except Exception:  # queue.Empty, or a broken queue
            pass
        raise Failure(failed)


def run_throughput(ctx, sc, count, cpus):
    _, _, _, _, size, nprod, _ = sc
    per = max(2, count // nprod)
    q = ctx.Queue()
    err = ctx.Queue()
    barrier = ctx.Barrier(2 * nprod + 1)
    times = ctx.Array("Q", 2 * nprod, lock=False)
    stats = ctx.Array("Q", 2 * nprod, lock=False)
    c_cpus = cpus if nprod == 1 else None
    procs = [ctx.Process(target=consumer_main,
                         args=(q, barrier, times, stats, err, i, size, nprod, per, c_cpus))
             for i in range(nprod)]
    procs += [ctx.Process(target=producer_main, args=(q, barrier, times, i, size, per, c_cpus))
              for i in range(nprod)]
    run_children(ctx, procs, barrier, err)
    total = sum(stats[2 * i] for i in range(nprod))
    seqsum = sum(stats[2 * i + 1] for i in range(nprod))
    if total != per * nprod or seqsum != nprod * per * (per - 1) // 2:
        raise Failure(f"consumers took {total} messages, expected {per * nprod}")
    t0 = min(times[2 * i] for i in range(nprod))
    t1 = max(times[2 * i + 1] for i in range(nprod))
    q.close()
    err.close()
    return (t1 - t0) / 1000.0 / (per * nprod), per * nprod


def run_pingpong(ctx, sc, count, cpus, measured=True):
    sleep = sc[3]
    req, rep, err = ctx.Queue(), ctx.Queue(), ctx.Queue()
    barrier = ctx.Barrier(3)
    samples = ctx.Array("d", count, lock=False)
    warm = count // 10 + 2 if measured else 2
    procs = [ctx.Process(target=responder_main, args=(req, rep, barrier, cpus)),
             ctx.Process(target=requester_main,
                         args=(req, rep, barrier, samples, err, warm, count, sleep, cpus))]
    run_children(ctx, procs, barrier, err)
    for q in (req, rep, err):
        q.close()
    return list(samples)


def emit(fmt, sc, st, label, runtime, messages):
    sid, _, mode, _, size, nprod, _ = sc
    per_s = 1e6 / st["median_us"] if st["median_us"] > 0 else 0.0
    gib = per_s * size / float(1 << 30)
    if fmt in ("machine", "both"):
        fields = ["@bench", f"id=q_{sid}_python", f"label={label}", f"runtime={runtime}",
                  f"iterations={st['iterations']}", f"ops_per_call={st['ops_per_call']}"]
        for key in ("median_us", "mean_us", "min_us", "p10_us", "p90_us", "max_us", "stddev_us"):
            fields.append(f"{key}={st[key]:.6f}")
        fields += [f"ops_per_s={per_s:.1f}", f"scenario={sid}",
                   f"kind={'throughput' if mode == 'tput' else 'latency'}", "peer=python",
                   f"msg_size={size}", f"producers={nprod}", f"consumers={nprod}",
                   f"messages={messages}", f"gib_per_s={gib:.4f}"]
        print("\t".join(fields))
    if fmt in ("human", "both"):
        if mode == "tput":
            print(f"{sid}: {label}: {per_s / 1e6:.3f} M msg/s, {gib:.3f} GiB/s "
                  f"(median of {st['iterations']} calls of {messages} messages)")
        else:
            print(f"{sid}: {label}: RTT median {st['median_us']:.2f} us, p10 "
                  f"{st['p10_us']:.2f}, p90 {st['p90_us']:.2f} ({st['iterations']} round trips)")
    sys.stdout.flush()


def emit_fail(fmt, sc, label, reason):
    reason = " ".join(str(reason).split())
    if fmt in ("machine", "both"):
        print(f"@fail\tid=q_{sc[0]}_python\tscenario={sc[0]}\tpeer=python\tlabel={label}"
              f"\treason={reason}")
    if fmt in ("human", "both"):
        print(f"{sc[0]}: {label}: FAILED: {reason}")
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=None,
                    help="measured calls per scenario (default 5; --quick 3)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="unmeasured calls first, a tenth of the size (default 1)")
    ap.add_argument("--quick", action="store_true", help="smoke run: a tenth of the messages")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count by F")
    ap.add_argument("--scenarios", default=None, help="comma-separated ids or prefixes")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin the two sides of 1P1C and ping-pong to two CPUs")
    ap.add_argument("--format", choices=("human", "machine", "both"), default="both")
    args = ap.parse_args(argv)
    rounds = args.iterations if args.iterations is not None else (3 if args.quick else 5)
    if rounds <= 0 or args.warmup < 0 or not args.scale > 0:
        ap.error("--iterations and --scale must be positive, --warmup not negative")
    scale = args.scale * (0.1 if args.quick else 1.0)
    wanted = args.scenarios.split(",") if args.scenarios else None

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError as exc:
        print(f"py_queue: no fork start method: {exc}", file=sys.stderr)
        return 1
    cpus = None
    if not args.no_pin and hasattr(os, "sched_getaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) >= 2:
            cpus = allowed[:2]

    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    label = f"python multiprocessing.Queue ({runtime})"
    failed = False
    for sc in SCENARIOS:
        sid, mode = sc[0], sc[2]
        if wanted and not any(sid.startswith(w) for w in wanted if w):
            continue
        count = max(10, int(COUNTS[sid] * scale))
        try:
            if mode == "tput":
                for _ in range(args.warmup):
                    run_throughput(ctx, sc, max(2 * sc[5], count // 10), cpus)
                per_msg, messages = [], 0
                for _ in range(rounds):
                    us, messages = run_throughput(ctx, sc, count, cpus)
                    per_msg.append(us)
                emit(args.format, sc, stats(per_msg, messages), label, runtime, messages)
            else:
                for _ in range(args.warmup):
                    run_pingpong(ctx, sc, max(10, count // 10), cpus, measured=False)
                rtts = []
                for _ in range(rounds):
                    rtts += run_pingpong(ctx, sc, count, cpus)
                emit(args.format, sc, stats(rtts, 1), label, runtime, 1)
        except Failure as exc:
            emit_fail(args.format, sc, label, exc)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
