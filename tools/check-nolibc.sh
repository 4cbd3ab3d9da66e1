#!/usr/bin/env bash
# check-nolibc.sh LD OUTPUT ALLOWED OBJECT... — the objects that run without libc (the
# checkpoint signal handler and its writer child: preload/checkpoint.c, fdtable.c,
# context.S and all of state/) are linked together with `LD -r` into OUTPUT, and every
# symbol they still need from outside must be one of ALLOWED (a space-separated list: the
# memory functions the compiler may call on its own, and the shim's data). A call into libc
# (fprintf, getenv, malloc, __stack_chk_fail) or thread-local storage there fails the build,
# naming the object and the symbol. The restore core's rule is enforced by its own link
# (restorer/core/core.ld); this is the same rule for the save side.
set -euo pipefail
fail() { echo "check-nolibc: $*" >&2; exit 1; }
[[ $# -ge 4 ]] || fail "usage: check-nolibc.sh LD OUTPUT ALLOWED OBJECT..."
LD=$1 OUTPUT=$2 ALLOWED=$3
shift 3
"$LD" -r -o "$OUTPUT" "$@" || fail "$LD -r of the no-libc objects failed"
declare -A allowed=()
for sym in $ALLOWED; do allowed[$sym]=1; done
bad=0
for sym in $(nm -u "$OUTPUT" | awk '{ print $2 }'); do
    [[ -n ${allowed[$sym]:-} ]] && continue
    users=$(for obj in "$@"; do
        if nm -u "$obj" | awk -v s="$sym" '$2 == s { f = 1 } END { exit !f }'; then basename "$obj"; fi
    done | tr '\n' ' ')
    echo "check-nolibc: ${users:-the no-libc objects }uses $sym: not allowed in code that runs" \
        "without libc (checkpoint handler, writer child); raw syscalls only (state/sys.h)" >&2
    bad=1
done
if readelf -SW "$OUTPUT" | grep -Eq '\.(tdata|tbss)\b'; then
    echo "check-nolibc: the no-libc objects have thread-local variables (.tdata/.tbss)" >&2
    bad=1
fi
[[ $bad -eq 0 ]] || fail "$OUTPUT: code without libc needs symbols from outside (see above)"
