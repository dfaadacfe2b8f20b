#!/bin/sh
# The main job: install what is missing, build mproc, run the tour example.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/setup-build.sh build >/dev/null
ninja -C build
build/examples/tour
