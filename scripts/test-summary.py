#!/usr/bin/env python3
"""Print the closing line of one or more test runs from Meson's testlog.json.

usage: test-summary.py TESTLOG.json...

Counts each Meson test once per log: OK and EXPECTEDFAIL pass; FAIL,
TIMEOUT, UNEXPECTEDPASS and ERROR fail; SKIP is reported separately. A
missing log counts as one failure. Exits 1 if any failed or none ran.
"""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        log = open(path)
    except OSError as err:
        print(f"test-summary: {err}", file=sys.stderr)
        failed += 1
        continue
    with log:
        for line in log:
            if not line.strip():
                continue
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
