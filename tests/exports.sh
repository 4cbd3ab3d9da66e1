#!/usr/bin/env bash
# exports.sh LIBCKPT LIST — libckpt.so exports exactly the symbols LIST names (one a line,
# # comments): the libc functions the shim wraps and the API's entry points. Anything else it exported (a state/
# function such as memory_save) could be replaced by a program's or library's function of
# the same name, or would replace theirs. A wrapper added or removed must be added to or
# removed from LIST too.
set -euo pipefail
LIB=$1
LIST=$2
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
[[ -r $LIB ]] || die "$LIB: not readable"
[[ -r $LIST ]] || die "$LIST: not readable"
actual=$(nm -D --defined-only "$LIB" | awk '{ print $3 }' | sed 's/@.*//' | LC_ALL=C sort -u) ||
    die "nm -D $LIB failed"
expected=$(grep -v '^#' "$LIST" | sed '/^$/d' | LC_ALL=C sort -u)
[[ -n $actual ]] || die "$LIB exports nothing (not the shim?)"
extra=$(LC_ALL=C comm -23 <(echo "$actual") <(echo "$expected"))
missing=$(LC_ALL=C comm -13 <(echo "$actual") <(echo "$expected"))
[[ -z $extra ]] || die "$LIB exports symbols $LIST does not list:" $extra
[[ -z $missing ]] || die "$LIB lacks exports $LIST lists:" $missing
echo "exports: $LIB exports the $(echo "$expected" | wc -l) symbols of $LIST"
