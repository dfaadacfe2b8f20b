"""mproc: Python's multiprocessing API on top of libmproc (ctypes, stdlib only).

Process, Queue and Pool follow :mod:`multiprocessing`'s shape, with bytes
payloads for queues and pool tasks::

    import mproc

    def square(b):                      # pool tasks: bytes -> bytes
        n = int(b)
        return str(n * n).encode()

    if __name__ == "__main__":
        q = mproc.Queue(3)
        p = mproc.Process(target=lambda: q.put(b"hello"))
        p.start(); print(q.get()); p.join()
        with mproc.Pool(3) as pool:
            print(pool.map(square, [b"1", b"2", b"3"]))

Every failure raises :class:`MprocError` (an :class:`OSError`) or a
subclass, with ``.code`` (the negative mproc code) and ``.name``
(``mproc_error_name``, e.g. ``"MPROC_E_FULL"``).

The library is loaded by SONAME, ``libmproc.so.0``, or from the path in the
``MPROC_LIBRARY`` environment variable. Spawned children (spawn and
forkserver start methods, and every Pool worker) run
``python3 -c "...; import mproc; mproc._spawn_main()" --mproc-spawn``;
:func:`set_executable` chooses another interpreter.
"""

from . import _lib, _spawn
from ._errors import (ClosedError, Empty, Full, MprocError, TaskError, TimeoutError,
                      WorkerDiedError, error_name)
from .pool import HAVE_SPAWN_POOL, AsyncResult, IMapIterator, Pool
from .process import (Process, cpu_count, current_process, get_start_method,
                      set_start_method)
from .queues import Queue

__all__ = ["Process", "Queue", "Pool", "AsyncResult", "IMapIterator", "MprocError",
           "Full", "Empty", "TimeoutError", "ClosedError", "TaskError",
           "WorkerDiedError", "error_name", "cpu_count", "current_process",
           "set_start_method", "get_start_method", "set_executable",
           "library_version", "HAVE_SPAWN_POOL"]

__version__ = "0.2.0"

_REQUIRED_VERSION = 200  # 0.2.0: named targets, start methods, executable argv

if _lib.mproc_version_number() < _REQUIRED_VERSION:
    raise ImportError("mproc needs libmproc >= 0.2.0, found %s"
                      % _lib.mproc_version_string().decode())


def library_version():
    """The loaded libmproc's version string, e.g. "0.2.0"."""
    return _lib.mproc_version_string().decode("ascii")


def set_executable(path=None):
    """Interpreter that spawned children run (default: sys.executable)."""
    _spawn.set_executable(path)


def _spawn_main():
    """Entry point of spawned children; see mproc._spawn. Not for users."""
    _spawn.spawn_main()


_spawn.register()
_spawn.set_executable()
