"""MprocError and the ctypes declarations."""

import errno
import os
import pickle
import queue
import re
import unittest

import mproc
from mproc import _lib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class ErrorTest(unittest.TestCase):
    def test_error_carries_code_and_name(self):
        err = mproc.MprocError(-1002)
        self.assertIsInstance(err, OSError)
        self.assertEqual(err.code, -1002)
        self.assertEqual(err.name, "MPROC_E_FULL")
        self.assertIsNone(err.errno)
        self.assertIn("MPROC_E_FULL", str(err))

    def test_errno_codes_set_errno(self):
        err = mproc.MprocError(-errno.ENOENT, function="mproc_queue_open")
        self.assertEqual(err.errno, errno.ENOENT)
        self.assertEqual(err.name, "MPROC_E_NOENT")
        self.assertIn("mproc_queue_open", str(err))

    def test_error_name(self):
        self.assertEqual(mproc.error_name(0), "MPROC_OK")
        self.assertEqual(mproc.error_name(-1007), "MPROC_E_TASK_FAILED")
        self.assertEqual(mproc.error_name(-4242), "MPROC_E_UNKNOWN")

    def test_subclasses_are_also_the_standard_exceptions(self):
        self.assertTrue(issubclass(mproc.Full, queue.Full))
        self.assertTrue(issubclass(mproc.Empty, queue.Empty))
        self.assertTrue(issubclass(mproc.TimeoutError, TimeoutError))
        self.assertTrue(issubclass(mproc.ClosedError, ValueError))
        for cls in (mproc.Full, mproc.Empty, mproc.TimeoutError, mproc.ClosedError,
                    mproc.TaskError, mproc.WorkerDiedError):
            self.assertTrue(issubclass(cls, mproc.MprocError))

    def test_pickle_round_trip(self):
        err = pickle.loads(pickle.dumps(mproc.MprocError(-1004, function="put")))
        self.assertEqual((type(err), err.code, err.name, err.function),
                         (mproc.MprocError, -1004, "MPROC_E_CLOSED", "put"))

    def test_c_failure_raises_mproc_error(self):
        with self.assertRaises(mproc.MprocError) as cm:
            _lib.mproc_queue_open(None, b"bad name with spaces")
        self.assertEqual(cm.exception.name, "MPROC_E_INVAL")
        self.assertEqual(cm.exception.code, -22)

    def test_version(self):
        self.assertRegex(mproc.library_version(), r"^\d+\.\d+\.\d+$")
        self.assertGreaterEqual(_lib.mproc_version_number(), 200)

    def header_functions(self):
        """{name: "@since" version} of every MPROC_API function."""
        include = os.path.join(ROOT, "include", "mproc")
        if not os.path.isdir(include):
            self.skipTest("headers not found at %s" % include)
        found = {}
        decl = re.compile(r"/\*\*((?:(?!\*/).)*)\*/\s*MPROC_API\s+[^(;]*?\b(mproc_\w+)\s*\(",
                          re.S)
        for header in os.listdir(include):
            if header == "mproc-mpi.h":
                continue  # libmproc-mpi's, a library of its own this binding does not wrap
            with open(os.path.join(include, header), encoding="utf-8") as f:
                for doc, name in decl.findall(f.read()):
                    since = re.search(r"@since\s+(\d+)\.(\d+)", doc)
                    found[name] = tuple(map(int, since.groups())) if since else (0, 0)
        return found

    def test_every_header_function_is_declared(self):
        # Functions of the releases this binding targets (<= 0.2) must be
        # declared with argtypes; newer ones are listed by the next test.
        names = {n for n, v in self.header_functions().items() if v <= (0, 2)}
        self.assertGreater(len(names), 60)
        self.assertEqual(sorted(n for n in names if not hasattr(_lib, n)), [])
        for n in names:
            self.assertIsNotNone(getattr(_lib, n).argtypes, n)

    def test_newer_header_functions(self):
        newer = sorted(n for n, v in self.header_functions().items()
                       if v > (0, 2) and not hasattr(_lib, n))
        if newer:
            self.skipTest("functions newer than the binding, not declared yet: "
                          + ", ".join(newer))

if __name__ == "__main__":
    unittest.main()
