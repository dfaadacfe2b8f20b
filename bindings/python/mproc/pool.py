"""mproc.Pool: a pool of worker processes running Python functions on bytes."""

import atexit
import ctypes
import itertools
import sys
import threading
import traceback
import weakref

from . import _lib, _spawn
from ._handle import Releasable
from ._errors import (E_TASK_FAILED, E_TASK_TIMEOUT, E_TIMEOUT, E_WORKER_DIED,
                      MprocError, TaskError, TimeoutError, WorkerDiedError, _error_for)
from .process import _method_code, sliced_wait

__all__ = ["Pool", "AsyncResult", "IMapIterator", "HAVE_SPAWN_POOL"]

#: True when the loaded libmproc can run spawn/forkserver pools
#: (``mproc_pool_set_start_method``); Pool() raises NotImplementedError
#: otherwise.
HAVE_SPAWN_POOL = _lib.mproc_pool_set_start_method is not None


def _failure(code, reply, exitcode=None, function=None):
    """The exception for a failed task."""
    if code == E_TASK_FAILED:
        exc, text = _spawn.decode_exception(reply or b"")
        if exc is not None:
            message = "task raised %s: %s" % (type(exc).__name__, exc)
        else:
            lines = text.strip().splitlines()
            message = "task failed: %s" % (lines[-1] if lines else "no message")
        err = TaskError(code, message, function, exception=exc, remote_traceback=text)
        err.__cause__ = exc
        return err
    if code in (E_WORKER_DIED, E_TASK_TIMEOUT):
        return WorkerDiedError(code, None, function, exitcode=exitcode)
    return _error_for(code, function)


# Callbacks registered with apply_async(callback=..., error_callback=...),
# keyed by the integer passed to C as userdata.
_callbacks = {}
_callback_ids = itertools.count(1)


def _result_cb(status, data, length, userdata):
    entry = _callbacks.pop(userdata or 0, None)
    if entry is None:
        return
    callback, error_callback = entry
    try:
        if status == 0:
            if callback is not None:
                callback(ctypes.string_at(data, length) if length else b"")
        elif error_callback is not None:
            reply = ctypes.string_at(data, length) if length else b""
            error_callback(_failure(status, reply, function="apply_async"))
    except BaseException:
        sys.stderr.write("mproc: exception in a Pool callback:\n")
        traceback.print_exc()


_RESULT_CB = _lib.RESULT_CB(_result_cb)


# Pools still open at exit are released by an atexit handler, which runs
# before the interpreter finalises: mproc_pool_free() waits for the pool's
# callback thread, which must still be able to take the GIL.
_live_pools = weakref.WeakSet()


@atexit.register
def _release_live_pools():
    for pool in list(_live_pools):
        try:
            pool.release()
        except Exception:
            pass


class AsyncResult(Releasable):
    """The result of :meth:`Pool.apply_async` (multiprocessing's
    AsyncResult): :meth:`get`, :meth:`wait`, :meth:`ready`,
    :meth:`successful`. Its C handle is released with the pool, by
    :meth:`release`, or by the garbage collector."""

    def __init__(self, pool, ptr):
        self._pool = pool
        self._ptr = ptr
        self._outcome = None  # (status, reply, exitcode) once known

    def _handle(self):
        if not self._ptr:
            raise ValueError("result handle is released")
        return self._ptr

    def _fetch(self, timeout):
        if self._outcome is not None:
            return self._outcome
        ptr = self._handle()
        data = ctypes.c_void_p()
        length = ctypes.c_size_t()
        rc = sliced_wait(lambda t: _lib.mproc_result_get(ptr, ctypes.byref(data),
                                                         ctypes.byref(length), t),
                         timeout, E_TIMEOUT)
        if rc == E_TIMEOUT:
            raise TimeoutError(rc, "the result is not ready", "AsyncResult.get")
        reply = ctypes.string_at(data, length.value) if rc in (0, E_TASK_FAILED) and length.value else b""
        exitcode = None
        if rc in (E_WORKER_DIED, E_TASK_TIMEOUT):
            code = ctypes.c_int()
            if _lib.mproc_result_worker_exitcode(ptr, ctypes.byref(code)) == 0:
                exitcode = code.value
        self._outcome = (rc, reply, exitcode)
        return self._outcome

    def get(self, timeout=None):
        """The task's bytes result, waiting up to timeout seconds (None =
        forever). Raises mproc.TimeoutError if not ready, TaskError if the
        function raised (``.exception`` is its exception), WorkerDiedError
        if its worker died, MprocError (MPROC_E_CANCELLED) after terminate."""
        rc, reply, exitcode = self._fetch(timeout)
        if rc == 0:
            return reply
        raise _failure(rc, reply, exitcode, "AsyncResult.get")

    def wait(self, timeout=None):
        """Wait until the result is ready (or timeout seconds pass)."""
        if self._outcome is None:
            ptr = self._handle()
            sliced_wait(lambda t: _lib.mproc_result_wait(ptr, t), timeout, E_TIMEOUT)

    def ready(self):
        """True once the task has finished (whatever the outcome)."""
        return self._outcome is not None or _lib.mproc_result_ready(self._handle()) == 1

    def successful(self):
        """True if the task succeeded; ValueError if it is not ready yet."""
        if not self.ready():
            raise ValueError("%r not ready" % self)
        return self._fetch(0)[0] == 0

    def release(self):
        """Release the C handle (the task itself is not affected); the
        outcome is kept if it was ready. Idempotent."""
        ptr, self._ptr = self._ptr, None
        if ptr:
            try:
                if self._outcome is None and _lib.mproc_result_ready(ptr) == 1:
                    self._ptr = ptr
                    self._fetch(0)
            finally:
                self._ptr = None
                _lib.mproc_result_free(ptr)


class IMapIterator(Releasable):
    """Iterator over the bytes results of :meth:`Pool.imap` (input order)
    or :meth:`Pool.imap_unordered` (completion order). ``next(timeout)``
    waits at most timeout seconds (mproc.TimeoutError). A failed item raises
    its error when reached; iteration may continue after it. Unfinished
    tasks are cancelled by :meth:`release` (also on garbage collection)."""

    def __init__(self, pool, ptr, keep):
        self._pool = pool
        self._ptr = ptr
        self._keep = keep  # the input buffers must outlive the iterator
        self._done = False

    def __iter__(self):
        return self

    def next(self, timeout=None):
        """The next result; StopIteration at the end."""
        if self._done:
            raise StopIteration
        if not self._ptr:
            raise ValueError("iterator is released")
        ptr = self._ptr
        data = ctypes.c_void_p()
        length = ctypes.c_size_t()
        rc = sliced_wait(lambda t: _lib.mproc_iter_next(ptr, None, ctypes.byref(data),
                                                        ctypes.byref(length), t),
                         timeout, E_TIMEOUT)
        if rc == 1:
            self._done = True
            raise StopIteration
        if rc == E_TIMEOUT:
            raise TimeoutError(rc, "no result ready", "IMapIterator.next")
        reply = ctypes.string_at(data, length.value) if length.value and rc in (0, E_TASK_FAILED) else b""
        if rc == 0:
            return reply
        exitcode = None
        if rc in (E_WORKER_DIED, E_TASK_TIMEOUT):
            code = ctypes.c_int()
            if _lib.mproc_iter_worker_exitcode(ptr, ctypes.byref(code)) == 0:
                exitcode = code.value
        raise _failure(rc, reply, exitcode, "imap")

    __next__ = next

    def release(self):
        """Free the iterator, cancelling its unfinished tasks. Idempotent."""
        ptr, self._ptr = self._ptr, None
        if ptr:
            _lib.mproc_iter_free(ptr)
        self._keep = None


class Pool(Releasable):
    """A pool of worker processes, shaped like :class:`multiprocessing.Pool`,
    whose tasks are Python functions taking one bytes argument and returning
    bytes (or None for b"").

    Workers are started with "spawn" (default) or "forkserver", never with
    fork: mproc forks pool workers from its manager thread at any moment,
    possibly while another Python thread holds the GIL, and a child forked
    then would deadlock on its first Python call. Functions therefore travel
    by reference (module and qualified name): use module-level functions,
    and guard the main script with ``if __name__ == "__main__":``.

    A worker that crashes fails only its task (WorkerDiedError) and is
    replaced; ``task_timeout`` kills tasks that run too long.

    ``with Pool() as p:`` terminates the pool when the block ends, as in
    Python; :meth:`close` then :meth:`join` ends it gracefully. The C pool
    is freed by :meth:`release` or the garbage collector.

    Args:
        processes: worker count (None = :func:`mproc.cpu_count`).
        initializer: function called as ``initializer(*initargs)`` once in
            each worker (pickled by reference); a worker whose initializer
            raises exits, and after 3 such failures in a row tasks fail with
            MPROC_E_INIT_FAILED.
        maxtasksperchild: replace a worker after this many tasks.
        start_method: "spawn" or "forkserver".
        task_timeout: seconds after which a task is killed (WorkerDiedError
            with code MPROC_E_TASK_TIMEOUT).

    Raises NotImplementedError when the loaded libmproc cannot start pools
    with spawn or forkserver yet (see :data:`HAVE_SPAWN_POOL`).
    """

    #: The C task every submission runs (the Python entry point).
    _task_fn = _spawn.TASK_FN

    def __init__(self, processes=None, initializer=None, initargs=(),
                 maxtasksperchild=None, *, start_method="spawn", task_timeout=None):
        self._ptr = None
        self._children = weakref.WeakSet()
        self._lock = threading.Lock()
        if start_method == "fork":
            raise ValueError("a Python Pool cannot use the fork start method: its workers "
                             "are forked by a C thread and could deadlock on the GIL; "
                             "use 'spawn' or 'forkserver'")
        method = _method_code(start_method)
        if not HAVE_SPAWN_POOL:
            raise NotImplementedError(
                "this libmproc (%s) has no mproc_pool_set_start_method: it cannot "
                "start pools with spawn or forkserver, which Python pools need"
                % _lib.mproc_version_string().decode())
        if processes is not None and processes < 1:
            raise ValueError("processes must be at least 1")
        ptr = _lib.pool_p()
        _lib.mproc_pool_new(ctypes.byref(ptr), processes or 0)
        self._ptr = ptr
        _live_pools.add(self)
        _lib.mproc_pool_set_start_method(ptr, method)
        if maxtasksperchild:
            _lib.mproc_pool_set_maxtasksperchild(ptr, maxtasksperchild)
        if task_timeout is not None:
            _lib.mproc_pool_set_task_timeout(ptr, float(task_timeout))
        if initializer is not None:
            init = _Initializer(initializer, tuple(initargs))
            payload = _spawn.spawn_payload(init)
            _lib.mproc_pool_set_initializer(ptr, _spawn.TARGET_FN, payload,
                                            len(payload), None)
        self._prep = _spawn.preparation_data()

    def _handle(self):
        if not self._ptr:
            raise ValueError("pool is released")
        return self._ptr

    def _track(self, obj):
        self._children.add(obj)
        return obj

    @property
    def processes(self):
        """Number of workers the pool keeps running."""
        return _lib.mproc_pool_workers(self._handle())

    def start(self):
        """Start the workers now instead of at the first task."""
        _lib.mproc_pool_start(self._handle())

    def _header(self, func):
        return _spawn.task_header(func, self._prep)

    def apply_async(self, func, arg=b"", callback=None, error_callback=None):
        """Submit ``func(arg)``; returns an :class:`AsyncResult`.
        ``callback(result_bytes)`` or ``error_callback(exception)`` runs in
        this process, on the pool's callback thread, when it finishes."""
        payload = self._header(func) + _spawn.as_bytes(arg, "a task argument")
        out = _lib.result_p()
        if callback is None and error_callback is None:
            _lib.mproc_pool_apply_async(self._handle(), self._task_fn, payload, len(payload),
                                        None, ctypes.byref(out))
        else:
            key = next(_callback_ids)
            _callbacks[key] = (callback, error_callback)
            try:
                _lib.mproc_pool_apply_async_cb(self._handle(), self._task_fn, payload, len(payload),
                                               None, _RESULT_CB, key, ctypes.byref(out))
            except BaseException:
                _callbacks.pop(key, None)
                raise
        return self._track(AsyncResult(self, out))

    def apply(self, func, arg=b""):
        """Run ``func(arg)`` in a worker and return its bytes result."""
        result = self.apply_async(func, arg)
        try:
            return result.get()
        finally:
            result.release()

    def _imap(self, c_fn, func, iterable, chunksize):
        header = self._header(func)
        keep = [header + _spawn.as_bytes(item, "an item") for item in iterable]
        items = (_lib.mproc_bytes * max(1, len(keep)))()
        for i, payload in enumerate(keep):
            items[i].data = ctypes.cast(ctypes.c_char_p(payload), ctypes.c_void_p)
            items[i].len = len(payload)
        out = _lib.iter_p()
        c_fn(self._handle(), self._task_fn, items, len(keep), chunksize, None, ctypes.byref(out))
        return self._track(IMapIterator(self, out, (keep, items)))

    def imap(self, func, iterable, chunksize=1):
        """Lazy ``map``: an iterator of results in input order. The input
        (bytes-like items) is read at once; the tasks are submitted as
        results are consumed."""
        return self._imap(_lib.mproc_pool_imap, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like :meth:`imap`, yielding results in completion order."""
        return self._imap(_lib.mproc_pool_imap_unordered, func, iterable, chunksize)

    def map(self, func, iterable, chunksize=None):
        """``[func(item) for item in iterable]`` run in the workers, in
        order. Every task runs; the first failure (in input order) is raised
        afterwards. chunksize None = Python's automatic rule."""
        it = self.imap(func, iterable, chunksize or 0)
        results, first_error = [], None
        try:
            while True:
                try:
                    results.append(next(it))
                except StopIteration:
                    break
                except (TaskError, WorkerDiedError) as exc:
                    first_error = first_error or exc
                    results.append(None)
        finally:
            it.release()
        if first_error is not None:
            raise first_error
        return results

    def close(self):
        """Accept no more tasks; the workers exit once the queued ones are
        done (then :meth:`join`)."""
        _lib.mproc_pool_close(self._handle())

    def terminate(self):
        """Stop now: unfinished results fail with MPROC_E_CANCELLED and the
        workers are killed."""
        _lib.mproc_pool_terminate(self._handle())

    def join(self, timeout=None):
        """Wait for the workers to exit (after close or terminate). Raises
        mproc.TimeoutError if they have not within timeout seconds."""
        ptr = self._handle()
        rc = sliced_wait(lambda t: _lib.mproc_pool_join(ptr, t), timeout, E_TIMEOUT)
        if rc:
            raise _error_for(rc, "mproc_pool_join")

    def stat(self, which):
        """One pool counter: "tasks_submitted", "tasks_succeeded",
        "tasks_failed", "workers_started", "workers_died", "workers_alive"."""
        code = getattr(_lib, "MPROC_POOL_STAT_" + which.upper(), None)
        if code is None:
            raise ValueError("unknown counter %r" % (which,))
        value = ctypes.c_uint64()
        _lib.mproc_pool_stat(self._handle(), code, ctypes.byref(value))
        return value.value

    def release(self):
        """Free the C pool (terminating it if still running), with its
        results and iterators. Idempotent."""
        ptr, self._ptr = self._ptr, None
        if not ptr:
            return
        for child in list(self._children):
            child.release()
        _lib.mproc_pool_free(ptr)

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc):
        try:
            self.terminate()
        finally:
            self.release()


class _Initializer:
    """A pool initializer as a picklable job for the target entry point."""

    def __init__(self, func, args):
        self.func = func
        self.args = args

    def run(self):
        self.func(*self.args)
