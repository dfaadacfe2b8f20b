"""Low-level ctypes declarations for libmproc (private).

Every exported function the binding uses is declared here with its
``argtypes`` and ``restype``; functions returning a status code get an
``errcheck`` that turns negative codes into :class:`mproc.MprocError`.
The library is loaded by SONAME (``libmproc.so.0``) unless the environment
variable ``MPROC_LIBRARY`` names another file.
"""

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int,
                    c_int64, c_size_t, c_uint32, c_uint64, c_void_p)

from ._errors import _raise_for

LIBRARY = os.environ.get("MPROC_LIBRARY", "libmproc.so.0")

#: The library with the GIL released during each call (the normal case).
lib = ctypes.CDLL(LIBRARY)
#: The same library, called with the GIL held: used only where a fork must
#: happen while this thread owns the GIL (see Process.start).
pylib = ctypes.PyDLL(LIBRARY)

# Constants from mproc-common.h, mproc-start.h and mproc-pool.h.
MPROC_OK = 0
MPROC_DONE = 1
MPROC_FOREVER = -1.0
MPROC_START_FORK = 1
MPROC_START_SPAWN = 2
MPROC_START_FORKSERVER = 3
MPROC_POOL_STAT_TASKS_SUBMITTED = 1
MPROC_POOL_STAT_TASKS_SUCCEEDED = 2
MPROC_POOL_STAT_TASKS_FAILED = 3
MPROC_POOL_STAT_WORKERS_STARTED = 4
MPROC_POOL_STAT_WORKERS_DIED = 5
MPROC_POOL_STAT_WORKERS_ALIVE = 6


class _Opaque(Structure):
    pass


class mproc_process(_Opaque):
    """Opaque ``mproc_process``."""


class mproc_queue(_Opaque):
    """Opaque ``mproc_queue``."""


class mproc_pool(_Opaque):
    """Opaque ``mproc_pool``."""


class mproc_result(_Opaque):
    """Opaque ``mproc_result``."""


class mproc_iter(_Opaque):
    """Opaque ``mproc_iter``."""


class mproc_reply(_Opaque):
    """Opaque ``mproc_reply``."""


class mproc_bytes(Structure):
    """``mproc_bytes``: a borrowed byte string."""
    _fields_ = [("data", c_void_p), ("len", c_size_t)]


process_p = POINTER(mproc_process)
queue_p = POINTER(mproc_queue)
pool_p = POINTER(mproc_pool)
result_p = POINTER(mproc_result)
iter_p = POINTER(mproc_iter)
reply_p = POINTER(mproc_reply)
bytes_p = POINTER(mproc_bytes)

# Callback types. The first argument of targets and tasks is declared as a
# c_void_p so that the trampoline reads exactly arg_len bytes (c_char_p would
# stop at the first NUL).
TARGET_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)
TASK_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, reply_p, c_void_p)
RESULT_CB = CFUNCTYPE(None, c_int, c_void_p, c_size_t, c_void_p)


def _check(rc, func, args):
    """errcheck: raise MprocError for a negative status, else return it."""
    if rc < 0:
        _raise_for(int(rc), func.__name__)
    return rc


def _declare(dll, name, restype, argtypes, check=True):
    fn = getattr(dll, name)
    fn.restype = restype
    fn.argtypes = argtypes
    if check:
        fn.errcheck = _check
    return fn


def _optional(dll, name, restype, argtypes, check=True):
    """Declare a function that newer libraries have; None when missing."""
    try:
        return _declare(dll, name, restype, argtypes, check)
    except AttributeError:
        return None


_S, _N = True, False  # errcheck or not

# --- common ---------------------------------------------------------------
mproc_version_number = _declare(lib, "mproc_version_number", c_uint32, [], _N)
mproc_version_string = _declare(lib, "mproc_version_string", c_char_p, [], _N)
mproc_strerror = _declare(lib, "mproc_strerror", c_char_p, [c_int], _N)
mproc_error_name = _declare(lib, "mproc_error_name", c_char_p, [c_int], _N)
mproc_cpu_count = _declare(lib, "mproc_cpu_count", c_int, [], _N)
mproc_free = _declare(lib, "mproc_free", None, [c_void_p], _N)
mproc_current_name = _declare(lib, "mproc_current_name", c_char_p, [], _N)

# --- process --------------------------------------------------------------
mproc_process_new = _declare(lib, "mproc_process_new", c_int,
                             [POINTER(process_p), TARGET_FN, c_void_p, c_size_t, c_void_p])
mproc_process_new_named = _declare(lib, "mproc_process_new_named", c_int,
                                   [POINTER(process_p), c_char_p, c_void_p, c_size_t])
mproc_process_set_name = _declare(lib, "mproc_process_set_name", c_int, [process_p, c_char_p])
mproc_process_set_daemon = _declare(lib, "mproc_process_set_daemon", c_int, [process_p, c_int])
mproc_process_set_start_method = _declare(lib, "mproc_process_set_start_method", c_int,
                                          [process_p, c_int])
mproc_process_start = _declare(lib, "mproc_process_start", c_int, [process_p])
#: mproc_process_start with the GIL held (fork start method).
mproc_process_start_gil = _declare(pylib, "mproc_process_start", c_int, [process_p])
mproc_process_join = _declare(lib, "mproc_process_join", c_int, [process_p, c_double], _N)
mproc_process_is_alive = _declare(lib, "mproc_process_is_alive", c_int, [process_p])
mproc_process_terminate = _declare(lib, "mproc_process_terminate", c_int, [process_p])
mproc_process_kill = _declare(lib, "mproc_process_kill", c_int, [process_p])
mproc_process_pid = _declare(lib, "mproc_process_pid", c_int, [process_p])
mproc_process_exitcode = _declare(lib, "mproc_process_exitcode", c_int,
                                  [process_p, POINTER(c_int)], _N)
mproc_process_name = _declare(lib, "mproc_process_name", c_char_p, [process_p], _N)
mproc_process_daemon = _declare(lib, "mproc_process_daemon", c_int, [process_p])
mproc_process_sentinel = _declare(lib, "mproc_process_sentinel", c_int, [process_p])
mproc_process_free = _declare(lib, "mproc_process_free", None, [process_p], _N)

# --- start methods --------------------------------------------------------
mproc_set_start_method = _declare(lib, "mproc_set_start_method", c_int, [c_int])
mproc_get_start_method = _declare(lib, "mproc_get_start_method", c_int, [], _N)
mproc_register = _declare(lib, "mproc_register", c_int, [c_char_p, TARGET_FN])
mproc_register_task = _declare(lib, "mproc_register_task", c_int, [c_char_p, TASK_FN])
mproc_main = _declare(lib, "mproc_main", c_int, [c_int, POINTER(c_char_p)])
mproc_set_executable = _declare(lib, "mproc_set_executable", c_int, [c_char_p])
mproc_set_executable_argv = _declare(lib, "mproc_set_executable_argv", c_int,
                                     [c_char_p, POINTER(c_char_p)])
mproc_forkserver_start = _declare(lib, "mproc_forkserver_start", c_int, [])
mproc_forkserver_pid = _declare(lib, "mproc_forkserver_pid", c_int, [], _N)

# --- queue ----------------------------------------------------------------
mproc_queue_new = _declare(lib, "mproc_queue_new", c_int, [POINTER(queue_p), c_size_t, c_size_t])
mproc_queue_create = _declare(lib, "mproc_queue_create", c_int,
                              [POINTER(queue_p), c_char_p, c_size_t, c_size_t])
mproc_queue_open = _declare(lib, "mproc_queue_open", c_int, [POINTER(queue_p), c_char_p])
mproc_queue_export = _declare(lib, "mproc_queue_export", c_int, [queue_p, c_char_p, c_size_t])
mproc_queue_unlink = _declare(lib, "mproc_queue_unlink", c_int, [c_char_p])
mproc_queue_put = _declare(lib, "mproc_queue_put", c_int,
                           [queue_p, c_void_p, c_size_t, c_double], _N)
mproc_queue_put_nowait = _declare(lib, "mproc_queue_put_nowait", c_int,
                                  [queue_p, c_void_p, c_size_t], _N)
mproc_queue_get = _declare(lib, "mproc_queue_get", c_int,
                           [queue_p, c_void_p, c_size_t, POINTER(c_size_t), c_double], _N)
mproc_queue_get_nowait = _declare(lib, "mproc_queue_get_nowait", c_int,
                                  [queue_p, c_void_p, c_size_t, POINTER(c_size_t)], _N)
mproc_queue_get_alloc = _declare(lib, "mproc_queue_get_alloc", c_int,
                                 [queue_p, POINTER(c_void_p), POINTER(c_size_t), c_double], _N)
mproc_queue_qsize = _declare(lib, "mproc_queue_qsize", c_int64, [queue_p])
mproc_queue_empty = _declare(lib, "mproc_queue_empty", c_int, [queue_p])
mproc_queue_full = _declare(lib, "mproc_queue_full", c_int, [queue_p])
mproc_queue_close = _declare(lib, "mproc_queue_close", c_int, [queue_p])
mproc_queue_shutdown = _declare(lib, "mproc_queue_shutdown", c_int, [queue_p, c_int])
mproc_queue_name = _declare(lib, "mproc_queue_name", c_char_p, [queue_p], _N)
mproc_queue_max_message = _declare(lib, "mproc_queue_max_message", c_size_t, [queue_p], _N)
mproc_queue_capacity = _declare(lib, "mproc_queue_capacity", c_size_t, [queue_p], _N)
mproc_queue_free = _declare(lib, "mproc_queue_free", None, [queue_p], _N)

# --- pool -----------------------------------------------------------------
mproc_reply_set = _declare(lib, "mproc_reply_set", c_int, [reply_p, c_void_p, c_size_t])
mproc_pool_new = _declare(lib, "mproc_pool_new", c_int, [POINTER(pool_p), c_int])
mproc_pool_start = _declare(lib, "mproc_pool_start", c_int, [pool_p])
mproc_pool_workers = _declare(lib, "mproc_pool_workers", c_int, [pool_p])
mproc_pool_set_initializer = _declare(lib, "mproc_pool_set_initializer", c_int,
                                      [pool_p, TARGET_FN, c_void_p, c_size_t, c_void_p])
mproc_pool_set_maxtasksperchild = _declare(lib, "mproc_pool_set_maxtasksperchild", c_int,
                                           [pool_p, c_uint32])
mproc_pool_set_task_timeout = _declare(lib, "mproc_pool_set_task_timeout", c_int,
                                       [pool_p, c_double])
mproc_pool_apply_async = _declare(lib, "mproc_pool_apply_async", c_int,
                                  [pool_p, TASK_FN, c_void_p, c_size_t, c_void_p,
                                   POINTER(result_p)])
mproc_pool_apply_async_cb = _declare(lib, "mproc_pool_apply_async_cb", c_int,
                                     [pool_p, TASK_FN, c_void_p, c_size_t, c_void_p,
                                      RESULT_CB, c_void_p, POINTER(result_p)])
mproc_pool_apply = _declare(lib, "mproc_pool_apply", c_int,
                            [pool_p, TASK_FN, c_void_p, c_size_t, c_void_p,
                             POINTER(c_void_p), POINTER(c_size_t)], _N)
mproc_result_wait = _declare(lib, "mproc_result_wait", c_int, [result_p, c_double], _N)
mproc_result_ready = _declare(lib, "mproc_result_ready", c_int, [result_p])
mproc_result_successful = _declare(lib, "mproc_result_successful", c_int, [result_p])
mproc_result_get = _declare(lib, "mproc_result_get", c_int,
                            [result_p, POINTER(c_void_p), POINTER(c_size_t), c_double], _N)
mproc_result_worker_exitcode = _declare(lib, "mproc_result_worker_exitcode", c_int,
                                        [result_p, POINTER(c_int)], _N)
mproc_result_free = _declare(lib, "mproc_result_free", None, [result_p], _N)
mproc_pool_imap = _declare(lib, "mproc_pool_imap", c_int,
                           [pool_p, TASK_FN, bytes_p, c_size_t, c_size_t, c_void_p,
                            POINTER(iter_p)])
mproc_pool_imap_unordered = _declare(lib, "mproc_pool_imap_unordered", c_int,
                                     [pool_p, TASK_FN, bytes_p, c_size_t, c_size_t, c_void_p,
                                      POINTER(iter_p)])
mproc_pool_map = _declare(lib, "mproc_pool_map", c_int,
                          [pool_p, TASK_FN, bytes_p, c_size_t, c_size_t, c_void_p,
                           POINTER(bytes_p)], _N)
mproc_iter_next = _declare(lib, "mproc_iter_next", c_int,
                           [iter_p, POINTER(c_size_t), POINTER(c_void_p), POINTER(c_size_t),
                            c_double], _N)
mproc_iter_worker_exitcode = _declare(lib, "mproc_iter_worker_exitcode", c_int,
                                      [iter_p, POINTER(c_int)], _N)
mproc_iter_free = _declare(lib, "mproc_iter_free", None, [iter_p], _N)
mproc_pool_close = _declare(lib, "mproc_pool_close", c_int, [pool_p])
mproc_pool_terminate = _declare(lib, "mproc_pool_terminate", c_int, [pool_p])
mproc_pool_join = _declare(lib, "mproc_pool_join", c_int, [pool_p, c_double], _N)
mproc_pool_event_fd = _declare(lib, "mproc_pool_event_fd", c_int, [pool_p])
mproc_pool_stat = _declare(lib, "mproc_pool_stat", c_int, [pool_p, c_int, POINTER(c_uint64)])
mproc_pool_free = _declare(lib, "mproc_pool_free", None, [pool_p], _N)

# --- coming in a later library release (None until then) -----------------
mproc_pool_set_start_method = _optional(lib, "mproc_pool_set_start_method", c_int,
                                        [pool_p, c_int])
mproc_pool_apply_named = _optional(lib, "mproc_pool_apply_named", c_int,
                                   [pool_p, c_char_p, c_void_p, c_size_t,
                                    POINTER(c_void_p), POINTER(c_size_t)], _N)
mproc_pool_apply_async_named = _optional(lib, "mproc_pool_apply_async_named", c_int,
                                         [pool_p, c_char_p, c_void_p, c_size_t,
                                          POINTER(result_p)])
mproc_pool_map_named = _optional(lib, "mproc_pool_map_named", c_int,
                                 [pool_p, c_char_p, bytes_p, c_size_t, c_size_t,
                                  POINTER(bytes_p)], _N)
mproc_pool_imap_named = _optional(lib, "mproc_pool_imap_named", c_int,
                                  [pool_p, c_char_p, bytes_p, c_size_t, c_size_t,
                                   POINTER(iter_p)])
mproc_pool_imap_unordered_named = _optional(lib, "mproc_pool_imap_unordered_named", c_int,
                                            [pool_p, c_char_p, bytes_p, c_size_t, c_size_t,
                                             POINTER(iter_p)])
