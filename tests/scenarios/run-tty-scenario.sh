#!/usr/bin/env bash
# run-tty-scenario.sh — an interactive program on a terminal survives checkpoint, kill and
# restore onto another terminal (registered in CTest by tests/scenarios/CMakeLists.txt).
#
# Usage: run-tty-scenario.sh BINDIR [--unprivileged]
#
# A private tmux server runs Debian's python3 REPL under checkpoint-run in a 120x40 window.
# Variables are defined by typing into it; its readline keeps the terminal in raw mode while
# it waits for the next line. `ckpt checkpoint --kill` checkpoints and kills it, and
# restore-run restores it in another tmux session of 100x30, from another directory. Then:
#   - the REPL answers with the variables defined before the checkpoint (it reads: it is in
#     the foreground of the new terminal);
#   - line editing works: a line edited with Left and Backspace runs as edited (readline
#     needs the raw mode it had set, now put on the new terminal);
#   - the program learnt of the new window size (a SIGWINCH handler set before the
#     checkpoint ran, and the size it reads is the new one);
#   - exit(7) ends it with status 7.
# Exit 0 = pass, anything else = fail with an explanation (the work directory is kept).
# shellcheck disable=SC2317  # shellcheck 0.9 takes the functions after die() for unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
[[ $# -ge 1 ]] || { say "usage: $SELF BINDIR [--unprivileged]"; exit 2; }
BINDIR=$(cd "$1" && pwd -P)
UNPRIV=0
[[ ${2:-} == --unprivileged ]] && UNPRIV=1
require_tools "$BINDIR"
for prog in tmux /usr/bin/python3; do
    command -v "$prog" >/dev/null || die "$prog is not installed (tools/debian-packages.txt)"
done

if [[ $UNPRIV -eq 1 && $EUID -eq 0 ]]; then
    W=$(mktemp -d /tmp/ckpt-tty.XXXXXX)
    if ! nobody_can_use "$BINDIR"; then
        copy_tools "$BINDIR" "$W"
        BINDIR=$W/tools/bin
    fi
    copy_driver "$W"
    chmod 0755 "$W"
    chown nobody:nogroup "$W"
    say "running as nobody:nogroup in $W"
    rc=0
    (cd "$W" && WORKDIR=$W exec "${AS_NOBODY[@]}" env HOME="$W" bash "$W/run-tty-scenario.sh" \
        "$BINDIR") || rc=$?
    finish_workdir "$rc" "$W"
    exit "$rc"
fi

W=${WORKDIR:-$(mktemp -d /tmp/ckpt-tty.XXXXXX)}
mkdir -p "$W/run" "$W/elsewhere" "$W/img"
IMAGE=$W/img/repl.ckpt
# tmux runs each pane's command with its default-shell, taken from $SHELL or else from the
# user's passwd entry: for nobody that is /usr/sbin/nologin, which refuses to run anything
# (CI sets no $SHELL). remain-on-exit keeps a pane that ended, so its last words are shown.
printf '%s\n' 'set-option -g default-shell /bin/sh' 'set-option -g remain-on-exit on' >"$W/tmux.conf"
TMUX_CMD=(tmux -S "$W/tmux.sock" -f "$W/tmux.conf")
NAME="python3 REPL on a terminal as uid $(id -u)"
STEP_TIMEOUT=20

cleanup() {
    local rc=$?
    "${TMUX_CMD[@]}" kill-server 2>/dev/null || true
    finish_run "$rc" "$W" "$([[ -n ${WORKDIR:-} ]] && echo 0 || echo 1)"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 143' TERM INT

screen() { "${TMUX_CMD[@]}" capture-pane -p -t "$1" 2>/dev/null | sed -e 's/[[:space:]]*$//'; }
on_die() { # die's report: the screens and restore-run's errors
    local t
    for t in orig restored; do
        echo "----- screen of $t -----" >&2
        screen "$t:0" | grep -v '^$' | tail -n 15 >&2 || true
    done
    [[ -s $W/restore.err ]] && { echo "----- restore-run stderr -----" >&2; cat "$W/restore.err" >&2; }
}

# wait_screen TARGET TEXT: waits until the screen of TARGET shows a line equal to TEXT.
shows_line() { screen "$1" | grep -qxF -- "$2"; } # shows_line TARGET TEXT
wait_screen() {
    wait_until "$STEP_TIMEOUT" shows_line "$1" "$2" ||
        die "the screen of $1 did not show the line '$2' within ${STEP_TIMEOUT}s"
}

# type_line TARGET TEXT: types TEXT literally, then Enter.
type_line() {
    "${TMUX_CMD[@]}" send-keys -t "$1" -l -- "$2"
    "${TMUX_CMD[@]}" send-keys -t "$1" Enter
}

pane_pid() { "${TMUX_CMD[@]}" display -p -t "$1" '#{pane_pid}'; }

# line_mode TARGET: "canonical" or "raw" (ICANON of the pane's terminal, as stty sees it).
line_mode() {
    local settings
    settings=$(stty -a -F "$("${TMUX_CMD[@]}" display -p -t "$1" '#{pane_tty}')") ||
        die "cannot read the settings of the terminal of $1"
    if grep -qw -- -icanon <<<"$settings"; then echo raw; else echo canonical; fi
}

# The original: python3's REPL under checkpoint-run, in a 120x40 window.
"${TMUX_CMD[@]}" new-session -d -s orig -x 120 -y 40 -c "$W/run" \
    "exec env -u PYTHONSTARTUP TERM=screen $BINDIR/checkpoint-run --image $IMAGE -- /usr/bin/python3 -q"
wait_screen orig:0 '>>>'
type_line orig:0 'x = 6 * 7'
type_line orig:0 'name = "ck" + "pt"'
type_line orig:0 'import os, signal'
type_line orig:0 'resized = []'
type_line orig:0 '_ = signal.signal(signal.SIGWINCH, lambda s, f: resized.append(s))'
type_line orig:0 'print("defined", x, name)'
wait_screen orig:0 'defined 42 ckpt'
wait_screen orig:0 '>>>' # waiting in readline for the next line, terminal in raw mode
[[ $(line_mode orig:0) == raw ]] || die "python3's readline did not put the terminal in raw mode"
pid=$(pane_pid orig:0)
[[ $(cat "/proc/$pid/comm") == python3 ]] || die "pane process $pid is $(cat "/proc/$pid/comm"), not python3"

rc=0
"$BINDIR/ckpt" checkpoint "$pid" --kill --timeout "$STEP_TIMEOUT" >"$W/ckpt.out" 2>"$W/ckpt.err" || rc=$?
[[ $rc -eq 0 ]] || die "ckpt checkpoint $pid --kill exited with status $rc: $(cat "$W/ckpt.err")"
state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || true # gone, or a zombie
[[ -z $state || $state == Z ]] ||
    die "the original (pid $pid) is still alive (state $state) after ckpt checkpoint --kill"
"$BINDIR/ckpt" inspect "$IMAGE" >"$W/inspect.txt" || die "ckpt inspect failed"
grep -q 'terminal of descriptor 0: .*(raw), window 120x40' "$W/inspect.txt" ||
    die "the image does not record the raw-mode terminal of 120x40: $(grep terminal "$W/inspect.txt")"
say "checkpointed and killed the REPL (pid $pid): $(grep 'terminal of' "$W/inspect.txt")"

# The restore: another terminal (a new tmux session of 100x30), another directory.
# A shell in the pane starts restore-run (in its foreground process group, as from a
# prompt) and shows the exit status when it is done.
"${TMUX_CMD[@]}" new-session -d -s restored -x 100 -y 30 -c "$W/elsewhere" \
    "stty icanon echo; $BINDIR/restore-run -- $IMAGE 2>$W/restore.err; echo \"exit status \$?\"; sleep 600"
deadline=$((SECONDS + STEP_TIMEOUT))
rpid=
until [[ -n $rpid && $(cat "/proc/$rpid/comm" 2>/dev/null) == python3 ]]; do
    rpid=$(pgrep -P "$(pane_pid restored:0)" | head -n 1) || true
    [[ $SECONDS -lt $deadline ]] || die "restore-run (pid $rpid) did not become python3"
    sleep 0.05
done
sleep 0.2 # the restored REPL is back in readline's wait for input
say "restored as pid $rpid in a 100x30 terminal"
# readline still believes the terminal is in the raw mode it set: it must be.
[[ $(line_mode restored:0) == raw ]] ||
    die "the new terminal is in canonical mode: the program's terminal settings were not restored"

"${TMUX_CMD[@]}" send-keys -t restored:0 Enter # a fresh prompt on the new screen
wait_screen restored:0 '>>>'
type_line restored:0 'print("after restore", x, name)'
wait_screen restored:0 'after restore 42 ckpt'
# Line editing: type "print(x * 3)", Left, Backspace (deletes the 3), type 2, Enter.
"${TMUX_CMD[@]}" send-keys -t restored:0 -l -- 'print("edited", x * 3)'
"${TMUX_CMD[@]}" send-keys -t restored:0 Left BSpace
"${TMUX_CMD[@]}" send-keys -t restored:0 -l -- '2'
"${TMUX_CMD[@]}" send-keys -t restored:0 Enter
wait_screen restored:0 'edited 84'
type_line restored:0 'print("window", len(resized) > 0, tuple(os.get_terminal_size()))'
wait_screen restored:0 'window True (100, 30)'
type_line restored:0 'exit(7)'
wait_screen restored:0 "exit status 7"
say "the restored REPL answered with its variables, edited a line, saw the new window size and exited with status 7"
exit 0
