"""How Python code reaches child processes (private).

Two C entry points serve every child, registered under fixed names in every
process (parent and spawned child alike) and kept alive here:

* ``mproc.python.target`` (an ``mproc_target_fn``): runs a Process, or a pool
  initializer. With the fork start method its payload is ``b"F"`` plus a key
  into :data:`_FORK_JOBS`, which the child sees in its copy of the parent's
  memory; with spawn and forkserver it is ``b"S"`` plus the pickled
  preparation data and the pickled job (the function travels by reference:
  module and qualified name, like :mod:`pickle` and multiprocessing do).
* ``mproc.python.task`` (an ``mproc_task_fn``): runs one pool task. Its
  payload is the preparation data, the pickled function and the task's
  bytes; the function's bytes result becomes the reply.

Preparation data make a spawned interpreter look like its parent: the same
``sys.path`` and ``sys.argv``, and the parent's main script re-run as
``__mp_main__`` (and installed as ``__main__``) so that functions defined in
it can be found, exactly as CPython's spawn start method does. Code under
``if __name__ == "__main__":`` therefore does not run again in the child.
"""

import ctypes
import io
import os
import pickle
import runpy
import struct
import sys
import threading
import traceback
import types

from . import _lib

TARGET_NAME = b"mproc.python.target"
TASK_NAME = b"mproc.python.task"

#: Jobs handed to fork children through memory, by key.
_FORK_JOBS = {}
_fork_lock = threading.Lock()
_fork_counter = 0

_prepared_pid = None
_entry_pid = None   # pid that called mproc_main() in spawn_main()
_forked_pid = None  # pid whose interpreter was re-initialised after a fork
_func_cache = {}

_U32 = struct.Struct("<I")


# --- preparation data -----------------------------------------------------

def preparation_data():
    """What a spawned child needs to import the parent's functions."""
    data = {"sys_path": list(sys.path), "sys_argv": list(sys.argv)}
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        data["main_name"] = spec.name
    else:
        path = getattr(main, "__file__", None)
        if path:
            data["main_path"] = os.path.abspath(path)
    return data


def _install_main(module):
    sys.modules["__main__"] = sys.modules["__mp_main__"] = module


def _main_from_name(name):
    if name == "__main__" or name.endswith(".__main__"):
        return  # python -m pkg: the package's __main__ must not run again
    if getattr(sys.modules.get("__main__"), "__name__", None) == "__mp_main__":
        return
    module = types.ModuleType("__mp_main__")
    module.__dict__.update(runpy.run_module(name, run_name="__mp_main__",
                                            alter_sys=True))
    _install_main(module)


def _main_from_path(path):
    if getattr(sys.modules.get("__main__"), "__file__", None) == path:
        return
    module = types.ModuleType("__mp_main__")
    module.__file__ = path
    module.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
    _install_main(module)


def prepare(data):
    """Apply preparation data once per process (a forkserver's children
    are new processes, each prepared on its first job)."""
    global _prepared_pid
    if _prepared_pid == os.getpid():
        return
    _prepared_pid = os.getpid()
    sys.path[:] = data.get("sys_path", sys.path)
    sys.argv[:] = data.get("sys_argv", sys.argv)
    if "main_name" in data:
        _main_from_name(data["main_name"])
    elif "main_path" in data:
        _main_from_path(data["main_path"])


# --- jobs -------------------------------------------------------------------

def fork_payload(job):
    """Store job for a fork child; returns (payload, key)."""
    global _fork_counter
    with _fork_lock:
        _fork_counter += 1
        key = _fork_counter
        _FORK_JOBS[key] = job
    return b"F" + struct.pack("<Q", key), key


def spawn_payload(job):
    """Pickle job (anything with a run() method) for a spawned child."""
    return b"S" + pickle.dumps((preparation_data(), pickle.dumps(job)))


def flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


def _after_fork_child():
    # The parent forked inside mproc_process_start() called with the GIL
    # held (PyDLL) after PyOS_BeforeFork(), as os.fork() does; finish the
    # job the way os.fork() does in its child (fresh GIL and locks, other
    # threads forgotten, os.register_at_fork hooks such as random's reseed).
    global _forked_pid
    _forked_pid = os.getpid()
    ctypes.pythonapi.PyOS_AfterFork_Child()


def _after_server_fork():
    # A forkserver child: the server (a spawned interpreter waiting in
    # mproc_main() with the GIL released) forked it from C. Re-initialise
    # the interpreter once, as above.
    if _entry_pid is not None and os.getpid() not in (_entry_pid, _forked_pid):
        _after_fork_child()


def _exit_code(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(str(code) + "\n")
    return 1


def run_job(job):
    """Run job.run() as multiprocessing's _bootstrap does: exit code 0, the
    SystemExit code, or 1 with the traceback on stderr."""
    try:
        job.run()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        sys.stderr.write("Process %s:\n" % _lib.mproc_current_name().decode())
        traceback.print_exc()
        code = 1
    finally:
        try:
            threading._shutdown()
        except Exception:
            pass
        flush_std_streams()
    return code


def _target_entry(arg, arg_len, ctx):
    try:
        data = ctypes.string_at(arg, arg_len) if arg_len else b""
        if data[:1] == b"F":
            _after_fork_child()
            (key,) = struct.unpack("<Q", data[1:9])
            job = _FORK_JOBS.pop(key)
        elif data[:1] == b"S":
            _after_server_fork()
            prep, blob = pickle.loads(data[1:])
            prepare(prep)
            job = pickle.loads(blob)
        else:
            sys.stderr.write("mproc: damaged Python target payload\n")
            return 1
        return run_job(job)
    except BaseException:
        traceback.print_exc()
        flush_std_streams()
        return 1


# --- pool tasks -----------------------------------------------------------

def task_header(func, prep=None):
    """Encode the part of a task payload shared by all items of one call."""
    p = pickle.dumps(prep if prep is not None else preparation_data())
    f = pickle.dumps(func)
    return _U32.pack(len(p)) + p + _U32.pack(len(f)) + f


def _split_task(data):
    (n,) = _U32.unpack_from(data, 0)
    prep = pickle.loads(data[4:4 + n])
    pos = 4 + n
    (m,) = _U32.unpack_from(data, pos)
    fblob = data[pos + 4:pos + 4 + m]
    return prep, fblob, data[pos + 4 + m:]


def as_bytes(obj, what="payload"):
    """bytes of a bytes-like object (bytes, bytearray, memoryview)."""
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise TypeError("%s must be bytes-like, not %s" % (what, type(obj).__name__))


def run_task(data):
    """Run one encoded task in this process: (ok, reply bytes).

    The reply of a failed task is the traceback text, a NUL, and the pickled
    exception (when it pickles), so a C caller still sees a message.
    """
    try:
        prep, fblob, arg = _split_task(data)
        prepare(prep)
        func = _func_cache.get(fblob)
        if func is None:
            func = _func_cache[fblob] = pickle.loads(fblob)
        out = func(arg)
        return True, b"" if out is None else as_bytes(out, "a task's result")
    except BaseException as exc:
        return False, encode_exception(exc)
    finally:
        flush_std_streams()


def encode_exception(exc):
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        blob = pickle.dumps(exc)
        pickle.loads(blob)
    except Exception:
        blob = b""
    return text.encode("utf-8", "replace") + b"\0" + blob


def decode_exception(reply):
    """(exception or None, traceback text) from a failed task's reply."""
    text, _, blob = bytes(reply).partition(b"\0")
    exc = None
    if blob:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    return exc, text.decode("utf-8", "replace")


def _task_entry(arg, arg_len, reply, ctx):
    _after_server_fork()
    data = ctypes.string_at(arg, arg_len) if arg_len else b""
    ok, out = run_task(data)
    try:
        _lib.mproc_reply_set(reply, out, len(out))
    except Exception:
        traceback.print_exc()
        return 1
    return 0 if ok else 1


# The C function pointers: module globals so they live as long as the process.
TARGET_FN = _lib.TARGET_FN(_target_entry)
TASK_FN = _lib.TASK_FN(_task_entry)


def register():
    """Register both entry points (idempotent)."""
    _lib.mproc_register(TARGET_NAME, TARGET_FN)
    _lib.mproc_register_task(TASK_NAME, TASK_FN)


def spawn_command():
    """The -c program spawned children run, importing this very package."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return ("import sys; sys.path.insert(0, %r); import mproc; mproc._spawn_main()"
            % pkg_parent)


def set_executable(path=None):
    """Make spawned children run ``path -c <spawn program> --mproc-spawn``
    (path defaults to sys.executable)."""
    exe = os.fsencode(path or sys.executable)
    args = (ctypes.c_char_p * 3)(b"-c", spawn_command().encode(), None)
    _lib.mproc_set_executable_argv(exe, args)


def spawn_main():
    """Entry point of spawned children (see the module doc)."""
    global _entry_pid
    register()
    _entry_pid = os.getpid()
    argv = [os.fsencode(a) for a in sys.argv]
    arr = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
    _lib.mproc_main(len(argv), arr)
