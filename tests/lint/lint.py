#!/usr/bin/env python3
"""Run one static analyser over mproc's own sources; any finding fails.

usage: lint.py clang-tidy|cppcheck TOOL SOURCE_ROOT BUILD_DIR

Both read BUILD_DIR/compile_commands.json, so they see the flags the build
uses. Only src/ and tests/ are checked: bench/ builds third-party peers and
examples/ is checked by the compiler's warnings. clang-tidy takes its checks
from SOURCE_ROOT/.clang-tidy, cppcheck its suppressions from
SOURCE_ROOT/.cppcheck-suppressions. Exit 0 when clean, 1 on any finding.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys

CHECKED_DIRS = ("src",)


def sources(root, build):
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    files = set()
    for e in entries:
        path = os.path.realpath(os.path.join(e["directory"], e["file"]))
        rel = os.path.relpath(path, root)
        if rel.split(os.sep)[0] in CHECKED_DIRS:
            files.add(path)
    return sorted(files)


def clang_tidy(tool, root, build):
    files = sources(root, build)
    # One process per file; as many at once as there are CPUs to run them.
    def run(path):
        # Headers under the source tree only: MPI's, in /usr/lib/.../include,
        # would match .clang-tidy's relative filter.
        p = subprocess.run([tool, "-p", build, "--quiet", path,
                            "--header-filter=^" + re.escape(root) + "/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return path, p.returncode, p.stdout
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(len(os.sched_getaffinity(0))) as ex:
        for path, rc, out in ex.map(run, files):
            # "N warnings generated" counts system-header noise it suppressed.
            lines = [l for l in out.splitlines() if "warnings generated" not in l
                     and "warning generated" not in l and "Suppressed" not in l
                     and "Use -header-filter" not in l and "NOLINT" not in l]
            if rc != 0 or lines:
                failed += 1
                print(f"--- {os.path.relpath(path, root)} (exit {rc})")
                print("\n".join(lines))
    print(f"clang-tidy: {len(files)} files, {failed} with findings")
    return 1 if failed or not files else 0


def cppcheck(tool, root, build):
    files = sources(root, build)
    cmd = [tool, "--project=" + os.path.join(os.path.relpath(build, root), "compile_commands.json"),
           "--enable=warning,style,performance,portability",
           "--inline-suppr", "--error-exitcode=1", "--quiet",
           "--suppressions-list=" + os.path.join(root, ".cppcheck-suppressions"),
           "-j", str(len(os.sched_getaffinity(0))),
           # System headers are not ours to check (nor found without flags).
           "--suppress=missingIncludeSystem",
           "--template={file}:{line}: {severity} [{id}] {message}"]
    # cppcheck names files relative to its working directory: run it from
    # the source root, so the filters and suppressions match src/...
    cmd += ["--file-filter=" + d + "/*" for d in CHECKED_DIRS]
    p = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.strip()
    if out:
        print(out)
    print(f"cppcheck: {len(files)} files, exit {p.returncode}")
    return 1 if p.returncode != 0 or out or not files else 0


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("clang-tidy", "cppcheck"):
        print(__doc__, file=sys.stderr)
        return 2
    which, tool, root, build = sys.argv[1:]
    root, build = os.path.realpath(root), os.path.realpath(build)
    return (clang_tidy if which == "clang-tidy" else cppcheck)(tool, root, build)


if __name__ == "__main__":
    sys.exit(main())
