#!/usr/bin/env python3
"""Check that the Debian packaging follows the release it packages.

usage: release-check.py VERSION SOVERSION MAPFILE CHANGELOG SYMBOLS

- the newest debian/changelog entry is for upstream VERSION (meson.build);
- debian/libmproc<SOVERSION>.symbols is for libmproc.so.<SOVERSION> and lists
  exactly the symbols of src/libmproc.map, each with its version node, plus
  one line per node, each with a minimum version no newer than VERSION.

dpkg-gensymbols -c4 catches the same symbol drift, but only when the
package is built; this says it at `meson test` time, with the fix.
"""
import os
import re
import sys


def version_key(v):
    return [int(x) for x in re.findall(r"\d+", v)[:3]]


def map_nodes(path):
    """{symbol@node} for every global symbol, and the node names."""
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    entries, nodes = set(), []
    for node, body in re.findall(r"([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*[\w.]*\s*;", text, flags=re.S):
        nodes.append(node)
        entries.add(f"{node}@{node}")
        glob = body.split("local:")[0].replace("global:", "")
        entries.update(f"{s.strip()}@{node}" for s in glob.split(";") if s.strip())
    return entries, nodes


def main():
    version, soversion = sys.argv[1:3]
    mapfile, changelog, symbols = (os.path.normpath(p) for p in sys.argv[3:6])
    problems = []

    first = open(changelog).readline()
    m = re.match(r"mproc \((?:\d+:)?([^-\s)]+)(?:-[^)]*)?\)", first)
    if not m:
        problems.append(f"{changelog}: cannot read the version in: {first.strip()}")
    elif m.group(1) != version:
        problems.append(f"{changelog} is at {m.group(1)} but meson.build at {version}: "
                        f"add an entry, e.g. dch -v {version}-1 'New upstream release.'")

    lines = open(symbols).read().splitlines()
    header = f"libmproc.so.{soversion} libmproc{soversion} #MINVER#"
    if not lines or lines[0].strip() != header:
        problems.append(f"{symbols}: first line must be '{header}'")
    listed = {}
    for line in lines[1:]:
        if line.startswith(" ") and not line.lstrip().startswith(("*", "#")):
            name, minver = line.split()[:2]
            listed[name] = minver
    mapped, nodes = map_nodes(mapfile)
    for entry in sorted(mapped - set(listed)):
        problems.append(f"{entry} is in {mapfile} but not in {symbols}: add ' {entry} "
                        f"{version}' (the release that adds it)")
    for entry in sorted(set(listed) - mapped):
        problems.append(f"{entry} is in {symbols} but not in {mapfile}")
    for entry, minver in sorted(listed.items()):
        if version_key(minver) > version_key(version):
            problems.append(f"{symbols}: {entry} needs {minver}, newer than {version}")

    if problems:
        for p in problems:
            print(f"FAIL: {p}")
        print("See docs/releasing.md.")
        return 1
    print(f"debian/ matches {version}: {len(mapped)} symbol lines, nodes {', '.join(nodes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
