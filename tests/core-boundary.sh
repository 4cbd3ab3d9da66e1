#!/usr/bin/env bash
# core-boundary.sh CC OBJCOPY LDSCRIPT OBJECT... — the build's link of the restore core
# (tools/link-core.sh) accepts its objects as built, and refuses them, naming the culprit,
# once a probe among them calls fprintf and getenv, or has a global variable. The probes'
# functions are kept like the core's entry (its section), as a call from the core would
# keep them: unreachable code is dropped by --gc-sections.
set -euo pipefail
CC=$1 OBJCOPY=$2 LDSCRIPT=$3
shift 3
LINK=$(cd "$(dirname "$0")/../tools" && pwd)/link-core.sh
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
temp_workdir

bash "$LINK" "$CC" "$OBJCOPY" "$LDSCRIPT" "$W/core.bin" "$@" 2>"$W/ok.err" ||
    die "the restore core's objects as built are refused: $(cat "$W/ok.err")"
[[ -s $W/core.bin ]] || die "the link made no blob"

cat >"$W/libc.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
__attribute__((section(".text.core_entry"), used)) void probe_report(void)
{
    fprintf(stderr, "%s\n", getenv("HOME"));
}
C
cat >"$W/global.c" <<'C'
int probe_count;
__attribute__((section(".text.core_entry"), used)) int probe_next(void) { return ++probe_count; }
C
for probe in libc global; do
    "$CC" -O2 -fPIE -ffreestanding -c "$W/$probe.c" -o "$W/$probe.o" || die "cannot compile $probe.c"
    if bash "$LINK" "$CC" "$OBJCOPY" "$LDSCRIPT" "$W/bad.bin" "$@" "$W/$probe.o" 2>"$W/$probe.err"; then
        die "the restore core linked with a probe ($probe.c) that it must refuse"
    fi
    [[ ! -e $W/bad.bin ]] || die "a refused link left a blob behind"
done
for what in "undefined reference to .fprintf'" "undefined reference to .getenv'"; do
    grep -q "$what" "$W/libc.err" || die "the refusal does not say '$what': $(cat "$W/libc.err")"
done
grep -q "must not have writable data" "$W/global.err" ||
    die "the refusal of a global does not say so: $(cat "$W/global.err")"
echo "core-boundary: $# objects link; fprintf, getenv and a global variable in one are refused"
