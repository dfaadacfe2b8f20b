"""Cross-language peer for mproc's named queues (Python binding).

Usage:
    python3 peer.py put NAME COUNT   # open the existing named queue NAME and
                                     # put COUNT messages b"msg-0", b"msg-1", ...
    python3 peer.py get NAME COUNT   # open it and get COUNT messages (30 s
                                     # timeout each), checking they are
                                     # exactly msg-0 .. msg-(COUNT-1) in order

Exit status 0 on success, 1 with a message on stderr otherwise (2 for a
usage error). Needs PYTHONPATH=<source>/bindings/python and libmproc.so.0
on the loader path (LD_LIBRARY_PATH=<build>/src) or MPROC_LIBRARY=<path>.
"""

import sys


def main(argv):
    if len(argv) != 4 or argv[1] not in ("put", "get") or not argv[3].isdigit():
        sys.stderr.write("usage: peer.py put|get NAME COUNT\n")
        return 2
    try:
        import mproc
        _, mode, name, count = argv
        with mproc.Queue.open(name) as q:
            for i in range(int(count)):
                expected = b"msg-%d" % i
                if mode == "put":
                    q.put(expected)
                else:
                    got = q.get(timeout=30)
                    if got != expected:
                        sys.stderr.write("peer.py: message %d is %r, expected %r\n"
                                         % (i, got, expected))
                        return 1
    except Exception as exc:  # MprocError (with its code name), ImportError...
        sys.stderr.write("peer.py: %s\n" % (exc,))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
