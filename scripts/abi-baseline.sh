#!/bin/sh
# Records the ABI baseline that the abi/abidiff test compares against:
# abi/libmproc.so.<SONAME major>.abi, from a fresh default (-g) build.
# Run it at a release, after the version bump (docs/releasing.md), and commit
# the result. Needs abigail-tools: scripts/install-deps.sh abigail-tools
set -eu
cd "$(dirname "$0")/.."
dir=build-abi
rm -rf "$dir"
meson setup "$dir" -Dtests=disabled -Ddocs=disabled >/dev/null
ninja -C "$dir" >/dev/null
lib=$(readlink -f "$dir/src/libmproc.so")
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
mkdir -p abi
# Only what the public headers reach, without build paths, so the file
# changes only when the ABI does.
abidw --headers-dir include --exported-interfaces-only --drop-private-types \
  --no-corpus-path --no-comp-dir-path --short-locs \
  --out-file "abi/$soname.abi" "$lib"
rm -rf "$dir"
echo "abi/$soname.abi: $(grep -c '<elf-symbol ' "abi/$soname.abi") symbols"
