#!/usr/bin/env bash
# Builds ckpt and runs the whole test suite (unit tests and scenarios, also as an
# unprivileged user when run as root), all but the long stress run. Usage: tools/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2
# The long stress run (label stress) is left out: `ctest --test-dir build -L stress` runs it.
ctest --test-dir "$build" --output-on-failure -j2 -LE stress
