#!/bin/sh
# The fuzzing job: builds the libFuzzer targets of tests/fuzz with clang in
# build-fuzz/ and runs each for SECONDS (default 60), starting from the
# committed corpus, then prints "N passed, N failed". A finding fails its
# test and leaves the input as build-fuzz/tests/fuzz/crash-* (or timeout-*,
# leak-*): fix the library, then add the file to tests/fuzz/corpus/<target>/
# so every build replays it.
#
#   scripts/run-fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}

# Debian 12: clang 14 and its compiler-rt, which holds libFuzzer.
scripts/install-deps.sh clang-14 libclang-rt-14-dev
CC=clang-14 CXX=clang++-14 scripts/setup-build.sh build-fuzz -Dwerror=true -Dfuzz=enabled \
  -Dfuzz_seconds="$seconds" -Dtests=disabled -Dbindings=disabled -Dmpi=disabled -Ddocs=disabled >/dev/null
ninja -C build-fuzz tests/fuzz/fuzz-queue-segment tests/fuzz/fuzz-api
status=0
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs || status=$?
python3 scripts/test-summary.py build-fuzz/meson-logs/testlog.json || status=1
exit $status
