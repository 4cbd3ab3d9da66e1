#!/usr/bin/env bash
# ckpt-job.sh: a Slurm batch script that runs PROGRAM under ckpt, checkpoints it when
# Slurm warns of the time limit or of preemption, requeues the job, and on the job's next
# start restores PROGRAM from its image instead of starting it over. See docs/slurm.md.
#
#   sbatch --signal=B:USR1@120 --requeue --open-mode=append --output=out.txt \
#          --error=job.err ckpt-job.sh PROGRAM [ARGS...]
#
# --signal=B:USR1@120  Slurm sends SIGUSR1 to this script (B:) 120 s before the time limit
#                      (give the checkpoint time to be written; Slurm may send it up to a
#                      minute early).
# --requeue            the job may be requeued whatever the cluster's JobRequeue default.
# --open-mode=append   the output file is not emptied when the requeued job starts: the
#                      restored program keeps writing where it stood (restore-run cuts the
#                      file back to its size at checkpoint, so every line is there once).
# --error=FILE         PROGRAM's stderr (and Slurm's notes), kept apart from its output.
#                      Like the output it is cut back to its size at checkpoint when the
#                      job is restored, which also removes Slurm's notes written after
#                      the checkpoint; this script's own messages go to CKPT_JOB_LOG.
#
# Environment:
#   CKPT_JOB_IMAGE   the image (default: ckpt-JOBID.ckpt in the submit directory)
#   CKPT_JOB_SIGNAL  the signal this script waits for (default: USR1, as in --signal)
#   CKPT_JOB_BINDIR  where checkpoint-run, restore-run and ckpt are (default: PATH)
#   CKPT_JOB_LOG     this script's messages, appended across requeues (default: the image
#                    with .log for .ckpt)
#
# Exit status: PROGRAM's when it ends; 1 (with the reason on stderr) if it could not be
# checkpointed, requeued or restored. A restore that is refused never starts PROGRAM
# over: its output would then hold lines twice.
set -uo pipefail

[ $# -ge 1 ] || { echo "ckpt-job: usage: ckpt-job.sh PROGRAM [ARGS...]" >&2; exit 2; }
[ -n "${SLURM_JOB_ID:-}" ] || { echo "ckpt-job: not in a Slurm job (no SLURM_JOB_ID)" >&2; exit 2; }

bindir=${CKPT_JOB_BINDIR:-}
tool() {
    if [ -n "$bindir" ]; then echo "$bindir/$1"; else echo "$1"; fi
}
image=${CKPT_JOB_IMAGE:-${SLURM_SUBMIT_DIR:-$PWD}/ckpt-$SLURM_JOB_ID.ckpt}
log_file=${CKPT_JOB_LOG:-${image%.ckpt}.log}
signal=${CKPT_JOB_SIGNAL:-USR1}
pid=
requeued=

# Opened for each message, never held open: PROGRAM would inherit the descriptor, and a
# file written after the checkpoint is cut back at restore.
log() {
    echo "$(date -u +%FT%TZ) ckpt-job[$SLURM_JOB_ID]: $*" >>"$log_file"
}

# A failure is said on stderr too (PROGRAM is not running then, or runs on regardless).
fail() {
    log "$*"
    echo "ckpt-job: $*" >&2
}

# Slurm's warning: checkpoint PROGRAM (held at the checkpoint, then killed, so nothing it
# writes afterwards has to be undone) and requeue the job.
checkpoint_and_requeue() {
    [ -n "$pid" ] && [ -z "$requeued" ] || return 0
    log "SIG$signal: checkpointing pid $pid to $image"
    if ! "$(tool ckpt)" checkpoint --kill "$pid" >>"$log_file" 2>&1; then
        fail "checkpoint of pid $pid failed (see $log_file): it runs on until the time limit"
        return 0
    fi
    # Said first: the requeue ends this script at once.
    log "requeuing job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0})"
    requeued=1
    if ! scontrol requeue "$SLURM_JOB_ID" >>"$log_file" 2>&1; then
        fail "scontrol requeue $SLURM_JOB_ID failed: resubmit this job to restore $image"
        exit 1
    fi
}
trap checkpoint_and_requeue "$signal"

if [ -e "$image" ]; then
    log "restoring $image (restart ${SLURM_RESTART_COUNT:-0})"
    "$(tool restore-run)" "$image" &
else
    log "starting $1 under checkpoint-run, image $image"
    "$(tool checkpoint-run)" --image "$image" -- "$@" &
fi
pid=$!

# wait returns early (status above 128) each time the trap runs; PROGRAM's status comes
# with the wait that finds it gone (once more if it ended while the trap ran).
while :; do
    wait "$pid"
    status=$?
    [ -n "$requeued" ] && exit 0 # Slurm ends this run and starts the job again
    [ "$status" -gt 128 ] && kill -0 "$pid" 2>/dev/null && continue
    if [ "$status" -gt 128 ]; then
        wait "$pid"
        again=$?
        [ "$again" = 127 ] || status=$again
    fi
    break
done
# PROGRAM ended by itself: its image is of no more use, and a later requeue of this job
# (a node failure) would otherwise restore an old state.
rm -f "$image" "$image.status"
log "PROGRAM ended with status $status"
exit "$status"
