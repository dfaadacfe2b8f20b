#!/usr/bin/env python3
"""Compare the built libmproc with the committed ABI baseline (abi/*.abi).

usage: abi-check.py ABIDIFF READELF LIBRARY BASELINE INCLUDE_DIR

ABIDIFF may be "" when abigail-tools is not installed: the test is then
skipped (exit 77), as it is for a library built without debug information
or for another architecture than the baseline's.

Passes when every function of the baseline is still exported, in the same
version node, with the same signature and types, and every new symbol sits
in a version node the baseline does not have (a new MPROC_x.y node of
src/libmproc.map). Fails on removals, on changed functions or types (abidiff
with added symbols left out must report nothing), and on symbols added to a
node that the baseline already released.
"""
import os
import platform
import re
import subprocess
import sys

SKIP = 77


def baseline_symbols(path):
    """{name: version node} for the function and variable symbols."""
    text = open(path).read()
    syms = {}
    for attrs in re.findall(r"<elf-symbol ([^>]*)/>", text):
        name = re.search(r"name='([^']*)'", attrs).group(1)
        version = re.search(r"version='([^']*)'", attrs)
        syms[name] = version.group(1) if version else ""
    return syms


def library_symbols(readelf, lib):
    """{name: version node} for the defined dynamic symbols, version nodes excluded."""
    out = subprocess.run([readelf, "--dyn-syms", "--wide", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].rstrip(":").isdigit() or f[6] in ("UND", "ABS"):
            continue
        name, _, version = f[7].replace("@@", "@").partition("@")
        syms[name] = version
    return syms


def main():
    abidiff, readelf, lib, baseline, include_dir = sys.argv[1:6]
    rel = os.path.relpath(baseline)
    if not abidiff:
        print(f"SKIP: abidiff not found; install abigail-tools (Debian) to compare "
              f"with {rel}")
        return SKIP
    if platform.machine() != "x86_64":
        print(f"SKIP: the baseline {rel} was recorded on x86_64, this is "
              f"{platform.machine()}")
        return SKIP
    with open(lib, "rb") as f:
        if b".debug_info" not in f.read():
            print(f"SKIP: {lib} has no debug information (build with -g) to compare types")
            return SKIP
    if not os.path.exists(baseline):
        print(f"FAIL: no baseline {rel} for this SONAME; a SONAME bump records a new "
              "one (docs/releasing.md)")
        return 1

    problems = []
    # Removed or changed functions and types. Added symbols are left to the
    # version-node check below, which knows which additions are allowed.
    cmd = [abidiff, "--no-added-syms", "--headers-dir2", include_dir, baseline, lib]
    diff = subprocess.run(cmd, capture_output=True, text=True)
    if diff.returncode & 1:
        print(f"FAIL: abidiff could not compare (exit {diff.returncode}):\n"
              f"{diff.stdout}{diff.stderr}")
        return 1
    if diff.returncode != 0:
        problems.append("abidiff reports removed or changed interfaces "
                        f"(exit {diff.returncode}):\n{diff.stdout.rstrip()}")

    old = baseline_symbols(baseline)
    new = library_symbols(readelf, lib)
    released_nodes = set(old.values())
    for name in sorted(old):
        if name not in new:
            problems.append(f"{name}@{old[name]} was removed")
        elif new[name] != old[name]:
            problems.append(f"{name} moved from node {old[name]} to {new[name] or 'no node'}")
    added = sorted(n for n in new if n not in old)
    for name in added:
        if not new[name]:
            problems.append(f"{name} was added without a version node")
        elif new[name] in released_nodes:
            problems.append(f"{name} was added to {new[name]}, a node already released in "
                            "the baseline: released nodes never change, so put it in a new "
                            "node of src/libmproc.map")

    if problems:
        print(f"FAIL: the ABI of {os.path.basename(lib)} differs from the baseline {rel}:")
        for p in problems:
            print(f"  - {p}")
        print("A deliberate ABI break needs a SONAME bump and a new baseline; "
              "see docs/releasing.md.")
        return 1
    print(f"ABI matches {rel}: {len(old)} symbols unchanged", end="")
    if added:
        print(f"; added in new nodes: " + ", ".join(f"{n}@{new[n]}" for n in added))
    else:
        print("; nothing added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
