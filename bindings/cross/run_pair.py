#!/usr/bin/env python3
"""One cross-language queue test: a producer in one language puts COUNT
messages into a named queue and a consumer in another language gets them,
both running at once, so the queue's shared-memory layout is the only thing
they share. Usage: run_pair.py C_PEER PRODUCER CONSUMER [COUNT]

PRODUCER and CONSUMER are peer programs (see c_peer.c for the CLI). Exits 77
(skipped) when one of them was not built (its toolchain is missing).
"""
import os
import subprocess
import sys


def main():
    c_peer, producer, consumer = sys.argv[1:4]
    count = sys.argv[4] if len(sys.argv) > 4 else "1000"
    for peer in (producer, consumer):
        if not os.access(peer, os.X_OK):
            print(f"skipped: {peer} was not built")
            return 77
    name = f"mproc-cross-{os.getpid()}"
    subprocess.run([c_peer, "create", name], check=True)
    try:
        # Consumer first: it blocks until the producer's messages arrive.
        get = subprocess.Popen([consumer, "get", name, count])
        put = subprocess.Popen([producer, "put", name, count])
        put_rc = put.wait(timeout=120)
        get_rc = get.wait(timeout=120)
    finally:
        subprocess.run([c_peer, "unlink", name])
    print(f"{os.path.basename(producer)} put {count} -> {os.path.basename(consumer)} got them: "
          f"put exit {put_rc}, get exit {get_rc}")
    return 0 if put_rc == 0 and get_rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
