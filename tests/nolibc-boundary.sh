#!/usr/bin/env bash
# nolibc-boundary.sh CC LD ALLOWED OBJECT... — the build's check of the no-libc boundary
# (tools/check-nolibc.sh, run on the checkpoint handler's objects before libckpt.so is
# linked) accepts those objects as built, and rejects them, naming the culprits, once a
# probe object among them calls fprintf and getenv and has a thread-local variable.
set -euo pipefail
CC=$1 LD=$2 ALLOWED=$3 # ALLOWED: the build's own list (CKPT_NOLIBC_ALLOWED)
shift 3
CHECK=$(cd "$(dirname "$0")/../tools" && pwd)/check-nolibc.sh
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
temp_workdir

bash "$CHECK" "$LD" "$W/ok.o" "$ALLOWED" "$@" 2>"$W/ok.err" ||
    die "the handler's objects as built are refused: $(cat "$W/ok.err")"

cat >"$W/probe.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
__thread int probe_depth;
void probe_report(void) { fprintf(stderr, "%s %d\n", getenv("HOME"), ++probe_depth); }
C
"$CC" -O2 -fPIC -c "$W/probe.c" -o "$W/probe.o" || die "cannot compile the probe"
if bash "$CHECK" "$LD" "$W/bad.o" "$ALLOWED" "$@" "$W/probe.o" 2>"$W/bad.err"; then
    die "a probe calling fprintf and getenv passed the check"
fi
for what in "probe.o uses fprintf" "probe.o uses getenv" "thread-local variables"; do
    grep -q "$what" "$W/bad.err" || die "the refusal does not say '$what': $(cat "$W/bad.err")"
done
echo "nolibc-boundary: $# objects pass; fprintf, getenv and TLS in one of them are refused"
