#!/usr/bin/env bash
# The Slurm recipe (tools/slurm/ckpt-job.sh) on a real single-node cluster started here
# (cluster.sh: munged, slurmctld, slurmd on 127.0.0.1, stopped on exit).
# Usage: run-slurm.sh BINDIR PROGDIR JOBSCRIPT
#   BINDIR    checkpoint-run, restore-run and ckpt (libckpt.so in ../lib)
#   PROGDIR   the scenario programs (counter)
#
# Two jobs run side by side, one as root and one as nobody (sbatch --uid): counter needs
# about 50 s, the time limit is 1 minute and Slurm signals the batch script 50 s before it
# (--signal=B:USR1@50; Slurm checks every 30 s, so the signal comes 10 to 40 s in). Each
# job must be checkpointed, requeued (Restarts >= 1 in `scontrol show job`, and a record of
# the requeued run in the jobcomp/filetxt log — no accounting database is needed) and
# restored, and end with counter's exit status (17) and output byte-identical to an
# uninterrupted run. Exit 77 only when Slurm or munge is not installed or we are not root.
set -euo pipefail
BINDIR=$1 PROGDIR=$2 JOBSCRIPT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
source "$HERE/cluster.sh"
STEPS=2500
DEADLINE=170 # seconds for both jobs, requeues included

cluster_require
W=$(mktemp -d /tmp/ckpt-slurm.XXXXXX)
chmod 755 "$W"
cleanup() {
    cluster_stop
    rm -rf "$W"
}
trap cleanup EXIT

# Tools and program where nobody can run them (as the scenario drivers do).
copy_tools "$BINDIR" "$W"
cp "$PROGDIR/counter" "$JOBSCRIPT" "$W/tools/"
JOB=$W/tools/$(basename "$JOBSCRIPT")

# The uninterrupted run, meanwhile.
set +e
"$W/tools/counter" "$STEPS" >"$W/expected.out" 2>/dev/null &
reference=$!
set -e

cluster_start "$W/cluster"

submit() {
    local who=$1 dir=$W/job-$1
    mkdir -p "$dir"
    [ "$who" = root ] || chown nobody:nogroup "$dir"
    (cd "$dir" && CKPT_JOB_BINDIR=$W/tools/bin sbatch --parsable --uid="$who" \
        --job-name="ckpt-$who" --time=1 --signal=B:USR1@50 --requeue --open-mode=append \
        --output="$dir/out.txt" --error="$dir/err.txt" "$JOB" "$W/tools/counter" "$STEPS") ||
        die "sbatch as $who failed"
}

field() { # field JOBID NAME: NAME=VALUE of `scontrol show job`
    scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

declare -A job released
for who in root nobody; do
    job[$who]=$(submit "$who")
done

start=$SECONDS
pending=
for who in root nobody; do pending+=" ${job[$who]}"; done
while [ -n "${pending// /}" ]; do
    [ $((SECONDS - start)) -lt $DEADLINE ] ||
        die "jobs$pending not done after $DEADLINE s: $(scontrol show job)"
    left=
    for id in $pending; do
        state=$(field "$id" JobState)
        case $state in
        COMPLETED | FAILED | TIMEOUT | CANCELLED | NODE_FAIL | OUT_OF_MEMORY) ;;
        PENDING)
            # A requeued job waits two minutes before it may start again (Slurm lets the
            # credentials of its last run expire); the test does not need to wait them all.
            # It waits a few seconds: slurmd refuses ("Job credential revoked") a credential
            # made in the same second as the revocation of the last run's, and fails the job.
            if [ -z "${released[$id]:-}" ] && [ "$(field "$id" Restarts)" -ge 1 ]; then
                scontrol update JobId="$id" StartTime=now+4 2>/dev/null && released[$id]=1
            fi
            left+=" $id"
            ;;
        *) left+=" $id" ;;
        esac
    done
    pending=$left
    sleep 2
done
echo "run-slurm: both jobs done after $((SECONDS - start)) s"

wait "$reference" || true
[ "$(wc -l <"$W/expected.out")" -gt "$STEPS" ] || die "the uninterrupted run is short"

for who in root nobody; do
    id=${job[$who]} dir=$W/job-$who
    state=$(field "$id" JobState) restarts=$(field "$id" Restarts) code=$(field "$id" ExitCode)
    echo "run-slurm: $who: job $id $state, Restarts=$restarts, ExitCode=$code"
    sed 's/^/    /' "$dir/ckpt-$id.log" 2>/dev/null || true
    [ "$restarts" -ge 1 ] || die "$who: job $id was never requeued: $(cat "$dir/err.txt")"
    # jobcomp/filetxt writes a record each time the job's run ends: the requeued one too.
    runs=$(grep -c "^JobId=$id " "$W/cluster/jobcomp.txt" || true)
    [ "$runs" -ge 2 ] || die "$who: jobcomp shows $runs run(s) of job $id"
    grep -q "requeuing job $id" "$dir/ckpt-$id.log" || die "$who: no requeue in the log"
    grep -q "restoring $dir/ckpt-$id.ckpt" "$dir/ckpt-$id.log" ||
        die "$who: the requeued job did not restore"
    [ "$code" = 17:0 ] || die "$who: exit code $code, want counter's 17:0: $(cat "$dir/err.txt")"
    cmp "$W/expected.out" "$dir/out.txt" ||
        die "$who: output differs from the uninterrupted run: $(diff "$W/expected.out" "$dir/out.txt" | head -5)"
    [ ! -e "$dir/ckpt-$id.ckpt" ] || die "$who: the image was left behind"
done
echo "run-slurm: ok"
