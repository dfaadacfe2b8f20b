#!/bin/sh
# The whole test suite: install what is missing, build with warnings as
# errors, run every registered test, and end with "N passed, N failed".
#
#   scripts/run-tests.sh [--sanitize=LIST] [meson test args...]
#
# With --sanitize (address,undefined or thread) the suite is built and run in
# build-san-<list>/ with those sanitizers (the language bindings left out:
# their interpreters cannot load a sanitized library); any report fails the
# test. Other
# arguments go to `meson test` (e.g. --suite unit).
set -eu
cd "$(dirname "$0")/.."

dir=build
options="-Dwerror=true -Dtests=enabled"
case "${1:-}" in
  --sanitize=*)
    dir=build-san-$(echo "${1#--sanitize=}" | tr ',' '-')
    # MPI left out too: Open MPI's own allocations would read as leaks.
    options="$options -Db_sanitize=${1#--sanitize=} -Db_lundef=false -Dbindings=disabled -Dmpi=disabled"
    shift
    ;;
esac

scripts/install-deps.sh
# shellcheck disable=SC2086 # options is a list of words
scripts/setup-build.sh "$dir" $options >/dev/null
ninja -C "$dir"
status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} \
  meson test -C "$dir" --print-errorlogs "$@" || status=$?
python3 scripts/test-summary.py "$dir/meson-logs/testlog.json" || status=1
exit $status
