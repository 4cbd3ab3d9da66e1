#!/usr/bin/env bash
# fifo-restore-refused.sh — a restore whose FIFO is no longer the program's is refused by
# name and changes nothing; put back, the same image restores (registered in CTest by
# tests/scenarios/CMakeLists.txt).
#
# Usage: fifo-restore-refused.sh BINDIR PROGRAM [--unprivileged]
#
# PROGRAM is the pipes scenario program, run as `pipes fifo`: it is checkpointed and killed
# with 40 KiB in its FIFO chan.fifo; then, before restore-run:
#   - chan.fifo renamed and another FIFO made at its name: refused, "another file at its
#     name", the planted FIFO left as it was;
#   - a symbolic link to the renamed FIFO at its name: refused, "symbolic link";
#   - a regular file at its name: refused, "is now a regular file";
#   - nothing at its name: refused, "is gone";
#   - the FIFO back, but open in another process (read and write): refused, "open for
#     reading in another process";
#   the program's output is never cut back (nothing changed);
#   - the FIFO back in its place: the restore succeeds and the program runs on, its FIFO
#     holding its bytes (the program checks every byte and the FIFO's inode at its name).
# Exit 0 = pass, anything else = fail with an explanation.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
refusal_setup "$1" "$2" fifo "${3:-}"

"${RUN[@]}" "$BINDIR/checkpoint-run" --image "$W/x.ckpt" "$PROGRAM" fifo 400 >"$W/run/out" \
    2>"$W/run/err" &
pid=$!
wait_until 20 grep -qs "^fifo step 4 " "$W/run/out" || die "the program did not get to step 4"
"${RUN[@]}" "$BINDIR/ckpt" checkpoint "$pid" --kill >/dev/null || die "the checkpoint failed"
wait "$pid" 2>/dev/null || true
size=$(stat -c %s "$W/run/out")

# refused WHAT TEXT: restore-run refuses the image naming the FIFO and TEXT, and leaves the
# output and whatever is at the FIFO's name alone.
refused() {
    local rc=0 before
    before=$(stat -c '%F %i' chan.fifo 2>/dev/null || echo none)
    (cd "$W/elsewhere" && "${RUN[@]}" "$BINDIR/restore-run" "$W/x.ckpt") >/dev/null \
        2>"$W/restore.err" || rc=$?
    [[ $rc -ne 0 ]] || die "$1: restore-run restored"
    grep -q "chan.fifo.*$2" "$W/restore.err" || die "$1: restore-run said: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$W/run/out") -eq $size ]] || die "$1: the refused restore changed the output"
    [[ $(stat -c '%F %i' chan.fifo 2>/dev/null || echo none) == "$before" ]] ||
        die "$1: the refused restore changed what is at chan.fifo"
    say "$1: refused ($(head -c 300 "$W/restore.err"))"
}

"${RUN[@]}" mv chan.fifo chan.old
"${RUN[@]}" mkfifo -m 600 chan.fifo
refused "another FIFO at chan.fifo" "another file at its name"
"${RUN[@]}" rm chan.fifo
"${RUN[@]}" ln -s chan.old chan.fifo
refused "a symbolic link at chan.fifo" "symbolic link"
"${RUN[@]}" rm chan.fifo
"${RUN[@]}" touch chan.fifo
refused "a regular file at chan.fifo" "is now a regular file"
"${RUN[@]}" rm chan.fifo
refused "nothing at chan.fifo" "is gone"
"${RUN[@]}" mv chan.old chan.fifo
"${RUN[@]}" sleep 60 <>chan.fifo &
holder=$!
refused "chan.fifo open in another process" "open for reading in another process"
kill "$holder" && wait "$holder" 2>/dev/null || true

(cd "$W/elsewhere" && exec "${RUN[@]}" "$BINDIR/restore-run" "$W/x.ckpt") >/dev/null \
    2>"$W/restore.err" &
restored=$!
wait_until 30 grep -qs "^fifo step 30 " "$W/run/out" ||
    die "the restored program did not get to step 30: $(cat "$W/restore.err") $(tail -2 "$W/run/err")"
kill -9 "$restored" 2>/dev/null || true
wait "$restored" 2>/dev/null || true
[[ $(grep -c "^fifo step 5 " "$W/run/out") -eq 1 ]] || die "step 5 printed other than once"
say "PASS: restored once chan.fifo was back, its bytes read on to step 30"
