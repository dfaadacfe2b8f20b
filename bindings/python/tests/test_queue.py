"""mproc.Queue: anonymous and named queues of bytes."""

import os
import pickle
import queue
import time
import unittest

import mproc


def unique(tag):
    return "mproc-py-%s-%d-%d" % (tag, os.getpid(), time.monotonic_ns() % 1000000)


def put_many(q, start, count):
    for i in range(start, start + count):
        q.put(b"item-%d" % i)


class AnonymousQueueTest(unittest.TestCase):
    def setUp(self):
        self.q = mproc.Queue(3)
        self.addCleanup(self.q.release)

    def test_fifo_bytes(self):
        self.q.put(b"one")
        self.q.put(bytearray(b"two"))
        self.q.put(memoryview(b"three"))
        self.assertEqual([self.q.get(), self.q.get(), self.q.get()],
                         [b"one", b"two", b"three"])

    def test_empty_message_and_binary(self):
        self.q.put(b"")
        self.q.put(b"a\0b\xff")
        self.assertEqual(self.q.get(), b"")
        self.assertEqual(self.q.get(), b"a\0b\xff")

    def test_rejects_non_bytes(self):
        for bad in ("text", 5, None):
            with self.assertRaises(TypeError):
                self.q.put(bad)
        self.assertEqual(self.q.qsize(), 0)

    def test_full_empty_qsize(self):
        self.assertTrue(self.q.empty())
        self.assertFalse(self.q.full())
        for i in range(3):
            self.q.put(b"m%d" % i)
        self.assertEqual(self.q.qsize(), 3)
        self.assertTrue(self.q.full())
        self.assertFalse(self.q.empty())

    def test_put_on_full_queue(self):
        for i in range(3):
            self.q.put_nowait(b"m")
        with self.assertRaises(mproc.Full) as cm:
            self.q.put_nowait(b"x")
        self.assertEqual(cm.exception.name, "MPROC_E_FULL")
        self.assertEqual(cm.exception.code, -1002)
        with self.assertRaises(queue.Full):
            self.q.put(b"x", block=False)
        start = time.monotonic()
        with self.assertRaises(mproc.Full):
            self.q.put(b"x", True, 0.3)
        self.assertGreaterEqual(time.monotonic() - start, 0.25)

    def test_get_on_empty_queue(self):
        with self.assertRaises(mproc.Empty) as cm:
            self.q.get_nowait()
        self.assertEqual(cm.exception.name, "MPROC_E_EMPTY")
        with self.assertRaises(queue.Empty):
            self.q.get(block=False)
        start = time.monotonic()
        with self.assertRaises(mproc.Empty):
            self.q.get(timeout=0.5)  # longer than one wait slice
        self.assertGreaterEqual(time.monotonic() - start, 0.45)

    def test_close(self):
        self.q.put(b"left")
        self.q.close()
        with self.assertRaises(mproc.ClosedError) as cm:
            self.q.put(b"x")
        self.assertEqual(cm.exception.name, "MPROC_E_CLOSED")
        with self.assertRaises(mproc.ClosedError):
            self.q.get_nowait()
        self.assertEqual(self.q.qsize(), 1)
        self.q.close()  # idempotent

    def test_shutdown_drains_then_fails(self):
        self.q.put(b"a")
        self.q.shutdown()
        with self.assertRaises(mproc.ClosedError):
            self.q.put(b"b")
        self.assertEqual(self.q.get(), b"a")
        with self.assertRaises(mproc.ClosedError):
            self.q.get()  # would block forever without the shutdown

    def test_shutdown_immediate_drops(self):
        self.q.put(b"a")
        self.q.shutdown(immediate=True)
        self.assertEqual(self.q.qsize(), 0)
        with self.assertRaises(mproc.ClosedError):
            self.q.get_nowait()

    def test_sizes_and_toobig(self):
        q = mproc.Queue(capacity=100)
        self.addCleanup(q.release)
        self.assertEqual(q.capacity, 128)
        self.assertEqual(q.max_message, 112)
        self.assertIsNone(q.name)
        q.put(b"x" * 112)
        self.assertEqual(len(q.get()), 112)
        with self.assertRaises(mproc.MprocError) as cm:
            q.put(b"x" * 113)
        self.assertEqual(cm.exception.name, "MPROC_E_TOOBIG")

    def test_release(self):
        q = mproc.Queue()
        with q:
            q.put(b"x")
        with self.assertRaises(ValueError):
            q.put(b"y")
        q.release()  # idempotent
        self.assertIn("released", repr(q))

    def test_anonymous_queue_does_not_pickle(self):
        with self.assertRaises(TypeError):
            pickle.dumps(self.q)

    def test_fork_children_share_it(self):
        q = mproc.Queue()
        self.addCleanup(q.release)
        procs = [mproc.Process(target=put_many, args=(q, i * 100, 50)) for i in range(3)]
        for p in procs:
            p.start()
        got = [q.get(timeout=30) for _ in range(150)]
        for p in procs:
            p.join()
            self.assertEqual(p.exitcode, 0)
        for i in range(3):
            mine = [g for g in got if 0 <= int(g[5:]) - i * 100 < 50]
            self.assertEqual(mine, [b"item-%d" % (i * 100 + k) for k in range(50)])

    def test_blocked_put_wakes_when_consumer_gets(self):
        q = mproc.Queue(1)
        self.addCleanup(q.release)
        p = mproc.Process(target=put_many, args=(q, 0, 5))
        p.start()
        self.assertEqual([q.get(timeout=30) for _ in range(5)],
                         [b"item-%d" % i for i in range(5)])
        p.join()
        self.assertEqual(p.exitcode, 0)


class NamedQueueTest(unittest.TestCase):
    def setUp(self):
        self.name = unique("q")
        self.q = mproc.Queue.create(self.name, maxsize=4, capacity=4096)
        self.addCleanup(self.q.release)
        self.addCleanup(self._unlink)

    def _unlink(self):
        try:
            mproc.Queue.unlink(self.name)
        except mproc.MprocError:
            pass

    def test_open_shares_messages(self):
        other = mproc.Queue.open(self.name)
        self.addCleanup(other.release)
        self.assertEqual(other.name, self.name)
        self.assertEqual(other.capacity, 4096)
        self.q.put(b"hello")
        self.assertEqual(other.get(timeout=5), b"hello")

    def test_create_twice_is_exist(self):
        with self.assertRaises(mproc.MprocError) as cm:
            mproc.Queue.create(self.name)
        self.assertEqual(cm.exception.name, "MPROC_E_EXIST")
        self.assertEqual(cm.exception.errno, 17)

    def test_open_missing_is_noent(self):
        with self.assertRaises(mproc.MprocError) as cm:
            mproc.Queue.open(unique("missing"))
        self.assertEqual(cm.exception.name, "MPROC_E_NOENT")
        self.assertIsInstance(cm.exception, OSError)

    def test_bad_name_is_inval(self):
        with self.assertRaises(mproc.MprocError) as cm:
            mproc.Queue.create("no/slashes")
        self.assertEqual(cm.exception.name, "MPROC_E_INVAL")

    def test_unlink(self):
        self.q.put(b"still here")
        mproc.Queue.unlink(self.name)
        with self.assertRaises(mproc.MprocError):
            mproc.Queue.open(self.name)
        self.assertEqual(self.q.get_nowait(), b"still here")

    def test_pickles_by_name(self):
        copy = pickle.loads(pickle.dumps(self.q))
        self.addCleanup(copy.release)
        copy.put(b"via pickle")
        self.assertEqual(self.q.get_nowait(), b"via pickle")

    def test_spawned_child_reopens_it(self):
        p = mproc.Process(target=put_many, args=(self.q, 7, 3), start_method="spawn")
        p.start()
        self.assertEqual([self.q.get(timeout=30) for _ in range(3)],
                         [b"item-7", b"item-8", b"item-9"])
        p.join()
        self.assertEqual(p.exitcode, 0)


if __name__ == "__main__":
    unittest.main()
