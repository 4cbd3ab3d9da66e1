#!/usr/bin/env bash
# Builds ckpt and runs the whole test suite (unit tests and scenarios, also as an
# unprivileged user when run as root), all but the long stress run. Usage: tools/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

# As root the suite runs the programs as nobody and as a second uid too, who must be able to
# reach the tree: one under /root (mode 0700) is not. Then the suite runs on a copy of the
# tree (without its builds) in a fresh directory under /tmp, which is removed afterwards.
reachable_by_others() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -r "$PWD/tools/test.sh" 2>/dev/null
}
if [ "$(id -u)" = 0 ] && [ -z "${CKPT_TEST_COPY:-}" ] && ! reachable_by_others; then
    copy=$(mktemp -d /tmp/ckpt-test.XXXXXX)
    chmod 0755 "$copy"
    echo "test.sh: nobody cannot reach $PWD: running the suite on a copy in $copy" >&2
    tar --exclude=./build --exclude='./build-*' -cf - . | tar -xf - -C "$copy"
    rc=0
    CKPT_TEST_COPY=1 "$copy/tools/test.sh" "$@" || rc=$?
    rm -rf "$copy"
    exit "$rc"
fi

build=${1:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2
# The long stress run (label stress) is left out: `ctest --test-dir build -L stress` runs it.
# Three at a time on two cores: most scenarios wait on their programs' own pacing (20 ms a
# step) rather than compute, so a third keeps the cores busy.
ctest --test-dir "$build" --output-on-failure -j3 -LE stress
