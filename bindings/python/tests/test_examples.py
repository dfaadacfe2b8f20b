"""The examples (the seed documents' queue and pool examples) and the
cross-language peer program, run as scripts."""

import os
import subprocess
import sys
import unittest

import mproc

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples")


def run(script, *args, timeout=120):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script)] + list(args),
                          capture_output=True, text=True, timeout=timeout)


class ExamplesTest(unittest.TestCase):
    def test_producer_consumer(self):
        out = run("producer_consumer.py")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[:7], ["Put A to queue...", "Put B to queue...",
                                     "Put C to queue...", "Get A from queue.",
                                     "Get B from queue.", "Get C from queue.",
                                     "all data written and read (writer exit 0, reader exit 0)"])
        self.assertEqual(sorted(lines[7:13]), ["put %d" % i for i in range(1, 7)])
        self.assertIn("analysed [1, 2, 3, 4, 5, 6]", lines)
        self.assertEqual(lines[-1], "producer exit 0, consumer exit 0")

    @unittest.skipUnless(mproc.HAVE_SPAWN_POOL,
                         "this libmproc has no spawn/forkserver pools yet")
    def test_pool_example(self):
        out = run("pool_example.py")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "-----start-----")
        self.assertEqual(len([l for l in lines if l.startswith("job ")]), 10)
        self.assertIn("-----end-----", lines)
        self.assertIn("squares: %s" % [i * i for i in range(10)], lines)
        self.assertIn("result.get() = 3", lines)
        self.assertEqual([l for l in lines if l.startswith("imap")],
                         ["imap: 4 finished sleeping", "imap: 3 finished sleeping",
                          "imap: 2 finished sleeping",
                          "imap_unordered: 2 finished sleeping",
                          "imap_unordered: 3 finished sleeping",
                          "imap_unordered: 4 finished sleeping"])


class PeerTest(unittest.TestCase):
    def setUp(self):
        self.name = "mproc-py-peer-%d" % os.getpid()
        self.q = mproc.Queue.create(self.name, capacity=1 << 16)
        self.addCleanup(self.q.release)
        self.addCleanup(mproc.Queue.unlink, self.name)

    def test_put_then_get(self):
        out = run("peer.py", "put", self.name, "50")
        self.assertEqual((out.returncode, out.stderr), (0, ""))
        self.assertEqual(self.q.qsize(), 50)
        self.assertEqual(self.q.get_nowait(), b"msg-0")
        self.q.put(b"msg-0")  # now out of order at the end
        out = run("peer.py", "get", self.name, "50")
        self.assertEqual(out.returncode, 1)
        self.assertIn("message 0 is b'msg-1'", out.stderr)

    def test_get_checks_messages(self):
        for i in range(20):
            self.q.put(b"msg-%d" % i)
        out = run("peer.py", "get", self.name, "20")
        self.assertEqual((out.returncode, out.stderr), (0, ""))
        self.assertTrue(self.q.empty())

    def test_failures(self):
        out = run("peer.py", "get", self.name + "-missing", "1")
        self.assertEqual(out.returncode, 1)
        self.assertIn("MPROC_E_NOENT", out.stderr)
        out = run("peer.py", "fly", self.name, "1")
        self.assertEqual(out.returncode, 2)
        self.assertIn("usage", out.stderr)


if __name__ == "__main__":
    unittest.main()
