#!/usr/bin/env python3
"""Print the closing line of a test run from Meson's testlog.json.

Counts each Meson test once: OK and EXPECTEDFAIL pass; FAIL, TIMEOUT,
UNEXPECTEDPASS and ERROR fail; SKIP is reported separately. Exits 1 if any
failed or if no test ran at all.
"""
import json
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
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
