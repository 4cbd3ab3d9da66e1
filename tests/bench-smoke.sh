#!/usr/bin/env bash
# bench-smoke.sh BINDIR — `ckpt bench --quick` runs its workloads end to end (checkpoint,
# restore with the data checked, shim loops) and prints a well-formed table and JSON.
# Only the shape is checked: the figures themselves are measurements, not test results.
set -euo pipefail
BINDIR=$1
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
temp_workdir

"$BINDIR/ckpt" bench --quick --dir "$W" >"$W/table" || die "ckpt bench --quick failed"
cat "$W/table"
num='[0-9]+\.[0-9]+'
for heading in '^machine: [0-9]+ CPUs' '^checkpoint +touched +image' '^restore +running .* first: running .* lazy: running' \
    '^restore, cold +running .* first: running' '^\(cold: .*posix_fadvise\(DONTNEED\)' '^shim overhead +plain'; do
    grep -Eq "$heading" "$W/table" || die "table lacks a line matching /$heading/"
done
for row in 'dense 16 MiB' 'sparse 16/256'; do
    [[ $(grep -Ec "^$row +($num|[0-9]+)" "$W/table") == 3 ]] ||
        die "table lacks the checkpoint, restore and cold restore rows of '$row'"
done
for loop in open_close socket_close dup_close listen; do
    grep -Eq "^$loop +$num +$num +-?$num%$" "$W/table" || die "table lacks the $loop row"
done
grep -Eq '^threads \(16 MiB\) +stopped +durable +stopped - 1 thread +stopped / 1 thread$' "$W/table" ||
    die "table lacks the threads heading"
for n in 1 64 256; do
    grep -Eq "^ *$n threads? +$num ms +$num s +-?$num ms +$num$" "$W/table" ||
        die "table lacks the row of $n threads"
done
grep -Eq '^incremental \(64 MiB, 1% rewritten between checkpoints\)$' "$W/table" ||
    die "table lacks the incremental heading"
for row in "image data $num MiB for $num MiB written: $num \(full image $num MiB\)" \
    "durable $num s, full $num s: $num \(full without tracking $num s: $num\)" \
    "stopped $num ms, full $num ms: $num" \
    "stopped $num ms, full image without tracking $num ms: $num" \
    "write loop after an incremental checkpoint: $num of its throughput after a full one \($num s, $num s\)" \
    "write loop after a full checkpoint: $num of its throughput before any \($num s\)"; do
    grep -Eq "^  $row$" "$W/table" || die "table lacks the incremental row /$row/"
done
for row in "in huge pages \(64 MiB, MADV_HUGEPAGE; KiB of huge pages after the loop\):" \
    "  write loop after an incremental checkpoint: $num of its throughput after a full one \($num s, $num s\)" \
    "  huge pages: [0-9]+ KiB before any checkpoint, [0-9]+ after a full one, [0-9]+ after an incremental one"; do
    grep -Eq "^  $row$" "$W/table" || die "table lacks the huge-page row /$row/"
done
# compress: the python3 mix uncompressed, with --compress and with every run compressed, in
# the bench directory and on tmpfs (or a line saying why not).
grep -Eq '^compression \(python3: heap, doubles, zeros; 24 MiB\) +image +uncompressed/image +stopped +durable +durable/uncompressed$' "$W/table" ||
    die "table lacks the compression heading"
if ! grep -q '^skipped: python3 is not in PATH$' "$W/table"; then
    rows=('disk  uncompressed' 'disk  --compress=-1' 'disk  --compress=-1,all' 'disk  --compress=1,all')
    grep -q '^tmpfs: skipped: ' "$W/table" ||
        rows+=('tmpfs uncompressed' 'tmpfs --compress=-1' 'tmpfs --compress=-1,all')
    for row in "${rows[@]}"; do
        grep -Eq "^$row +$num MiB +$num +$num ms +$num s +$num$" "$W/table" ||
            die "table lacks the compression row '$row'"
    done
fi

"$BINDIR/ckpt" bench --quick --json --dir "$W" >"$W/json" || die "ckpt bench --quick --json failed"
cat "$W/json"
json=$(tr -d '\n' <"$W/json")
[[ $json =~ ^\{\"machine\":\{.*\},\ \"memory\":\[.*\],\ \"threads\":\[.*\],\ \"incremental\":\{.*\},\ \"shim\":\[.*\],\ \"compression\":\{.*\}\}$ ]] || die "JSON shape"
for key in written_bytes data_bytes full_data_bytes durable_s full_durable_s stopped_s \
    full_stopped_s untracked_full_stopped_s untracked_full_durable_s write_loop_s \
    untracked_write_loop_s uncheckpointed_write_loop_s huge_write_loop_s \
    huge_untracked_write_loop_s huge_kib_tracked; do
    grep -Eq "\"$key\":($num|[0-9]+)" <<<"${json##*\"incremental\":}" || die "JSON lacks incremental's $key"
done
for key in image_bytes stopped_s durable_s write_fsync_baseline_s restore_running_s \
    restore_all_read_s read_baseline_s restore_first_running_s lazy_restore_running_s \
    lazy_restore_all_read_s cold_restore_running_s cold_restore_all_read_s cold_read_baseline_s \
    cold_restore_first_running_s; do
    [[ $(grep -Eo "\"$key\":$num|\"$key\":[0-9]+" <<<"${json%%\"threads\":*}" | wc -l) == 2 ]] ||
        die "JSON lacks $key for both workloads"
done
[[ $(grep -Eo '"threads":(1|64|256),"touched_bytes":16777216,"stopped_s":[0-9.]+,"durable_s":[0-9.]+' <<<"$json" | wc -l) == 3 ]] ||
    die "JSON lacks the three thread counts"
[[ $(grep -Eo '"plain_ns":[0-9.]+,"shim_ns":[0-9.]+' <<<"$json" | wc -l) == 4 ]] ||
    die "JSON lacks the four shim loops"
[[ $json =~ \"compression\":\{\"workload\":\"python3\ heap,\ doubles,\ zeros\",\"mib\":24,(\"skipped\"|\"cases\") ]] ||
    die "JSON lacks the compression member"
if [[ $json == *'"cases":['* ]]; then
    cases=7
    [[ $json == *'"tmpfs_skipped":'* ]] && cases=4
    [[ $(grep -Eo '"dir":"(bench|tmpfs)","level":(0|-1|1),"every_run":(true|false),"image_bytes":[0-9]+,"ratio":[0-9.]+,"stopped_s":[0-9.]+,"durable_s":[0-9.]+,"durable_vs_uncompressed":[0-9.]+' <<<"$json" | wc -l) == "$cases" ]] ||
        die "JSON lacks the $cases compression cases"
fi
shopt -s dotglob nullglob
for f in "$W"/*; do
    [[ $f == "$W/table" || $f == "$W/json" ]] || die "bench left $f behind"
done
echo "bench-smoke: ok"
