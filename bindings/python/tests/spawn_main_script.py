"""Helper for test_process: a main script whose target lives in __main__."""

import sys

import mproc


def greet(q):
    q.put(("hi from %s" % __name__).encode())


if __name__ == "__main__":
    print("main runs once", flush=True)
    q = mproc.Queue.create(sys.argv[1])
    try:
        p = mproc.Process(target=greet, args=(q,), start_method="spawn")
        p.start()
        print("child says: %s" % q.get(timeout=30).decode(), flush=True)
        p.join()
        print("exit %d" % p.exitcode)
    finally:
        mproc.Queue.unlink(sys.argv[1])
