#!/bin/sh
# Installs, from Debian packages, whatever the build and the tests need and
# the machine lacks: the core list below, plus the toolchains the language
# bindings' tests use (scripts/deps/*.txt, one package per line, # comments).
# Debian 12 (bookworm) or later; run as root (or with sudo available).
# Extra package names may be given as arguments.
set -eu
cd "$(dirname "$0")/.."

packages="meson ninja-build pkg-config gcc g++ libgtest-dev python3 binutils $*"
for list in scripts/deps/*.txt; do
  [ -e "$list" ] && packages="$packages $(sed 's/#.*//' "$list")"
done

missing=""
for pkg in $packages; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $pkg"
  fi
done
[ -z "$missing" ] && exit 0

as_root=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root for:$missing" >&2; exit 1; }
  as_root=sudo
fi
echo "install-deps: installing$missing"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing
