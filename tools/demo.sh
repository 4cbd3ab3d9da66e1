#!/usr/bin/env bash
# A short demonstration: start a program under checkpoint-run, checkpoint it, kill it, and
# restore it from another directory. Usage: tools/demo.sh [BUILD_DIR]
set -euo pipefail
bin=$(cd "${1:-$(dirname "$0")/../build}" && pwd)/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== starting a counter (perl) under checkpoint-run"
"$bin/checkpoint-run" --image "$work/demo.ckpt" \
  perl -e '$| = 1; for my $i (1..30) { print "count $i\n"; select(undef, undef, undef, 0.1) }' &
pid=$!
sleep 1
echo "== checkpointing process $pid and killing it"
"$bin/ckpt" checkpoint --kill "$pid"
wait "$pid" 2>/dev/null || true
"$bin/ckpt" inspect "$work/demo.ckpt" | sed -n 1,12p # sed reads it all: no SIGPIPE
echo "== restoring from / (the counter continues where it was)"
cd /
"$bin/restore-run" "$work/demo.ckpt"
echo "== the restored counter finished with status $?"
