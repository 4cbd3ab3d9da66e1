#!/usr/bin/env bash
# link-core.sh CC OBJCOPY LDSCRIPT OUTPUT OBJECT... — links the restore core's objects
# (restorer/core/ and the restore sides of state/) into OUTPUT, one flat blob that
# restore-run copies anywhere and jumps into. Linked without libc (-nostdlib: a call into
# libc stays undefined and fails the link, naming the symbol) and by LDSCRIPT, which refuses
# writable data (globals, thread-local variables, a GOT): the core runs after restore-run
# has unmapped its libc, heap and TLS. Linked at two bases: identical bytes prove the blob
# holds no absolute address. The build and the test restore-core-links-no-libc run this.
set -euo pipefail
fail() { echo "link-core: $*" >&2; exit 1; }
[[ $# -ge 5 ]] || fail "usage: link-core.sh CC OBJCOPY LDSCRIPT OUTPUT OBJECT..."
CC=$1 OBJCOPY=$2 LDSCRIPT=$3 OUTPUT=$4
shift 4
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for base in 0 0x10000000; do
    "$CC" -nostdlib -static -Wl,--build-id=none -Wl,--gc-sections -Wl,-z,noexecstack \
        -Wl,--defsym=CORE_BASE=$base -Wl,-T,"$LDSCRIPT" -o "$W/core-$base.elf" "$@" ||
        fail "the restore core does not link without libc (see above): raw syscalls only" \
            "(state/sys.h), no writable data"
    "$OBJCOPY" -O binary "$W/core-$base.elf" "$W/core-$base.bin" || fail "$OBJCOPY failed"
done
cmp -s "$W/core-0.bin" "$W/core-0x10000000.bin" ||
    fail "the restore core differs when linked at another base: it holds an absolute address"
cp "$W/core-0.bin" "$OUTPUT.tmp" && mv "$OUTPUT.tmp" "$OUTPUT"
