#!/usr/bin/env python3
"""mpi4py.futures peer of bench/mpi_bench.c, run as
`mpiexec -n R python3 -m mpi4py.futures bench/peers/py_mpi_futures.py [ITEMS]`.

Rank 0 gets an MPIPoolExecutor of the R - 1 other ranks (the same model as
mproc's MPI pool) and measures:
  trivial  map(nop, range(ITEMS), chunksize=1, unordered=True): items per second
  cpu      map of CPU_ITEMS integer-hashing items, chunksize 1: seconds, and
           the same set serially on rank 0 (a Python loop: compare speed-ups,
           not seconds, with the C benchmark)
Prints "mpi4py|mpi4py-serial KEY VALUE" lines.
"""
import sys
import time

from mpi4py.futures import MPIPoolExecutor

CPU_ITEMS = 32
CPU_ROUNDS = 40000
MASK = (1 << 64) - 1


def nop(_):
    return None


def cpu(x):
    for i in range(CPU_ROUNDS):
        x = (((x ^ (x >> 31)) * 0x9E3779B97F4A7C15) + i) & MASK
    return x


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with MPIPoolExecutor() as ex:
        ex.bootup()
        t = time.monotonic()
        n = sum(1 for _ in ex.map(nop, range(items), chunksize=1, unordered=True))
        print("mpi4py trivial_per_s %.0f" % (n / (time.monotonic() - t)))
        t = time.monotonic()
        list(ex.map(cpu, range(CPU_ITEMS), chunksize=1))
        print("mpi4py cpu_s %.4f" % (time.monotonic() - t))
    t = time.monotonic()
    for i in range(CPU_ITEMS):
        cpu(i)
    print("mpi4py-serial cpu_s %.4f" % (time.monotonic() - t))


if __name__ == "__main__":
    main()
