#!/bin/sh
# The whole test suite: install what is missing, build with warnings as
# errors, run every registered test, and end with "N passed, N failed".
# Extra arguments go to `meson test` (e.g. --suite unit).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/setup-build.sh build -Dwerror=true -Dtests=enabled >/dev/null
ninja -C build
status=0
meson test -C build --print-errorlogs "$@" || status=$?
python3 scripts/test-summary.py build/meson-logs/testlog.json
exit $status
