"""The seed documents' pool examples, with mproc's Python binding.

Pool(3) runs ten jobs submitted with apply_async, then close() and join();
then apply_async(...).get(), imap (results in input order) and
imap_unordered (results in completion order). Pool tasks take and return
bytes; the workers are spawned Python interpreters, so the task functions
live at module level and the main code sits under the __main__ guard.
Run: python3 pool_example.py (PYTHONPATH=bindings/python, libmproc.so.0 on
the loader path). Needs a libmproc with spawn pools (mproc.HAVE_SPAWN_POOL).
"""

import os
import time

import mproc


def work(arg):
    """Job i: sleep a little, say which worker ran it, return i * i."""
    i = int(arg)
    time.sleep(0.02 * (i % 4))
    print("job %d running in %s, pid %d" % (i, mproc.current_process().name, os.getpid()),
          flush=True)
    return str(i * i).encode()


def get_html(arg):
    """Pretend to fetch a page: sleep n/10 s and return n."""
    n = int(arg)
    time.sleep(n / 10)
    return str(n).encode()


def main():
    pool = mproc.Pool(3)
    results = [pool.apply_async(work, str(i).encode()) for i in range(10)]
    print("-----start-----", flush=True)
    pool.close()
    pool.join()
    print("-----end-----")
    print("squares: %s" % [int(r.get()) for r in results])
    pool.release()

    with mproc.Pool(3) as pool:
        result = pool.apply_async(get_html, b"3")
        print("result.get() = %s" % result.get().decode())
        for page in pool.imap(get_html, [b"4", b"3", b"2"]):
            print("imap: %s finished sleeping" % page.decode())
        for page in pool.imap_unordered(get_html, [b"4", b"3", b"2"]):
            print("imap_unordered: %s finished sleeping" % page.decode())
    print("cpu_count() = %d" % mproc.cpu_count())


if __name__ == "__main__":
    main()
