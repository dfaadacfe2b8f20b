#!/usr/bin/env python3
"""Check that libmproc exports exactly what it promises.

Three lists must be equal:
  - the dynamic symbols the built library defines (nm -D --defined-only),
  - the global entries of the linker version script (src/libmproc.map),
  - the functions declared with MPROC_API in the public headers (and in
    src/pool/seam.h, the private seam of the MPROC_PRIVATE node).
Any symbol in one list and not in another fails the test, so nothing leaks
from the C++ internals and nothing declared is missing.

usage: symbols-check.py NM LIBRARY MAPFILE HEADER...
"""
import re
import subprocess
import sys


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2].split("@")[0]
        if kind == "A":  # version node names such as MPROC_0.1
            continue
        syms.add(name)
    return syms


def mapped(mapfile):
    text = re.sub(r"/\*.*?\*/", "", open(mapfile).read(), flags=re.S)
    syms = set()
    for block in re.findall(r"global:(.*?)(?:local:|\})", text, flags=re.S):
        syms.update(s.strip() for s in block.split(";") if s.strip())
    return syms


def declared(headers):
    syms = set()
    for h in headers:
        text = open(h).read()
        syms.update(re.findall(r"MPROC_API\s[^;{]*?\b(mproc_\w+)\s*\(", text))
    return syms


def main():
    nm, lib, mapfile, headers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    lists = {"library": exported(nm, lib), "map": mapped(mapfile), "headers": declared(headers)}
    ok = True
    names = list(lists)
    for a in names:
        for b in names:
            if a >= b:
                continue
            for sym in sorted(lists[a] ^ lists[b]):
                where = a if sym in lists[a] else b
                other = b if where == a else a
                print(f"{sym}: in {where} but not in {other}")
                ok = False
    bad = sorted(s for s in lists["library"] if not s.startswith("mproc_"))
    for sym in bad:
        print(f"{sym}: exported without the mproc_ prefix")
        ok = False
    print(f"{len(lists['library'])} exported symbols checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
