#!/usr/bin/env bash
# run-scenario.sh — end-to-end checkpoint/restore scenario driver (registered in CTest by
# tests/scenarios/CMakeLists.txt).
#
# Usage: run-scenario.sh BINDIR PROGRAM KIND [options] [-- PROGRAM-ARGS...]
#
#   BINDIR    directory holding checkpoint-run, restore-run and ckpt (libckpt.so in ../lib)
#   PROGRAM   a scenario program (tests/scenarios/*.c)
#   KIND      basic     checkpoint at K lines, kill -9, restore from another directory
#             chain     three generations: checkpoint, kill, restore, checkpoint the restored
#                       process, kill, restore, ... (--at K1,K2,K3)
#             reboot    restore after the original is dead, image moved to another directory,
#                       inside a new pid (and mount) namespace so the pid differs
#             identity  basic, plus: /proc/PID/{cmdline,environ,comm} of the restored process
#                       equal the original's; `ckpt checkpoint` on the restored process (no
#                       kill), and that second image restores too (--at K1,K2)
#             exec      `ckpt checkpoint` (no kill) at K1 lines; the program then execs (itself)
#                       and is checkpointed with --kill at K2 lines, after the exec, and
#                       restored (--at K1,K2)
#             badinput  corrupted images and changed files are refused with a specific
#                       message and nothing changed; then the intact image restores fine
#             refuse    `ckpt checkpoint` (at K lines) must fail naming --reason TEXT, leave no
#                       image, and the program must run on and finish like the reference
#             self      the program checkpoints itself (ckpt_checkpoint, <ckpt/ckpt.h>) and
#                       then dies of SIGKILL; its image is verified and restored from another
#                       directory
#             interval  checkpoint-run --interval D --keep N: generations must appear and
#                       grow while the program runs, each image verify; killed, exactly N
#                       images are kept; restored, the restored process must go on writing
#                       new generations (--interval, --keep)
#             running   `ckpt checkpoint` (no kill) --repeat times at each K of --at; the
#                       program runs on to its end and its output must be identical; each
#                       image lists its threads (--threads, --thread-names); with
#                       --first-refused TEXT the first checkpoint must fail naming TEXT
#                       within --stop-timeout and a few seconds (then --then-touch FILE is
#                       created in the run directory) and the later ones succeed; with
#                       --restore-refused TEXT restore-run must refuse the last image naming
#                       TEXT (multi-threaded images until restore-run restores threads)
#             server    a program that serves clients and prints nothing itself: --client
#                       SCRIPT, run in the program's directory as SCRIPT ready|before|after|
#                       stop with its output appended to client.out, talks to it: ready
#                       (waits until it serves), before; checkpoint --kill, restore; ready,
#                       after, stop (the program exits). client.out and the exit status must
#                       equal those of an uninterrupted run through the same phases
#             incremental  checkpoint-run --incremental=N: `ckpt checkpoint` (no kill)
#                       --repeat times at each K of --at, the last with --kill; the chain of
#                       images (the newest has at least --parents P parents, and `ckpt
#                       verify` passes) is moved to another directory and restored from its
#                       newest image; with --keep K every kept image (IMAGE.1 ... IMAGE.(K-1))
#                       verifies too, and no more images are left than the kept ones need
#                       (K + N - 1 at most); with --chain-refusals a chain missing its oldest image
#                       and one with a damaged parent are refused first, changing nothing;
#                       with --merge the chain folded by `ckpt merge` into one image, alone in
#                       a directory, passes `ckpt verify` and restores the same again
#   options:
#     --at K[,K...]    line counts of the program's stdout at which to checkpoint
#     --prepare        run "PROGRAM --prepare" in each run directory first
#     --compare FILE   also compare FILE (relative to the run directory) with the reference
#     --before TEXT    the first checkpoint must come before the line containing TEXT (the
#                      part of the program that is to run after a restore)
#     --at-bytes N     checkpoint once stdout holds N bytes (for programs that print no
#                      lines, such as a compressor); instead of --at
#     --signal SIG     checkpoint-run --signal SIG
#     --no-background  checkpoint-run --no-background: the program writes its image itself,
#                      stopped, instead of a copy-on-write writer child
#     --stderr-once T  the program's stderr must hold the text T exactly once
#     --stdin FILE     the program's stdin is FILE (relative to the run directory)
#     --setup CMD      run CMD (bash) in each run directory first
#     --after CMD      run CMD (bash) in each run directory when the program is done, and
#                      compare its output too
#     --no-starts-log  the program does not write ./starts.log (a real program)
#     --reason TEXT    refuse: the text the refusal must name
#     --run-on N       let the original run N more lines after its checkpoint, then kill it
#     --conflict-lock FILE  before the restore, a process holding a lock on FILE must make
#                      restore-run refuse
#     --occupied-socket NAME  before the restore, NAME (the program's UNIX listener, a
#                      socket file in its run directory, stale once it is killed) is put aside
#                      and replaced in turn by a regular file, a symbolic link, a directory, a
#                      FIFO and a live listener: restore-run must refuse each, naming it, and
#                      change nothing (the thing at NAME included); the stale socket is then
#                      put back and the restore must replace it (not as root: the directory
#                      made read-only refuses it too). @NAME: an abstract name
#                      (NAME a format of stat -c, expanded on the run directory): a live
#                      listener bound to it must make restore-run refuse
#     --lazy           restore with restore-run --lazy
#     --compress LEVEL checkpoint-run --compress=LEVEL: each image must pass ckpt verify,
#                      and with LEVEL,all (every run compressed) hold compressed page runs in
#                      fewer bytes than their pages (without ,all how many runs are compressed
#                      depends on the disk's speed: it is reported); with --lazy, restore-run
#                      --lazy must refuse it by name, changing nothing, and the restore is
#                      then eager
#     --vdso-proxy     restore as after a kernel change (CKPT_TEST_VDSO_PROXY=1)
#     --place MODE     which regions restore-run places before its point of no return:
#                      none (the restore core maps them all) or alternate (every other one)
#                      (CKPT_TEST_PLACE); by default all that are free to map
#     --pagemap-entries  checkpoint reading pagemap entry by entry, as on kernels before
#                      6.7 (CKPT_TEST_PAGEMAP=entries), instead of PAGEMAP_SCAN
#     --expect FILE EXPECTED  FILE (in the run directory) must equal EXPECTED at the end
#                      (kinds self and basic)
#     --expect-reference FILE EXPECTED  the same for the reference run's FILE
#     --interval D     checkpoint-run --interval D (kind interval)
#     --keep N         checkpoint-run --keep N
#     --repeat N       running: checkpoints at each --at point (default 1)
#     --threads N      running: each image has at least N threads
#     --thread-names A,B  running: each image names these threads
#     --first-refused TEXT  running: the first checkpoint fails naming TEXT
#     --then-touch FILE  running: created in the run directory after the first checkpoint
#     --restore-refused TEXT  running: restore-run refuses the last image naming TEXT
#     --stop-timeout D checkpoint-run --stop-timeout D
#     --incremental N  checkpoint-run --incremental=N (kind incremental)
#     --parents P      incremental: the newest image extends P images at least
#     --chain-refusals incremental: also refuse a chain without its oldest image, and one
#                      with a byte of a parent's pages changed
#     --merge          incremental: also restore the chain merged into one image
#     --remove-image-at N  incremental: remove the images before the Nth checkpoint, which
#                      must then be full, saying so once on stderr
#     --stdin-pipe     the program's stdin is a pipe (a FIFO in its directory) that a
#                      process of the driver's holds open and never writes to; a restored
#                      program's stdin is another such pipe
#     --unprivileged   as root: run everything as nobody:nogroup (setpriv) in a work
#                      directory only nobody can write; as any other user: no change
#
# Every scenario first runs PROGRAM uninterrupted (the reference), then under checkpoint-run,
# checkpoints and kills it, restores it, and requires stdout (a regular file), the --compare
# files and the exit status to be identical to the reference, and the program to have
# started exactly once (./starts.log, see scenario.h): restores continue it, never re-run it.
# Exit 0 = pass, 77 = skipped (a facility the scenario needs is missing here), anything else
# = fail with an explanation; a failed scenario's work directory is kept for inspection.
# shellcheck disable=SC2317  # shellcheck 0.9 takes every function after die() for unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
close_inherited_fds

# ---------------------------------------------------------------------------------------
# Arguments

[[ $# -ge 3 ]] || { say "usage: $SELF BINDIR PROGRAM KIND [options] [-- ARGS...]"; exit 2; }
BINDIR=$(cd "$1" && pwd -P)
PROGRAM=$(cd "$(dirname "$2")" && pwd -P)/$(basename "$2")
KIND=$3
shift 3
AT=()
PREPARE=0
COMPARE=()
BEFORE=
UNPRIV=0
RUN_OPTS=()
STDERR_ONCE=
INNER=0
WORKDIR=
AT_BYTES=
STDIN=
SETUP=
AFTER=
STARTS_LOG=1
REASON=
RUN_ON=
CONFLICT_LOCK=
OCCUPIED_SOCKET=
CLIENT=
PROG_ARGS=()
RESTORE_OPTS=()
COMPRESS=
EXPECT=()     # FILE EXPECTED pairs for the run directory
EXPECT_REF=() # ... and for the reference run's
INTERVAL=
KEEP=1
REPEAT=1
MIN_THREADS=0
THREADS_SEEN=0
THREAD_NAMES=
FIRST_REFUSED=
THEN_TOUCH=
RESTORE_REFUSED=
STDIN_PIPE=0
STOP_TIMEOUT=2
PARENTS=1
CHAIN_REFUSALS=0
MERGE=0
REMOVE_AT=
INCREMENTAL_N=16
ORIG_ARGS=("$@")
while [[ $# -gt 0 ]]; do
    case $1 in
    --at) IFS=, read -r -a AT <<<"$2"; shift 2 ;;
    --prepare) PREPARE=1; shift ;;
    --compare) COMPARE+=("$2"); shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    --signal) RUN_OPTS+=(--signal "$2"); shift 2 ;;
    --no-background) RUN_OPTS+=(--no-background); shift ;;
    --stderr-once) STDERR_ONCE=$2; shift 2 ;;
    --at-bytes) AT_BYTES=$2; shift 2 ;;
    --stdin) STDIN=$2; shift 2 ;;
    --setup) SETUP=$2; shift 2 ;;
    --after) AFTER=$2; shift 2 ;;
    --no-starts-log) STARTS_LOG=0; shift ;;
    --reason) REASON=$2; shift 2 ;;
    --run-on) RUN_ON=$2; shift 2 ;;
    --conflict-lock) CONFLICT_LOCK=$2; shift 2 ;;
    --occupied-socket) OCCUPIED_SOCKET=$2; shift 2 ;;
    --client) CLIENT=$2; shift 2 ;;
    --expect) EXPECT+=("$2" "$3"); shift 3 ;;
    --expect-reference) EXPECT_REF+=("$2" "$3"); shift 3 ;;
    --interval) INTERVAL=$2; RUN_OPTS+=(--interval "$2"); shift 2 ;;
    --keep) KEEP=$2; RUN_OPTS+=(--keep "$2"); shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --threads) MIN_THREADS=$2; shift 2 ;;
    --thread-names) THREAD_NAMES=$2; shift 2 ;;
    --first-refused) FIRST_REFUSED=$2; shift 2 ;;
    --then-touch) THEN_TOUCH=$2; shift 2 ;;
    --restore-refused) RESTORE_REFUSED=$2; shift 2 ;;
    --stop-timeout) STOP_TIMEOUT=$2; RUN_OPTS+=(--stop-timeout "$2"); shift 2 ;;
    --incremental) INCREMENTAL_N=$2; RUN_OPTS+=("--incremental=$2"); shift 2 ;;
    --parents) PARENTS=$2; shift 2 ;;
    --chain-refusals) CHAIN_REFUSALS=1; shift ;;
    --merge) MERGE=1; shift ;;
    --remove-image-at) REMOVE_AT=$2; shift 2 ;;
    --stdin-pipe) STDIN_PIPE=1; STDIN=stdin.fifo; shift ;;
    --unprivileged) UNPRIV=1; shift ;;
    --lazy) RESTORE_OPTS=(--lazy); shift ;;
    --compress) COMPRESS=$2; RUN_OPTS+=("--compress=$2"); shift 2 ;;
    --vdso-proxy) export CKPT_TEST_VDSO_PROXY=1; shift ;;
    --place) export CKPT_TEST_PLACE=$2; shift 2 ;;
    --pagemap-entries) export CKPT_TEST_PAGEMAP=entries; shift ;;
    --inner) INNER=1; shift ;; # internal: we are the nobody half of --unprivileged
    --workdir) WORKDIR=$2; shift 2 ;; # internal
    --) shift; PROG_ARGS=("$@"); break ;;
    *) say "unknown option $1"; exit 2 ;;
    esac
done
case $KIND in
refuse) [[ -n $REASON ]] || { say "refuse needs --reason TEXT"; exit 2; } ;;&
basic | reboot | badinput | refuse | running | incremental) [[ ${#AT[@]} -ge 1 ]] || AT=(25) ;;
chain) [[ ${#AT[@]} -ge 3 ]] || { say "chain needs --at K1,K2,K3"; exit 2; } ;;
identity | exec) [[ ${#AT[@]} -ge 2 ]] || { say "$KIND needs --at K1,K2"; exit 2; } ;;
self) ;;
server) [[ -n $CLIENT ]] || { say "server needs --client SCRIPT"; exit 2; }
    COMPARE+=(client.out) ;;
interval) [[ -n $INTERVAL ]] || { say "interval needs --interval D"; exit 2; } ;;
*) say "unknown scenario kind $KIND"; exit 2 ;;
esac
require_tools "$BINDIR"
SCENARIO_SRC=$(cd "$(dirname "$0")" && pwd -P)
export SCENARIO_SRC
[[ -x $PROGRAM ]] || die "scenario program $PROGRAM is missing"

# ---------------------------------------------------------------------------------------
# --unprivileged as root: prepare a work directory for nobody and run ourselves as nobody.

if [[ $UNPRIV -eq 1 && $EUID -eq 0 && $INNER -eq 0 ]]; then
    W=$(mktemp -d /tmp/ckpt-scenario.XXXXXX)
    chmod 0700 "$W"
    # Tools and program: used in place when nobody can reach them, else copied in.
    if ! nobody_can_use "$BINDIR" "$PROGRAM"; then
        copy_tools "$BINDIR" "$W"
        mkdir -p "$W/tools/prog"
        cp "$PROGRAM" "$W/tools/prog/"
        if [[ -x $(dirname "$PROGRAM")/failing-syscall ]]; then
            cp "$(dirname "$PROGRAM")/failing-syscall" "$W/tools/prog/"
        fi
        BINDIR=$W/tools/bin
        PROGRAM=$W/tools/prog/$(basename "$PROGRAM")
        chmod -R a+rX "$W/tools"
    fi
    copy_driver "$W"
    if [[ -d $SCENARIO_SRC/programs ]]; then cp -r "$SCENARIO_SRC/programs" "$W/programs"; fi
    chmod -R a+rX "$W/programs" 2>/dev/null || true
    chown nobody:nogroup "$W"
    say "running as nobody:nogroup in $W"
    inner_pid=
    outer_cleanup() {
        local rc=$?
        [[ -n $inner_pid ]] && kill -TERM "$inner_pid" 2>/dev/null && sleep 1
        finish_workdir "$rc" "$W"
        exit "$rc"
    }
    trap outer_cleanup EXIT
    trap 'exit 143' TERM INT
    (cd "$W" && exec "${AS_NOBODY[@]}" bash "$W/run-scenario.sh" "$BINDIR" "$PROGRAM" "$KIND" \
        --inner --workdir "$W" "${ORIG_ARGS[@]}") &
    inner_pid=$!
    rc=0
    wait "$inner_pid" || rc=$?
    inner_pid=
    exit "$rc"
fi
if [[ $UNPRIV -eq 1 && $EUID -ne 0 && $INNER -eq 0 ]]; then
    say "already unprivileged (uid $EUID): running the scenario as is"
fi

# ---------------------------------------------------------------------------------------
# Work directory, process bookkeeping, failure reporting

OWN_WORKDIR=0
if [[ -z $WORKDIR ]]; then
    WORKDIR=$(mktemp -d /tmp/ckpt-scenario.XXXXXX)
    OWN_WORKDIR=1
fi
W=$(cd "$WORKDIR" && pwd -P)
REF=$W/ref          # cwd and output of the reference run
RUN=$W/run          # cwd and output of the checkpointed run (and of its restores)
IMGDIR=$W/img       # where checkpoint-run writes the image
ELSEWHERE=$W/elsewhere # cwd of restore-run
LOGS=$W/logs
mkdir -p "$REF" "$RUN" "$IMGDIR" "$ELSEWHERE" "$LOGS"
IMAGE=$IMGDIR/image.ckpt
export CKPT_SCENARIO_MARK="scenario-$KIND-mark"
STEP_TIMEOUT=40 # seconds for any single wait: a deadline, not a duration; a loaded 2-core runner has needed over 20 s to finish a restored sqlite3 run
NAME="$(basename "$PROGRAM") $KIND as uid $(id -u)"

# Processes are started through a helper subshell (launch) that waits for them: the helper
# exits normally with the process's status, so bash prints no "Killed" job notices.
declare -A LIVE=() # pid of a process we started -> pid of its helper, until reaped
REF_JOB= # the background reference run (reference_start), until reference_ready
cleanup() {
    local rc=$?
    local pid
    for pid in "${!LIVE[@]}"; do
        kill -KILL "$pid" "${LIVE[$pid]}" 2>/dev/null || true
    done
    # A reference run still going (the scenario failed early): its timeout passes TERM on.
    if [[ -n $REF_JOB ]]; then
        pkill -TERM -P "$REF_JOB" 2>/dev/null || true
        wait "$REF_JOB" 2>/dev/null || true
    fi
    finish_run "$rc" "$W" "$OWN_WORKDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 143' TERM INT

show() { # show FILE...: the tail of each non-empty file
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "----- ${f#"$W"/} (last lines) -----" >&2
        tail -n 15 "$f" | cut -c1-300 >&2
    done
}
on_die() { show "$RUN/err" "$LOGS"/*.err "$LOGS"/*.stderr; } # die's report

lines() { # lines FILE
    local n
    n=$(wc -l <"$1" 2>/dev/null) || n=0
    echo "$n"
}

# wait_exit PID WHAT: waits (with a timeout) for our child PID; sets STATUS.
STATUS=0
wait_exit() {
    local pid=$1 what=$2
    wait_until "$STEP_TIMEOUT" gone "$pid" || die "$what (pid $pid) did not finish within ${STEP_TIMEOUT}s"
    STATUS=0
    wait "${LIVE[$pid]}" || STATUS=$?
    unset "LIVE[$pid]"
}

# launch DIR OUT ERR COMMAND...: starts COMMAND in DIR with stdout OUT, stderr ERR and stdin
# /dev/null; sets LAUNCHED to its pid (COMMAND execs, so that is the pid of whatever it
# becomes). Its exit status is collected by wait_exit.
LAUNCHED=
LAUNCH_STDIN=/dev/null
launch() {
    local dir=$1 out=$2 err=$3 pidfile helper
    shift 3
    pidfile=$(mktemp "$LOGS/pid.XXXXXX")
    (
        (cd "$dir" && exec "$@" <"$LAUNCH_STDIN") >"$out" 2>"$err" &
        echo "$!" >"$pidfile"
        wait "$!"
    ) 2>/dev/null &
    helper=$!
    wait_until "$STEP_TIMEOUT" test -s "$pidfile" || die "could not start $*"
    LAUNCHED=$(<"$pidfile")
    rm -f "$pidfile"
    LIVE[$LAUNCHED]=$helper
}

bytes() { stat -c %s "$1" 2>/dev/null || echo 0; } # bytes FILE

# wait_for lines|bytes FILE N PID WHAT: waits until FILE has N lines (or bytes) while PID is
# alive.
wait_for() {
    local unit=$1 file=$2 want=$3 pid=$4 what=$5 deadline=$((SECONDS + STEP_TIMEOUT))
    while [[ $("$unit" "$file") -lt $want ]]; do
        if ! alive "$pid"; then
            wait_exit "$pid" "$what"
            die "$what exited with status $STATUS after $("$unit" "$file") $unit, before the $want $unit it was to be checkpointed at"
        fi
        [[ $SECONDS -lt $deadline ]] ||
            die "$what wrote only $("$unit" "$file") of $want $unit within ${STEP_TIMEOUT}s"
        sleep 0.01
    done
}
wait_lines() { wait_for lines "$@"; } # wait_lines FILE N PID WHAT

# wait_checkpoint_point PID WHAT: waits for the first checkpoint point (--at or --at-bytes).
wait_checkpoint_point() {
    if [[ -n $AT_BYTES ]]; then
        wait_for bytes "$RUN/out" "$AT_BYTES" "$1" "$2"
    else
        wait_lines "$RUN/out" "${AT[0]}" "$1" "$2"
    fi
}

max() { if [[ $1 -gt $2 ]]; then echo "$1"; else echo "$2"; fi; }

# ---------------------------------------------------------------------------------------
# The steps

# stdin_pipe DIR: DIR/stdin.fifo, held open for writing by a process of ours that never
# writes (so that a reader blocks, and sees no end of file).
stdin_pipe() {
    mkfifo "$1/stdin.fifo"
    (exec sleep 600 >"$1/stdin.fifo") 2>/dev/null &
    LIVE[$!]=$!
}

prepare_dir() {
    [[ $STDIN_PIPE -eq 0 ]] || stdin_pipe "$1"
    if [[ $PREPARE -eq 1 ]]; then
        (cd "$1" && "$PROGRAM" --prepare) || die "$PROGRAM --prepare failed in $1"
    fi
    if [[ -n $SETUP ]]; then
        (cd "$1" && bash -c "$SETUP") >"$LOGS/setup.out" 2>&1 ||
            die "--setup failed in $1: $(tail -n 3 "$LOGS/setup.out")"
    fi
}

stdin_of() { # stdin_of DIR: the program's stdin in DIR
    if [[ -n $STDIN ]]; then echo "$1/$STDIN"; else echo /dev/null; fi
}

after_run() { # after_run DIR: --after's output into DIR/after.out
    [[ -n $AFTER ]] || return 0
    (cd "$1" && bash -c "$AFTER") >"$1/after.out" 2>&1 || die "--after failed in $1: $(tail -n 3 "$1/after.out")"
}

# client DIR PHASE: the --client script's PHASE against the program running in DIR (its
# errors in DIR's client.err: the reference run's client runs beside the other).
client() {
    (cd "$1" && exec timeout "$STEP_TIMEOUT" "$CLIENT" "$2") >>"$1/client.out" 2>>"$1/client.err" ||
        die "--client $2 failed in ${1#"$W"/}: $(tail -n 3 "$1/client.err")"
}

# The uninterrupted run goes on in the background while the checkpointed one runs (most
# programs pace themselves, so this halves a scenario's time); what needs its results calls
# reference_ready first. The background run's failure is reported there.
REF_STATUS=0
reference_start() {
    (reference_run && echo "$REF_STATUS" >"$LOGS/reference.status") >"$LOGS/reference.log" 2>&1 &
    REF_JOB=$!
}
reference_ready() {
    [[ -n $REF_JOB ]] || return 0
    local rc=0
    wait "$REF_JOB" || rc=$?
    REF_JOB=
    cat "$LOGS/reference.log" >&2
    [[ $rc -eq 0 && -s $LOGS/reference.status ]] || die "the reference run failed (status $rc)"
    REF_STATUS=$(<"$LOGS/reference.status")
}
reference_run() {
    if [[ $KIND == server ]]; then
        server_reference_run
        return
    fi
    prepare_dir "$REF"
    REF_STATUS=0
    (cd "$REF" && exec timeout 30 "$PROGRAM" "${PROG_ARGS[@]}") \
        >"$REF/out" 2>"$REF/err" <"$(stdin_of "$REF")" || REF_STATUS=$?
    [[ $REF_STATUS -ne 124 ]] || die "the reference run timed out"
    [[ $STARTS_LOG -eq 0 || $(lines "$REF/starts.log") -eq 1 ]] ||
        die "the reference run did not write starts.log"
    after_run "$REF"
    grep -q '^FAILED' "$REF/out" && die "the reference run itself failed: $(grep -m1 '^FAILED' "$REF/out")"
    [[ -s $REF/out ]] || die "the reference run printed nothing"
    say "reference run: $(lines "$REF/out") lines, exit status $REF_STATUS"
}

server_reference_run() {
    prepare_dir "$REF"
    launch "$REF" "$REF/out" "$REF/err" "$PROGRAM" "${PROG_ARGS[@]}"
    local pid=$LAUNCHED phase
    for phase in ready before ready after stop; do client "$REF" "$phase"; done
    wait_exit "$pid" "the reference run"
    REF_STATUS=$STATUS
    [[ -s $REF/client.out ]] || die "the client of the reference run printed nothing"
    say "reference run: the client printed $(lines "$REF/client.out") lines, exit status $REF_STATUS"
}

ORIG_PID=
HOLD=0 # 1: ./hold exists in the run's directory until the driver removes it (scenario_hold)
start_original() {
    prepare_dir "$RUN"
    [[ $HOLD -eq 0 ]] || : >"$RUN/hold"
    LAUNCH_STDIN=$(stdin_of "$RUN")
    launch "$RUN" "$RUN/out" "$RUN/err" \
        "$BINDIR/checkpoint-run" --image "$IMAGE" "${RUN_OPTS[@]}" -- "$PROGRAM" "${PROG_ARGS[@]}"
    LAUNCH_STDIN=/dev/null
    ORIG_PID=$LAUNCHED
    say "started $(basename "$PROGRAM") under checkpoint-run, pid $ORIG_PID"
}

# checkpoint_kill PID TAG: checkpoint with --kill, check the process is gone, keep a copy of
# the image as $IMGDIR/TAG.ckpt. Sets KILLED_AT (stdout lines when the process was dead).
KILLED_AT=0
checkpoint_kill() {
    local pid=$1 tag=$2 rc=0
    rm -f "$IMAGE"
    timeout 60 "$BINDIR/ckpt" checkpoint "$pid" --kill --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-$tag.out" 2>"$LOGS/ckpt-$tag.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $pid --kill ($tag) exited with status $rc"
    alive "$pid" && die "ckpt checkpoint --kill returned but pid $pid is still alive"
    after_kill "$pid" "$tag"
}

# checkpoint_run_on PID TAG: checkpoint without killing, wait for --run-on more lines of
# output, then SIGKILL.
checkpoint_run_on() {
    local pid=$1 tag=$2 rc=0 at
    rm -f "$IMAGE"
    timeout 60 "$BINDIR/ckpt" checkpoint "$pid" --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-$tag.out" 2>"$LOGS/ckpt-$tag.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $pid ($tag) exited with status $rc"
    at=$(lines "$RUN/out")
    wait_lines "$RUN/out" $((at + RUN_ON)) "$pid" "the original after its checkpoint"
    kill -KILL "$pid"
    after_kill "$pid" "$tag"
}

after_kill() { # after_kill PID TAG: the common part of the two above
    local pid=$1 tag=$2
    wait_exit "$pid" "the checkpointed process"
    [[ $STATUS -eq 137 ]] ||
        die "the checkpointed process was to die of SIGKILL (status 137) but exited with status $STATUS (finished before the kill? checkpoint too slow?)"
    KILLED_AT=$(lines "$RUN/out")
    [[ -s $IMAGE ]] || die "ckpt checkpoint succeeded but there is no image at $IMAGE"
    cp "$IMAGE" "$IMGDIR/$tag.ckpt"
    checkpoint_position "$tag"
    [[ -z $COMPRESS ]] || check_compressed "$tag"
    say "checkpoint $tag: $(stat -c %s "$IMAGE") bytes, taken at line $CKPT_LINE, process killed after $KILLED_AT lines"
}

# checkpoint_position TAG: where stdout stood in the image (fd 1's offset) tells which line
# the checkpoint was taken at; with --before, that must be before the line with TEXT.
CKPT_LINE=
checkpoint_position() {
    local tag=$1 offset
    inspect "$tag"
    offset=$(json_number "$tag" '[.fds[] | select(.fd == 1) | .offset][0]' \
        '{[^{}]*"fd":1[,}][^{}]*}' offset)
    [[ -n $offset ]] || die "ckpt inspect --json of $tag shows no offset for descriptor 1"
    reference_ready
    CKPT_LINE=$(head -c "$offset" "$REF/out" | wc -l)
    if [[ -n $BEFORE && $tag == gen1 ]] && head -c "$offset" "$REF/out" | grep -F -- "$BEFORE" >/dev/null; then
        die "the checkpoint came too late (at line $CKPT_LINE, after '$BEFORE'): it proves nothing (checkpoint too slow?)"
    fi
}

# inspect TAG: ckpt inspect --json of $IMGDIR/TAG.ckpt into $LOGS/TAG.json (compacted).
inspect() {
    local tag=$1 rc=0
    "$BINDIR/ckpt" inspect "$IMGDIR/$tag.ckpt" --json >"$LOGS/$tag.json.raw" 2>"$LOGS/inspect-$tag.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt inspect $IMGDIR/$tag.ckpt --json exited with status $rc"
    tr -d '[:space:]' <"$LOGS/$tag.json.raw" >"$LOGS/$tag.json"
}

# check_generation TAG N: the image header says generation N.
check_generation() {
    local tag=$1 want=$2 got
    inspect "$tag"
    if command -v jq >/dev/null; then
        got=$(jq -r '.header.generation // empty' "$LOGS/$tag.json")
    else
        got=$(grep -o '"generation":[0-9]*' "$LOGS/$tag.json" | head -n1 | cut -d: -f2)
    fi
    if [[ -z $got ]]; then
        say "note: ckpt inspect --json shows no header.generation; not checked"
        return
    fi
    [[ $got -eq $want ]] || die "image $tag has generation $got, expected $want"
    say "image $tag has generation $got"
}

# check_compressed TAG (--compress): ckpt verify (which decompresses the runs) passes; with
# LEVEL,all the image holds page runs stored as zstd frames, in fewer bytes than their pages.
check_compressed() {
    local tag=$1 runs pages stored
    runs=$(json_number "$tag" '.compression.runs' '"compression":{[^}]*}' runs)
    pages=$(json_number "$tag" '.compression.page_bytes' '"compression":{[^}]*}' page_bytes)
    stored=$(json_number "$tag" '.compression.stored_bytes' '"compression":{[^}]*}' stored_bytes)
    if [[ $COMPRESS == *,all ]]; then
        [[ -n $runs && $runs -gt 0 ]] || die "image $tag (--compress $COMPRESS) holds no compressed page runs"
        [[ $stored -lt $pages ]] || die "image $tag: compressed runs take $stored bytes for $pages bytes of pages"
    fi
    "$BINDIR/ckpt" verify "$IMGDIR/$tag.ckpt" >"$LOGS/verify-$tag.out" 2>&1 ||
        die "ckpt verify of the compressed image $tag: $(cat "$LOGS/verify-$tag.out")"
    say "image $tag: $runs compressed page runs, $pages bytes of pages in $stored bytes; ckpt verify ok"
}

# lazy_refused_for_compressed IMAGE (--compress with --lazy): restore-run --lazy refuses a
# compressed image by name, before it changes anything (the program's output is as it was).
lazy_refused_for_compressed() {
    local image=$1 before after rc=0
    before=$(lines "$RUN/out")
    (cd "$ELSEWHERE" && "$BINDIR/restore-run" --lazy -- "$image") </dev/null \
        >"$LOGS/lazy-refused.out" 2>"$LOGS/lazy-refused.err" || rc=$?
    [[ $rc -ne 0 ]] || die "restore-run --lazy restored a compressed image"
    grep -q "compressed (checkpoint-run --compress): restore it without --lazy" "$LOGS/lazy-refused.err" ||
        die "restore-run --lazy refused the compressed image without saying why: $(cat "$LOGS/lazy-refused.err")"
    after=$(lines "$RUN/out")
    [[ $before -eq $after ]] || die "the refused restore-run --lazy changed the output ($before lines, then $after)"
    say "restore-run --lazy refused the compressed image: $(tail -n1 "$LOGS/lazy-refused.err")"
}

RESTORE_PID=
RESTORES=0
restore() { # restore IMAGE: start restore-run from another directory
    if [[ -n $COMPRESS && ${RESTORE_OPTS[*]} == --lazy ]]; then
        lazy_refused_for_compressed "$1"
        RESTORE_OPTS=()
    fi
    RESTORES=$((RESTORES + 1))
    # --stdin-pipe: the restored program reads a pipe again, which nobody writes to either.
    if [[ $STDIN_PIPE -eq 1 ]]; then
        [[ -p $ELSEWHERE/stdin.fifo ]] || stdin_pipe "$ELSEWHERE"
        LAUNCH_STDIN=$ELSEWHERE/stdin.fifo
    fi
    launch "$ELSEWHERE" "$LOGS/restore-$RESTORES.stdout" "$LOGS/restore-$RESTORES.stderr" \
        "$BINDIR/restore-run" "${RESTORE_OPTS[@]}" -- "$1"
    LAUNCH_STDIN=/dev/null
    RESTORE_PID=$LAUNCHED
    say "restore $RESTORES: restore-run $(basename "$1") from $ELSEWHERE, pid $RESTORE_PID"
}

compare_outputs() { # compare_outputs STATUS WHAT
    local status=$1 what=$2 f extra=()
    reference_ready
    after_run "$RUN"
    [[ -n $AFTER ]] && extra=(after.out)
    for f in out "${COMPARE[@]}" "${extra[@]}"; do
        [[ -e $RUN/$f ]] || die "$what: $f does not exist"
        if ! cmp -s "$REF/$f" "$RUN/$f"; then
            say "FAIL: $NAME: $what: $f differs from the uninterrupted run:"
            diff -u "$REF/$f" "$RUN/$f" | head -n 40 >&2 || true
            die "$what: $f differs from the uninterrupted run ($(lines "$REF/$f") lines expected, $(lines "$RUN/$f") lines got)"
        fi
    done
    [[ $status -eq $REF_STATUS ]] ||
        die "$what: exit status $status, the uninterrupted run exited with $REF_STATUS"
    local starts=1
    [[ $STARTS_LOG -eq 0 ]] || starts=$(lines "$RUN/starts.log")
    [[ $starts -eq 1 ]] ||
        die "$what: the program started $starts times (run/starts.log): a restore ran it from the beginning instead of continuing it"
    if [[ -n $STDERR_ONCE ]]; then
        local seen
        seen=$(grep -cF -- "$STDERR_ONCE" "$RUN/err" || true)
        [[ $seen -eq 1 ]] ||
            die "$what: the program's stderr has \"$STDERR_ONCE\" $seen times, expected once"
    fi
    say "$what: output identical to the uninterrupted run ($(lines "$RUN/out") lines, $(stat -c %s "$RUN/out") bytes${COMPARE[*]:+, plus ${COMPARE[*]}}${AFTER:+, plus the output of --after}), exit status $status"
}

# ---------------------------------------------------------------------------------------
# Scenario kinds

scenario_basic() {
    start_original
    wait_checkpoint_point "$ORIG_PID" "the original"
    if [[ -n $RUN_ON ]]; then
        checkpoint_run_on "$ORIG_PID" gen1
    else
        checkpoint_kill "$ORIG_PID" gen1
    fi
    [[ -z $CONFLICT_LOCK ]] || refused_while_locked "$IMGDIR/gen1.ckpt"
    [[ -z $OCCUPIED_SOCKET ]] || refused_while_occupied "$IMGDIR/gen1.ckpt"
    restore "$IMGDIR/gen1.ckpt"
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "after restore"
    expect_files "$REF" "${EXPECT_REF[@]}"
    expect_files "$RUN" "${EXPECT[@]}"
}

scenario_server() {
    start_original
    client "$RUN" ready
    client "$RUN" before
    checkpoint_kill "$ORIG_PID" gen1
    restore "$IMGDIR/gen1.ckpt"
    client "$RUN" ready
    client "$RUN" after
    client "$RUN" stop
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "after restore"
}

scenario_chain() {
    start_original
    local pid=$ORIG_PID what="the original" gen
    for gen in 1 2 3; do
        wait_lines "$RUN/out" "$(max "${AT[gen - 1]}" $((KILLED_AT + 2)))" "$pid" "$what"
        checkpoint_kill "$pid" "gen$gen"
        check_generation "gen$gen" "$gen"
        restore "$IMGDIR/gen$gen.ckpt"
        pid=$RESTORE_PID
        what="the process restored from generation $gen"
    done
    wait_exit "$pid" "$what"
    compare_outputs "$STATUS" "after three generations"
}

scenario_reboot() {
    local ns=(unshare --pid --fork --mount-proc --kill-child)
    if [[ $EUID -ne 0 ]]; then
        ns=(unshare --user --map-root-user --pid --fork --mount-proc --kill-child)
    fi
    # The only skip in the suite: a container that forbids new pid (or, unprivileged, user)
    # namespaces cannot give the restored process another pid; the other scenarios still
    # restore across processes. It does not skip on Debian 12 or in CI (checked there).
    "${ns[@]}" true >/dev/null 2>&1 || skip "cannot create namespaces here: ${ns[*]} true failed"

    start_original
    wait_lines "$RUN/out" "${AT[0]}" "$ORIG_PID" "the original"
    checkpoint_kill "$ORIG_PID" gen1
    kill -0 "$ORIG_PID" 2>/dev/null && die "the original (pid $ORIG_PID) still exists"
    # The image moves to another directory; restore-run runs from a third one, as pid 2 or so
    # of a fresh pid namespace (bash is its pid 1).
    mkdir -p "$W/moved"
    mv "$IMGDIR/gen1.ckpt" "$W/moved/image.ckpt"
    rm -f "$IMAGE"
    RESTORES=$((RESTORES + 1))
    # shellcheck disable=SC2016  # expanded by the inner bash
    launch "$ELSEWHERE" "$LOGS/restore-$RESTORES.stdout" "$LOGS/restore-$RESTORES.stderr" \
        "${ns[@]}" bash -c '"$1" -- "$2" & echo "$!" >"$3"; wait "$!"' \
        bash "$BINDIR/restore-run" "$W/moved/image.ckpt" "$LOGS/ns.pid"
    local pid=$LAUNCHED
    say "restore in a new pid namespace: ${ns[*]}"
    wait_exit "$pid" "the restored process (in its namespace)"
    local status=$STATUS ns_pid
    ns_pid=$(cat "$LOGS/ns.pid" 2>/dev/null) || die "no pid recorded inside the namespace"
    [[ $ns_pid -ne $ORIG_PID ]] || die "the restored process has the original's pid $ns_pid"
    say "restored process had pid $ns_pid in its namespace (original: $ORIG_PID)"
    compare_outputs "$status" "after restore in a new pid namespace"
    # Programs that note their pid on stderr at the end (counter) must see the new one.
    if grep -q 'finished pid' "$RUN/err"; then
        grep -q "finished pid $ns_pid\$" "$RUN/err" ||
            die "the restored process did not see its new pid $ns_pid: $(grep 'finished pid' "$RUN/err")"
    fi
}

scenario_identity() {
    start_original
    wait_lines "$RUN/out" "${AT[0]}" "$ORIG_PID" "the original"
    local f
    for f in cmdline environ comm; do
        cat "/proc/$ORIG_PID/$f" >"$LOGS/original.$f" || die "cannot read /proc/$ORIG_PID/$f"
    done
    checkpoint_kill "$ORIG_PID" gen1
    restore "$IMGDIR/gen1.ckpt"
    local pid=$RESTORE_PID
    # Wait until the restored program (not restore-run) has written new lines.
    wait_lines "$RUN/out" "$(max "${AT[1]}" $((KILLED_AT + 2)))" "$pid" "the restored process"
    for f in cmdline environ comm; do
        cat "/proc/$pid/$f" >"$LOGS/restored.$f" || die "cannot read /proc/$pid/$f"
        if ! cmp -s "$LOGS/original.$f" "$LOGS/restored.$f"; then
            say "original /proc/PID/$f:"; tr '\0' '\n' <"$LOGS/original.$f" | head -n 20 >&2
            say "restored /proc/PID/$f:"; tr '\0' '\n' <"$LOGS/restored.$f" | head -n 20 >&2
            die "/proc/$pid/$f of the restored process differs from the original's"
        fi
    done
    say "restored /proc/PID/{cmdline,environ,comm} equal the original's (comm: $(cat "$LOGS/restored.comm"))"

    # Checkpoint the restored process, without killing it.
    local rc=0
    rm -f "$IMAGE"
    timeout 60 "$BINDIR/ckpt" checkpoint "$pid" --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-gen2.out" 2>"$LOGS/ckpt-gen2.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $pid (the restored process) exited with status $rc"
    [[ -s $IMAGE ]] || die "ckpt checkpoint of the restored process left no image at $IMAGE"
    cp "$IMAGE" "$IMGDIR/gen2.ckpt"
    check_generation gen2 2
    say "checkpointed the restored process (pid $pid) without killing it"
    wait_exit "$pid" "the restored process"
    compare_outputs "$STATUS" "after restore and a second checkpoint"

    # The image of the restored process restores as well (its output is cut back and redone).
    restore "$IMGDIR/gen2.ckpt"
    wait_exit "$RESTORE_PID" "the process restored from the second image"
    compare_outputs "$STATUS" "after restoring the restored process's image"
}

scenario_exec() {
    start_original
    wait_lines "$RUN/out" "${AT[0]}" "$ORIG_PID" "the original"
    local rc=0
    timeout 60 "$BINDIR/ckpt" checkpoint "$ORIG_PID" --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-gen1.out" 2>"$LOGS/ckpt-gen1.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $ORIG_PID (before the exec) exited with status $rc"
    say "checkpointed the program before its exec (pid $ORIG_PID) without killing it"
    wait_lines "$RUN/out" "${AT[1]}" "$ORIG_PID" "the program after its exec"
    checkpoint_kill "$ORIG_PID" gen2
    restore "$IMGDIR/gen2.ckpt"
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "after an exec and a restore"
}

# badinput: each damaged input must be refused, with a message naming the problem, and leave
# every file the program had open exactly as it was.
# BAD_WRAP: a command restore-run runs under (failing-syscall), if any.
BAD_WRAP=()
bad_case() { # bad_case NAME IMAGE KEYWORD
    local name=$1 image=$2 keyword=$3 rc=0 f
    mkdir -p "$W/snap/$name"
    for f in out err "${COMPARE[@]}"; do cp "$RUN/$f" "$W/snap/$name/$f"; done
    (cd "$ELSEWHERE" && exec timeout "$STEP_TIMEOUT" "${BAD_WRAP[@]}" "$BINDIR/restore-run" -- "$image") \
        >"$LOGS/bad-$name.stdout" 2>"$LOGS/bad-$name.stderr" </dev/null || rc=$?
    [[ $rc -ne 0 ]] || die "bad input '$name': restore-run exited 0 (it restored the process?)"
    [[ $rc -ne 124 ]] || die "bad input '$name': restore-run hung"
    [[ $rc -lt 124 ]] || die "bad input '$name': restore-run died with status $rc (a crash, not a refusal)"
    grep -qF "restore-run: $image:" "$LOGS/bad-$name.stderr" ||
        die "bad input '$name': stderr lacks 'restore-run: $image:'"
    grep -qiF -- "$keyword" "$LOGS/bad-$name.stderr" ||
        die "bad input '$name': stderr does not mention '$keyword'"
    sleep 0.3 # a process that went on anyway would write more
    for f in out err "${COMPARE[@]}"; do
        cmp -s "$W/snap/$name/$f" "$RUN/$f" || die "bad input '$name': restore-run changed $f"
    done
    say "bad input '$name' refused (status $rc): $(head -n1 "$LOGS/bad-$name.stderr")"
}

# refused_while_locked IMAGE: with a perl process holding a POSIX read lock on all of
# --conflict-lock FILE, restore-run refuses (naming the conflict) and changes nothing.
refused_while_locked() {
    local image=$1 file=$RUN/$CONFLICT_LOCK holder deadline=$((SECONDS + STEP_TIMEOUT))
    # struct flock on x86_64: short type, short whence, (pad), off_t start, off_t len, pid
    perl -e 'use Fcntl; open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!";
        my $lk = pack("s s x4 q q i x4", F_RDLCK, 0, 0, 0, 0);
        fcntl($f, F_SETLK, $lk) or die "lock: $!";
        open(my $o, ">", $ARGV[1]) or die; close($o); sleep 60' "$file" "$LOGS/locked" \
        2>"$LOGS/lock-holder.err" &
    holder=$!
    until [[ -e $LOGS/locked ]]; do
        kill -0 "$holder" 2>/dev/null || die "the lock holder failed: $(cat "$LOGS/lock-holder.err")"
        [[ $SECONDS -lt $deadline ]] || die "the lock holder did not lock $file"
        sleep 0.01
    done
    bad_case lock-conflict "$image" "conflicts with the write lock"
    kill "$holder"
    wait "$holder" 2>/dev/null || true
}

# refused_while_occupied IMAGE: whatever is at --occupied-socket NAME but a stale socket
# refuses the restore, naming what it is, and stays as it was; the stale socket comes back.
# live_listener NAME: a python3 process listening at NAME (a path, or @name: abstract) until
# killed; sets HOLDER.
HOLDER=
live_listener() {
    local deadline=$((SECONDS + STEP_TIMEOUT))
    rm -f "$LOGS/listening"
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
name = sys.argv[1]
s.bind("\0" + name[1:] if name.startswith("@") else name)
s.listen(8); open(sys.argv[2], "w").close(); time.sleep(60)' \
        "$1" "$LOGS/listening" 2>"$LOGS/listener.err" &
    HOLDER=$!
    until [[ -e $LOGS/listening ]]; do
        kill -0 "$HOLDER" 2>/dev/null || die "the live listener failed: $(cat "$LOGS/listener.err")"
        [[ $SECONDS -lt $deadline ]] || die "the live listener did not bind $1"
        sleep 0.01
    done
}

stop_listener() {
    kill -0 "$HOLDER" 2>/dev/null || die "the live listener died during the refused restore"
    kill "$HOLDER"
    wait "$HOLDER" 2>/dev/null || true
}

refused_while_occupied() {
    local image=$1 path=$RUN/$OCCUPIED_SOCKET ino
    if [[ $OCCUPIED_SOCKET == @* ]]; then
        live_listener "@$(stat -c "${OCCUPIED_SOCKET#@}" "$RUN")"
        bad_case abstract-name-taken "$image" "another socket is bound to it"
        stop_listener
        return
    fi
    [[ -S $path ]] || die "--occupied-socket: $path is not a socket file after the kill"
    grep -qF '"state":"listening","name":"'"$path"'","namespace":"path","backlog":5000' "$LOGS/gen1.json" ||
        die "ckpt inspect --json of the image does not show the listener at $path with the backlog it asked (5000)"
    mv "$path" "$path.stale"
    echo "someone's data" >"$path"
    bad_case socket-path-regular-file "$image" "where there is now a regular file"
    [[ $(cat "$path") == "someone's data" ]] || die "the regular file at $path was changed"
    rm "$path"
    ln -s "$path.stale" "$path"
    bad_case socket-path-symlink "$image" "where there is now a symbolic link"
    [[ -L $path ]] || die "the symbolic link at $path was changed"
    rm "$path"
    mkdir "$path"
    bad_case socket-path-directory "$image" "where there is now a directory"
    rmdir "$path"
    mkfifo "$path"
    bad_case socket-path-fifo "$image" "where there is now a FIFO"
    rm "$path"
    live_listener "$path"
    ino=$(stat -c %i "$path")
    bad_case socket-path-live-listener "$image" "where a live socket is"
    [[ $(stat -c %i "$path") == "$ino" ]] || die "the live listener's socket file was replaced"
    stop_listener
    rm "$path"
    mv "$path.stale" "$path"
    if [[ $EUID -ne 0 ]]; then # a directory restore-run cannot write (root could)
        chmod u-w "$RUN"
        bad_case socket-directory-not-writable "$image" "cannot make the socket file"
        chmod u+w "$RUN"
    fi
    # listen(2) failing once the path is bound: the new socket file goes, the stale comes back.
    ino=$(stat -c %i "$path")
    BAD_WRAP=("$(dirname "$PROGRAM")/failing-syscall" listen --)
    bad_case socket-listen-fails "$image" "listening at $path"
    BAD_WRAP=()
    [[ -S $path && $(stat -c %i "$path") == "$ino" ]] ||
        die "after the failed listen, $path is not the stale socket file it was"
    [[ -z $(find "$RUN" -name '.ckpt-stale-socket.*') ]] || die "a stale socket put aside was left"
    # ckpt verify takes the stale socket for one restore-run would replace, and changes nothing.
    "$BINDIR/ckpt" verify "$image" >"$LOGS/verify-stale.out" 2>&1 ||
        die "ckpt verify refused the image with a stale socket at $path: $(tail -n 2 "$LOGS/verify-stale.out")"
    [[ -S $path && $(stat -c %i "$path") == "$ino" ]] || die "ckpt verify changed $path"
    say "the stale socket file is back at $path: the restore is to replace it"
}

flip_byte() { # flip_byte FILE OFFSET
    local v
    v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    [[ -n $v ]] || die "cannot read byte $2 of $1"
    # shellcheck disable=SC2059  # the format is the octal escape
    printf "\\$(printf '%03o' $((v ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

json_number() { # json_number TAG JQ-FILTER GREP-FALLBACK-REGEX KEY
    local json=$LOGS/$1.json
    if command -v jq >/dev/null; then
        jq -r "$2 // empty" "$json"
    else
        grep -o "$3" "$json" | head -n1 | grep -o "\"$4\":[0-9]*" | head -n1 | cut -d: -f2
    fi
}

scenario_badinput() {
    start_original
    wait_lines "$RUN/out" "${AT[0]}" "$ORIG_PID" "the original"
    checkpoint_kill "$ORIG_PID" gen1
    inspect gen1
    local good=$IMGDIR/gen1.ckpt size bad off input logfile logsize
    size=$(stat -c %s "$good")

    bad=$IMGDIR/truncated.ckpt
    head -c $((size / 2)) "$good" >"$bad"
    bad_case truncated "$bad" truncated

    off=$(json_number gen1 '[.regions[] | select(.kind == "stack") | .runs[]][0].file_offset' \
        '"runs":\[{[^}]*}' file_offset)
    [[ -n $off ]] || die "no run with a file_offset in ckpt inspect --json"
    bad=$IMGDIR/flipped.ckpt
    cp "$good" "$bad"
    flip_byte "$bad" $((off + 100))
    bad_case checksum "$bad" checksum

    bad=$IMGDIR/magic.ckpt
    cp "$good" "$bad"
    printf 'X' | dd of="$bad" bs=1 seek=0 conv=notrunc status=none
    bad_case magic "$bad" magic

    bad_case no-image "$IMGDIR/does-not-exist.ckpt" "$IMGDIR/does-not-exist.ckpt"

    if [[ $PREPARE -eq 1 ]]; then # the program reads input.txt (files)
        input=$RUN/input.txt
        mv "$input" "$input.away"
        bad_case missing-file "$good" "$input"
        mv "$input.away" "$input"
    fi

    if [[ ${#COMPARE[@]} -ge 1 ]]; then # the program writes COMPARE[0] (files: files.log)
        logfile=$RUN/${COMPARE[0]}
        logsize=$(json_number gen1 "[.fds[] | select(.path == \"$logfile\") | .size][0]" \
            "{[^{}]*\"path\":\"$logfile\"[^{}]*}" size)
        [[ -n $logsize && $logsize -gt 0 ]] || die "no descriptor for $logfile in ckpt inspect --json"
        cp "$logfile" "$W/snap/log.full"
        truncate -s $((logsize / 2)) "$logfile"
        bad_case shorter "$good" shorter
        cat "$W/snap/log.full" >"$logfile" # same inode, full contents again
    fi

    # Nothing was harmed: the intact image restores and finishes like the reference.
    restore "$good"
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "restore of the intact image after the refusals"
}

# refuse: a program with state ckpt cannot restore is refused at checkpoint time, with a
# message naming the reason; no image appears and the program runs on undisturbed.
scenario_refuse() {
    start_original
    wait_checkpoint_point "$ORIG_PID" "the original"
    local rc=0
    rm -f "$IMAGE"
    timeout 60 "$BINDIR/ckpt" checkpoint "$ORIG_PID" --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-refused.out" 2>"$LOGS/ckpt-refused.err" || rc=$?
    [[ $rc -ne 0 ]] || die "ckpt checkpoint $ORIG_PID succeeded; it was to refuse ($REASON)"
    [[ $rc -lt 124 ]] || die "ckpt checkpoint $ORIG_PID died or hung (status $rc) instead of refusing"
    grep -qF -- "$REASON" "$LOGS/ckpt-refused.err" ||
        die "ckpt checkpoint's message does not name '$REASON': $(head -n 2 "$LOGS/ckpt-refused.err")"
    [[ ! -e $IMAGE ]] || die "the refused checkpoint left an image at $IMAGE"
    local leftovers
    leftovers=$(find "$IMGDIR" -name '*.tmp.*' | head -n 1)
    [[ -z $leftovers ]] || die "the refused checkpoint left a temporary file $leftovers"
    say "refused (status $rc): $(head -n 1 "$LOGS/ckpt-refused.err")"
    wait_exit "$ORIG_PID" "the program after the refused checkpoint"
    compare_outputs "$STATUS" "after the refused checkpoint"
}

# expect_files DIR FILE EXPECTED...: each FILE in DIR must equal its EXPECTED.
expect_files() {
    local dir=$1
    shift
    while [[ $# -ge 2 ]]; do
        if ! cmp -s "$2" "$dir/$1"; then
            diff -u "$2" "$dir/$1" | head -n 40 >&2 || true
            die "${dir#"$W"/}/$1 is not what $(basename "$2") expects"
        fi
        say "${dir#"$W"/}/$1 is as expected ($(lines "$2") lines)"
        shift 2
    done
}

# self: the program takes its own checkpoints (ckpt_checkpoint) and kills itself after the
# last one; the image it made durable is verified and restored from another directory.
scenario_self() {
    reference_ready
    expect_files "$REF" "${EXPECT_REF[@]}"
    start_original
    wait_exit "$ORIG_PID" "the original"
    [[ $STATUS -eq 137 ]] ||
        die "the original was to kill itself after its checkpoint (status 137), exit status $STATUS"
    [[ -s $IMAGE ]] || die "the program's checkpoint left no image at $IMAGE"
    cp "$IMAGE" "$IMGDIR/self.ckpt"
    "$BINDIR/ckpt" verify "$IMGDIR/self.ckpt" >"$LOGS/verify.out" 2>&1 ||
        die "ckpt verify of the image ckpt_checkpoint made: $(cat "$LOGS/verify.out")"
    restore "$IMGDIR/self.ckpt"
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "after restore"
    expect_files "$RUN" "${EXPECT[@]}"
}

# generation_of IMAGE: the generation in its header (ckpt inspect --json), or empty.
generation_of() {
    "$BINDIR/ckpt" inspect "$1" --json 2>/dev/null | grep -o '"generation":[0-9]*' | head -n1 |
        cut -d: -f2
}

# wait_generation PID ABOVE WHAT: waits until $IMAGE's generation is above ABOVE while PID
# lives; sets GEN. Every image seen on the way must verify.
GEN=0
wait_generation() {
    local pid=$1 above=$2 what=$3 deadline=$((SECONDS + STEP_TIMEOUT)) g
    while :; do
        alive "$pid" || die "$what ended before its image reached generation $((above + 1))"
        [[ $SECONDS -lt $deadline ]] || die "$what wrote no generation above $above within ${STEP_TIMEOUT}s"
        if [[ -s $IMAGE ]] && cp "$IMAGE" "$LOGS/seen.ckpt" 2>/dev/null; then
            g=$(generation_of "$LOGS/seen.ckpt")
            if [[ -n $g && $g -gt $above ]]; then
                "$BINDIR/ckpt" verify "$LOGS/seen.ckpt" >"$LOGS/verify.out" 2>&1 ||
                    die "generation $g of $what does not verify: $(cat "$LOGS/verify.out")"
                GEN=$g
                return
            fi
        fi
        sleep 0.05
    done
}

# interval: checkpoint-run --interval: generations come by themselves, --keep N images are
# kept, and the restored process goes on checkpointing at the same interval.
scenario_interval() {
    start_original
    wait_generation "$ORIG_PID" 0 "the original"
    local first=$GEN
    wait_generation "$ORIG_PID" $((KEEP > first ? KEEP : first)) "the original"
    say "the original wrote generations $first .. $GEN by itself"
    kill -KILL "$ORIG_PID"
    wait_exit "$ORIG_PID" "the original"
    local kept
    kept=$(find "$IMGDIR" -maxdepth 1 -name 'image.ckpt*' ! -name '*.status' ! -name '*.tmp.*' | wc -l)
    [[ $kept -eq $KEEP ]] || die "--keep $KEEP kept $kept images: $(ls "$IMGDIR")"
    local i
    for ((i = 1; i < KEEP; i++)); do
        "$BINDIR/ckpt" verify "$IMAGE.$i" >"$LOGS/verify.out" 2>&1 ||
            die "$IMAGE.$i does not verify: $(cat "$LOGS/verify.out")"
    done
    cp "$IMAGE" "$IMGDIR/last.ckpt"
    local restored_gen
    restored_gen=$(generation_of "$IMGDIR/last.ckpt")
    restore "$IMGDIR/last.ckpt"
    wait_generation "$RESTORE_PID" "$restored_gen" "the restored process"
    say "the process restored from generation $restored_gen wrote generation $GEN by itself"
    wait_exit "$RESTORE_PID" "the restored process"
    compare_outputs "$STATUS" "after restore"
}

# inspect_threads TAG: the text of ckpt inspect lists every thread with its tid, name, where
# it stood and its state; at least --threads of them, and the --thread-names among them.
inspect_threads() {
    local tag=$1 text=$LOGS/$1.inspect n name
    "$BINDIR/ckpt" inspect "$IMGDIR/$tag.ckpt" >"$text" 2>"$LOGS/inspect-$tag.err" ||
        die "ckpt inspect $IMGDIR/$tag.ckpt exited with status $?"
    n=$(grep -c '^thread [0-9][0-9]* .*"' "$text" || true)
    [[ $n -ge $MIN_THREADS && $n -ge 1 ]] || die "image $tag lists $n threads, at least $MIN_THREADS expected"
    [[ $(grep -c '^  stood at    0x[0-9a-f]' "$text") -eq $n ]] ||
        die "image $tag: not every thread says where it stood"
    [[ $(grep -c '^  state       ' "$text") -eq $n ]] ||
        die "image $tag: not every thread has a state line"
    local -a names
    IFS=, read -r -a names <<<"$THREAD_NAMES"
    for name in "${names[@]}"; do
        grep -q "^thread [0-9]* \"$name\"" "$text" || die "image $tag does not list the thread \"$name\""
    done
    THREADS_SEEN=$n
}

# running_checkpoint TAG: one `ckpt checkpoint` without --kill; the first one is refused
# with --first-refused.
CHECKPOINTS=0
running_checkpoint() {
    local tag=$1 rc=0 began=$SECONDS
    CHECKPOINTS=$((CHECKPOINTS + 1))
    timeout 60 "$BINDIR/ckpt" checkpoint "$ORIG_PID" --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-$tag.out" 2>"$LOGS/ckpt-$tag.err" || rc=$?
    if [[ $CHECKPOINTS -eq 1 && -n $FIRST_REFUSED ]]; then
        [[ $rc -ne 0 && $rc -lt 124 ]] || die "the first checkpoint was to fail naming '$FIRST_REFUSED' (status $rc)"
        grep -qF -- "$FIRST_REFUSED" "$LOGS/ckpt-$tag.err" ||
            die "the failed checkpoint does not name '$FIRST_REFUSED': $(head -n 2 "$LOGS/ckpt-$tag.err")"
        local took=$((SECONDS - began)) bound=$((${STOP_TIMEOUT%.*} + 5))
        [[ $took -le $bound ]] || die "the failed checkpoint took ${took}s (more than ${bound}s)"
        say "first checkpoint failed as it was to, in ${took}s: $(head -n 1 "$LOGS/ckpt-$tag.err")"
        [[ -z $THEN_TOUCH ]] || touch "$RUN/$THEN_TOUCH"
        return
    fi
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $ORIG_PID ($tag) exited with status $rc: $(head -n 2 "$LOGS/ckpt-$tag.err")"
    cp "$IMAGE" "$IMGDIR/$tag.ckpt"
    inspect_threads "$tag"
}

scenario_running() {
    HOLD=1
    start_original
    local at r tag
    for at in "${AT[@]}"; do
        wait_lines "$RUN/out" "$at" "$ORIG_PID" "the original"
        for ((r = 1; r <= REPEAT; r++)); do
            tag=at$at-$r
            running_checkpoint "$tag"
        done
    done
    alive "$ORIG_PID" || die "the program ended before the last checkpoint was done: the checkpoints prove little"
    rm -f "$RUN/hold"
    say "$CHECKPOINTS checkpoints taken while the program ran on (the last image has $THREADS_SEEN threads)"
    [[ -e $IMGDIR/$tag.ckpt ]] || die "no checkpoint succeeded"
    if [[ -n $RESTORE_REFUSED ]]; then
        local rc=0
        (cd "$ELSEWHERE" && timeout 60 "$BINDIR/restore-run" -- "$IMGDIR/$tag.ckpt") \
            >"$LOGS/restore-refused.out" 2>"$LOGS/restore-refused.err" || rc=$?
        [[ $rc -ne 0 && $rc -lt 124 ]] || die "restore-run of $tag was to refuse (status $rc)"
        grep -qF -- "$RESTORE_REFUSED" "$LOGS/restore-refused.err" ||
            die "restore-run's refusal does not name '$RESTORE_REFUSED': $(head -n 2 "$LOGS/restore-refused.err")"
        say "restore-run refused the image: $(head -n 1 "$LOGS/restore-refused.err")"
    fi
    wait_exit "$ORIG_PID" "the program after its checkpoints"
    compare_outputs "$STATUS" "after $CHECKPOINTS checkpoints"
}

# incremental (issue 16) ----------------------------------------------------------------

# copy_chain DIR: the image and every older one it keeps (IMAGE.N) into DIR.
copy_chain() {
    mkdir -p "$1"
    cp "$IMAGE" "$1/"
    local f
    for f in "$IMAGE".[0-9]*; do [[ -e $f ]] && cp "$f" "$1/"; done
    return 0
}

# chain_parents IMAGE: how many images IMAGE extends (ckpt inspect's chain line).
chain_parents() {
    local line
    line=$("$BINDIR/ckpt" inspect "$1" | grep '^chain') || die "ckpt inspect $1 shows no chain line"
    if [[ $line == *"full image"* ]]; then echo 0; else sed 's/.*incremental: \([0-9]*\).*/\1/' <<<"$line"; fi
}

chain_refusals() { # chain_refusals CHAIN-DIR
    local chain=$1 oldest
    oldest=$(ls "$chain" | grep -v '\.status' | sort -t. -k3 -n | tail -n1)
    mkdir -p "$W/missing" "$W/damaged"
    cp "$chain"/* "$W/missing/"
    rm "$W/missing/$oldest"
    bad_case missing-parent "$W/missing/$(basename "$IMAGE")" "the chain is incomplete"
    cp "$chain"/* "$W/damaged/"
    flip_byte "$W/damaged/$oldest" $((4096 + 100))
    bad_case damaged-parent "$W/damaged/$(basename "$IMAGE")" "parent image"
    # another image of the same process at the oldest's name: found by name, it is not the one
    mkdir -p "$W/replaced"
    cp "$chain"/* "$W/replaced/"
    cp "$chain/$(basename "$IMAGE")" "$W/replaced/$oldest"
    bad_case replaced-parent "$W/replaced/$(basename "$IMAGE")" "the chain is incomplete"
}

scenario_incremental() {
    start_original
    local at r rc=0 n=0 chain=$W/chain parents
    for at in "${AT[@]}"; do
        wait_lines "$RUN/out" "$at" "$ORIG_PID" "the original"
        for ((r = 1; r <= REPEAT; r++)); do
            n=$((n + 1))
            if [[ $n -eq $REMOVE_AT ]]; then # the image this one would extend is gone
                rm -f "$IMGDIR"/image.ckpt*
            fi
            timeout 60 "$BINDIR/ckpt" checkpoint "$ORIG_PID" --timeout "$STEP_TIMEOUT" \
                >"$LOGS/ckpt-$n.out" 2>"$LOGS/ckpt-$n.err" || rc=$?
            [[ $rc -eq 0 ]] || die "ckpt checkpoint $n exited with status $rc: $(head -n 2 "$LOGS/ckpt-$n.err")"
        done
    done
    n=$((n + 1))
    timeout 60 "$BINDIR/ckpt" checkpoint "$ORIG_PID" --kill --timeout "$STEP_TIMEOUT" \
        >"$LOGS/ckpt-$n.out" 2>"$LOGS/ckpt-$n.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $n --kill exited with status $rc: $(head -n 2 "$LOGS/ckpt-$n.err")"
    wait_exit "$ORIG_PID" "the checkpointed process"
    [[ $STATUS -eq 137 ]] || die "the checkpointed process was to die of SIGKILL but exited with status $STATUS"
    local fallbacks
    fallbacks=$(grep -c "this image is full, not incremental" "$RUN/err" || true)
    if [[ -n $REMOVE_AT ]]; then
        [[ $fallbacks -eq 1 ]] || die "checkpoint $REMOVE_AT, its previous image removed, was to say once on stderr that it is full ($fallbacks times)"
        say "checkpoint $REMOVE_AT without its previous image: $(grep -m1 "this image is full" "$RUN/err")"
    else
        [[ $fallbacks -eq 0 ]] || die "a checkpoint fell back to a full image: $(grep -m1 "this image is full" "$RUN/err")"
    fi
    copy_chain "$chain"
    rm -f "$IMGDIR"/image.ckpt*
    local newest=$chain/$(basename "$IMAGE")
    parents=$(chain_parents "$newest")
    [[ $parents -ge $PARENTS ]] || die "the newest of $n images extends $parents images, expected $PARENTS or more"
    say "$n checkpoints; the newest image extends $parents images ($(ls "$chain" | tr '\n' ' '))"
    "$BINDIR/ckpt" verify "$newest" >"$LOGS/verify.out" 2>&1 || die "ckpt verify of the chain failed: $(cat "$LOGS/verify.out")"
    local i images
    for ((i = 1; i < KEEP; i++)); do
        "$BINDIR/ckpt" verify "$newest.$i" >"$LOGS/verify-$i.out" 2>&1 ||
            die "kept image $(basename "$newest").$i does not verify: $(cat "$LOGS/verify-$i.out")"
    done
    images=$(find "$chain" -name "$(basename "$IMAGE")*" ! -name '*.status' | wc -l)
    [[ $images -le $((KEEP + INCREMENTAL_N - 1)) ]] ||
        die "$images images left for --keep $KEEP --incremental=$INCREMENTAL_N: the rotation keeps images nothing needs"
    [[ $KEEP -eq 1 ]] || say "the $KEEP kept images verify; $images images in all"
    [[ $CHAIN_REFUSALS -eq 0 ]] || chain_refusals "$chain"
    restore "$newest"
    wait_exit "$RESTORE_PID" "the process restored from the chain"
    compare_outputs "$STATUS" "after restoring a chain of $((parents + 1)) images"
    [[ $MERGE -eq 1 ]] || return 0
    mkdir -p "$W/merged"
    "$BINDIR/ckpt" merge "$newest" "$W/merged/merged.ckpt" >"$LOGS/merge.out" 2>&1 ||
        die "ckpt merge failed: $(cat "$LOGS/merge.out")"
    [[ $(chain_parents "$W/merged/merged.ckpt") -eq 0 ]] || die "the merged image still has parents"
    "$BINDIR/ckpt" verify "$W/merged/merged.ckpt" >"$LOGS/verify-merged.out" 2>&1 ||
        die "ckpt verify of the merged image failed: $(cat "$LOGS/verify-merged.out")"
    say "$(cat "$LOGS/merge.out"); ckpt verify: ok"
    restore "$W/merged/merged.ckpt"
    wait_exit "$RESTORE_PID" "the process restored from the merged image"
    compare_outputs "$STATUS" "after restoring the merged image"
}

# ---------------------------------------------------------------------------------------

say "scenario $KIND: $PROGRAM ${PROG_ARGS[*]} (work directory $W)"
reference_start
"scenario_$KIND"
reference_ready
exit 0
