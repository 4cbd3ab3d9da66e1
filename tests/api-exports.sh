#!/usr/bin/env bash
# The application API has one list of entry points: the functions <ckpt/ckpt.h> declares.
# The shim (libckpt.so) must export each of them — it serves the calls under checkpoint-run
# by interposing them — and libckptapi.so must define exactly the same ones, no other
# ckpt_* symbol. (Once preload/libckpt.exports lists the shim's exports, these names belong
# in it.)
# Usage: api-exports.sh HEADER SHIM LIBCKPTAPI
set -euo pipefail
header=$1 shim=$2 api=$3
# shellcheck source=SCRIPTDIR/lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/lib.sh}"
declared=$(grep -Eo '^int (ckpt_[a-z_]+)\(' "$header" | sed -E 's/^int //; s/\($//' | sort)
[ -n "$declared" ] || die "$header declares no function"
exported() { nm -D --defined-only "$1" | awk '$2 == "T" && $3 ~ /^ckpt_/ {print $3}' | sort; }
for lib in "$shim" "$api"; do
    got=$(exported "$lib")
    [ "$got" = "$declared" ] ||
        die "$(basename "$lib") exports: $(echo $got); ckpt.h declares: $(echo $declared)"
done
echo "api-exports: $(echo $declared | wc -w) entry points, the same in ckpt.h, the shim and libckptapi"
