"""mproc.Process with the fork, spawn and forkserver start methods."""

import os
import select
import subprocess
import sys
import threading
import time
import unittest

import mproc

HERE = os.path.dirname(os.path.abspath(__file__))


def report(q, *args, **kwargs):
    me = mproc.current_process()
    q.put(("%s|%d|%r|%r" % (me.name, me.pid, args, sorted(kwargs.items()))).encode())


def report_reinit(q):
    from mproc import _spawn
    q.put(b"%d %d" % (os.getpid(), _spawn._forked_pid or 0))


def exit_with(code):
    sys.exit(code)


def raise_error():
    raise RuntimeError("boom in the child")


def sleep_forever():
    while True:
        time.sleep(1)


class Counter(mproc.Process):
    """A subclass overriding run()."""

    def __init__(self, q, n):
        super().__init__()
        self.q, self.n = q, n

    def run(self):
        for i in range(self.n):
            self.q.put(b"%d" % i)


class ForkProcessTest(unittest.TestCase):
    def setUp(self):
        self.q = mproc.Queue()
        self.addCleanup(self.q.release)

    def test_target_args_kwargs(self):
        p = mproc.Process(target=report, args=(self.q, 1, "two"), kwargs={"k": 3})
        self.assertIsNone(p.pid)
        self.assertIsNone(p.exitcode)
        self.assertFalse(p.is_alive())
        p.start()
        name, pid, args, kwargs = self.q.get(timeout=30).decode().split("|")
        p.join()
        self.assertEqual(name, p.name)
        self.assertEqual(int(pid), p.pid)
        self.assertNotEqual(p.pid, os.getpid())
        self.assertEqual(args, "(1, 'two')")
        self.assertEqual(kwargs, "[('k', 3)]")
        self.assertEqual(p.exitcode, 0)
        self.assertFalse(p.is_alive())
        self.assertIn("exitcode=0", repr(p))

    def test_names(self):
        a, b = mproc.Process(target=print), mproc.Process(target=print, name="worker")
        self.assertRegex(a.name, r"^Process-\d+$")
        self.assertEqual(b.name, "worker")
        b.name = "renamed"
        b.start()
        b.join()
        self.assertEqual(b.name, "renamed")
        self.assertEqual(mproc.current_process().name, "MainProcess")

    def test_closures_and_lambdas_work_with_fork(self):
        seen = []
        p = mproc.Process(target=lambda: self.q.put(b"lambda %d" % len(seen)))
        p.start()
        p.join()
        self.assertEqual(self.q.get(timeout=5), b"lambda 0")

    def test_run_override(self):
        p = Counter(self.q, 3)
        p.start()
        p.join()
        self.assertEqual([self.q.get(timeout=5) for _ in range(3)], [b"0", b"1", b"2"])

    def test_exit_codes(self):
        cases = [(lambda: None, 0), (lambda: exit_with(3), 3), (lambda: exit_with(None), 0),
                 (lambda: exit_with("message"), 1), (raise_error, 1)]
        for target, code in cases:
            p = mproc.Process(target=target)
            p.start()
            p.join()
            self.assertEqual(p.exitcode, code)

    def test_exception_traceback_on_stderr(self):
        out = subprocess.run(
            [sys.executable, "-c",
             "import mproc, test_process as t\n"
             "p = mproc.Process(target=t.raise_error); p.start(); p.join()\n"
             "print('exit', p.exitcode)"],
            capture_output=True, text=True, timeout=60, cwd=HERE)
        self.assertIn("exit 1", out.stdout)
        self.assertIn("RuntimeError: boom in the child", out.stderr)
        self.assertIn("Process Process-1:", out.stderr)

    def test_join_timeout_terminate_kill(self):
        p = mproc.Process(target=sleep_forever)
        p.start()
        start = time.monotonic()
        self.assertIsNone(p.join(0.3))
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        self.assertTrue(p.is_alive())
        self.assertIsNone(p.exitcode)
        p.terminate()
        p.join(30)
        self.assertEqual(p.exitcode, -15)
        q = mproc.Process(target=sleep_forever)
        q.start()
        q.kill()
        q.join(30)
        self.assertEqual(q.exitcode, -9)

    def test_sentinel(self):
        p = mproc.Process(target=time.sleep, args=(0.2,))
        p.start()
        ready, _, _ = select.select([p.sentinel], [], [], 30)
        self.assertEqual(ready, [p.sentinel])
        p.join()
        self.assertEqual(p.exitcode, 0)

    def test_daemon(self):
        p = mproc.Process(target=print, daemon=True)
        self.assertTrue(p.daemon)
        p.daemon = False
        p.start()
        self.assertFalse(p.daemon)
        with self.assertRaises(mproc.MprocError):
            p.daemon = True
        p.join()

    def test_misuse(self):
        p = mproc.Process(target=print)
        with self.assertRaises(ValueError):
            p.join()
        with self.assertRaises(ValueError):
            p.terminate()
        p.start()
        with self.assertRaises(mproc.MprocError) as cm:
            p.start()
        self.assertEqual(cm.exception.name, "MPROC_E_STATE")
        p.join()
        p.close()
        p.close()
        with self.assertRaises(ValueError):
            p.is_alive()
        with self.assertRaises(ValueError):
            mproc.Process(target=print, start_method="teleport")

    def test_fork_while_another_thread_runs_python(self):
        # The child must not inherit a GIL held by a thread that no longer
        # exists: Process forks with the GIL held, as os.fork() does.
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                sum(range(200))

        threads = [threading.Thread(target=spin) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            for i in range(25):
                p = mproc.Process(target=report, args=(self.q, i))
                p.start()
                self.assertIn(b"(%d,)" % i, self.q.get(timeout=30))
                p.join(30)
                self.assertEqual(p.exitcode, 0)
        finally:
            stop.set()
            for t in threads:
                t.join()

    def test_start_method_defaults(self):
        self.assertEqual(mproc.get_start_method(), "fork")
        self.assertGreaterEqual(mproc.cpu_count(), 1)
        with self.assertRaises(ValueError):
            mproc.set_start_method("teleport")
        out = subprocess.run(
            [sys.executable, "-c",
             "import mproc, test_process as t\n"
             "mproc.set_start_method('spawn'); print(mproc.get_start_method())\n"
             "q = mproc.Queue.create(t.__name__ + str(__import__('os').getpid()))\n"
             "try:\n"
             "    p = mproc.Process(target=t.report, args=(q, 5)); p.start(); p.join()\n"
             "    print(q.get(timeout=30).decode().split('|')[2], p.exitcode)\n"
             "    try: mproc.set_start_method('fork')\n"
             "    except mproc.MprocError as e: print(e.name)\n"
             "finally: mproc.Queue.unlink(q.name)\n"],
            capture_output=True, text=True, timeout=60, cwd=HERE)
        self.assertEqual(out.stdout.split(), ["spawn", "(5,)", "0", "MPROC_E_STATE"],
                         out.stderr)


class FreshInterpreterTest(unittest.TestCase):
    """spawn and forkserver: the Process is pickled into a new interpreter."""

    def setUp(self):
        self.name = "mproc-py-proc-%d" % os.getpid()
        self.q = mproc.Queue.create(self.name)
        self.addCleanup(self.q.release)
        self.addCleanup(mproc.Queue.unlink, self.name)

    def check_method(self, method):
        p = mproc.Process(target=report, args=(self.q, "x"), kwargs={"y": 1},
                          start_method=method, name="fresh-" + method)
        p.start()
        name, pid, args, kwargs = self.q.get(timeout=60).decode().split("|")
        p.join(60)
        self.assertEqual((name, int(pid), args, kwargs),
                         ("fresh-" + method, p.pid, "('x',)", "[('y', 1)]"))
        self.assertEqual(p.exitcode, 0)
        for target, code in ((raise_error, 1), (sleep_forever, -15)):
            p = mproc.Process(target=target, start_method=method)
            p.start()
            if code == -15:
                p.terminate()
            p.join(60)
            self.assertEqual(p.exitcode, code)

    def test_spawn(self):
        self.check_method("spawn")

    def test_forkserver(self):
        self.check_method("forkserver")

    def test_interpreter_reinitialised_after_fork_only(self):
        # fork and forkserver children run PyOS_AfterFork_Child (fork hooks,
        # fresh GIL), spawned interpreters need not.
        for method, reinit in (("fork", True), ("forkserver", True), ("spawn", False)):
            p = mproc.Process(target=report_reinit, args=(self.q,), start_method=method)
            p.start()
            pid, forked = map(int, self.q.get(timeout=60).split())
            p.join(60)
            self.assertEqual(pid, p.pid)
            self.assertEqual(forked == pid, reinit, method)

    def test_subclass_travels(self):
        p = Counter(self.q, 2)
        p._start_method = "spawn"
        p.start()
        self.assertEqual([self.q.get(timeout=60) for _ in range(2)], [b"0", b"1"])
        p.join(60)

    def test_unpicklable_target_fails_in_parent(self):
        p = mproc.Process(target=lambda: None, start_method="spawn")
        with self.assertRaises(Exception):
            p.start()
        self.assertIsNone(p.pid)

    def test_main_script_functions_and_guard(self):
        # A function defined in the main script is found in the child by
        # re-running the script as __mp_main__; its guarded code does not
        # run again there.
        script = os.path.join(HERE, "spawn_main_script.py")
        out = subprocess.run([sys.executable, script, self.name + "-main"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(),
                         ["main runs once", "child says: hi from __mp_main__", "exit 0"])


if __name__ == "__main__":
    unittest.main()
