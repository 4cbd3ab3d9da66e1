#!/usr/bin/env bash
# make-corpus.sh — regenerates the fuzzers' seed corpus (corpus/*.ckpt), needed whenever the
# image format changes: real images of the counter, signals, events, pipes (and a FIFO), sockets, unixlisten, inet,
# inotify and memfiles scenario programs, taken under checkpoint-run and written in the current format,
# and the counter's with records of kinds no reader knows added
# (tests/integrity/add-records.c), as a later minor version writes them, and the counter's
# taken with checkpoint-run --compress (zstd page runs).
#
# Usage: tests/fuzz/make-corpus.sh BUILD_DIR   (e.g. build)
set -euo pipefail
BUILD=$(cd "$1" && pwd -P)
CORPUS=$(cd "$(dirname "$0")" && pwd -P)/corpus
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
temp_workdir "${TMPDIR:-/tmp}/ckpt-corpus.XXXXXX"

# image NAME LINE PROGRAM ARGS...: checkpoints PROGRAM once its output has LINE.
image() {
    local name=$1 line=$2 pid
    shift 2
    (cd "$W" && exec "$BUILD/bin/checkpoint-run" --image "$W/$name.ckpt" "$@" >"$W/$name.out" \
        2>/dev/null) &
    pid=$!
    wait_until 10 grep -qs -- "$line" "$W/$name.out" || true
    "$BUILD/bin/ckpt" checkpoint "$pid" >/dev/null
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    install -m 0644 "$W/$name.ckpt" "$CORPUS/$name.ckpt"
    echo "make-corpus.sh: $CORPUS/$name.ckpt ($(stat -c %s "$CORPUS/$name.ckpt") bytes)"
}

image counter "count 10 " "$BUILD/tests/scenarios/counter" 100000

# incremental NAME LINE PROGRAM ARGS...: the second checkpoint of PROGRAM under
# --incremental (PARENT and RUN_REF records: pages kept in the first).
incremental() {
    local name=$1 line=$2 pid
    shift 2
    (cd "$W" && exec "$BUILD/bin/checkpoint-run" --image "$W/$name.ckpt" --incremental "$@" \
        >"$W/$name.out" 2>/dev/null) &
    pid=$!
    wait_until 10 grep -qs -- "$line" "$W/$name.out" || true
    "$BUILD/bin/ckpt" checkpoint "$pid" >/dev/null
    "$BUILD/bin/ckpt" checkpoint "$pid" >/dev/null
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    install -m 0644 "$W/$name.ckpt" "$CORPUS/$name.ckpt"
    echo "make-corpus.sh: $CORPUS/$name.ckpt ($(stat -c %s "$CORPUS/$name.ckpt") bytes)"
}
incremental counter-incremental "count 10 " "$BUILD/tests/scenarios/counter" 100000
image signals "tick 10" "$BUILD/tests/scenarios/signals"
image events "step 3" "$BUILD/tests/scenarios/events" 100000
"$BUILD/tests/scenarios/add-records" "$CORPUS/counter.ckpt" "$W/counter-unknown.ckpt" optional
install -m 0644 "$W/counter-unknown.ckpt" "$CORPUS/counter-unknown.ckpt"
echo "make-corpus.sh: $CORPUS/counter-unknown.ckpt ($(stat -c %s "$CORPUS/counter-unknown.ckpt") bytes)"
image pipes "selfpipe step 5 " "$BUILD/tests/scenarios/pipes" selfpipe 100000
image fifo "fifo step 5 " "$BUILD/tests/scenarios/pipes" fifo 100000
image sockets "dgram step 5 " "$BUILD/tests/scenarios/sockets" dgram 100000
image inet "step 5:" "$BUILD/tests/scenarios/inet" loopback4 100000
image inotify "step 3:" "$BUILD/tests/scenarios/inotify" 100000
image memfiles "step 5 " "$BUILD/tests/scenarios/memfiles" 100000 16
image unixlisten "step 5: served" "$BUILD/tests/scenarios/unixlisten" path 100000
image counter-compressed "count 10 " --compress=all "$BUILD/tests/scenarios/counter" 100000
