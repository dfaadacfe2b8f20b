#!/usr/bin/env python3
"""Run a command and check its exit status and that its output says something.

usage: expect_output.py STATUS TEXT COMMAND...

Passes when COMMAND exits with STATUS and TEXT appears in its stdout or
stderr: for the errors a user must be able to act on.
"""
import subprocess
import sys


def main():
    status, text, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    print(out, end="")
    if run.returncode != status:
        print(f"FAIL: exit status {run.returncode}, expected {status}")
        return 1
    if text not in out:
        print(f"FAIL: the output does not say {text!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
