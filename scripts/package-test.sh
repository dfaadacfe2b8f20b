#!/bin/sh
# The packaging job: build the Debian packages from this tree, check them
# with lintian, unpack them into a scratch root, and build and run a program
# against that root the three ways users do: cc with pkg-config, a Meson
# project with dependency('mproc'), and a Meson project that carries mproc
# as a subproject. Each step is one result in DIR/testlog.json (Meson's
# format, for scripts/test-summary.py); the script ends with that summary.
#
#   scripts/package-test.sh [DIR]      (default build-pkg; recreated each run)
#
# Debian 12, as root or with sudo for the packages it installs. The package
# build runs the test suite (less the soak) unless DEB_BUILD_OPTIONS has
# nocheck; it fails on any drift from debian/libmproc0.symbols and on an
# undocumented public symbol.
# shellcheck disable=SC2317 # the step functions are called through step()
set -u
cd "$(dirname "$0")/.." || exit 1
src=$(pwd)
work=$(realpath -m "${1:-build-pkg}")
rm -rf "$work"
mkdir -p "$work"
log=$work/testlog.json
: >"$log"
failed_any=0

# step NAME COMMAND...: runs one step with its output in NAME.log, records it.
step() {
  name=$1
  shift
  start=$(date +%s)
  if "$@" >"$work/$name.log" 2>&1; then
    result=OK
  else
    result=FAIL
    failed_any=1
  fi
  echo "{\"name\": \"package/$name\", \"result\": \"$result\", \"duration\": $(($(date +%s) - start))}" >>"$log"
  printf '%-20s %s (%ss)\n' "$name" "$result" "$(($(date +%s) - start))"
  if [ "$result" = FAIL ]; then
    echo "--- last lines of $work/$name.log"
    tail -n 40 "$work/$name.log"
    echo "---"
  fi
  [ "$result" = OK ]
}

deps() {
  # shellcheck disable=SC2046 # one package name per word
  scripts/install-deps.sh $(sed 's/#.*//' scripts/packaging-deps.txt)
}

# Build from a copy of the tree (tracked and untracked-but-not-ignored files,
# as CI and `git clone` would see it), so dpkg-buildpackage writes its
# artefacts and the .debs under $work, never into the checkout or its parent.
build_debs() (
  version=$(dpkg-parsechangelog -l debian/changelog -S Version)
  mkdir -p "$work/src/mproc"
  git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp --parents -t "$work/src/mproc"
  cd "$work/src/mproc" &&
    DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)" \
      dpkg-buildpackage -us -uc -b &&
    ls ../libmproc0_"$version"_*.deb ../libmproc-dev_"$version"_*.deb \
      ../libmproc-mpi0_"$version"_*.deb ../libmproc-mpi-dev_"$version"_*.deb
)

run_lintian() {
  # Errors fail; warnings and the rest are printed for a human to judge.
  lintian --fail-on error --display-info "$work"/src/mproc_*.changes
}

# What each package carries, as Debian Policy 8.1 and 8.4 want it.
check_contents() {
  ok=0
  for want in "libmproc0:/usr/lib/$arch/libmproc.so.0" \
              "libmproc-dev:/usr/lib/$arch/libmproc.so" \
              "libmproc-dev:/usr/include/mproc.h" \
              "libmproc-dev:/usr/lib/$arch/pkgconfig/mproc.pc" \
              "libmproc-dev:/usr/share/man/man3/mproc_pool_new.3.gz" \
              "libmproc-mpi0:/usr/lib/$arch/libmproc-mpi.so.0" \
              "libmproc-mpi-dev:/usr/lib/$arch/libmproc-mpi.so" \
              "libmproc-mpi-dev:/usr/include/mproc/mproc-mpi.h" \
              "libmproc-mpi-dev:/usr/lib/$arch/pkgconfig/mproc-mpi.pc" \
              "libmproc-mpi-dev:/usr/share/man/man3/mproc_mpi_init.3.gz"; do
    pkg=${want%%:*}
    path=${want#*:}
    if dpkg-deb -c "$work"/src/"$pkg"_*.deb | awk '{print $6}' | grep -qx ".$path"; then
      echo "ok: $pkg has $path"
    else
      echo "MISSING: $pkg lacks $path"
      ok=1
    fi
  done
  # Each file in one package only: libmproc-dev leaves the MPI pool's to libmproc-mpi-dev.
  if dpkg-deb -c "$work"/src/libmproc-dev_*.deb | grep -i mpi; then
    echo "MISPLACED: libmproc-dev carries the MPI pool's files above"
    ok=1
  fi
  for lib in libmproc.so.0 libmproc-mpi.so.0; do
    soname=$(readelf -d "$root/usr/lib/$arch/$lib" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
    echo "SONAME of $lib: $soname"
    [ "$soname" = "$lib" ] || ok=1
  done
  return "$ok"
}

unpack() {
  for deb in "$work"/src/libmproc0_*.deb "$work"/src/libmproc-dev_*.deb \
             "$work"/src/libmproc-mpi0_*.deb "$work"/src/libmproc-mpi-dev_*.deb; do
    dpkg-deb -x "$deb" "$root" || return 1
  done
  find "$root" | sort
}

# pkg-config and Meson look only into the scratch root; the consumer checks
# that the library it loaded is the one under it.
in_root() {
  PKG_CONFIG_LIBDIR=$root/usr/lib/$arch/pkgconfig \
  PKG_CONFIG_SYSROOT_DIR=$root \
  LD_LIBRARY_PATH=$root/usr/lib/$arch \
    "$@"
}

consumer_cc() {
  flags=$(in_root pkg-config --cflags --libs mproc) || return 1
  echo "pkg-config --cflags --libs mproc: $flags"
  # shellcheck disable=SC2086 # flags is a list of words
  cc -std=c11 -Wall -Wextra -Werror -o "$work/consumer-cc" \
    tests/install/consumer/consumer.c $flags &&
    in_root "$work/consumer-cc" "$root/"
}

consumer_meson() {
  in_root meson setup "$work/consumer-meson" tests/install/consumer &&
    ninja -C "$work/consumer-meson" &&
    in_root "$work/consumer-meson/consumer" "$root/"
}

# The MPI pool's example, built with pkg-config against the root (Open MPI's
# own .pc files come from the system) and started without mpiexec: it must
# load the packaged libmproc-mpi and say that it needs a launcher.
consumer_mpi() {
  flags=$(PKG_CONFIG_LIBDIR=$root/usr/lib/$arch/pkgconfig:/usr/lib/$arch/pkgconfig \
    PKG_CONFIG_SYSROOT_DIR=$root pkg-config --cflags --libs mproc-mpi) || return 1
  echo "pkg-config --cflags --libs mproc-mpi: $flags"
  # shellcheck disable=SC2086 # flags is a list of words
  cc -std=c11 -Wall -Wextra -Werror -o "$work/consumer-mpi" examples/mpi_map.c $flags || return 1
  in_root ldd "$work/consumer-mpi" | grep "libmproc-mpi.so.0 => $root/" || return 1
  in_root python3 tests/mpi/expect_output.py 1 'not started by an MPI launcher' "$work/consumer-mpi"
}

# mproc as a subproject: no pkg-config file to find, so dependency('mproc')
# must come from the subproject's meson.override_dependency().
consumer_subproject() {
  proj=$work/consumer-sub
  mkdir -p "$proj/subprojects"
  cp tests/install/consumer/meson.build tests/install/consumer/consumer.c "$proj/"
  ln -s "$src" "$proj/subprojects/mproc"
  PKG_CONFIG_LIBDIR=$work/empty meson setup "$proj/build" "$proj" \
      --force-fallback-for=mproc -Dmproc:tests=disabled -Dmproc:docs=disabled &&
    ninja -C "$proj/build" consumer &&
    "$proj/build/consumer" "$proj/build/subprojects/mproc/"
}

root=$work/root
mkdir -p "$root" "$work/empty"
if step deps deps; then
  arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  if step deb-build build_debs; then
    step lintian run_lintian
    step unpack unpack &&
      step deb-contents check_contents &&
      step install-cc consumer_cc &&
      step install-meson consumer_meson &&
      step install-mpi consumer_mpi
  fi
fi
step subproject-meson consumer_subproject
echo "--- packaging"
python3 scripts/test-summary.py "$log" || failed_any=1
exit $failed_any
