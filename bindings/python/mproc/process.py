"""mproc.Process: run a Python callable in a child process."""

import ctypes
import itertools
import os
import threading
import time

from . import _lib, _spawn
from ._errors import E_TIMEOUT, MprocError

__all__ = ["Process", "current_process", "set_start_method", "get_start_method",
           "cpu_count"]

for _fn in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"):
    getattr(ctypes.pythonapi, _fn).restype = None
    getattr(ctypes.pythonapi, _fn).argtypes = []

_METHODS = {"fork": _lib.MPROC_START_FORK, "spawn": _lib.MPROC_START_SPAWN,
            "forkserver": _lib.MPROC_START_FORKSERVER}
_METHOD_NAMES = {v: k for k, v in _METHODS.items()}

#: Longest single blocking C call, so that Ctrl-C (KeyboardInterrupt) and
#: other signal handlers run while Python waits "forever".
_SLICE = 0.2

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _method_code(method):
    try:
        return _METHODS[method]
    except KeyError:
        raise ValueError("unknown start method %r (fork, spawn or forkserver)"
                         % (method,)) from None


def set_start_method(method):
    """Set the process-wide default start method: "fork" (the default),
    "spawn" or "forkserver". Raises MprocError (MPROC_E_STATE) once this
    process has started a child."""
    _lib.mproc_set_start_method(_method_code(method))


def get_start_method():
    """The process-wide default start method's name."""
    return _METHOD_NAMES[_lib.mproc_get_start_method()]


def cpu_count():
    """CPUs this process may run on (its affinity mask), at least 1."""
    return _lib.mproc_cpu_count()


class _CurrentProcess:
    """What :func:`current_process` returns: this process's name and pid."""

    @property
    def name(self):
        """"MainProcess", or the name of the mproc child we are."""
        return _lib.mproc_current_name().decode("utf-8", "replace")

    @property
    def pid(self):
        return os.getpid()

    def __repr__(self):
        return "<current_process name=%r pid=%d>" % (self.name, self.pid)


_CURRENT = _CurrentProcess()


def current_process():
    """An object describing the calling process (``.name``, ``.pid``)."""
    return _CURRENT


def sliced_wait(call, timeout, retry_code):
    """Call ``call(seconds)`` until it returns something other than
    retry_code or the timeout (None = forever) has passed, in slices short
    enough for signal handlers to run between them. Returns the last code."""
    if timeout is not None and timeout <= 0:
        return call(0.0)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = _SLICE if deadline is None else max(0.0, min(_SLICE, deadline - time.monotonic()))
        rc = call(step)
        if rc != retry_code or (deadline is not None and time.monotonic() >= deadline):
            return rc


class Process:
    """A child process running ``target(*args, **kwargs)`` (or :meth:`run`),
    shaped like :class:`multiprocessing.Process`.

    Start methods: with "fork" (the default) the child is a copy of this
    process and the target may be any callable (lambdas and closures too);
    it is forked the way :func:`os.fork` forks (GIL held, Python's fork
    hooks run). With "spawn" and "forkserver" the child is a fresh
    interpreter: the Process object (target, args, kwargs) is pickled, so the
    target must be importable (a module-level function), and the main script
    must guard its top-level code with ``if __name__ == "__main__":``.

    The child's exit code is 0 when the target returns, the code of a
    ``SystemExit``, or 1 after an uncaught exception (traceback on stderr);
    ``-N`` when signal N killed it.

    Resources: :meth:`close` releases the handle at once (a running child
    keeps running and is still reaped); otherwise the garbage collector does.
    """

    def __init__(self, group=None, target=None, name=None, args=(), kwargs=None,
                 *, daemon=None, start_method=None):
        if group is not None:
            raise ValueError("group must be None")
        if start_method is not None:
            _method_code(start_method)
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._start_method = start_method
        self._daemon = daemon
        if name is None:
            with _counter_lock:
                n = next(_counter)
            parent = _lib.mproc_current_name().decode("utf-8", "replace")
            name = ("Process-%d" % n if parent == "MainProcess"
                    else "%s:%d" % (parent, n))
        self._name = str(name)
        self._handle = None
        self._closed = False

    # -- pickling (spawn): the C handle stays behind ------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handle"] = None
        return state

    def run(self):
        """What the child runs; calls the target. Subclasses may override."""
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def _check_open(self):
        if self._closed:
            raise ValueError("process object is closed")

    def _started(self):
        self._check_open()
        if self._handle is None:
            raise ValueError("process not started")
        return self._handle

    def start(self):
        """Start the child. Raises MprocError (MPROC_E_STATE if already
        started, MPROC_E_NOENT if a spawn executable is missing, ...)."""
        self._check_open()
        if self._handle is not None:
            raise MprocError(-1001, "a process can only be started once", "start")
        method = self._start_method or get_start_method()
        key = None
        if method == "fork":
            payload, key = _spawn.fork_payload(self)
        else:
            payload = _spawn.spawn_payload(self)
        handle = _lib.process_p()
        try:
            _lib.mproc_process_new_named(ctypes.byref(handle), _spawn.TARGET_NAME,
                                         payload, len(payload))
        except BaseException:
            _spawn._FORK_JOBS.pop(key, None)
            raise
        try:
            _lib.mproc_process_set_name(handle, self._name.encode("utf-8"))
            if self._daemon is not None:
                _lib.mproc_process_set_daemon(handle, 1 if self._daemon else 0)
            if self._start_method is not None:
                _lib.mproc_process_set_start_method(handle, _method_code(method))
            _spawn.flush_std_streams()
            if method == "fork":
                # Fork with the GIL held and the interpreter's fork hooks run,
                # as os.fork() does, so the child can run Python safely even
                # when this process has other Python threads.
                ctypes.pythonapi.PyOS_BeforeFork()
                try:
                    _lib.mproc_process_start_gil(handle)
                finally:
                    ctypes.pythonapi.PyOS_AfterFork_Parent()
            else:
                _lib.mproc_process_start(handle)
        except BaseException:
            _lib.mproc_process_free(handle)
            raise
        finally:
            _spawn._FORK_JOBS.pop(key, None)
        self._handle = handle

    def join(self, timeout=None):
        """Wait for the child to exit, at most timeout seconds (None =
        forever). Returns None either way, as in Python: check
        :attr:`exitcode` or :meth:`is_alive` afterwards."""
        handle = self._started()
        rc = sliced_wait(lambda t: _lib.mproc_process_join(handle, t), timeout, E_TIMEOUT)
        if rc not in (0, E_TIMEOUT):
            raise MprocError(rc, function="mproc_process_join")

    def is_alive(self):
        """True while the child runs (False before start and after exit)."""
        self._check_open()
        if self._handle is None:
            return False
        return _lib.mproc_process_is_alive(self._handle) == 1

    def terminate(self):
        """Send SIGTERM (join afterwards)."""
        _lib.mproc_process_terminate(self._started())

    def kill(self):
        """Send SIGKILL (join afterwards)."""
        _lib.mproc_process_kill(self._started())

    @property
    def pid(self):
        """The child's pid, None before start."""
        self._check_open()
        if self._handle is None:
            return None
        return _lib.mproc_process_pid(self._handle)

    ident = pid

    @property
    def exitcode(self):
        """None while running (or before start), else the exit code
        (-N when killed by signal N)."""
        self._check_open()
        if self._handle is None:
            return None
        code = ctypes.c_int()
        rc = _lib.mproc_process_exitcode(self._handle, ctypes.byref(code))
        if rc == 0:
            return code.value
        if rc == -16:  # MPROC_E_BUSY: still running
            return None
        raise MprocError(rc, function="mproc_process_exitcode")

    @property
    def name(self):
        """The process's name ("Process-N" unless given)."""
        return self._name

    @name.setter
    def name(self, value):
        if self._handle is not None:
            _lib.mproc_process_set_name(self._handle, str(value).encode("utf-8"))
        self._name = str(value)

    @property
    def daemon(self):
        """Daemon flag: a daemon child dies with its parent. Set it before
        start; unset, it is inherited from the current process."""
        if self._handle is not None:
            return bool(_lib.mproc_process_daemon(self._handle))
        return bool(self._daemon)

    @daemon.setter
    def daemon(self, value):
        if self._handle is not None:
            raise MprocError(-1001, "cannot change daemon after start", "daemon")
        self._daemon = bool(value)

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the child exits
        (owned by the process object: poll it, do not close it)."""
        return _lib.mproc_process_sentinel(self._started())

    def close(self):
        """Release the C handle. A running child keeps running and is reaped
        by mproc. Afterwards most methods raise ValueError. Idempotent."""
        handle, self._handle = self._handle, None
        self._closed = True
        if handle is not None:
            _lib.mproc_process_free(handle)

    def __del__(self):
        try:
            if self.__dict__.get("_handle") is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self):
        if self._closed:
            state = "closed"
        elif self._handle is None:
            state = "initial"
        else:
            code = self.exitcode
            state = "started" if code is None else "stopped exitcode=%d" % code
        return "<%s name=%r %s%s>" % (type(self).__name__, self._name, state,
                                      " daemon" if self.daemon else "")
