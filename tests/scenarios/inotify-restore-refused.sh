#!/usr/bin/env bash
# inotify-restore-refused.sh — a restore whose watched path changed is refused by name and
# changes nothing; put back as it was, the same image restores (registered in CTest by
# tests/scenarios/CMakeLists.txt).
#
# Usage: inotify-restore-refused.sh BINDIR PROGRAM [--unprivileged]
#
# PROGRAM is the inotify scenario program. It is checkpointed and killed while it watches
# watched/ and watched.txt; then, before restore-run:
#   - watched/ renamed and another directory made at its name: refused, "was replaced by
#     another file", and the program's output is not cut back (nothing changed);
#   - a symbolic link to the renamed directory at its name: refused, "symbolic link";
#   - the directory back in its place: the restore succeeds and the restored program's
#     events carry the watch numbers it had.
# Exit 0 = pass, anything else = fail with an explanation.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
refusal_setup "$1" "$2" inotify "${3:-}"

"${RUN[@]}" "$BINDIR/checkpoint-run" --image "$W/x.ckpt" "$PROGRAM" 400 >"$W/run/out" 2>"$W/run/err" &
pid=$!
wait_until 20 grep -qs "^step 4:" "$W/run/out" || die "the program did not get to step 4"
"${RUN[@]}" "$BINDIR/ckpt" checkpoint "$pid" --kill >/dev/null || die "the checkpoint failed"
wait "$pid" 2>/dev/null || true
size=$(stat -c %s "$W/run/out")

# refused WHAT TEXT: restore-run refuses the image naming TEXT and leaves the output alone.
refused() {
    local rc=0
    (cd "$W/elsewhere" && "${RUN[@]}" "$BINDIR/restore-run" "$W/x.ckpt") >/dev/null \
        2>"$W/restore.err" || rc=$?
    [[ $rc -ne 0 ]] || die "$1: restore-run restored"
    grep -q "watched.*$2" "$W/restore.err" || die "$1: restore-run said: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$W/run/out") -eq $size ]] || die "$1: the refused restore changed the output"
    say "$1: refused ($(head -c 300 "$W/restore.err"))"
}

"${RUN[@]}" mv watched watched.old
"${RUN[@]}" mkdir watched
refused "another directory at watched/" "was replaced by another file"
"${RUN[@]}" rmdir watched
"${RUN[@]}" ln -s watched.old watched
refused "a symbolic link at watched/" "symbolic link"
"${RUN[@]}" rm watched
"${RUN[@]}" mv watched.old watched

(cd "$W/elsewhere" && exec "${RUN[@]}" "$BINDIR/restore-run" "$W/x.ckpt") >/dev/null \
    2>"$W/restore.err" &
restored=$!
wait_until 30 grep -qs "^step 12:" "$W/run/out" ||
    die "the restored program did not get to step 12: $(cat "$W/restore.err")"
kill -9 "$restored" 2>/dev/null || true
wait "$restored" 2>/dev/null || true
if ! grep -q "^step 11: created on watch 2 (watched/)" "$W/run/out" ||
    ! grep -q "^step 12: modified on watch 4 (watched.txt)" "$W/run/out"; then
    die "the restored program's events: $(tail -3 "$W/run/out")"
fi
say "PASS: restored once watched/ was back, its events on watches 2 and 4"
