#!/usr/bin/env bash
# Tests of `ckpt check`. Usage: run-check.sh BINDIR PROGDIR KIND
#   BINDIR   holds ckpt
#   PROGDIR  holds failing-syscall (tests/integrity/failing-syscall.c)
#   KIND     passes:   exits 0 here, one well-formed line per feature, --json parses and
#                      has every feature key — as the current user and, when that is
#                      root, as nobody too (ckpt needs no privilege)
#            needed:   a seccomp filter makes prctl fail with EINVAL (a kernel without
#                      CONFIG_CHECKPOINT_RESTORE), then kcmp with ENOSYS: exit 1, naming
#                      the feature, in the table, the JSON and the error
#            optional: ioctl fails with ENOTTY (no PAGEMAP_SCAN, no UFFDIO_API): exit 0,
#                      both features shown missing (optional: ...)
set -euo pipefail
BINDIR=$1 PROGDIR=$2 KIND=$3
CKPT=$BINDIR/ckpt
FAIL=$PROGDIR/failing-syscall
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
temp_workdir
chmod 755 "$W"

# Every key `ckpt check` must report: the contract of its JSON (docs and scripts use them).
KEYS="kernel glibc privileges seccomp proc pagemap pagemap_scan prctl_mm_map kcmp rseq
robust_list sigqueue clone clone3 close_range map_fixed_noreplace mremap_fixed vdso
userfaultfd_wp_async soft_dirty cap_checkpoint_restore ptrace_scope"

# run NAME [PREFIX...]: runs `ckpt check` and `ckpt check --json` (under PREFIX), keeping
# stdout, stderr and the exit status in $W/NAME.{out,err,rc,json,jerr,jrc}.
run() {
    local name=$1
    shift
    set +e
    "$@" "$CKPT" check >"$W/$name.out" 2>"$W/$name.err"
    echo $? >"$W/$name.rc"
    "$@" "$CKPT" check --json >"$W/$name.json" 2>"$W/$name.jerr"
    echo $? >"$W/$name.jrc"
    set -e
}

# The table has one line per key, in order, each "KEY ok (...)" or "KEY missing (...)".
check_table() {
    local name=$1 keys
    keys=$(awk '{print $1}' "$W/$name.out" | tr '\n' ' ')
    [ "$keys" = "$(echo $KEYS) " ] || die "$name: table keys are '$keys', want '$(echo $KEYS)'"
    if grep -Ev '^[a-z0-9_]+ +(ok \(.*\)|missing \(needed\): .+|missing \(optional: .+\): .+)$' \
        "$W/$name.out"; then
        die "$name: malformed lines above"
    fi
}

# check_json NAME OK: the JSON parses, has every key with the right members, and "ok" is OK.
check_json() {
    python3 - "$W/$1.json" "$2" $KEYS <<'PY' || die "$1: bad JSON: $(cat "$W/$1.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
want_ok = sys.argv[2] == "true"
keys = sys.argv[3:]
assert doc["ok"] is want_ok, f"ok is {doc['ok']}"
assert list(doc["features"]) == keys, f"keys {list(doc['features'])}"
for k, f in doc["features"].items():
    assert f["status"] in ("ok", "missing (needed)", "missing (optional)"), (k, f)
    assert isinstance(f["needed"], bool) and isinstance(f["detail"], str) and f["detail"], (k, f)
    assert (f["status"] == "missing (optional)") == ("lost" in f), (k, f)
    assert f["status"] != "missing (needed)" or f["needed"], (k, f)
PY
}

# json_status NAME KEY: the status of KEY in NAME's JSON.
json_status() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["features"][sys.argv[2]]["status"])' \
        "$W/$1.json" "$2"
}

expect_rc() {
    local name=$1 want=$2
    [ "$(cat "$W/$name.rc")" = "$want" ] ||
        die "$name: exit $(cat "$W/$name.rc"), want $want: $(cat "$W/$name.out" "$W/$name.err")"
    [ "$(cat "$W/$name.jrc")" = "$want" ] || die "$name: --json exit $(cat "$W/$name.jrc")"
}

passes() {
    local name=$1
    shift
    run "$name" "$@"
    expect_rc "$name" 0
    [ ! -s "$W/$name.err" ] || die "$name: stderr: $(cat "$W/$name.err")"
    check_table "$name"
    check_json "$name" true
    if grep 'missing (needed)' "$W/$name.out"; then die "$name: a needed feature is missing"; fi
}

# needed SYSCALL:ERRNO KEY: with the call failing so, ckpt check refuses, naming KEY.
needed() {
    local name=missing-$2
    run "$name" "$FAIL" "$1" --
    expect_rc "$name" 1
    check_table "$name"
    check_json "$name" false
    grep -Eq "^$2 +missing \(needed\): " "$W/$name.out" || die "$name: $(cat "$W/$name.out")"
    [ "$(json_status "$name" "$2")" = "missing (needed)" ] || die "$name: JSON status"
    grep -q "^ckpt: check: .*missing .*$2" "$W/$name.err" || die "$name: stderr: $(cat "$W/$name.err")"
    # Nothing else went missing: the filter took away exactly this feature.
    [ "$(grep -c 'missing (needed)' "$W/$name.out")" = 1 ] || die "$name: $(cat "$W/$name.out")"
}

optional() {
    local name=missing-ioctl
    run "$name" "$FAIL" ioctl:ENOTTY --
    expect_rc "$name" 0
    check_table "$name"
    check_json "$name" true
    for key in pagemap_scan userfaultfd_wp_async; do
        grep -Eq "^$key +missing \(optional: .+\): .*ENOTTY|^$key +missing \(optional: .+\): .*ioctl" \
            "$W/$name.out" || die "$name: $key: $(cat "$W/$name.out")"
    done
}

case $KIND in
passes)
    passes self
    if [ "$(id -u)" = 0 ]; then
        passes nobody as_nobody
        grep -Eq '^privileges +ok \(unprivileged \(uid 65534\)' "$W/nobody.out" ||
            die "nobody: $(grep privileges "$W/nobody.out")"
    fi
    ;;
needed)
    needed prctl:EINVAL prctl_mm_map
    needed kcmp:ENOSYS kcmp
    ;;
optional) optional ;;
*) die "unknown kind $KIND" ;;
esac
echo "run-check: $KIND: ok"
