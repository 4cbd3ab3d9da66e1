#!/usr/bin/env bash
# run-integrity.sh — tests that images can be trusted (registered in CTest by
# tests/integrity/CMakeLists.txt).
#
# Usage: run-integrity.sh BINDIR PROGDIR KIND [--unprivileged]
#
#   BINDIR    checkpoint-run, restore-run and ckpt (libckpt.so in ../lib)
#   PROGDIR   the test programs: bigmem (this directory) and counter (tests/scenarios)
#   KIND      atomicity    SIGKILL a process of 200 MiB and its writer child at many moments
#                          of its checkpoint: IMAGE is always a complete valid image, the
#                          previous or the new one; a killed writer's temporary is removed
#                          by the next checkpoint. SIGKILL the program alone while its
#                          writer child writes: `ckpt checkpoint` still succeeds and the image
#                          is the killed program's. SIGKILL the writer alone: `ckpt
#                          checkpoint` fails naming it, the program runs on, IMAGE unchanged
#             failure      a checkpoint that cannot be written (ENOSPC on a small tmpfs as
#                          root, EACCES from a read-only directory otherwise; then EIO from
#                          fsync, by a seccomp filter): the program runs on unharmed, reports
#                          the error on its stderr, `ckpt checkpoint` fails with the reason,
#                          no temporary is left, the previous image is intact
#             corrupt      flip bytes in every part of a real image and truncate it at many
#                          lengths: restore-run always refuses with a message, never crashes,
#                          hangs or restores
#             corruptzstd  a compressed image (checkpoint-run --compress): a byte flipped in
#                          compressed frames (start, middle, last byte, zero padding) is
#                          refused by ckpt verify and restore-run naming the pages and their
#                          region, nothing restored; the intact image verifies
#             permissions  image directory created 0700, images 0600, --keep N, images of
#                          another user or writable by others refused, no setuid restore,
#                          symlinks at the temporary's name not followed
#             changedfiles files the program had open that are now missing, replaced or
#                          shorter: ckpt verify and restore-run refuse with the same message
#                          naming the file and the difference; ckpt verify changes nothing
#             fields       structure-aware fuzzing of a counter image's record fields, with
#                          the checksums made right (fuzz_fields.c says what each of the 400
#                          mutants, seed 0x5eed, must do; 20 are restored for real), then the
#                          mutants other seeds found, which both must refuse
#             unknownkinds records of kinds this restore-run does not know, as a later minor
#                          version may add (add-records.c): non-critical ones anywhere, one
#                          owning data, are skipped and the program finishes like an
#                          uninterrupted run; a critical one is refused by ckpt verify and
#                          restore-run naming its kind, the program's output unchanged; an
#                          image of format 2 is refused by number (ckpt inspect shows its
#                          header)
#             fdlimit      restore-run's descriptors: counter (3 descriptors) checkpointed and
#                          restored under ulimit -n 32; a program with 12,000 mappings of one
#                          file restored under a soft limit of 1024 and a hard one of 20,000
#                          (restore-run raises its soft limit; regions of one file share a
#                          descriptor); both finish like an uninterrupted run, the restored
#                          program with its own limits again
#             manyfds      2000 descriptors, 1500 a dup of 3 (one offset): checkpointed and
#                          restored, writes through either still move both offsets, like an
#                          uninterrupted run (sharing is found past any number of descriptors)
#             running      an image of a process that still runs: ckpt verify says ok with a
#                          warning, restore-run refuses (naming the pid) and changes nothing;
#                          --while-running passes; once the process is killed the image
#                          restores and the program finishes like an uninterrupted run
#             aslimit      a 64 MiB program restored under ulimit -v: too low a limit is
#                          refused by ckpt verify and restore-run naming RLIMIT_AS, with
#                          nothing changed; a limit that suffices restores it
#             coldread     an image out of the page cache (after a reboot; or just written,
#                          as the writer drops it) is read past the page cache (O_DIRECT)
#                          straight into the program's memory: the restored program's memory
#                          is right, and the image has not been brought into the page cache;
#                          a damaged block read that way is refused like any other
#             sharedoutput  output the program shares (demo.sh > log, { ...; } >> log) keeps
#                          what others wrote; checkpoint-run prog > out still exactly once
#             foreign      symbolic links and files another user (uid 4242) put where the
#                          program's files or directories were: refused, victims unchanged
#             fifo         a FIFO in place of a file, or given as the image: refused at once
#             nospace      a restore refused for want of space (small tmpfs) changed no file
#             race         20 pairs of concurrent restores of one image: one proceeds, the
#                          other refuses before its point of no return
#   --unprivileged  as root: run as nobody:nogroup in a directory only nobody can write
#                   (the last five kinds stay root to play the other user and run the
#                   program, checkpoint-run, restore-run and ckpt as nobody)
#
# Exit 0 = pass, anything else = fail with an explanation; a failed run's directory is kept.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
close_inherited_fds

[[ $# -ge 3 ]] || { say "usage: $SELF BINDIR PROGDIR KIND [--unprivileged]"; exit 2; }
BINDIR=$(cd "$1" && pwd -P)
PROGDIR=$(cd "$2" && pwd -P)
KIND=$3
UNPRIV=0
[[ ${4-} == --unprivileged ]] && UNPRIV=1
CKPT=$BINDIR/ckpt
RUN=$BINDIR/checkpoint-run
RESTORE=$BINDIR/restore-run

# Kinds that play another user: root plays it, the program runs as root or nobody.
OTHERS=0
case $KIND in sharedoutput | foreign | fifo | nospace | race) OTHERS=1 ;; esac
AS=()
PROG_USER=root:root
if [[ $OTHERS -eq 1 ]]; then
    if [[ $EUID -ne 0 ]]; then
        skip "$KIND needs root, to play a second user and mount a small tmpfs"
    fi
    if [[ $UNPRIV -eq 1 ]]; then
        AS=("${AS_NOBODY[@]}")
        PROG_USER=nobody:nogroup
    fi
    "${AS[@]}" test -x "$RESTORE" -a -x "$PROGDIR/filewriter" ||
        die "$RESTORE or $PROGDIR/filewriter cannot be run as $PROG_USER"
fi

if [[ $UNPRIV -eq 1 && $EUID -eq 0 && $OTHERS -eq 0 ]]; then
    W=$(mktemp -d /tmp/ckpt-integrity.XXXXXX)
    if ! nobody_can_use "$BINDIR" "$PROGDIR/counter"; then
        copy_tools "$BINDIR" "$W"
        mkdir -p "$W/tools/prog"
        cp "$PROGDIR"/bigmem "$PROGDIR"/counter "$PROGDIR"/files "$PROGDIR"/failing-syscall \
            "$PROGDIR"/retitle "$PROGDIR"/fuzz_fields "$PROGDIR"/manymaps "$PROGDIR"/manyfds \
            "$PROGDIR"/add-records \
            "$W/tools/prog/"
        BINDIR=$W/tools/bin PROGDIR=$W/tools/prog
    fi
    copy_driver "$W"
    chmod -R a+rX "$W"
    chown nobody:nogroup "$W"
    rc=0
    (cd "$W" && TMPDIR=$W "${AS_NOBODY[@]}" bash "$W/run-integrity.sh" "$BINDIR" "$PROGDIR" \
        "$KIND") || rc=$?
    finish_workdir "$rc" "$W"
    exit "$rc"
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-integrity.XXXXXX")
[[ $OTHERS -eq 0 ]] || chmod 0755 "$W"
PIDS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if mountpoint -q "$W/img"; then umount "$W/img"; fi
    if mountpoint -q "$W/small"; then umount "$W/small"; fi
    finish_workdir "$rc" "$W"
    exit "$rc"
}
trap cleanup EXIT

# wait_for FILE TEXT: until FILE has a line containing TEXT (10 s at most).
wait_for() {
    wait_until 10 grep -q -- "$2" "$1" 2>/dev/null || die "no \"$2\" in $1 after 10 s"
}

# Starts PROGRAM under checkpoint-run with image $1 in $W/run; sets $PID, and $OUT and $ERR
# (new files for each process: an earlier image still names its own).
SEQ=0
start() {
    local image=$1
    shift
    mkdir -p "$W/run"
    SEQ=$((SEQ + 1))
    OUT=$W/run/out.$SEQ ERR=$W/run/err.$SEQ
    # A process group of its own (setsid execs at once: the subshell leads no group), so
    # that `kill -9 -- -$PID` takes a checkpoint's writer child along with the program.
    (cd "$W/run" && exec setsid "${START_UNDER[@]}" "$RUN" --image "$image" "$@" >"$OUT" 2>"$ERR") &
    PID=$!
    PIDS+=("$PID")
}
START_UNDER=()

# start_failing SYSCALL IMAGE PROGRAM ARGS...: start, with SYSCALL failing with EIO in the
# program and its checkpoints (failing-syscall's seccomp filter, inherited across exec).
start_failing() {
    START_UNDER=("$PROGDIR/failing-syscall" "$1" --)
    shift
    start "$@"
    START_UNDER=()
}

verify_ok() { "$CKPT" verify "$1" >/dev/null 2>"$W/verify.err" || die "ckpt verify $1: $(cat "$W/verify.err")"; }

temporaries() { find "$(dirname "$1")" -maxdepth 1 -name "$(basename "$1").*tmp*" -printf '%f\n' | sort; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------------------------------

# Pids in the names of temporaries (BASE.tmp.PID, BASE.status.tmp.PID) next to image $1.
temporary_pids() { temporaries "$1" | sed 's/.*\.tmp\.//' | sort -u; }

# After a kill: no temporary of a live process, and at most one image temporary (the killed
# writer's: those of earlier kills were removed by the checkpoints since).
check_temporaries() {
    local image=$1 when=$2 p
    for p in $(temporary_pids "$image"); do
        # SIGKILL takes effect soon but not at once
        wait_until 5 gone "$p" || die "$when: pid $p is alive but its temporary is still there"
    done
    [[ $(temporaries "$image" | grep -c -v status) -le 1 ]] ||
        die "$when: temporaries of earlier processes remain: $(temporaries "$image" | tr '\n' ' ')"
    return 0
}

# After its answer a writer removes the previous image, which it swapped to its temporary's
# name: waits (up to 5 s each) until the processes named by temporaries next to $1 are gone.
wait_for_writers() {
    local p
    for p in $(temporary_pids "$1"); do
        wait_until 5 gone "$p" || true
    done
}

test_atomicity() {
    local image=$W/img/big.ckpt mib=200 points=16
    start "$image" "$PROGDIR/bigmem" "$mib" 1000000
    wait_for "$OUT" ready
    local t0 t1
    t0=$(now_ms)
    "$CKPT" checkpoint "$PID" >/dev/null
    t1=$(now_ms)
    local duration=$((t1 - t0))
    say "a checkpoint of $mib MiB takes about $duration ms; killing at $points points over it"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    verify_ok "$image"
    cp "$image" "$W/previous"
    local old=0 new=0 i delay killed
    for ((i = 0; i < points; i++)); do
        start "$image" "$PROGDIR/bigmem" "$mib" 1000000
        wait_for "$OUT" ready
        # Spread over 0 .. 1.25 x the checkpoint's duration; the last point comes well after.
        delay=$((i * duration * 5 / 4 / (points - 1)))
        [[ $i -eq $((points - 1)) ]] && delay=$((duration * 3 + 500))
        kill -USR2 "$PID"
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 -- -"$PID"
        wait "$PID" 2>/dev/null || true
        killed=$PID
        verify_ok "$image"
        if cmp -s "$image" "$W/previous"; then
            old=$((old + 1))
        else
            "$CKPT" verify "$image" | grep -q "(pid $killed," ||
                die "point $i: $image changed but is not the killed process's image"
            new=$((new + 1))
            cp "$image" "$W/previous"
        fi
        check_temporaries "$image" "point $i"
    done
    say "after $points kills: $old times the previous image, $new times the new one"
    [[ $old -ge 1 && $new -ge 1 ]] || die "expected kills both before and after the image was published"
    # The program alone killed while its writer child writes: the checkpoint is not lost.
    start "$image" "$PROGDIR/bigmem" "$mib" 1000000
    wait_for "$OUT" ready
    "$CKPT" checkpoint "$PID" >"$W/ckpt.out" 2>"$W/ckpt.err" &
    local ckpt_pid=$!
    wait_for "$image.status" "pid=$PID token=[0-9]* writing=[1-9]"
    kill -9 "$PID"
    killed=$PID
    wait "$ckpt_pid" || die "ckpt checkpoint failed after the program was killed: $(cat "$W/ckpt.err")"
    "$CKPT" verify "$image" | grep -q "(pid $killed," ||
        die "the writer of the killed program did not publish its image"
    wait_for_writers "$image"
    [[ -z $(temporaries "$image" | grep -v status) ]] ||
        die "temporaries left: $(temporaries "$image" | tr '\n' ' ')"
    # The writer child alone killed: `ckpt checkpoint` fails naming it, the program runs on,
    # the image is the one before.
    cp "$image" "$W/previous"
    start "$image" "$PROGDIR/bigmem" "$mib" 1000000
    wait_for "$OUT" ready
    "$CKPT" checkpoint "$PID" >"$W/ckpt.out" 2>"$W/ckpt.err" &
    ckpt_pid=$!
    wait_for "$image.status" "pid=$PID token=[0-9]* writing=[1-9]"
    local writer
    writer=$(sed -n "s/.* pid=$PID token=[0-9]* writing=\([0-9]*\).*/\1/p" "$image.status")
    kill -9 "$writer"
    if wait "$ckpt_pid"; then die "ckpt checkpoint succeeded although its writer was killed"; fi
    grep -q "the process writing the image (pid $writer) ended without an answer" "$W/ckpt.err" ||
        die "ckpt checkpoint did not say the writer died: $(cat "$W/ckpt.err")"
    kill -0 "$PID" 2>/dev/null || die "the program died with its writer child"
    cmp -s "$image" "$W/previous" || die "the image changed although its writer was killed"
    kill -9 "$PID"
    # The next checkpoint (another pid) removes what the killed writers left.
    start "$image" "$PROGDIR/bigmem" 4 1000000
    wait_for "$OUT" ready
    "$CKPT" checkpoint "$PID" >/dev/null
    wait_for_writers "$image"
    [[ -z $(temporaries "$image") ]] || die "temporaries left: $(temporaries "$image" | tr '\n' ' ')"
    verify_ok "$image"
}

test_failure() {
    local dir=$W/img image reason
    mkdir -p "$dir" "$W/ref"
    if [[ $EUID -eq 0 && ${CKPT_INTEGRITY_NS-} != 1 ]]; then
        # ENOSPC: a small tmpfs, mounted in a private mount namespace so nothing leaks.
        trap - EXIT
        rm -rf "$W"
        exec unshare --mount --propagation private env CKPT_INTEGRITY_NS=1 bash "$0" "$BINDIR" \
            "$PROGDIR" failure
    fi
    if [[ $EUID -eq 0 ]]; then
        mount -t tmpfs -o size=1m,mode=0700 ckpt-test "$dir"
        reason="No space left on device"
    else
        reason="Permission denied"
    fi
    image=$dir/c.ckpt
    (cd "$W/ref" && "$PROGDIR/counter" 150 >out 2>/dev/null; echo $? >status) || true
    start "$image" "$PROGDIR/counter" 150
    wait_for "$OUT" "count 10 "
    "$CKPT" checkpoint "$PID" >/dev/null
    cp "$image" "$W/good"
    if [[ $EUID -eq 0 ]]; then
        local avail
        avail=$(df --output=avail -B 4096 "$dir" | tail -1)
        dd if=/dev/zero of="$dir/fill" bs=4096 count=$((avail - 16)) status=none
    else
        chmod 0500 "$dir"
    fi
    fails_cleanly "$image" "$reason"
    if [[ $EUID -eq 0 ]]; then test_enospc_in_memory "$dir"; fi
    [[ $EUID -eq 0 ]] && status_survives_full_disk "$image"
    if [[ $EUID -eq 0 ]]; then rm "$dir/fill"*; else chmod 0700 "$dir"; fi
    finishes_like_reference "$image" "$reason"
    test_eio
}

# The disk full to the last block: not even the answer can be written. IMAGE.status keeps
# the earlier answers (it is not emptied), and `ckpt checkpoint` fails.
status_survives_full_disk() {
    local image=$1 rc=0
    cp "$image.status" "$W/status.before"
    dd if=/dev/zero of="$(dirname "$image")/fill2" bs=4096 status=none 2>/dev/null || true
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
    [[ $rc -ne 0 ]] || die "ckpt checkpoint succeeded on a full disk"
    [[ -s $image.status ]] || die "the full disk emptied $image.status"
    cmp -s "$image.status" "$W/status.before" || die "$image.status changed on a full disk"
    say "full disk: $(cat "$W/ckpt.err"); $image.status kept its answers"
}

# The disk fills while the memory is written (16 MiB of anonymous memory, past the writer's
# first flush): the message names the region, "anonymous memory" for one without a path.
test_enospc_in_memory() {
    local image=$1/big.ckpt keep_pid=$PID keep_out=$OUT keep_err=$ERR rc=0
    start "$image" "$PROGDIR/bigmem" 16 100000
    wait_for "$OUT" ready
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    [[ $rc -ne 0 ]] || die "a checkpoint of 16 MiB fitted on a full disk"
    grep -qE "saving memory [0-9a-f]+-[0-9a-f]+ \([^)]+\) to the image: No space left on device" \
        "$W/ckpt.err" || die "the failure does not name the memory: $(cat "$W/ckpt.err")"
    PID=$keep_pid OUT=$keep_out ERR=$keep_err
}

# A disk that reports an error: every fdatasync of the program fails with EIO (failing-syscall's
# seccomp filter), so each checkpoint fails after writing all its data. An earlier image
# lies at the path and must stay as it was.
test_eio() {
    local image=$W/eio/c.ckpt
    mkdir -p "$W/eio"
    cp "$W/good" "$image"
    start_failing fdatasync "$image" "$PROGDIR/counter" 150
    wait_for "$OUT" "count 10 "
    fails_cleanly "$image" "Input/output error"
    finishes_like_reference "$image" "Input/output error"
}

# fails_cleanly IMAGE REASON: `ckpt checkpoint $PID` fails saying REASON, leaves no
# temporary, and IMAGE is still $W/good, a valid image.
fails_cleanly() {
    local image=$1 reason=$2 rc=0
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
    [[ $rc -ne 0 ]] || die "ckpt checkpoint succeeded though the image cannot be written ($reason)"
    grep -q "$reason" "$W/ckpt.err" || die "ckpt checkpoint did not say \"$reason\": $(cat "$W/ckpt.err")"
    [[ -z $(temporaries "$image") ]] || die "temporaries left: $(temporaries "$image" | tr '\n' ' ')"
    cmp "$image" "$W/good" || die "the previous image changed"
    verify_ok "$image"
}

# finishes_like_reference IMAGE REASON: the program reported the failed checkpoint on its
# stderr and finished like the uninterrupted run in $W/ref.
finishes_like_reference() {
    local image=$1 reason=$2 rc=0
    wait "$PID" || rc=$?
    grep -q "ckpt: checkpoint of $PID to $image failed: .*$reason" "$ERR" ||
        die "the program's stderr does not report the failure: $(cat "$ERR")"
    cmp "$OUT" "$W/ref/out" || die "the output differs from an uninterrupted run"
    [[ $rc -eq $(cat "$W/ref/status") ]] || die "exit status $rc, uninterrupted $(cat "$W/ref/status")"
    say "failed with \"$(cat "$W/ckpt.err")\"; the program finished like an uninterrupted run"
}

# restore-run on a damaged image: must refuse (exit 1, "restore-run: IMAGE:" message) and
# must not resume the program (its output file stays as it was).
refused() {
    local what=$1 file=$W/bad.ckpt rc=0 size
    size=$(stat -c %s "$OUT")
    timeout 10 "$RESTORE" "$file" >/dev/null 2>"$W/restore.err" || rc=$?
    [[ $rc -eq 1 ]] || die "$what: restore-run exited $rc (1 expected): $(cat "$W/restore.err")"
    grep -q "^restore-run: $file: ." "$W/restore.err" ||
        die "$what: no 'restore-run: IMAGE: why' message: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$OUT") -eq $size ]] || die "$what: the program resumed"
}

# killed_counter_image IMAGE: an image of counter at step 10, the process killed since.
killed_counter_image() {
    start "$1" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 10 "
    "$CKPT" checkpoint "$PID" >/dev/null
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
}

test_corrupt() {
    local image=$W/img/c.ckpt
    killed_counter_image "$image"
    local size offsets=() off n=0
    size=$(stat -c %s "$image")
    local meta
    meta=$("$CKPT" inspect "$image" --json | grep -o '"meta_offset":[0-9]*' | grep -o '[0-9]*$')
    # Header fields byte by byte, the header's padding, page data spread evenly, every
    # metadata region (spread), and the last bytes.
    for ((off = 0; off < 96; off++)); do offsets+=("$off"); done
    for off in 96 100 200 1000 2048 4095; do offsets+=("$off"); done
    for ((off = 4096; off < meta; off += (meta - 4096) / 60 + 1)); do offsets+=("$off"); done
    for ((off = meta; off < size; off += (size - meta) / 150 + 1)); do offsets+=("$off"); done
    offsets+=($((size - 1)) $((size - 8)))
    # The stored vDSO, which restore-run reads (compares, and parses with libelf) before it
    # places any memory: its ELF header, program headers, symbols and last byte.
    local vdso_run vdso vdso_len
    vdso_run=$("$CKPT" inspect "$image" --json | grep -o '"kind":"vdso","path":"\[vdso\]"[^}]*}[^}]*}')
    vdso=$(grep -o '"file_offset":[0-9]*}' <<<"$vdso_run" | grep -o '[0-9]*') || true
    vdso_len=$(grep -o '"length":[0-9]*' <<<"$vdso_run" | grep -o '[0-9]*$') || true
    [[ -n $vdso && -n $vdso_len ]] || die "the image holds no copy of the vDSO"
    for off in 0 4 5 16 24 32 40 58 60 62 64 120 $((vdso_len / 2)) $((vdso_len - 1)); do
        offsets+=($((vdso + off)))
    done
    for off in "${offsets[@]}"; do
        cp "$image" "$W/bad.ckpt"
        chmod 0600 "$W/bad.ckpt"
        printf '\xa5' | dd of="$W/bad.ckpt" bs=1 seek="$off" conv=notrunc status=none
        cmp -s "$image" "$W/bad.ckpt" && {
            printf '\x5a' | dd of="$W/bad.ckpt" bs=1 seek="$off" conv=notrunc status=none
        }
        refused "byte $off flipped"
        n=$((n + 1))
    done
    for len in 0 1 7 8 95 96 4095 4096 4097 $((meta - 1)) $meta $((meta + 1)) $((size - 1)) \
        $((size - 8)) $((size / 2)) $((size / 3)); do
        head -c "$len" "$image" >"$W/bad.ckpt"
        refused "truncated to $len bytes"
        n=$((n + 1))
    done
    # Longer than the header says.
    cp "$image" "$W/bad.ckpt"
    printf 'x' >>"$W/bad.ckpt"
    refused "one byte appended"
    say "$((n + 1)) damaged images refused (image of $size bytes, metadata at $meta)"
}

# compress: damaged compressed blocks are refused by name before anything changes.
test_corrupt_compressed() {
    local image=$W/img/z.ckpt runs=() run off stored at n=0 region
    start "$image" --compress=all "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 10 "
    "$CKPT" checkpoint "$PID" >/dev/null
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    verify_ok "$image"
    # Every compressed run: "addr":"0x...","compressed":true,"stored_length":S,"length":L,"file_offset":O
    mapfile -t runs < <("$CKPT" inspect "$image" --json | tr -d ' \n' |
        grep -o '"addr":"0x[0-9a-f]*","compressed":true,"stored_length":[0-9]*,"length":[0-9]*,"file_offset":[0-9]*')
    [[ ${#runs[@]} -gt 0 ]] || die "the image of checkpoint-run --compress=all holds no compressed run"
    for run in "${runs[@]:0:4}"; do
        off=$(grep -o '"file_offset":[0-9]*' <<<"$run" | grep -o '[0-9]*$')
        stored=$(grep -o '"stored_length":[0-9]*' <<<"$run" | grep -o '[0-9]*$')
        region=$(grep -o '"addr":"0x[0-9a-f]*"' <<<"$run" | grep -o '0x[0-9a-f]*' | sed 's/^0x0*//')
        for at in 0 $((stored / 2)) $((stored - 1)) $((stored + 1)); do
            [[ $at -lt $(( (stored + 4095) / 4096 * 4096 )) ]] || continue
            cp "$image" "$W/bad.ckpt"
            chmod 0600 "$W/bad.ckpt"
            printf '\xa5' | dd of="$W/bad.ckpt" bs=1 seek=$((off + at)) conv=notrunc status=none
            cmp -s "$image" "$W/bad.ckpt" &&
                printf '\x5a' | dd of="$W/bad.ckpt" bs=1 seek=$((off + at)) conv=notrunc status=none
            refused "byte $at of the compressed frame at $off flipped"
            grep -q "checksum mismatch in the compressed pages $region-[0-9a-f]* of region .* (corrupted image)" "$W/restore.err" ||
                die "a damaged compressed frame at $off (+$at) not refused by name: $(cat "$W/restore.err")"
            "$CKPT" verify "$W/bad.ckpt" >/dev/null 2>"$W/verify.err" &&
                die "ckpt verify passed an image with a damaged compressed frame"
            grep -q "checksum mismatch in the compressed pages $region-" "$W/verify.err" ||
                die "ckpt verify: a damaged compressed frame not named: $(cat "$W/verify.err")"
            n=$((n + 1))
        done
    done
    say "$n damaged compressed frames in ${#runs[@]} compressed runs refused by name by restore-run and ckpt verify"
}

# Drops FILE's pages from the page cache (dd's nocache: posix_fadvise DONTNEED, no privilege
# needed) and checks with fincore that they are gone.
evict() {
    dd if="$1" iflag=nocache count=0 status=none
    [[ $(cached_percent "$1") -le 1 ]] || die "$1: still $(cached_percent "$1")% in the page cache"
}

cached_percent() { echo $(($(fincore -b -n -o RES "$1") * 100 / $(stat -c %s "$1"))); }

test_coldread() {
    local image=$W/img/cold.ckpt mib=96 steps=40 size meta off pct rc=0
    "$PROGDIR/bigmem" $mib $steps >"$W/ref.out" || die "bigmem failed uninterrupted"
    start "$image" "$PROGDIR/bigmem" $mib $steps
    wait_for "$OUT" "tick 3 "
    "$CKPT" checkpoint --kill "$PID" >/dev/null 2>"$W/ckpt.err" || die "checkpoint: $(cat "$W/ckpt.err")"
    wait "$PID" 2>/dev/null || true
    size=$(stat -c %s "$image")
    meta=$("$CKPT" inspect "$image" --json | grep -o '"meta_offset":[0-9]*' | grep -o '[0-9]*$')
    # A byte of bigmem's pattern flipped, written out and dropped from the cache.
    cp "$image" "$W/bad.ckpt"
    chmod 0600 "$W/bad.ckpt"
    off=$((meta / 2))
    printf '\xa5' | dd of="$W/bad.ckpt" bs=1 seek="$off" conv=notrunc,fsync status=none
    cmp -s "$image" "$W/bad.ckpt" &&
        printf '\x5a' | dd of="$W/bad.ckpt" bs=1 seek="$off" conv=notrunc,fsync status=none
    evict "$W/bad.ckpt"
    refused "byte $off flipped, image out of the page cache"
    grep -q "checksum mismatch in pages" "$W/restore.err" ||
        die "damaged block read past the cache: $(cat "$W/restore.err")"
    # The intact image, cold: restored right, and still (almost) out of the page cache —
    # only the header, the metadata and what is read through the mapping besides (4% here).
    # Read through the page cache, all of it would be there; validated with read-around,
    # the megabytes around the header and the metadata (16%).
    evict "$image"
    timeout 60 "$RESTORE" "$image" >/dev/null 2>"$W/restore.err" || rc=$?
    [[ $rc -eq 0 ]] || die "restore-run exited $rc: $(cat "$W/restore.err")"
    cmp "$OUT" "$W/ref.out" || die "the restored program's output differs from an uninterrupted run"
    pct=$(cached_percent "$image")
    [[ $pct -le 10 ]] || die "a cold restore left $pct% of the image in the page cache (read through it)"
    say "cold image of $size bytes: restored right with $pct% of it brought into the page cache;" \
        "a damaged block refused"
}

test_permissions() {
    local dir=$W/priv image rc
    image=$dir/p.ckpt
    start "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 5 "
    [[ $(stat -c %a "$dir") == 700 ]] || die "image directory mode $(stat -c %a "$dir"), 700 expected"
    # A symlink at the temporary's name is replaced, never followed.
    echo "victim" >"$W/victim"
    ln -s "$W/victim" "$image.tmp.$PID"
    "$CKPT" checkpoint "$PID" >/dev/null
    [[ $(cat "$W/victim") == victim ]] || die "the checkpoint wrote through a symlink"
    [[ $(stat -c %a "$image") == 600 ]] || die "image mode $(stat -c %a "$image"), 600 expected"
    verify_ok "$image"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true

    cp "$image" "$W/bad.ckpt"
    for mode in 0620 0602 0666; do
        chmod "$mode" "$W/bad.ckpt"
        refused "mode $mode"
        grep -q "refused: the image is writable by" "$W/restore.err" || die "mode $mode: $(cat "$W/restore.err")"
    done
    chmod 0600 "$W/bad.ckpt"
    if [[ $EUID -eq 0 ]] && findmnt -no OPTIONS --target "$W" | grep -q nosuid; then
        die "$W is on a nosuid mount: the setuid refusal cannot be tested here"
    fi
    if [[ $EUID -eq 0 ]]; then
        chown nobody "$W/bad.ckpt"
        refused "owned by nobody"
        grep -q "refused: the image belongs to uid $(id -u nobody), not to you" "$W/restore.err" ||
            die "other owner: $(cat "$W/restore.err")"
        # Never setuid: a setuid copy of restore-run, run by nobody, refuses.
        cp "$RESTORE" "$W/restore-suid"
        chmod 4755 "$W/restore-suid"
        chmod 0711 "$W"
        rc=0
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$W/restore-suid" "$W/bad.ckpt" \
            2>"$W/restore.err" || rc=$?
        if [[ $rc -ne 1 ]] || ! grep -q "refused: running setuid or setgid" "$W/restore.err"; then
            die "setuid restore-run: exit $rc: $(cat "$W/restore.err")"
        fi
    fi

    if [[ $EUID -eq 0 ]]; then
        # A directory another user owns (who could remove or swap the images) is refused by
        # checkpoint-run, and by the checkpoint should it change hands later.
        mkdir -p "$W/theirs"
        chown nobody "$W/theirs"
        rc=0
        "$RUN" --image "$W/theirs/t.ckpt" "$PROGDIR/counter" 1 >/dev/null 2>"$W/run.err" || rc=$?
        [[ $rc -eq 125 ]] || die "checkpoint-run with another user's image directory exited $rc"
        grep -q "the image directory $W/theirs belongs to uid $(id -u nobody)" "$W/run.err" ||
            die "another user's directory: $(cat "$W/run.err")"
        mkdir -p "$W/mine"
        start "$W/mine/m.ckpt" "$PROGDIR/counter" 100000
        wait_for "$OUT" "count 3 "
        chown nobody "$W/mine"
        rc=0
        "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
        [[ $rc -ne 0 ]] || die "a checkpoint into another user's directory succeeded"
        grep -q "belongs to uid $(id -u nobody)" "$W/ckpt.err" ||
            die "directory changed hands: $(cat "$W/ckpt.err")"
        kill -9 "$PID"
    fi

    # --keep 3: PATH, PATH.1, PATH.2, newest first, all valid.
    local k=$W/keep/k.ckpt g
    start "$k" --keep 3 "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    for g in 1 2 3 4; do "$CKPT" checkpoint "$PID" >/dev/null; done
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    [[ $(cd "$W/keep" && echo k.ckpt*) == "k.ckpt k.ckpt.1 k.ckpt.2 k.ckpt.status" ]] ||
        die "--keep 3 left: $(cd "$W/keep" && echo k.ckpt*)"
    for g in k.ckpt:4 k.ckpt.1:3 k.ckpt.2:2; do
        "$CKPT" verify "$W/keep/${g%:*}" | grep -q "generation ${g#*:}," ||
            die "${g%:*} is not generation ${g#*:}"
    done
    say "directory 0700, image 0600, symlink not followed, refusals and --keep as expected"
}

# ckpt verify and restore-run refuse $1 with the same message, containing $2.
both_refuse() {
    local image=$1 want=$2 rc=0
    "$CKPT" verify "$image" >/dev/null 2>"$W/verify.err" || rc=$?
    [[ $rc -eq 1 ]] || die "ckpt verify exited $rc (1 expected) for \"$want\""
    grep -qF -- "$want" "$W/verify.err" || die "ckpt verify: \"$(cat "$W/verify.err")\" lacks \"$want\""
    cp "$image" "$W/bad.ckpt"
    refused "$want"
    [[ "$(sed "s|^restore-run: $W/bad.ckpt: ||" "$W/restore.err")" == \
        "$(sed "s|^ckpt: $image: ||" "$W/verify.err")" ]] ||
        die "restore-run and ckpt verify disagree: $(cat "$W/restore.err") / $(cat "$W/verify.err")"
}

test_changedfiles() {
    local image=$W/img/f.ckpt run=$W/run
    mkdir -p "$run"
    (cd "$run" && "$PROGDIR/files" --prepare)
    start "$image" "$PROGDIR/files" 100000
    wait_for "$OUT" "step 10:"
    "$CKPT" checkpoint "$PID" >/dev/null
    wait_for "$OUT" "step 20:"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    # The log grew after the checkpoint: allowed, and ckpt verify must not cut it back.
    local grown
    grown=$(stat -c %s "$run/files.log")
    verify_ok "$image"
    [[ $(stat -c %s "$run/files.log") -eq $grown ]] || die "ckpt verify changed files.log"

    mv "$run/input.txt" "$run/input.away"
    both_refuse "$image" "file $run/input.txt (descriptor"
    grep -qF "No such file or directory" "$W/verify.err" || die "missing: $(cat "$W/verify.err")"

    cp "$run/input.away" "$run/input.txt"
    echo "one more record" >>"$run/input.txt"
    both_refuse "$image" "input.txt (descriptor"
    grep -qF "was replaced by another file (inode" "$W/verify.err" || die "replaced: $(cat "$W/verify.err")"
    mv "$run/input.away" "$run/input.txt"

    cp "$run/files.log" "$W/log.full"
    mv "$run/files.log" "$run/files.away"
    cp "$W/log.full" "$run/files.log"
    both_refuse "$image" "files.log (descriptor"
    grep -qF "was replaced by another file (inode" "$W/verify.err" || die "replaced log: $(cat "$W/verify.err")"
    mv "$run/files.away" "$run/files.log"

    truncate -s 10 "$run/files.log"
    both_refuse "$image" "files.log (descriptor"
    grep -qF "is shorter than at checkpoint (10 bytes, was" "$W/verify.err" || die "shorter: $(cat "$W/verify.err")"
    cat "$W/log.full" >"$run/files.log"
    verify_ok "$image"
    say "missing, replaced and shorter files refused alike by ckpt verify and restore-run"
}

# ---- the checkpoint protocol (docs/protocol.md) -----------------------------------------

# `ckpt checkpoint` right after `checkpoint-run PROGRAM &`, before the shim is installed (or
# even before checkpoint-run has been exec'd): it waits for the shim, N times in a row.
test_launch() {
    local n=${CKPT_LAUNCHES:-50} i pid image=$W/launch/l.ckpt
    mkdir -p "$W/launch"
    for ((i = 1; i <= n; i++)); do
        "$RUN" --image "$image" "$PROGDIR/counter" 100000 >/dev/null 2>"$W/launch/err" &
        pid=$!
        PIDS+=("$pid")
        "$CKPT" checkpoint "$pid" >/dev/null 2>"$W/ckpt.err" ||
            die "launch $i: ckpt checkpoint right after the start failed: $(cat "$W/ckpt.err")"
        kill -9 "$pid"
        wait "$pid" 2>/dev/null || true
        "$CKPT" verify "$image" | grep -q "(pid $pid," || die "launch $i: the image is not pid $pid's"
    done
    say "$n programs checkpointed right after their start: all succeeded"
}

# Checkpoints in a row, with and without --kill, while CPU hogs keep every core busy: no
# false report (a checkpoint that succeeded reported as failed, a --kill that did not kill).
# CKPT_STRESS_CHECKPOINTS sets how many (the stress label runs 2100).
test_stress() {
    local n=${CKPT_STRESS_CHECKPOINTS:-240} taken=0 i rc image=$W/stress/s.ckpt hog t0
    local hogs=()
    mkdir -p "$W/stress"
    for ((i = 0; i < $(nproc); i++)); do
        (while :; do :; done) &
        hogs+=($!)
        PIDS+=($!)
    done
    while ((taken < n)); do
        start "$image" "$PROGDIR/counter" 100000
        for i in 1 2; do
            t0=$(now_ms)
            "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" ||
                die "checkpoint $taken (call $i of pid $PID, after $(($(now_ms) - t0)) ms): $(cat "$W/ckpt.err")"
            taken=$((taken + 1))
        done
        "$CKPT" checkpoint --kill "$PID" >/dev/null 2>"$W/ckpt.err" ||
            die "checkpoint $taken (--kill): $(cat "$W/ckpt.err")"
        taken=$((taken + 1))
        rc=0
        wait "$PID" || rc=$?
        [[ $rc -eq 137 ]] || die "checkpoint $taken (--kill): the process ended with $rc, not by SIGKILL"
        verify_ok "$image"
    done
    for hog in "${hogs[@]}"; do kill -9 "$hog"; done
    say "$taken checkpoints (a third with --kill) beside $(nproc) CPU hogs: no false report"
}

# A descendant of the program inherits the shim's environment (and the shim), but the shim
# is not active in it: `ckpt checkpoint` refuses it without sending it the signal, which it
# uses for itself. One child exec'd another program, one was only forked.
test_descendant() {
    local d=$W/desc kind pid
    mkdir -p "$d"
    start "$d/d.ckpt" /bin/sh -c "
        sh -c 'trap \"echo exec-child >>$d/got\" USR2; echo \$\$ >$d/exec.pid.new
               mv $d/exec.pid.new $d/exec.pid; while :; do sleep 0.05; done' &
        (trap 'echo fork-child >>$d/got' USR2; sh -c 'echo \$PPID' >$d/fork.pid.new
         mv $d/fork.pid.new $d/fork.pid; while :; do sleep 0.05; done) &
        wait"
    for kind in exec fork; do
        local i
        for ((i = 0; i < 500; i++)); do [[ -s $d/$kind.pid ]] && break; sleep 0.01; done
        pid=$(cat "$d/$kind.pid")
        PIDS+=("$pid")
        if "$CKPT" checkpoint --timeout 5 "$pid" >/dev/null 2>"$W/ckpt.err"; then
            die "$kind child: ckpt checkpoint succeeded on a process the shim does not serve"
        fi
        grep -q "not the process checkpoint-run started" "$W/ckpt.err" ||
            die "$kind child: $(cat "$W/ckpt.err")"
    done
    sleep 0.3
    [[ ! -e $d/got ]] || die "a descendant got the checkpoint signal: $(cat "$d/got")"
    kill -9 -- -"$PID" 2>/dev/null || true
    say "descendants (exec'd and forked) refused without a signal"
}

# A stopped process (SIGSTOP) is reported at once, not after the whole timeout; continued,
# it is checkpointed.
test_stopped() {
    local image=$W/stop/s.ckpt rc=0 t0 t1
    start "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    kill -STOP "$PID"
    t0=$(now_ms)
    "$CKPT" checkpoint --timeout 30 "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
    t1=$(now_ms)
    [[ $rc -ne 0 ]] || die "ckpt checkpoint of a stopped process succeeded"
    grep -q "the process is stopped" "$W/ckpt.err" || die "stopped: $(cat "$W/ckpt.err")"
    [[ $((t1 - t0)) -lt 10000 ]] || die "it took $((t1 - t0)) ms to say the process is stopped"
    kill -CONT "$PID"
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "continued: $(cat "$W/ckpt.err")"
    verify_ok "$image"
    kill -9 "$PID"
    say "a stopped process reported in $((t1 - t0)) ms; continued, checkpointed"
}

# A program that overwrites its whole environment block (as redis-server, nginx, postgres
# write their title over it) is checkpointed, and restored from another directory.
test_retitled() {
    local image=$W/title/t.ckpt
    start "$image" "$PROGDIR/retitle" 100000
    wait_for "$OUT" "count 3"
    if tr '\0' '\n' <"/proc/$PID/environ" | grep -q '^CKPT_'; then
        die "the environment still names CKPT_ variables: the test would prove nothing"
    fi
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "$(cat "$W/ckpt.err")"
    "$CKPT" checkpoint --kill "$PID" >/dev/null 2>"$W/ckpt.err" || die "--kill: $(cat "$W/ckpt.err")"
    verify_ok "$image"
    local last
    last=$(grep -c '^count' "$OUT")
    mkdir -p "$W/title/elsewhere"
    # The restored program goes on writing to $OUT (a regular file, reopened).
    (cd "$W/title/elsewhere" && exec "$RESTORE" "$image" 2>"$W/title/restore.err") &
    PIDS+=($!)
    wait_for "$OUT" "^count $((last + 3))\$"
    kill -9 "$!"
    say "a program without its environment checkpointed twice, killed and restored"
}

# IMAGE.status is chosen by the target's user: a FIFO, a symlink to /dev/zero, a huge or
# another user's file there are refused at once with a message (no hang past --timeout, no
# memory exhausted), before the process is signalled.
test_statusfile() {
    local image=$W/st/s.ckpt kind rc want
    start "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    local kinds=(fifo zero big)
    [[ $EUID -eq 0 ]] && kinds+=(foreign)
    for kind in "${kinds[@]}"; do
        rm -f "$image.status"
        case $kind in
        fifo) mkfifo "$image.status"; want="is not a regular file (a FIFO)" ;;
        zero) ln -s /dev/zero "$image.status"; want="is a symbolic link" ;;
        big) truncate -s 1G "$image.status"; want="larger than the shim ever writes" ;;
        foreign) echo x >"$image.status"; chown nobody "$image.status"; want="belongs to uid $(id -u nobody)" ;;
        esac
        # Unprivileged, the directory is made read-only so that the program cannot replace
        # the file with its answer (root writes anyway).
        chmod 0500 "$W/st"
        rc=0
        (ulimit -v 4000000; exec timeout 20 "$CKPT" checkpoint --timeout 10 "$PID") >/dev/null \
            2>"$W/ckpt.err" || rc=$?
        chmod 0700 "$W/st"
        [[ $rc -eq 1 ]] || die "$kind: ckpt checkpoint exited $rc (1 expected): $(cat "$W/ckpt.err")"
        grep -qF "$want" "$W/ckpt.err" || die "$kind: $(cat "$W/ckpt.err")"
    done
    rm -f "$image.status"
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "afterwards: $(cat "$W/ckpt.err")"
    kill -9 "$PID"
    if [[ $EUID -eq 0 ]]; then
        # Root checkpoints another user's (uid 4242's) process, who planted a link to
        # /dev/zero where the answer goes.
        local other=$W/other4242
        mkdir -p "$other"
        chown 4242:4242 "$other"
        chmod 0711 "$W"
        (cd "$other" && exec setpriv --reuid=4242 --regid=4242 --clear-groups -- \
            "$RUN" --image "$other/o.ckpt" "$PROGDIR/counter" 100000 >"$other/out" 2>/dev/null) &
        PID=$!
        PIDS+=("$PID")
        wait_for "$other/out" "count 3 "
        setpriv --reuid=4242 --regid=4242 --clear-groups -- ln -s /dev/zero "$other/o.ckpt.status"
        rc=0
        (ulimit -v 4000000; exec timeout 20 "$CKPT" checkpoint --timeout 10 "$PID") >/dev/null \
            2>"$W/ckpt.err" || rc=$?
        [[ $rc -eq 1 ]] || die "another user's link: exit $rc: $(cat "$W/ckpt.err")"
        grep -qF "is a symbolic link" "$W/ckpt.err" || die "another user's link: $(cat "$W/ckpt.err")"
        setpriv --reuid=4242 --regid=4242 --clear-groups -- rm "$other/o.ckpt.status"
        "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "root on uid 4242: $(cat "$W/ckpt.err")"
        kill -9 "$PID"
        kinds+=("another user's link, checked by root")
    fi
    say "status files that cannot be answers refused: ${kinds[*]}"
}

# Concurrent requests: 15 `ckpt checkpoint` at once all succeed, each image verifies. Then
# 14 with one --kill among them: the --kill succeeds and kills the process; the others
# succeed, or (those made while the process waited for its SIGKILL) fail saying it exited.
test_concurrent() {
    local image=$W/conc/c.ckpt i rc ok=0 gone=0 pids=()
    start "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    for ((i = 1; i <= 15; i++)); do
        "$CKPT" checkpoint "$PID" >"$W/conc.$i.out" 2>"$W/conc.$i.err" &
        pids+=($!)
    done
    for ((i = 1; i <= 15; i++)); do
        wait "${pids[i - 1]}" || die "concurrent request $i failed: $(cat "$W/conc.$i.err")"
    done
    verify_ok "$image"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    start "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    pids=()
    for ((i = 1; i <= 15; i++)); do
        if [[ $i -eq 8 ]]; then
            "$CKPT" checkpoint --kill "$PID" >"$W/conc.$i.out" 2>"$W/conc.$i.err" &
        else
            "$CKPT" checkpoint "$PID" >"$W/conc.$i.out" 2>"$W/conc.$i.err" &
        fi
        pids+=($!)
    done
    for ((i = 1; i <= 15; i++)); do
        rc=0
        wait "${pids[i - 1]}" || rc=$?
        if [[ $i -eq 8 ]]; then
            [[ $rc -eq 0 ]] || die "the concurrent --kill failed: $(cat "$W/conc.$i.err")"
        elif [[ $rc -eq 0 ]]; then
            ok=$((ok + 1))
        elif grep -qE "process exited before its checkpoint|no such process" "$W/conc.$i.err"; then
            gone=$((gone + 1))
        else
            die "concurrent request $i (beside a --kill) failed: $(cat "$W/conc.$i.err")"
        fi
    done
    rc=0
    wait "$PID" || rc=$?
    [[ $rc -eq 137 ]] || die "the process ended with $rc, not by the --kill's SIGKILL"
    verify_ok "$image"
    say "15 concurrent requests served; beside a --kill: $ok served, $gone came after the kill"
}

# The directory fsync after the image's rename fails (EIO): the checkpoint is reported as
# failed — the image is in place but might not survive a crash.
test_dirsync() {
    local image=$W/dsync/c.ckpt rc=0
    mkdir -p "$W/dsync" "$W/run"
    start_failing fsync "$image" "$PROGDIR/counter" 100000
    wait_for "$OUT" "count 3 "
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || rc=$?
    [[ $rc -ne 0 ]] || die "ckpt checkpoint succeeded though the directory could not be synced"
    grep -q "syncing the directory $W/dsync: Input/output error" "$W/ckpt.err" ||
        die "no directory sync failure: $(cat "$W/ckpt.err")"
    verify_ok "$image"
    kill -9 "$PID"
    say "a failed directory sync reported: $(cat "$W/ckpt.err")"
}

# The THREAD record: ckpt inspect names the thread (tid, name, where it stood), the JSON
# has it under "threads" with glibc's tid word verified, and a THREAD record out of shape
# or with values the core could not use is refused by verify and restore-run alike.
test_threadrecord() {
    local image=$W/img/c.ckpt
    killed_counter_image "$image"
    verify_ok "$image"
    "$CKPT" inspect "$image" >"$W/inspect.txt" || die "ckpt inspect failed"
    grep -q "^thread $PID (leader) \"counter\"$" "$W/inspect.txt" ||
        die "ckpt inspect does not list thread $PID (leader) \"counter\": $(grep -A2 '^thread' "$W/inspect.txt")"
    grep -Eq '^  stood at    0x[0-9a-f]+ \(rsp 0x[0-9a-f]+\), where the checkpoint interrupted it$' \
        "$W/inspect.txt" && grep -Eq '^  rip/rsp     0x[0-9a-f]+/0x[0-9a-f]+, signal frame 0x[0-9a-f]+$' \
        "$W/inspect.txt" || die "ckpt inspect does not say where the thread stood: $(grep -A3 '^thread' "$W/inspect.txt")"
    "$CKPT" inspect "$image" --json >"$W/inspect.json" || die "ckpt inspect --json failed"
    grep -q "\"threads\":\[{\"tid\":$PID,\"comm\":\"counter\",\"leader\":true,\"flags\":[0-9]*" \
        "$W/inspect.json" || die "no leader thread $PID in the JSON: $(grep -o '"threads":[^]]*' "$W/inspect.json")"
    local flags
    flags=$(grep -o '"threads":\[{[^}]*' "$W/inspect.json" | grep -o '"flags":[0-9]*' | grep -o '[0-9]*$')
    (( flags & 2 )) || die "glibc's tid word is not marked verified (flags $flags)"
    grep -q '"nthreads":1,' "$W/inspect.json" || die "the process record does not count 1 thread"
    mkdir -p "$W/fuzz"
    local set
    for set in process.nthreads=2 thread[0].flags=0 thread[0].flags=0x13 thread[0].frame_addr=8 \
        thread[0].clear_child_tid=+1 thread[0].sched_policy=6 thread[0].nice=-21 \
        thread[0].flags=0xf; do
        "$PROGDIR/fuzz_fields" "$image" "--set=$set" "$CKPT" "$RESTORE" "$W/fuzz" >&2 ||
            die "the mutant $set was not refused by both (above)"
    done
}

test_fields() {
    local image=$W/img/c.ckpt
    killed_counter_image "$image"
    verify_ok "$image"
    mkdir -p "$W/fuzz"
    "$PROGDIR/fuzz_fields" "$image" 400 0x5eed 20 "$CKPT" "$RESTORE" "$W/fuzz" >&2 ||
        die "a mutant of the image was mishandled (above)"
    # What the fuzzer found, with other seeds: each must be refused by both.
    local set sets=(process.env_start=0xffff process.arg_start=0x2000 file[2].flags=0x7fffffff
        region[heap].kind=8 process.brk=0 process.start_stack=2 thread[0].context.rip=-0x100000000000)
    # A 4 TiB region: more than memory and swap, which mmap refuses unless it overcommits.
    [[ $(cat /proc/sys/vm/overcommit_memory) == 1 ]] || sets+=(region[heap].end=+0x40000000000)
    for set in "${sets[@]}"; do
        "$PROGDIR/fuzz_fields" "$image" "--set=$set" "$CKPT" "$RESTORE" "$W/fuzz" >&2 ||
            die "the mutant $set was not refused by both (above)"
    done
}

test_unknownkinds() {
    local image=$W/img/c.ckpt rc=0 size
    mkdir -p "$W/ref" "$W/elsewhere"
    (cd "$W/ref" && "$PROGDIR/counter" 60 >out 2>/dev/null) || true
    start "$image" "$PROGDIR/counter" 60
    wait_for "$OUT" "count 10 "
    "$CKPT" checkpoint "$PID" >/dev/null
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    "$PROGDIR/add-records" "$image" "$W/img/critical.ckpt" critical
    size=$(stat -c %s "$OUT")
    "$CKPT" verify "$W/img/critical.ckpt" >/dev/null 2>"$W/verify.err" || rc=$?
    [[ $rc -eq 1 ]] || die "ckpt verify of a critical unknown kind exited $rc"
    grep -q "needs record kind 0x000c, which this restore-run does not know" "$W/verify.err" ||
        die "ckpt verify: $(cat "$W/verify.err")"
    rc=0
    (cd "$W/elsewhere" && exec "$RESTORE" "$W/img/critical.ckpt" >/dev/null 2>"$W/restore.err") ||
        rc=$?
    [[ $rc -eq 1 ]] || die "restore-run of a critical unknown kind exited $rc"
    grep -q "^restore-run: $W/img/critical.ckpt: needs record kind 0x000c, which this restore-run does not know" \
        "$W/restore.err" || die "restore-run: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$OUT") -eq $size ]] || die "the refused restore changed the program's output"
    # An image of format 2: refused by number, its header still shown by ckpt inspect.
    "$PROGDIR/add-records" "$image" "$W/img/format2.ckpt" format2
    local tool
    for tool in verify inspect; do
        rc=0
        "$CKPT" "$tool" "$W/img/format2.ckpt" >"$W/tool.out" 2>"$W/tool.err" || rc=$?
        [[ $rc -eq 1 ]] && grep -q "^ckpt: $W/img/format2.ckpt: image format 2, this restore-run reads format 3$" \
            "$W/tool.err" || die "ckpt $tool of a format 2 image exited $rc: $(cat "$W/tool.err")"
    done
    grep -q "^format      version 2.0," "$W/tool.out" || die "ckpt inspect shows no header: $(cat "$W/tool.out")"
    rc=0
    (cd "$W/elsewhere" && exec "$RESTORE" "$W/img/format2.ckpt" >/dev/null 2>"$W/restore.err") || rc=$?
    [[ $rc -eq 1 ]] && grep -q "^restore-run: $W/img/format2.ckpt: image format 2, this restore-run reads format 3$" \
        "$W/restore.err" || die "restore-run of a format 2 image exited $rc: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$OUT") -eq $size ]] || die "the refused restore changed the program's output"
    "$PROGDIR/add-records" "$image" "$W/img/optional.ckpt" optional
    rc=0
    "$CKPT" inspect "$W/img/optional.ckpt" | grep "of unknown kinds (skipped)" >/dev/null ||
        die "ckpt inspect does not show the unknown records"
    "$CKPT" inspect "$W/img/optional.ckpt" --json >"$W/optional.json"
    grep -q '"files":\[{"id":1,"kind":"' "$W/optional.json" &&
        grep -q '"unknown":\[{"kind":"0x100","flags":"0x0","length":32,"id":0},{"kind":"0x101"' \
            "$W/optional.json" || die "ckpt inspect --json: $(cat "$W/optional.json")"
    verify_ok "$W/img/optional.ckpt"
    (cd "$W/elsewhere" && exec "$RESTORE" "$W/img/optional.ckpt" 2>"$W/restore.err") || rc=$?
    [[ $rc -eq 17 ]] || die "the restored counter exited $rc (17 expected): $(cat "$W/restore.err")"
    cmp "$OUT" "$W/ref/out" || die "the restored program's output differs from an uninterrupted run"
    rc=0 # again, mapping the pages from the image
    (cd "$W/elsewhere" && exec "$RESTORE" --lazy "$W/img/optional.ckpt" 2>"$W/restore.err") || rc=$?
    [[ $rc -eq 17 ]] || die "restore-run --lazy: the counter exited $rc: $(cat "$W/restore.err")"
    cmp "$OUT" "$W/ref/out" || die "the lazily restored program's output differs"
    say "unknown optional kinds skipped and restored; an unknown critical kind refused"
}

# restored_like_reference LIMITS WAIT_FOR PROGRAM ARGS...: runs PROGRAM with the limits the
# shell commands LIMITS set, uninterrupted, then under checkpoint-run with the same limits,
# checkpointed once its output has WAIT_FOR, killed, and restored from another directory
# with the same limits: the output must be the uninterrupted run's and the exit status too.
restored_like_reference() {
    local limits=$1 want=$2 rc=0 ref_rc=0 image=$W/img/l.ckpt
    shift 2
    mkdir -p "$W/ref" "$W/run" "$W/elsewhere"
    (cd "$W/ref" && eval "$limits" && exec "$@" >out 2>err) || ref_rc=$?
    SEQ=$((SEQ + 1))
    OUT=$W/run/out.$SEQ ERR=$W/run/err.$SEQ
    (cd "$W/run" && eval "$limits" && exec "$RUN" --image "$image" "$@" >"$OUT" 2>"$ERR") &
    PID=$!
    PIDS+=("$PID")
    wait_for "$OUT" "$want"
    "$CKPT" checkpoint "$PID" >/dev/null
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    (cd "$W/elsewhere" && eval "$limits" && exec "$RESTORE" "$image" 2>"$W/restore.err") || rc=$?
    grep -q "^restore-run: " "$W/restore.err" && die "$limits: $(cat "$W/restore.err")"
    [[ $rc -eq $ref_rc ]] || die "$limits: exit status $rc, uninterrupted $ref_rc"
    cmp "$OUT" "$W/ref/out" || die "$limits: the output differs from an uninterrupted run"
}

test_fdlimit() {
    restored_like_reference "ulimit -n 32" "count 10 " "$PROGDIR/counter" 40
    say "counter (3 descriptors) restored under ulimit -n 32"
    head -c 16384 /dev/urandom >"$W/pages"
    restored_like_reference "ulimit -Hn 20000; ulimit -Sn 1024" "step 5 " "$PROGDIR/manymaps" "$W/pages" 12000 40
    grep -q "^step 40 nofile 1024 20000 " "$OUT" || die "the restored program's limits: $(tail -1 "$OUT")"
    say "12000 mappings restored under soft 1024 / hard 20000 descriptors, the program's limits back"
}

test_manyfds() {
    restored_like_reference "ulimit -Sn 1024; ulimit -Hn 4096" "step 10 " "$PROGDIR/manyfds" shared.log 2000 60
    grep -q "^step 60 offsets 471 471$" "$OUT" || die "the restored program's offsets: $(tail -1 "$OUT")"
    # In the image the dup is a second FD record naming the same FILE object.
    local json file3 file1500
    json=$("$CKPT" inspect "$W/img/l.ckpt" --json)
    file3=$(grep -o '{"fd":3,"file":[0-9]*' <<<"$json" | grep -o '[0-9]*$') || true
    file1500=$(grep -o '{"fd":1500,"file":[0-9]*' <<<"$json" | grep -o '[0-9]*$') || true
    [[ -n $file3 && $file3 == "$file1500" ]] ||
        die "descriptors 3 and 1500 name files '$file3' and '$file1500', not one FILE object"
    say "2000 descriptors, 1500 a dup of 3: the offset still shared after a restore"
}

test_running() {
    local image=$W/img/r.ckpt rc=0 size
    mkdir -p "$W/ref" "$W/elsewhere"
    (cd "$W/ref" && "$PROGDIR/counter" 60 >out 2>/dev/null) || true
    start "$image" "$PROGDIR/counter" 60
    wait_for "$OUT" "count 10 "
    "$CKPT" checkpoint "$PID" >/dev/null
    "$CKPT" verify "$image" >/dev/null 2>"$W/verify.err" || die "ckpt verify: $(cat "$W/verify.err")"
    grep -q "warning: the checkpointed process (pid $PID) is still running" "$W/verify.err" ||
        die "ckpt verify did not warn: $(cat "$W/verify.err")"
    kill -STOP "$PID" # its output stays as it is while restore-run tries
    size=$(stat -c %s "$OUT")
    (cd "$W/elsewhere" && exec "$RESTORE" "$image" >/dev/null 2>"$W/restore.err") || rc=$?
    [[ $rc -eq 1 ]] || die "restore-run of a running process's image exited $rc: $(cat "$W/restore.err")"
    grep -q "^restore-run: $image: refused: the checkpointed process (pid $PID) is still running" \
        "$W/restore.err" || die "restore-run: $(cat "$W/restore.err")"
    [[ $(stat -c %s "$OUT") -eq $size ]] || die "the refused restore changed the program's output file"
    (cd "$W/elsewhere" && CKPT_TEST_STOP_BEFORE_RESTORE=1 exec "$RESTORE" --while-running "$image" \
        >"$W/restore.out" 2>"$W/restore.err") || die "--while-running: $(cat "$W/restore.err")"
    grep -q "stopped before the point of no return" "$W/restore.out" || die "--while-running did not pass"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    "$CKPT" verify "$image" >/dev/null 2>"$W/verify.err" || die "ckpt verify: $(cat "$W/verify.err")"
    [[ ! -s $W/verify.err ]] || die "ckpt verify still warns: $(cat "$W/verify.err")"
    (cd "$W/elsewhere" && exec "$RESTORE" "$image" 2>"$W/restore.err") || true
    cmp "$OUT" "$W/ref/out" || die "the restored program's output differs from an uninterrupted run"
    say "refused while the process ran, restored once it was killed"
}

# hugepages: memory in transparent huge pages stays in huge pages through incremental
# checkpoints (the kernel would split each at its first write after a write-protect; such
# memory is compared by content instead), and an incremental image of it holds little more
# than the pages written. ckpt-bench-worker rewrite writes only when told (SIGUSR1), so no
# write falls in a writer child's lifetime (a copy-on-write fault splits a huge page too).
holders_of_deleted() { # holders_of_deleted DIR: pids holding a deleted file of DIR
    local fd target
    for fd in /proc/[0-9]*/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        if [[ $target == "$1"/*" (deleted)" ]]; then echo "${fd%/fd/*}"; fi
    done | sort -u
}
children_alive() { # children_alive PID: is a child of PID still running (not a zombie)?
    local p
    for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        grep -qs '^State:.Z' "/proc/$p/status" || return 0
    done
    return 1
}
writers_gone() { # writers_gone PID: waits until every child of PID (its writers) has ended
    local i
    for ((i = 0; i < 200; i++)); do
        children_alive "$1" || return 0
        sleep 0.05
    done
    die "a writer child of $1 did not end within 10 s"
}
rewritten_lines() { [[ $(grep -c '^rewritten' "$OUT") -ge $1 ]]; }

# lingering: a writer that has answered only frees the image it replaced (seconds for a
# large image with discard), and the next checkpoint does not wait for that; the writer is
# the shim's child, not a child process of the program's. CKPT_TEST_WRITER_LINGER_MS makes
# each writer wait 4 s after its answer: four checkpoints in a row all succeed while the
# earlier writers still linger, and the program, ending, waits for them (none left behind).
test_lingering() {
    local image=$W/img/l.ckpt i alive=0 p rc=0 left
    CKPT_TEST_WRITER_LINGER_MS=4000 start "$image" "$PROGDIR/bigmem" 32 250
    wait_for "$OUT" "tick 2 "
    for i in 1 2 3 4; do
        "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "checkpoint $i: $(cat "$W/ckpt.err")"
    done
    for p in $(cat /proc/"$PID"/task/*/children 2>/dev/null); do
        grep -qs '^State:.Z' "/proc/$p/status" || alive=$((alive + 1))
    done
    [[ $alive -ge 2 ]] || die "$alive writers still lingering after 4 checkpoints: the checkpoints waited for them"
    verify_ok "$image"
    wait "$PID" || rc=$?
    [[ $rc -eq 0 ]] || die "the program exited $rc: $(tail -n 2 "$ERR")"
    grep -q "ckpt:" "$ERR" && die "the program's stderr: $(grep ckpt: "$ERR" | head -n 2)"
    left=$(holders_of_deleted "$W/img")
    [[ -z $left ]] || die "replaced images still held open after the program ended, by $left"
    say "4 checkpoints while $alive earlier writers still lingered; none left after the end"
}

test_hugepages() {
    local image=$W/img/h.ckpt worker before after i data rewritten=0
    worker=$(dirname "$RESTORE")/../libexec/ckpt/ckpt-bench-worker
    [[ -x $worker ]] || die "no $worker"
    start "$image" --incremental=64 --signal USR2 "$worker" rewrite 64 huge
    wait_for "$OUT" "ready "
    before=$(awk '/^ready/ { print $3 }' "$OUT")
    [[ $before -gt 0 ]] || die "the worker got no transparent huge pages (THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled))"
    "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "checkpoint: $(cat "$W/ckpt.err")"
    for i in 1 2 3 4 5; do
        writers_gone "$PID"
        kill -USR1 "$PID"
        wait_until 10 rewritten_lines "$i" || die "the worker did not rewrite its pages ($i)"
        "$CKPT" checkpoint "$PID" >/dev/null 2>"$W/ckpt.err" || die "checkpoint $i: $(cat "$W/ckpt.err")"
    done
    writers_gone "$PID"
    after=$(awk '/^AnonHugePages:/ { print $2 }' "/proc/$PID/smaps_rollup")
    rewritten=$(awk '/^rewritten/ { n = $2 } END { print n * 4096 }' "$OUT")
    data=$("$CKPT" inspect "$image" --json | grep -o '"data_bytes":[0-9]*' | head -n 1 | grep -o '[0-9]*$')
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    [[ $after -ge $before ]] || die "incremental checkpoints split huge pages: $before KiB before, $after KiB after"
    [[ $((data * 10)) -le $((rewritten * 15)) ]] ||
        die "the last incremental image holds $data bytes of data for $rewritten bytes written"
    "$CKPT" inspect "$image" --json | grep -q '"page_hashes":\[{' || die "the image has no PAGE_HASHES records"
    say "6 checkpoints: $after KiB of huge pages ($before before); the last image $data bytes for $rewritten written"
}

test_aslimit() {
    local image=$W/img/a.ckpt kib rc size
    start "$image" "$PROGDIR/bigmem" 64 1000000
    wait_for "$OUT" "tick 3 "
    "$CKPT" checkpoint "$PID" >/dev/null
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    size=$(stat -c %s "$OUT")
    for kib in 60000 100000; do # below the image; below the image and the program's memory
        rc=0
        (ulimit -v $kib && exec "$CKPT" verify "$image") >/dev/null 2>"$W/verify.err" || rc=$?
        [[ $rc -eq 1 ]] && grep -q "RLIMIT_AS (ulimit -v) allows" "$W/verify.err" ||
            die "ckpt verify under ulimit -v $kib: exit $rc: $(cat "$W/verify.err")"
        rc=0
        (ulimit -v $kib && exec "$RESTORE" "$image") >/dev/null 2>"$W/restore.err" || rc=$?
        [[ $rc -eq 1 ]] && grep -q "^restore-run: $image: restoring needs .* RLIMIT_AS (ulimit -v) allows" \
            "$W/restore.err" || die "restore-run under ulimit -v $kib: exit $rc: $(cat "$W/restore.err")"
        [[ $(stat -c %s "$OUT") -eq $size ]] || die "ulimit -v $kib: the refused restore resumed the program"
    done
    local last
    last=$(grep -c "^tick " "$OUT")
    (ulimit -v 400000 && exec "$RESTORE" "$image" 2>"$W/restore.err") &
    PID=$!
    PIDS+=("$PID")
    wait_for "$OUT" "tick $((last + 2)) "
    kill -9 "$PID"
    say "refused naming RLIMIT_AS under ulimit -v 60000 and 100000, restored under 400000"
}

# ---------------------------------------------------------------------------------------
# What a restore does to the program's files (kinds sharedoutput, foreign, fifo, nospace,
# race). These play a second user, uid 4242 (EVIL), who can write the program's
# directories, so the script itself stays root: --unprivileged runs the program,
# checkpoint-run, restore-run and ckpt as nobody (AS), otherwise they run as root. Files
# the attacker aims at must come out byte for byte unchanged.

EVIL=(setpriv --reuid=4242 --regid=4242 --clear-groups --)

# own_dir DIR [MODE]: a directory of the program's user (0700 unless MODE).
own_dir() {
    mkdir -p "$1"
    chown "$PROG_USER" "$1"
    chmod "${2:-0700}" "$1"
}

# start_as CWD OUTDIR IMAGE PROGRAM ARGS...: like start, as the program's user, in CWD;
# stdout and stderr are new files of that user in OUTDIR ($OUT, $ERR).
start_as() {
    local cwd=$1 outdir=$2 image=$3
    shift 3
    SEQ=$((SEQ + 1))
    OUT=$outdir/out.$SEQ ERR=$outdir/err.$SEQ
    "${AS[@]}" touch "$OUT" "$ERR"
    (cd "$cwd" && exec "${AS[@]}" setsid "$RUN" --image "$image" "$@" >"$OUT" 2>"$ERR") &
    PID=$!
    PIDS+=("$PID")
}

# reference DIR PROGRAM ARGS...: an uninterrupted run in DIR (its stdout in DIR/out).
reference() {
    local dir=$1
    shift
    own_dir "$dir"
    (cd "$dir" && "${AS[@]}" "$@" >"$dir/out" 2>/dev/null) || true
}

# checkpoint_kill: the program $PID, once its stdout has "$1", checkpointed with --kill.
checkpoint_kill() {
    wait_for "$OUT" "$1"
    "${AS[@]}" "$CKPT" checkpoint --kill "$PID" >/dev/null || die "ckpt checkpoint --kill failed"
    wait "$PID" 2>/dev/null || true
}

# refused_as_user WANT IMAGE: ckpt verify and restore-run (as the program's user, from
# another directory, under ${WRAP[@]} if set) refuse within 10 s, both naming WANT.
WRAP=()
refused_as_user() {
    local want=$1 image=$2 tool rc
    for tool in verify restore; do
        rc=0
        if [[ $tool == verify ]]; then
            (cd / && timeout 10 "${AS[@]}" "${WRAP[@]}" "$CKPT" verify "$image") >/dev/null 2>"$W/$tool.err" || rc=$?
        else
            (cd / && timeout 10 "${AS[@]}" "${WRAP[@]}" "$RESTORE" "$image") >/dev/null 2>"$W/$tool.err" </dev/null || rc=$?
        fi
        [[ $rc -ne 124 ]] || die "$tool hung ($want)"
        [[ $rc -eq 1 ]] || die "$tool exited $rc, 1 expected ($want): $(cat "$W/$tool.err")"
        grep -qF -- "$want" "$W/$tool.err" || die "$tool: \"$(cat "$W/$tool.err")\" lacks \"$want\""
    done
}

# snapshot DIR: a copy of every file in DIR (names, sizes, bytes) to compare with later.
snapshot() {
    rm -rf "$W/snap"
    mkdir -p "$W/snap"
    (cd "$1" && find . -type f -printf '%p %s %i\n' | sort) >"$W/snap/list"
    cp -a "$1" "$W/snap/copy"
}
unchanged_since_snapshot() {
    local dir=$1 what=$2
    [[ "$(cd "$dir" && find . -type f -printf '%p %s %i\n' | sort)" == "$(cat "$W/snap/list")" ]] ||
        die "$what: the files in $dir changed: $(cd "$dir" && find . -type f -printf '%p %s %i\n' | sort | tr '\n' ' ')"
    local f size ino
    while read -r f size ino; do
        cmp -s "$W/snap/copy/$f" "$dir/$f" || die "$what: $f changed"
    done <"$W/snap/list"
}

# 10.1: output the program shares with others is never destroyed.
test_sharedoutput() {
    local counter=$PROGDIR/counter img d log
    own_dir "$W/img"
    reference "$W/ref" "$counter" 40
    # As tools/demo.sh > demo.log: the shell, the program and the restored program share
    # one open file. Without the shell's lines the log is the uninterrupted output.
    d=$W/demo
    own_dir "$d"
    img=$W/img/demo.ckpt
    cat >"$W/demo.sh" <<'EOS'
RUN=$1 CKPT=$2 RESTORE=$3 PROG=$4 IMG=$5 LOG=$6
echo "shell: before"
"$RUN" --image "$IMG" "$PROG" 40 2>/dev/null &
pid=$!
until grep -q "^count 10 " "$LOG"; do sleep 0.01; done
"$CKPT" checkpoint --kill "$pid" >/dev/null
wait "$pid"
echo "shell: between"
(cd / && "$RESTORE" "$IMG")
echo "shell: after, status $?"
EOS
    chmod a+r "$W/demo.sh"
    log=$d/demo.log
    "${AS[@]}" touch "$log"
    (cd "$d" && "${AS[@]}" bash "$W/demo.sh" "$RUN" "$CKPT" "$RESTORE" "$counter" "$img" "$log" \
        >"$log" 2>"$d/demo.err") || die "the demo script failed: $(cat "$d/demo.err")"
    [[ $(tr -d '\000' <"$log" | wc -c) -eq $(wc -c <"$log") ]] || die "demo.log holds NUL bytes"
    [[ "$(grep '^shell: ' "$log" | tr '\n' '|')" == "shell: before|shell: between|shell: after, status 17|" ]] ||
        die "the shell's lines in demo.log: $(grep '^shell: ' "$log" | tr '\n' '|')"
    grep -v '^shell: ' "$log" | cmp -s - "$W/ref/out" || die "demo.log without the shell's lines differs from an uninterrupted run"
    # And tools/demo.sh itself: its four lines and the counter's thirty, no NUL byte.
    local demo
    demo=$(cd "$(dirname "$0")/../../tools" && pwd)/demo.sh
    "${AS[@]}" touch "$W/demo/real.log"
    (cd / && "${AS[@]}" bash "$demo" "$BINDIR/.." >"$W/demo/real.log" 2>&1) ||
        die "tools/demo.sh failed: $(tail -3 "$W/demo/real.log")"
    [[ $(tr -d '\000' <"$W/demo/real.log" | wc -c) -eq $(wc -c <"$W/demo/real.log") ]] ||
        die "tools/demo.sh > log: NUL bytes in the log"
    [[ $(grep -c '^== ' "$W/demo/real.log") -eq 4 && $(grep -c '^count ' "$W/demo/real.log") -eq 30 ]] ||
        die "tools/demo.sh > log: $(grep -c '^== ' "$W/demo/real.log") of its 4 lines, $(grep -c '^count ' "$W/demo/real.log") of 30 counts"
    say "shared stdout (demo.sh > demo.log): the shell's lines kept, the program's exactly once"

    # { echo before; checkpoint-run prog; echo "shell: line 1"; } >> log, restored later
    # with its output elsewhere: the program appends again, nothing is cut.
    local mode expect
    for mode in append cut-appended; do
        d=$W/$mode
        own_dir "$d"
        img=$W/img/$mode.ckpt
        log=$d/log
        "${AS[@]}" touch "$log"
        (cd "$d" && {
            echo before
            "${AS[@]}" "$RUN" --image "$img" "$counter" 40 2>/dev/null &
            echo $! >"$W/pid"
            wait $! || true
            echo "shell: line 1"
        } >>"$log") &
        local shell=$!
        until [[ -s $W/pid ]]; do sleep 0.01; done
        PID=$(cat "$W/pid")
        rm "$W/pid"
        until grep -q "^count 10 " "$log"; do sleep 0.01; done
        "${AS[@]}" "$CKPT" checkpoint --kill "$PID" >/dev/null || die "$mode: checkpoint failed"
        wait "$shell"
        local opts=()
        [[ $mode == cut-appended ]] && opts=(--cut-appended)
        (cd / && "${AS[@]}" "$RESTORE" "${opts[@]}" "$img" >/dev/null 2>"$d/restore.err" </dev/null) || true
        if [[ $mode == append ]]; then
            # The program's lines up to the checkpoint (at count 10 or a little later), the
            # shell's line, then the restored program's.
            local k
            k=$(sed -n '/^shell: line 1$/q;/^count /p' "$log" | wc -l)
            [[ $k -ge 10 ]] || die "append: the shell's line is not after the checkpoint's count"
            expect=$( (echo before; head -n "$k" "$W/ref/out"; echo "shell: line 1"; tail -n +$((k + 1)) "$W/ref/out"))
        else
            expect=$( (echo before; cat "$W/ref/out"))
        fi
        [[ "$(cat "$log")" == "$expect" ]] || die "$mode: the log is not as expected: $(head -c 600 "$log")"
    done
    say "inherited >> log: reopened for appending, the shell's line kept; --cut-appended cuts it"

    # checkpoint-run prog > out, killed while running on, restored from elsewhere: the
    # program's own file, cut back, each line exactly once.
    d=$W/once
    own_dir "$d"
    start_as "$d" "$d" "$W/img/once.ckpt" "$counter" 40
    wait_for "$OUT" "^count 10 "
    "${AS[@]}" "$CKPT" checkpoint "$PID" >/dev/null
    wait_for "$OUT" "^count 20 "
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    (cd / && "${AS[@]}" "$RESTORE" "$W/img/once.ckpt" >/dev/null 2>"$d/restore.err" </dev/null) || true
    cmp -s "$OUT" "$W/ref/out" || die "checkpoint-run prog > out: out differs from an uninterrupted run"
    say "checkpoint-run prog > out, restored from elsewhere: each line exactly once"
}

# 11.1: symbolic links and files another user put in the program's directory are refused.
test_foreign() {
    local shared=$W/shared d=$W/shared/sub img=$W/img/w.ckpt
    own_dir "$W/img"
    own_dir "$shared" 0777
    own_dir "$d" 0777
    echo "input of the program's user" >"$d/in.txt"
    chown "$PROG_USER" "$d/in.txt"
    start_as "$d" "$W/img" "$img" "$PROGDIR/filewriter" 40 16
    checkpoint_kill "^step 10$"
    # The victims: a file of the restoring user's (root-owned when root restores), one in
    # /dev/shm (another file system), and a directory like the program's.
    echo "precious contents" >"$W/victim"
    chown "$PROG_USER" "$W/victim"
    local shm
    shm=$(mktemp /dev/shm/ckpt-victim.XXXXXX)
    echo "precious log" >"$shm"
    chown "$PROG_USER" "$shm"
    chmod 0666 "$W/victim" "$shm"
    mkdir "$W/victimdir"
    cp -a "$d/." "$W/victimdir/"
    chown -R "$PROG_USER" "$W/victimdir"
    chmod 0777 "$W/victimdir"
    cp "$W/victim" "$W/victim.orig"
    cp "$shm" "$W/shm.orig"
    snapshot "$W/victimdir"

    "${EVIL[@]}" mv "$d/data.rw" "$d/data.away"
    "${EVIL[@]}" ln -s "$W/victim" "$d/data.rw"
    refused_as_user "data.rw (descriptor 3): a symbolic link is now in its path" "$img"
    "${EVIL[@]}" rm "$d/data.rw"
    "${EVIL[@]}" dd if=/dev/zero of="$d/data.rw" bs=64k count=1 status=none
    refused_as_user "data.rw (descriptor 3) was replaced by a file of uid 4242" "$img"
    "${EVIL[@]}" rm "$d/data.rw"
    "${EVIL[@]}" mv "$d/data.away" "$d/data.rw"

    "${EVIL[@]}" mv "$d/out.log" "$d/out.away"
    "${EVIL[@]}" ln -s "$shm" "$d/out.log"
    refused_as_user "out.log (descriptor 4): a symbolic link is now in its path" "$img"
    "${EVIL[@]}" rm "$d/out.log"
    "${EVIL[@]}" dd if=/dev/zero of="$d/out.log" bs=64k count=1 status=none
    refused_as_user "out.log (descriptor 4) was replaced by another file (inode" "$img"
    "${EVIL[@]}" rm "$d/out.log"
    "${EVIL[@]}" mv "$d/out.away" "$d/out.log"

    # A file only read, replaced by a copy of the same size and modification time: another
    # user's file is refused (a copy of the restoring user's or root's would do).
    "${EVIL[@]}" mv "$d/in.txt" "$d/in.away"
    "${EVIL[@]}" cp "$d/in.away" "$d/in.txt"
    "${EVIL[@]}" touch -r "$d/in.away" "$d/in.txt"
    refused_as_user "in.txt (descriptor 5) was replaced by a file of uid 4242" "$img"
    "${EVIL[@]}" rm "$d/in.txt"
    "${EVIL[@]}" mv "$d/in.away" "$d/in.txt"

    # A directory on the way replaced by a symbolic link to one that looks the same.
    "${EVIL[@]}" mv "$d" "$shared/sub.away"
    "${EVIL[@]}" ln -s "$W/victimdir" "$d"
    refused_as_user "a symbolic link is now in its path" "$img"
    "${EVIL[@]}" rm "$d"
    "${EVIL[@]}" mv "$shared/sub.away" "$d"

    # The same without openat2 (a kernel before 5.6, a container's seccomp profile): the
    # path is walked one component at a time, no symbolic link followed either.
    WRAP=("$PROGDIR/failing-syscall" openat2 --)
    "${EVIL[@]}" mv "$d/data.rw" "$d/data.away"
    "${EVIL[@]}" ln -s "$W/victim" "$d/data.rw"
    refused_as_user "data.rw (descriptor 3): a symbolic link is now in its path" "$img"
    "${EVIL[@]}" rm "$d/data.rw"
    "${EVIL[@]}" mv "$d/data.away" "$d/data.rw"
    "${EVIL[@]}" mv "$d" "$shared/sub.away"
    "${EVIL[@]}" ln -s "$W/victimdir" "$d"
    refused_as_user "a symbolic link is now in its path" "$img"
    "${EVIL[@]}" rm "$d"
    "${EVIL[@]}" mv "$shared/sub.away" "$d"

    cmp -s "$W/victim" "$W/victim.orig" || die "restore-run or ckpt verify wrote to $W/victim"
    cmp -s "$shm" "$W/shm.orig" || die "restore-run or ckpt verify wrote to $shm"
    unchanged_since_snapshot "$W/victimdir" "the look-alike directory"
    rm -f "$shm"
    # Everything back in place, but data.rw replaced by a file of the program's own user (as
    # a program recreates its journal): allowed, the stored contents replace it.
    "${AS[@]}" mv "$d/data.rw" "$d/data.old"
    "${AS[@]}" dd if=/dev/zero of="$d/data.rw" bs=1k count=3 status=none
    # The restore proceeds and the program finishes.
    own_dir "$W/ref"
    cp "$d/in.txt" "$W/ref/in.txt"
    reference "$W/ref" "$PROGDIR/filewriter" 40 16
    local rc=0
    (cd / && "${AS[@]}" "${WRAP[@]}" "$RESTORE" "$img" >/dev/null 2>"$W/restore.err" </dev/null) || rc=$?
    [[ $rc -eq 0 ]] || die "restore (without openat2) after the attacks were undone: exit $rc: $(cat "$W/restore.err")"
    cmp -s "$OUT" "$W/ref/out" || die "stdout differs from an uninterrupted run"
    cmp -s "$d/data.rw" "$W/ref/data.rw" || die "data.rw differs from an uninterrupted run"
    cmp -s "$d/out.log" "$W/ref/out.log" || die "out.log differs from an uninterrupted run"
    [[ -z $(find "$d" -name '.ckpt-restore.*') ]] || die "temporaries left in $d"
    say "symbolic links (file, log on another file system, directory) and others' files refused; victims unchanged"
}

# 11.4: a FIFO where a file was, or given as the image: a quick refusal, nothing blocks.
test_fifo() {
    local d=$W/f img=$W/img/f.ckpt name
    own_dir "$W/img"
    own_dir "$d"
    start_as "$d" "$W/img" "$img" "$PROGDIR/filewriter" 40 16
    checkpoint_kill "^step 10$"
    for name in data.rw out.log; do
        mv "$d/$name" "$d/$name.away"
        "${AS[@]}" mkfifo "$d/$name"
        snapshot "$d"
        refused_as_user "$name (descriptor" "$img"
        grep -qF "is now a FIFO, it was a regular file: refused" "$W/restore.err" ||
            die "$name: $(cat "$W/restore.err")"
        unchanged_since_snapshot "$d" "a FIFO in place of $name"
        rm "$d/$name"
        mv "$d/$name.away" "$d/$name"
    done
    "${AS[@]}" mkfifo "$W/img/fifo.ckpt"
    local tool rc
    for tool in inspect verify; do
        rc=0
        timeout 10 "${AS[@]}" "$CKPT" "$tool" "$W/img/fifo.ckpt" >/dev/null 2>"$W/$tool.err" || rc=$?
        [[ $rc -ne 124 ]] || die "ckpt $tool hung on a FIFO given as the image"
        [[ $rc -ne 0 ]] || die "ckpt $tool accepted a FIFO as the image"
        grep -q "not a regular file" "$W/$tool.err" || die "ckpt $tool on a FIFO: $(cat "$W/$tool.err")"
    done
    rc=0
    timeout 10 "${AS[@]}" "$RESTORE" "$W/img/fifo.ckpt" >/dev/null 2>"$W/restore.err" </dev/null || rc=$?
    [[ $rc -eq 1 ]] || die "restore-run on a FIFO given as the image exited $rc"
    # Not even opened: a writer waiting for a reader of the FIFO is never let through (the
    # image is found with O_PATH and checked before it is opened).
    (exec 3>"$W/img/fifo.ckpt" && echo opened >"$W/fifo.opened") &
    local writer=$!
    PIDS+=("$writer")
    for tool in "$CKPT verify" "$RESTORE"; do
        $tool "$W/img/fifo.ckpt" >/dev/null 2>&1 </dev/null || true
    done
    sleep 0.2
    [[ ! -e $W/fifo.opened ]] || die "restore-run or ckpt verify opened a FIFO given as the image"
    kill "$writer" 2>/dev/null || true
    verify_ok_as "$img"
    say "FIFOs in place of the program's files and as the image refused at once"
}

verify_ok_as() { "${AS[@]}" "$CKPT" verify "$1" >/dev/null 2>"$W/verify.err" || die "ckpt verify $1: $(cat "$W/verify.err")"; }

# 11.3: a restore refused for want of space has changed no file.
test_nospace() {
    if [[ ${CKPT_INTEGRITY_NS-} != 1 ]]; then
        trap - EXIT
        rm -rf "$W"
        exec unshare --mount --propagation private env CKPT_INTEGRITY_NS=1 bash "$0" "$BINDIR" \
            "$PROGDIR" nospace ${4-}
    fi
    local d=$W/small img=$W/img/n.ckpt
    own_dir "$W/img"
    mkdir -p "$d"
    mount -t tmpfs -o size=1m,mode=0700 ckpt-test "$d"
    chown "$PROG_USER" "$d"
    reference "$W/ref" "$PROGDIR/filewriter" --shrink 25 40 400
    start_as "$d" "$d" "$img" "$PROGDIR/filewriter" --shrink 25 40 400
    wait_for "$OUT" "^step 10$"
    "${AS[@]}" "$CKPT" checkpoint "$PID" >/dev/null
    # data.rw was cut (step 25) after the checkpoint: its contents need room again.
    wait_for "$OUT" "^step 30$"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    # Less room than data.rw's 400 KiB at checkpoint.
    local avail
    avail=$(df --output=avail -B 4096 "$d" | tail -1)
    dd if=/dev/zero of="$d/fill" bs=4096 count=$((avail - 20)) status=none
    snapshot "$d"
    local rc=0
    (cd / && timeout 20 "${AS[@]}" "$RESTORE" "$img" >/dev/null 2>"$W/restore.err" </dev/null) || rc=$?
    [[ $rc -eq 1 ]] || die "restore-run without space exited $rc: $(cat "$W/restore.err")"
    grep -q "No space left on device" "$W/restore.err" || die "no ENOSPC: $(cat "$W/restore.err")"
    unchanged_since_snapshot "$d" "after the refused restore"
    rm "$d/fill"
    rc=0
    (cd / && "${AS[@]}" "$RESTORE" "$img" >/dev/null 2>"$W/restore.err" </dev/null) || rc=$?
    [[ $rc -eq 0 ]] || die "restore with space exited $rc: $(cat "$W/restore.err")"
    cmp -s "$OUT" "$W/ref/out" || die "stdout differs from an uninterrupted run"
    cmp -s "$d/data.rw" "$W/ref/data.rw" || die "data.rw differs from an uninterrupted run"
    cmp -s "$d/out.log" "$W/ref/out.log" || die "out.log differs from an uninterrupted run"
    umount "$d"
    say "refused for ENOSPC ($(sed 's/.*: //' "$W/restore.err" | head -c 80)), every file unchanged; restored once there was room"
}

# 11.8: two restores of one image at once: one proceeds, the other refuses before it
# changes anything (and never dies after its point of no return).
test_race() {
    local d=$W/r img=$W/img/r.ckpt pairs=20 i
    own_dir "$W/img"
    own_dir "$d"
    reference "$W/ref" "$PROGDIR/filewriter" --lock 30 16
    start_as "$d" "$d" "$img" "$PROGDIR/filewriter" --lock 30 16
    checkpoint_kill "^step 10$"
    mkdir "$W/at-kill"
    cp "$OUT" "$d/data.rw" "$d/out.log" "$W/at-kill/"
    local out=$OUT
    local ok=0 first second
    for ((i = 0; i < pairs; i++)); do
        cat "$W/at-kill/$(basename "$out")" >"$out"
        cat "$W/at-kill/data.rw" >"$d/data.rw"
        cat "$W/at-kill/out.log" >"$d/out.log"
        (cd / && exec "${AS[@]}" "$RESTORE" "$img" >/dev/null 2>"$W/r1.err" </dev/null) &
        first=$!
        (cd / && exec "${AS[@]}" "$RESTORE" "$img" >/dev/null 2>"$W/r2.err" </dev/null) &
        second=$!
        local rc1=0 rc2=0
        wait "$first" || rc1=$?
        wait "$second" || rc2=$?
        local loser=$W/r2.err
        [[ $rc1 -eq 0 ]] || loser=$W/r1.err
        [[ $((rc1 + rc2)) -eq 1 && ($rc1 -eq 0 || $rc2 -eq 0) ]] ||
            die "pair $i: exit statuses $rc1 and $rc2 (one 0 and one 1 expected): $(cat "$W/r1.err" "$W/r2.err")"
        grep -qE "^restore-run: $img: (refused: another restore-run is restoring this image|.*holds a lock that conflicts)" "$loser" ||
            die "pair $i: the second restore did not refuse before its point of no return: $(cat "$loser")"
        cmp -s "$out" "$W/ref/out" && cmp -s "$d/data.rw" "$W/ref/data.rw" &&
            cmp -s "$d/out.log" "$W/ref/out.log" ||
            die "pair $i: the files differ from an uninterrupted run (the refused restore changed them?)"
        ok=$((ok + 1))
    done
    say "$ok of $pairs concurrent pairs: exactly one restore proceeded, the other refused cleanly"
}

case $KIND in
atomicity) test_atomicity ;;
failure) test_failure ;;
corrupt) test_corrupt ;;
corruptzstd) test_corrupt_compressed ;;
coldread) test_coldread ;;
permissions) test_permissions ;;
changedfiles) test_changedfiles ;;
launch) test_launch ;;
stress) test_stress ;;
descendant) test_descendant ;;
stopped) test_stopped ;;
retitled) test_retitled ;;
statusfile) test_statusfile ;;
concurrent) test_concurrent ;;
dirsync) test_dirsync ;;
fields) test_fields ;;
threadrecord) test_threadrecord ;;
unknownkinds) test_unknownkinds ;;
fdlimit) test_fdlimit ;;
manyfds) test_manyfds ;;
running) test_running ;;
aslimit) test_aslimit ;;
hugepages) test_hugepages ;;
lingering) test_lingering ;;
sharedoutput) test_sharedoutput ;;
foreign) test_foreign ;;
fifo) test_fifo ;;
nospace) test_nospace ;;
race) test_race ;;
*) say "unknown kind $KIND"; exit 2 ;;
esac
say "PASS: $KIND"
