#!/usr/bin/env bash
# exports.sh LIBCKPT LIST — libckpt.so exports exactly the symbols LIST names (one a line,
# # comments): the libc functions the shim wraps and the API's entry points. Anything else it exported (a state/
# function such as memory_save) could be replaced by a program's or library's function of
# the same name, or would replace theirs. A wrapper added or removed must be added to or
# removed from LIST too.
set -euo pipefail
LIB=$1
LIST=$2
fail() { echo "exports: $*" >&2; exit 1; }
[[ -r $LIB ]] || fail "$LIB: not readable"
[[ -r $LIST ]] || fail "$LIST: not readable"
actual=$(nm -D --defined-only "$LIB" | awk '{ print $3 }' | sed 's/@.*//' | LC_ALL=C sort -u) ||
    fail "nm -D $LIB failed"
expected=$(grep -v '^#' "$LIST" | sed '/^$/d' | LC_ALL=C sort -u)
[[ -n $actual ]] || fail "$LIB exports nothing (not the shim?)"
extra=$(LC_ALL=C comm -23 <(echo "$actual") <(echo "$expected"))
missing=$(LC_ALL=C comm -13 <(echo "$actual") <(echo "$expected"))
[[ -z $extra ]] || fail "$LIB exports symbols $LIST does not list:" $extra
[[ -z $missing ]] || fail "$LIB lacks exports $LIST lists:" $missing
echo "exports: $LIB exports the $(echo "$expected" | wc -l) symbols of $LIST"
