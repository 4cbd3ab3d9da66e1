#!/usr/bin/env bash
# Debian's layout for a /usr install: GNUInstallDirs then puts libraries in
# lib/x86_64-linux-gnu, and checkpoint-run must find its shim there (it looked for
# ../lib/libckpt.so before). Configures and builds a tree of its own with that libdir
# (without tests), then runs run-install.sh on it.
# Usage: multiarch.sh SOURCE_DIR PROGDIR
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
SRC=$1 PROGDIR=$2
B=$(mktemp -d /tmp/ckpt-multiarch.XXXXXX)
trap 'rm -rf "$B"' EXIT
LIBDIR=lib/x86_64-linux-gnu
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_LIBDIR=$LIBDIR >"$B/configure.log" 2>&1 ||
    die "configure failed: $(tail "$B/configure.log")"
cmake --build "$B" -j2 --target checkpoint-run restore-run ckpt ckpt_shim ckptapi ckpt-bench-worker \
    >"$B/build.log" 2>&1 || die "build failed: $(tail "$B/build.log")"
[ -f "$B/$LIBDIR/libckpt.so" ] || { echo "multiarch: the build tree has no $LIBDIR/libckpt.so" >&2; exit 1; }
bash "$(dirname "$0")/run-install.sh" "$B" "$LIBDIR" "$PROGDIR"
