"""Exception types: every mproc failure is an MprocError carrying the code."""

import builtins
import queue as _queue

__all__ = ["MprocError", "Full", "Empty", "TimeoutError", "ClosedError",
           "TaskError", "WorkerDiedError", "error_name"]

# mproc's codes that are not negated errno values, with their names, for
# use before the library is loaded (the names are ABI; see mproc-common.h).
E_INVAL = -22
E_NOENT = -2
E_EXIST = -17
E_TIMEOUT = -110
E_BUSY = -16
E_STATE = -1001
E_FULL = -1002
E_EMPTY = -1003
E_CLOSED = -1004
E_TOOBIG = -1005
E_BAD_SEGMENT = -1006
E_TASK_FAILED = -1007
E_WORKER_DIED = -1008
E_TASK_TIMEOUT = -1009
E_CANCELLED = -1010
E_INIT_FAILED = -1011
E_SYS = -1012


def error_name(code):
    """The stable symbolic name of an mproc code (``mproc_error_name``)."""
    from . import _lib
    return _lib.mproc_error_name(code).decode("ascii")


def _strerror(code):
    from . import _lib
    return _lib.mproc_strerror(code).decode("utf-8", "replace")


class MprocError(OSError):
    """An mproc call failed.

    Attributes:
        code: the (negative) mproc status code, e.g. -1002.
        name: its symbolic name from ``mproc_error_name``, e.g. "MPROC_E_FULL".
        errno: ``-code`` for codes that are negated errno values, else None.
        function: the C function that failed, when known.
    """

    def __init__(self, code, message=None, function=None):
        code = int(code)
        name = error_name(code)
        text = message or _strerror(code)
        if function:
            text = "%s: %s" % (function, text)
        text = "%s (%s)" % (text, name)
        if -1000 < code < 0:
            super().__init__(-code, text)
        else:
            super().__init__(text)
        self.code = code
        self.name = name
        self.function = function

    def __reduce__(self):
        return (type(self)._rebuild, (self.code, self.args, self.function))

    @classmethod
    def _rebuild(cls, code, args, function):
        err = cls.__new__(cls)
        OSError.__init__(err, *args)
        err.code, err.name, err.function = code, error_name(code), function
        return err


class Full(MprocError, _queue.Full):
    """The queue had no room in time (MPROC_E_FULL); also a ``queue.Full``."""


class Empty(MprocError, _queue.Empty):
    """The queue had no message in time (MPROC_E_EMPTY); also a ``queue.Empty``."""


class TimeoutError(MprocError, builtins.TimeoutError):
    """A wait timed out (MPROC_E_TIMEOUT); also the built-in TimeoutError."""


class ClosedError(MprocError, ValueError):
    """The queue or handle is closed or shut down (MPROC_E_CLOSED)."""


class TaskError(MprocError):
    """A pool task failed (MPROC_E_TASK_FAILED).

    Attributes:
        exception: the exception the task raised, rebuilt in this process
            when it could be pickled, else None.
        remote_traceback: the worker's formatted traceback (a str).
    """

    def __init__(self, code, message=None, function=None, exception=None,
                 remote_traceback=""):
        super().__init__(code, message, function)
        self.exception = exception
        self.remote_traceback = remote_traceback


class WorkerDiedError(MprocError):
    """The worker running a task died, or was killed at the task timeout
    (MPROC_E_WORKER_DIED, MPROC_E_TASK_TIMEOUT).

    Attributes:
        exitcode: the worker's exit code (-9 for SIGKILL, ...) or None.
    """

    def __init__(self, code, message=None, function=None, exitcode=None):
        super().__init__(code, message, function)
        self.exitcode = exitcode


_CLASSES = {E_FULL: Full, E_EMPTY: Empty, E_TIMEOUT: TimeoutError,
            E_CLOSED: ClosedError, E_TASK_FAILED: TaskError,
            E_WORKER_DIED: WorkerDiedError, E_TASK_TIMEOUT: WorkerDiedError}


def _error_for(code, function=None, message=None):
    """The MprocError (subclass) instance for a negative code."""
    return _CLASSES.get(code, MprocError)(code, message, function)


def _raise_for(code, function=None, message=None):
    raise _error_for(code, function, message)
