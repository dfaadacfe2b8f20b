#!/bin/sh
# Configures (or reconfigures) a Meson build directory: setup-build.sh DIR [meson options...]
set -eu
dir=$1
shift
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" "$@"
else
  meson setup "$dir" "$@"
fi
