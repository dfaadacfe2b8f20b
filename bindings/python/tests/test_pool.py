"""mproc.Pool. The pool itself needs spawn/forkserver pools in libmproc
(mproc_pool_set_start_method); those tests skip until it has them. The
task encoding, the worker-side entry point and the initializer path run
everywhere."""

import ctypes
import os
import subprocess
import sys
import threading
import time
import unittest

import mproc
from mproc import _lib, _spawn, pool as pool_mod

NO_POOL = ("this libmproc has no mproc_pool_set_start_method: spawn/forkserver "
           "pools are not in the C library yet")

_initialized = b"no"


# --- task functions (module level: they travel by reference) -------------

def square(arg):
    n = int(arg)
    return str(n * n).encode()


def echo_none(arg):
    return None


def fail(arg):
    raise ValueError("bad item %s" % arg.decode())


def not_bytes(arg):
    return 42


def die(arg):
    os._exit(int(arg))


def sleepy(arg):
    time.sleep(float(arg))
    return arg


def whoami(arg):
    return b"%d" % os.getpid()


def init(value):
    global _initialized
    _initialized = value


def init_fails():
    raise RuntimeError("initializer refuses")


def initialized(arg):
    return _initialized


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no")


def raise_unpicklable(arg):
    raise Unpicklable("odd")


class TaskEncodingTest(unittest.TestCase):
    """The worker side, run in this process."""

    def run_encoded(self, func, arg):
        return _spawn.run_task(_spawn.task_header(func) + arg)

    def test_success(self):
        self.assertEqual(self.run_encoded(square, b"12"), (True, b"144"))
        self.assertEqual(self.run_encoded(echo_none, b""), (True, b""))

    def test_exception_is_pickled_with_traceback(self):
        ok, reply = self.run_encoded(fail, b"7")
        self.assertFalse(ok)
        exc, text = _spawn.decode_exception(reply)
        self.assertIsInstance(exc, ValueError)
        self.assertEqual(str(exc), "bad item 7")
        self.assertIn("Traceback", text)
        self.assertIn("ValueError: bad item 7", text)
        err = pool_mod._failure(-1007, reply)
        self.assertIsInstance(err, mproc.TaskError)
        self.assertEqual((err.code, err.name), (-1007, "MPROC_E_TASK_FAILED"))
        self.assertIs(err.exception.__class__, ValueError)
        self.assertIn("ValueError", str(err))
        self.assertIn("bad item 7", err.remote_traceback)

    def test_result_must_be_bytes(self):
        ok, reply = self.run_encoded(not_bytes, b"")
        self.assertFalse(ok)
        self.assertIsInstance(_spawn.decode_exception(reply)[0], TypeError)

    def test_unpicklable_exception_keeps_text(self):
        ok, reply = self.run_encoded(raise_unpicklable, b"")
        self.assertFalse(ok)
        exc, text = _spawn.decode_exception(reply)
        self.assertIsNone(exc)
        err = pool_mod._failure(-1007, reply)
        self.assertIsNone(err.exception)
        self.assertIn("Unpicklable: odd", str(err))

    def test_other_failures(self):
        err = pool_mod._failure(-1008, b"", exitcode=-9)
        self.assertIsInstance(err, mproc.WorkerDiedError)
        self.assertEqual((err.name, err.exitcode), ("MPROC_E_WORKER_DIED", -9))
        err = pool_mod._failure(-1010, b"")
        self.assertEqual(err.name, "MPROC_E_CANCELLED")

    def test_initializer_payload_runs_in_a_spawned_child(self):
        # Exactly what Pool gives mproc_pool_set_initializer, started as a
        # spawned process through the same registered entry point.
        name = "mproc-py-init-%d" % os.getpid()
        q = mproc.Queue.create(name)
        self.addCleanup(q.release)
        self.addCleanup(mproc.Queue.unlink, name)
        for func, args, code in ((q.put, (b"initialized",), 0), (init_fails, (), 1)):
            payload = _spawn.spawn_payload(pool_mod._Initializer(func, args))
            handle = _lib.process_p()
            _lib.mproc_process_new_named(ctypes.byref(handle), _spawn.TARGET_NAME,
                                         payload, len(payload))
            try:
                _lib.mproc_process_set_start_method(handle, _lib.MPROC_START_SPAWN)
                _lib.mproc_process_start(handle)
                self.assertEqual(_lib.mproc_process_join(handle, 60.0), 0)
                status = ctypes.c_int()
                _lib.mproc_process_exitcode(handle, ctypes.byref(status))
                self.assertEqual(status.value, code)
            finally:
                _lib.mproc_process_free(handle)
        self.assertEqual(q.get(timeout=5), b"initialized")

    def test_fork_pools_are_refused(self):
        with self.assertRaises(ValueError):
            mproc.Pool(2, start_method="fork")

    @unittest.skipIf(mproc.HAVE_SPAWN_POOL, "the library has spawn pools")
    def test_missing_spawn_pools_are_reported(self):
        with self.assertRaises(NotImplementedError) as cm:
            mproc.Pool(2)
        self.assertIn("mproc_pool_set_start_method", str(cm.exception))


_libc = ctypes.CDLL(None)


def c_task(name):
    """A libc function used as a pool task: it ignores its arguments, so a
    fork pool can run it without any Python in the workers."""
    return _lib.TASK_FN((name, _libc))


class CTaskPool(mproc.Pool):
    """A fork pool running one C task, to test the Python side of Pool
    (results, iterators, callbacks, errors, life cycle) with the library as
    it is today. Only C runs in its workers, so forking them is safe."""

    def __init__(self, workers, task, **options):
        self._ptr = None
        self._children = __import__("weakref").WeakSet()
        ptr = _lib.pool_p()
        _lib.mproc_pool_new(ctypes.byref(ptr), workers)
        self._ptr = ptr
        pool_mod._live_pools.add(self)
        if "task_timeout" in options:
            _lib.mproc_pool_set_task_timeout(ptr, options["task_timeout"])
        self._task_fn = c_task(task)

    def _header(self, func):
        return b""


class CTaskPoolTest(unittest.TestCase):
    """Pool's Python side against real (fork) pools running C tasks:
    sched_yield returns 0 (success, empty reply), getpid non-zero (failure),
    abort kills the worker, pause blocks until killed."""

    def pool(self, task, **options):
        p = CTaskPool(2, task, **options)
        self.addCleanup(p.release)
        return p

    def test_apply_map_imap(self):
        p = self.pool("sched_yield")
        self.assertEqual(p.apply(None, b"x"), b"")
        results = [p.apply_async(None, b"%d" % i) for i in range(10)]
        self.assertEqual([r.get(timeout=60) for r in results], [b""] * 10)
        self.assertTrue(all(r.ready() and r.successful() for r in results))
        self.assertEqual(p.map(None, [b"a"] * 25), [b""] * 25)
        self.assertEqual(p.map(None, [b"a"] * 25, chunksize=4), [b""] * 25)
        self.assertEqual(list(p.imap(None, [b"a", bytearray(b"b")])), [b"", b""])
        self.assertEqual(list(p.imap_unordered(None, [b"a"] * 7, chunksize=3)), [b""] * 7)
        self.assertEqual(p.map(None, []), [])
        self.assertEqual(p.processes, 2)
        self.assertEqual(p.stat("tasks_succeeded"), 1 + 10 + 25 + 25 + 2 + 7)
        with self.assertRaises(ValueError):
            p.stat("nonsense")
        with self.assertRaises(TypeError):
            p.apply(None, "text")

    def test_task_failure(self):
        p = self.pool("getpid")
        with self.assertRaises(mproc.TaskError) as cm:
            p.apply(None, b"")
        self.assertEqual((cm.exception.code, cm.exception.name), (-1007, "MPROC_E_TASK_FAILED"))
        self.assertIsNone(cm.exception.exception)
        r = p.apply_async(None, b"")
        r.wait(60)
        self.assertTrue(r.ready())
        self.assertFalse(r.successful())
        with self.assertRaises(mproc.TaskError):
            p.map(None, [b"1", b"2"])
        it = p.imap(None, [b"1", b"2"])
        for _ in range(2):
            with self.assertRaises(mproc.TaskError):
                next(it)
        with self.assertRaises(StopIteration):
            next(it)

    def test_worker_death(self):
        p = self.pool("abort")
        with self.assertRaises(mproc.WorkerDiedError) as cm:
            p.apply(None, b"")
        self.assertEqual((cm.exception.name, cm.exception.exitcode), ("MPROC_E_WORKER_DIED", -6))
        it = p.imap_unordered(None, [b""])
        with self.assertRaises(mproc.WorkerDiedError) as cm:
            next(it)
        self.assertEqual(cm.exception.exitcode, -6)
        self.assertGreaterEqual(p.stat("workers_died"), 2)

    def test_callbacks(self):
        done = threading.Event()
        got = []

        def record(kind):
            def callback(value):
                got.append((kind, value if kind == "ok" else value.name))
                if len(got) == 2:
                    done.set()
            return callback

        ok, bad = self.pool("sched_yield"), self.pool("getpid")
        ok.apply_async(None, b"", callback=record("ok"), error_callback=record("err"))
        bad.apply_async(None, b"", callback=record("ok"), error_callback=record("err"))
        self.assertTrue(done.wait(60))
        self.assertEqual(sorted(got), [("err", "MPROC_E_TASK_FAILED"), ("ok", b"")])
        self.assertEqual(pool_mod._callbacks, {})

    def test_timeouts_terminate_and_release(self):
        p = self.pool("pause")
        r = p.apply_async(None, b"")
        with self.assertRaises(mproc.TimeoutError):
            r.get(timeout=0.3)
        with self.assertRaises(ValueError):
            r.successful()
        it = p.imap(None, [b""])
        with self.assertRaises(mproc.TimeoutError):
            it.next(timeout=0.1)
        with self.assertRaises(mproc.MprocError) as cm:
            p.join(0.1)
        self.assertEqual(cm.exception.name, "MPROC_E_STATE")
        p.terminate()
        with self.assertRaises(mproc.MprocError) as cm:
            r.get(timeout=60)
        self.assertEqual(cm.exception.name, "MPROC_E_CANCELLED")
        p.join(60)
        p.release()
        p.release()
        with self.assertRaises(ValueError):
            p.apply(None)
        with self.assertRaises(ValueError):
            next(it)
        with self.assertRaises(mproc.MprocError):
            r.get()  # the cancelled outcome was kept

    def test_task_timeout(self):
        p = self.pool("pause", task_timeout=0.2)
        with self.assertRaises(mproc.WorkerDiedError) as cm:
            p.apply(None, b"")
        self.assertEqual(cm.exception.name, "MPROC_E_TASK_TIMEOUT")

    def test_pool_left_open_at_exit(self):
        # A pool with callbacks still queued, never released: the atexit
        # handler releases it while callbacks can still take the GIL.
        code = ("import time, test_pool as t\n"
                "p = t.CTaskPool(2, 'sched_yield')\n"
                "for i in range(50):\n"
                "    p.apply_async(None, b'', callback=lambda v: time.sleep(0.01))\n"
                "print('leaving')\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=120, cwd=os.path.dirname(__file__))
        self.assertEqual((out.returncode, out.stdout, out.stderr), (0, "leaving\n", ""))

    def test_close_join_and_with(self):
        with self.pool("sched_yield") as p:
            results = [p.apply_async(None, b"") for _ in range(5)]
            p.close()
            with self.assertRaises(mproc.MprocError) as cm:
                p.apply_async(None, b"")
            self.assertEqual(cm.exception.name, "MPROC_E_STATE")
            p.join(60)
            self.assertEqual(p.stat("workers_alive"), 0)
        self.assertEqual([r.get() for r in results], [b""] * 5)  # kept after release
        with self.assertRaises(ValueError):
            p.start()


@unittest.skipUnless(mproc.HAVE_SPAWN_POOL, NO_POOL)
class PoolTest(unittest.TestCase):
    method = "spawn"

    def setUp(self):
        self.pool = mproc.Pool(3, start_method=self.method)
        self.addCleanup(self.pool.release)

    def test_apply(self):
        self.assertEqual(self.pool.apply(square, b"9"), b"81")
        self.assertEqual(self.pool.apply(echo_none), b"")
        self.assertEqual(self.pool.processes, 3)

    def test_apply_async(self):
        results = [self.pool.apply_async(square, b"%d" % i) for i in range(10)]
        self.assertEqual([r.get(timeout=60) for r in results],
                         [b"%d" % (i * i) for i in range(10)])
        self.assertTrue(all(r.ready() and r.successful() for r in results))

    def test_result_timeout_and_not_ready(self):
        r = self.pool.apply_async(sleepy, b"1.0")
        with self.assertRaises(mproc.TimeoutError) as cm:
            r.get(timeout=0.05)
        self.assertEqual(cm.exception.name, "MPROC_E_TIMEOUT")
        self.assertFalse(r.ready())
        with self.assertRaises(ValueError):
            r.successful()
        r.wait()
        self.assertEqual(r.get(), b"1.0")

    def test_task_exception(self):
        r = self.pool.apply_async(fail, b"3")
        with self.assertRaises(mproc.TaskError) as cm:
            r.get(timeout=60)
        self.assertIsInstance(cm.exception.exception, ValueError)
        self.assertEqual(cm.exception.name, "MPROC_E_TASK_FAILED")
        self.assertFalse(r.successful())
        with self.assertRaises(mproc.TaskError):
            self.pool.apply(fail, b"4")

    def test_callbacks(self):
        done = threading.Event()
        got = []

        def ok(value):
            got.append(("ok", value))
            if len(got) == 2:
                done.set()

        def err(exc):
            got.append(("err", type(exc.exception).__name__))
            if len(got) == 2:
                done.set()

        self.pool.apply_async(square, b"5", callback=ok, error_callback=err)
        self.pool.apply_async(fail, b"5", callback=ok, error_callback=err)
        self.assertTrue(done.wait(60))
        self.assertEqual(sorted(got), [("err", "ValueError"), ("ok", b"25")])

    def test_map(self):
        items = [b"%d" % i for i in range(50)]
        self.assertEqual(self.pool.map(square, items), [square(i) for i in items])
        self.assertEqual(self.pool.map(square, items, chunksize=7), [square(i) for i in items])
        self.assertEqual(self.pool.map(square, []), [])
        with self.assertRaises(mproc.TaskError):
            self.pool.map(fail, [b"1", b"2"])

    def test_imap_order(self):
        it = self.pool.imap(sleepy, [b"0.4", b"0.2", b"0.0"])
        self.assertEqual(list(it), [b"0.4", b"0.2", b"0.0"])
        it = self.pool.imap_unordered(sleepy, [b"0.6", b"0.3", b"0.0"])
        self.assertEqual(list(it), [b"0.0", b"0.3", b"0.6"])
        it = self.pool.imap(square, [b"%d" % i for i in range(20)], chunksize=4)
        self.assertEqual(list(it), [b"%d" % (i * i) for i in range(20)])

    def test_imap_error_then_continue(self):
        it = self.pool.imap(fail, [b"1"])
        with self.assertRaises(mproc.TaskError):
            next(it)
        with self.assertRaises(StopIteration):
            next(it)
        it = self.pool.imap(sleepy, [b"1.0"])
        with self.assertRaises(mproc.TimeoutError):
            it.next(timeout=0.05)
        self.assertEqual(it.next(timeout=60), b"1.0")

    def test_worker_death_is_isolated(self):
        dead = self.pool.apply_async(die, b"7")
        fine = self.pool.apply_async(square, b"6")
        with self.assertRaises(mproc.WorkerDiedError) as cm:
            dead.get(timeout=60)
        self.assertEqual((cm.exception.name, cm.exception.exitcode), ("MPROC_E_WORKER_DIED", 7))
        self.assertEqual(fine.get(timeout=60), b"36")
        self.assertEqual(self.pool.apply(square, b"2"), b"4")
        self.assertGreaterEqual(self.pool.stat("workers_died"), 1)

    def test_close_join(self):
        results = [self.pool.apply_async(square, b"%d" % i) for i in range(5)]
        self.pool.close()
        with self.assertRaises(mproc.MprocError) as cm:
            self.pool.apply_async(square, b"1")
        self.assertEqual(cm.exception.name, "MPROC_E_STATE")
        self.pool.join(60)
        self.assertEqual([r.get(0) for r in results], [b"%d" % (i * i) for i in range(5)])
        self.assertEqual(self.pool.stat("tasks_succeeded"), 5)

    def test_terminate_cancels(self):
        r = self.pool.apply_async(sleepy, b"30")
        self.pool.terminate()
        with self.assertRaises(mproc.MprocError) as cm:
            r.get(timeout=60)
        self.assertEqual(cm.exception.name, "MPROC_E_CANCELLED")
        self.pool.join(60)


@unittest.skipUnless(mproc.HAVE_SPAWN_POOL, NO_POOL)
class ForkserverPoolTest(PoolTest):
    method = "forkserver"


@unittest.skipUnless(mproc.HAVE_SPAWN_POOL, NO_POOL)
class PoolOptionsTest(unittest.TestCase):
    def test_initializer(self):
        with mproc.Pool(2, initializer=init, initargs=(b"yes",)) as pool:
            self.assertEqual(pool.map(initialized, [b""] * 4), [b"yes"] * 4)

    def test_failing_initializer(self):
        with mproc.Pool(1, initializer=init_fails) as pool:
            with self.assertRaises(mproc.MprocError) as cm:
                pool.apply(square, b"1")
            self.assertEqual(cm.exception.name, "MPROC_E_INIT_FAILED")

    def test_maxtasksperchild(self):
        with mproc.Pool(1, maxtasksperchild=1) as pool:
            pids = {pool.apply(whoami) for _ in range(3)}
            self.assertEqual(len(pids), 3)

    def test_task_timeout(self):
        # Generous: a replacement worker's first task also pays for the
        # interpreter start and the main module's import, on a busy machine.
        with mproc.Pool(1, task_timeout=3.0) as pool:
            with self.assertRaises(mproc.WorkerDiedError) as cm:
                pool.apply(sleepy, b"30")
            self.assertEqual(cm.exception.name, "MPROC_E_TASK_TIMEOUT")
            self.assertEqual(pool.apply(square, b"3"), b"9")

    def test_with_block_terminates_and_releases(self):
        with mproc.Pool(1) as pool:
            r = pool.apply_async(square, b"4")
            self.assertEqual(r.get(60), b"16")
        with self.assertRaises(ValueError):
            pool.apply(square, b"1")
        self.assertEqual(r.get(), b"16")  # the outcome survives the release


if __name__ == "__main__":
    unittest.main()
