#!/usr/bin/env bash
# cli.sh BINDIR — the commands speak one language: every command and subcommand answers
# --help and -h with its own "Usage:" line on stdout (exit 0); a missing or extra argument
# or an unknown option is "TOOL: WHAT: WHY" plus the usage line on stderr (exit 2).
set -euo pipefail
BINDIR=$1
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
temp_workdir
failures=0
fail() { say "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS STDOUT-REGEX STDERR-REGEX -- COMMAND...
expect() {
    local want=$1 out_re=$2 err_re=$3 rc=0
    shift 4
    "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
    [[ $rc == "$want" ]] || fail "$*: exit $rc, expected $want (stderr: $(head -c 300 "$W/err"))"
    [[ -z $out_re ]] || grep -Eq "$out_re" "$W/out" || fail "$*: stdout lacks /$out_re/: $(head -c 300 "$W/out")"
    [[ -z $err_re ]] || grep -Eq "$err_re" "$W/err" || fail "$*: stderr lacks /$err_re/: $(head -c 300 "$W/err")"
}

for flag in --help -h; do
    expect 0 '^Usage: restore-run ' '' -- "$BINDIR/restore-run" $flag
    expect 0 '^Usage: checkpoint-run ' '' -- "$BINDIR/checkpoint-run" $flag
    expect 0 '^Usage: ckpt COMMAND' '' -- "$BINDIR/ckpt" $flag
    for sub in inspect checkpoint verify bench check; do
        expect 0 "^Usage: ckpt $sub " '' -- "$BINDIR/ckpt" $sub $flag
    done
done

expect 2 '' '^restore-run: IMAGE: missing$' -- "$BINDIR/restore-run"
expect 2 '' '^restore-run: b: unexpected argument' -- "$BINDIR/restore-run" a b
expect 2 '' '^restore-run: --bogus: unknown option' -- "$BINDIR/restore-run" --bogus x
expect 2 '' '^ckpt: COMMAND: missing$' -- "$BINDIR/ckpt"
expect 2 '' '^ckpt: frobnicate: unknown command$' -- "$BINDIR/ckpt" frobnicate
expect 2 '' '^ckpt: IMAGE: missing$' -- "$BINDIR/ckpt" verify
expect 2 '' '^ckpt: b: unexpected argument' -- "$BINDIR/ckpt" verify a b
expect 2 '' '^ckpt: IMAGE: missing$' -- "$BINDIR/ckpt" inspect
expect 2 '' '^checkpoint-run: --interval: 10x is not a duration from 0.1s to 30 days' -- "$BINDIR/checkpoint-run" --interval 10x true
expect 2 '' '^checkpoint-run: --interval: missing DURATION' -- "$BINDIR/checkpoint-run" --interval
expect 2 '' '^ckpt: PID: missing$' -- "$BINDIR/ckpt" checkpoint
expect 2 '' '^ckpt: --dir: missing DIR$' -- "$BINDIR/ckpt" bench --dir
for sub in inspect verify; do
    expect 2 "" "^Usage: ckpt $sub " -- "$BINDIR/ckpt" $sub
done

# A missing file reads the same in inspect and verify; a short file that is no image is
# "not a ckpt image", a short one that starts like one is "truncated".
expect 1 '' "^ckpt: $W/none: cannot open: No such file or directory$" -- "$BINDIR/ckpt" inspect "$W/none"
expect 1 '' "^ckpt: $W/none: cannot open: No such file or directory$" -- "$BINDIR/ckpt" verify "$W/none"
echo hi >"$W/short" && chmod 600 "$W/short"
printf 'CKPTIM' >"$W/trunc" && chmod 600 "$W/trunc"
for sub in inspect verify; do
    expect 1 '' 'not a ckpt image \(3 bytes, shorter than a header\)' -- "$BINDIR/ckpt" $sub "$W/short"
    expect 1 '' 'truncated image: 6 bytes' -- "$BINDIR/ckpt" $sub "$W/trunc"
done
expect 1 '' 'not a ckpt image \(3 bytes' -- "$BINDIR/restore-run" "$W/short"

[[ $failures == 0 ]] || { echo "cli: $failures failures" >&2; exit 1; }
echo "cli: all commands answer --help and report usage errors with a reason"
