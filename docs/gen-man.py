#!/usr/bin/env python3
"""Build mproc's section-3 man pages from the header comments with Doxygen.

usage: gen-man.py DOXYGEN DOXYFILE DOXYGEN_OUT MAN3_OUT INCLUDE_DIR [HEADER...]

Fails (exit 1) when Doxygen reports a warning (the Doxyfile makes an
undocumented public symbol one), or when a header under INCLUDE_DIR (or a
generated HEADER) or a function declared there with MPROC_API has no page:
Doxygen silently skips every declaration of a header that lacks a @file
comment, so its own warnings are not enough.

Doxygen also writes link pages for struct members (data.3, len.3): those
names would shadow unrelated pages, so only pages named mproc* / MPROC* are
kept.
"""
import os
import re
import shutil
import subprocess
import sys


def main():
    doxygen, doxyfile, doxy_out, man3_out, include_dir = sys.argv[1:6]
    extra_headers = sys.argv[6:]
    shutil.rmtree(doxy_out, ignore_errors=True)
    os.makedirs(doxy_out)
    if subprocess.run([doxygen, doxyfile]).returncode != 0:
        print("gen-man: Doxygen failed: document every public symbol (see above)",
              file=sys.stderr)
        return 1

    generated = os.path.join(doxy_out, "man", "man3")
    shutil.rmtree(man3_out, ignore_errors=True)
    os.makedirs(man3_out)
    kept = set()
    for name in sorted(os.listdir(generated)):
        if name.lower().startswith("mproc"):
            with open(os.path.join(generated, name)) as f:
                lines = f.readlines()
            # Doxygen 1.9 turns a leading " into ', which roff reads as a
            # control line: the text vanishes and man warns. \& keeps it text.
            lines = ["\\&" + l if l.startswith("'") else l for l in lines]
            with open(os.path.join(man3_out, name), "w") as f:
                f.writelines(lines)
            kept.add(name)

    ok = True
    for name in sorted(kept):
        first = open(os.path.join(man3_out, name)).readline()
        if first.startswith(".so "):
            target = os.path.basename(first.split()[1])
            if target not in kept:
                print(f"gen-man: {name} links to {target}, which is not installed",
                      file=sys.stderr)
                ok = False

    headers = [os.path.join(root, f) for root, _, files in os.walk(include_dir)
               for f in files if f.endswith(".h")]
    for path in sorted(headers + extra_headers):
        header = os.path.basename(path)
        if header + ".3" not in kept:
            print(f"gen-man: {header} has no page: does it start with a @file comment?",
                  file=sys.stderr)
            ok = False
        for fn in re.findall(r"MPROC_API\s[^;{]*?\b(mproc_\w+)\s*\(", open(path).read()):
            if fn + ".3" not in kept:
                print(f"gen-man: {fn} ({header}) has no man page: is it documented?",
                      file=sys.stderr)
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
