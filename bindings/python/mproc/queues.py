"""mproc.Queue: a bounded shared-memory queue of bytes messages."""

import ctypes

from . import _lib
from ._handle import Releasable
from ._errors import E_EMPTY, E_FULL, _raise_for
from ._spawn import as_bytes
from .process import sliced_wait

__all__ = ["Queue"]


class Queue(Releasable):
    """A bounded multi-producer, multi-consumer queue of bytes messages in
    shared memory, shaped like :class:`multiprocessing.Queue`.

    ``Queue(maxsize=0, capacity=0)`` makes an anonymous queue: processes
    forked after it was created (``Process`` with the fork start method)
    share it. :meth:`create` and :meth:`open` make or attach to a *named*
    queue (``/dev/shm/<name>``) that any process of the same user, in any
    language, can open by name; a named queue also travels to spawn and
    forkserver children (it is pickled by name and reopened there).

    Messages are bytes-like objects (bytes, bytearray, memoryview); ``get``
    returns bytes. ``put`` copies the message into shared memory before it
    returns, so a producer may exit at once.

    Errors are :class:`mproc.MprocError` subclasses: :class:`mproc.Full` and
    :class:`mproc.Empty` (also ``queue.Full``/``queue.Empty``) for timeouts
    and non-blocking calls, :class:`mproc.ClosedError` after close/shutdown.

    :meth:`release` (or leaving a ``with`` block) frees this process's
    handle; the garbage collector does it otherwise.

    Args:
        maxsize: most messages queued at once, 0 = only bytes bound it.
        capacity: ring size in bytes (rounded up to 64), 0 = 1 MiB.
    """

    def __init__(self, maxsize=0, *, capacity=0):
        self._ptr = _lib.queue_p()
        _lib.mproc_queue_new(ctypes.byref(self._ptr), maxsize, capacity)

    @classmethod
    def _wrap(cls, ptr):
        q = cls.__new__(cls)
        q._ptr = ptr
        return q

    @classmethod
    def create(cls, name, maxsize=0, capacity=0):
        """Create a named queue; MprocError (MPROC_E_EXIST) if the name is
        taken. Remove the name with :meth:`unlink` when done."""
        ptr = _lib.queue_p()
        _lib.mproc_queue_create(ctypes.byref(ptr), _name(name), maxsize, capacity)
        return cls._wrap(ptr)

    @classmethod
    def open(cls, name):
        """Attach to an existing named queue; MprocError (MPROC_E_NOENT)
        if there is none."""
        ptr = _lib.queue_p()
        _lib.mproc_queue_open(ctypes.byref(ptr), _name(name))
        return cls._wrap(ptr)

    @staticmethod
    def unlink(name):
        """Remove a named queue's name (attached handles keep working)."""
        _lib.mproc_queue_unlink(_name(name))

    def _handle(self):
        ptr = self.__dict__.get("_ptr")
        if not ptr:
            raise ValueError("queue handle is released")
        return ptr

    def put(self, obj, block=True, timeout=None):
        """Put a bytes-like message; waits for room up to timeout seconds
        (None = forever) unless block is false. Raises Full if there was no
        room, MprocError (MPROC_E_TOOBIG) if it can never fit."""
        data = as_bytes(obj, "a queue message")
        q = self._handle()
        rc = sliced_wait(lambda t: _lib.mproc_queue_put(q, data, len(data), t),
                         timeout if block else 0.0, E_FULL)
        if rc:
            _raise_for(rc, "mproc_queue_put")

    def put_nowait(self, obj):
        """put(obj, block=False)."""
        data = as_bytes(obj, "a queue message")
        rc = _lib.mproc_queue_put_nowait(self._handle(), data, len(data))
        if rc:
            _raise_for(rc, "mproc_queue_put_nowait")

    def get(self, block=True, timeout=None):
        """Take the oldest message (bytes); waits up to timeout seconds
        (None = forever) unless block is false. Raises Empty if none came."""
        q = self._handle()
        data = ctypes.c_void_p()
        length = ctypes.c_size_t()
        rc = sliced_wait(
            lambda t: _lib.mproc_queue_get_alloc(q, ctypes.byref(data),
                                                 ctypes.byref(length), t),
            timeout if block else 0.0, E_EMPTY)
        if rc:
            _raise_for(rc, "mproc_queue_get")
        try:
            return ctypes.string_at(data, length.value)
        finally:
            _lib.mproc_free(data)

    def get_nowait(self):
        """get(block=False)."""
        return self.get(False)

    def qsize(self):
        """Messages queued (exact when no put or get is in progress)."""
        return _lib.mproc_queue_qsize(self._handle())

    def empty(self):
        """True when no message is queued."""
        return _lib.mproc_queue_empty(self._handle()) == 1

    def full(self):
        """True when maxsize messages are queued or no room is left."""
        return _lib.mproc_queue_full(self._handle()) == 1

    def close(self):
        """Close this handle: its later puts and gets raise ClosedError
        (others' handles are unaffected). Idempotent."""
        _lib.mproc_queue_close(self._handle())

    def shutdown(self, immediate=False):
        """Shut the queue down for every process: puts raise ClosedError;
        gets drain what is left (nothing if immediate), then raise it."""
        _lib.mproc_queue_shutdown(self._handle(), 1 if immediate else 0)

    @property
    def name(self):
        """The queue's name, or None for an anonymous queue."""
        raw = _lib.mproc_queue_name(self._handle())
        return None if raw is None else raw.decode("ascii")

    @property
    def capacity(self):
        """The ring's size in bytes."""
        return _lib.mproc_queue_capacity(self._handle())

    @property
    def max_message(self):
        """The largest message one put can take, in bytes."""
        return _lib.mproc_queue_max_message(self._handle())

    def release(self):
        """Free this process's handle (messages stay queued for others).
        Idempotent; afterwards methods raise ValueError."""
        ptr = self.__dict__.pop("_ptr", None)
        if ptr:
            _lib.mproc_queue_free(ptr)
        self._ptr = None

    def __reduce__(self):
        name = self.name
        if name is None:
            raise TypeError("an anonymous Queue is shared with fork children only; "
                            "use Queue.create(name) to pass a queue to spawn or "
                            "forkserver children")
        return (Queue.open, (name,))

    def __repr__(self):
        ptr = self.__dict__.get("_ptr")
        if not ptr:
            return "<mproc.Queue released>"
        return "<mproc.Queue name=%r qsize=%d>" % (self.name, self.qsize())


def _name(name):
    if isinstance(name, str):
        return name.encode("ascii")
    return bytes(name)
