#!/usr/bin/env bash
# An install into a temporary prefix, used as a user and another build would use it.
# Usage: run-install.sh BUILD_DIR LIBDIR PROGDIR
#   BUILD_DIR  a configured and built tree (the test's own, or one made by multiarch.sh)
#   LIBDIR     its CMAKE_INSTALL_LIBDIR (lib, or lib/x86_64-linux-gnu)
#   PROGDIR    the scenario programs (counter)
# It checks:
#   - the GNUInstallDirs layout: bin, LIBDIR (libckpt.so, pkgconfig, cmake/ckpt),
#     libexec/ckpt, include/ckpt, share/man/man1, share/bash-completion/completions;
#   - that the tree is relocatable: it is moved after the install, and then the installed
#     checkpoint-run finds its shim (a program runs under it and is checkpointed), and
#     pkg-config and find_package(ckpt) point into the moved tree;
#   - a C program builds against the installed header with pkg-config and with
#     find_package(ckpt) (ckpt::ckpt), and reads the header of the image just taken;
#   - a program using the application API (<ckpt/ckpt.h>, -lckptapi) builds both ways, runs
#     without checkpoint-run ("not under ckpt") and checkpoints itself under it;
#   - each man page renders without a warning (man --warnings, groff -ww) and names every
#     option its command's --help lists;
#   - each completion file defines its command's completion, which offers subcommands,
#     options, *.ckpt images and the pids of programs running under checkpoint-run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
BUILD=$1 LIBDIR=$2 PROGDIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/ckpt-install.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$W"
}
trap cleanup EXIT

cmake --install "$BUILD" --prefix "$W/staged" >"$W/install.log" || die "cmake --install failed"
mv "$W/staged" "$W/prefix"
P=$W/prefix

for f in bin/checkpoint-run bin/restore-run bin/ckpt "$LIBDIR/libckpt.so" \
    "$LIBDIR/libckptapi.so" "$LIBDIR/libckptapi.so.0" include/ckpt/ckpt.h \
    libexec/ckpt/ckpt-bench-worker include/ckpt/image.h "$LIBDIR/pkgconfig/ckpt.pc" \
    "$LIBDIR/cmake/ckpt/ckptConfig.cmake" "$LIBDIR/cmake/ckpt/ckptConfigVersion.cmake" \
    "$LIBDIR/cmake/ckpt/ckptTargets.cmake" share/man/man1/checkpoint-run.1 \
    share/man/man1/restore-run.1 share/man/man1/ckpt.1 share/man/man3/ckpt.h.3 \
    share/bash-completion/completions/ckpt share/bash-completion/completions/checkpoint-run \
    share/bash-completion/completions/restore-run; do
    [ -e "$P/$f" ] || die "not installed: $f (installed: $(cd "$P" && find . -type f | sort | tr '\n' ' '))"
done
# Nothing points back at the build or source tree, nor at where it was installed first.
if grep -rl -e "$BUILD" -e "$W/staged" "$P/$LIBDIR/pkgconfig" "$P/$LIBDIR/cmake"; then
    die "installed package files above name the build tree or the first prefix"
fi

# ---- the installed commands, moved: the shim is found, a checkpoint is taken -------------
"$P/bin/ckpt" check >"$W/check.out" || die "installed ckpt check failed: $(cat "$W/check.out")"
mkdir "$W/run"
cd "$W/run"
"$P/bin/checkpoint-run" --image "$W/run/job.ckpt" -- "$PROGDIR/counter" 1000 >counter.out 2>counter.err &
pid=$!
for _ in $(seq 1 100); do
    grep -q '^count 5 ' counter.out 2>/dev/null && break
    sleep 0.05
done
"$P/bin/ckpt" checkpoint --kill "$pid" >/dev/null || die "checkpoint failed: $(cat counter.err)"
program=$pid
wait "$pid" 2>/dev/null || true
pid=

# ---- building against the installed package ------------------------------------------------
export PKG_CONFIG_PATH=$P/$LIBDIR/pkgconfig
cflags=$(pkg-config --cflags ckpt) || die "pkg-config does not find ckpt"
[ "$(pkg-config --modversion ckpt)" = "$("$P/bin/ckpt" --version | awk '{print $NF}')" ] ||
    die "pkg-config --modversion is $(pkg-config --modversion ckpt)"
inc=$(pkg-config --variable=includedir ckpt)
[ "$inc" -ef "$P/include" ] || die "includedir is $inc, want $P/include"
shim=$(pkg-config --variable=shim ckpt)
[ "$shim" -ef "$P/$LIBDIR/libckpt.so" ] || die "pkg-config's shim is $shim"
# shellcheck disable=SC2086
cc $cflags -Wall -Werror -o "$W/read-header-pc" "$HERE/read-header.c" ||
    die "build with pkg-config failed"
"$W/read-header-pc" "$W/run/job.ckpt" "$program" || die "read-header (pkg-config) failed"

# The application API: built with pkg-config's flags, it runs without checkpoint-run and
# under the installed one, where it checkpoints itself.
mkdir "$W/api"
libs=$(pkg-config --libs ckpt)
# shellcheck disable=SC2086
cc $cflags -Wall -Werror -o "$W/api-consumer-pc" "$HERE/api-consumer.c" $libs \
    -Wl,-rpath,"$(pkg-config --variable=libdir ckpt)" || die "API build with pkg-config failed"
[ "$("$W/api-consumer-pc")" = "not under ckpt" ] || die "api-consumer without checkpoint-run"
api_out=$("$P/bin/checkpoint-run" --image "$W/api/api.ckpt" -- "$W/api-consumer-pc") ||
    die "api-consumer under checkpoint-run failed"
[ "$api_out" = "checkpointed generation 1 $W/api/api.ckpt" ] || die "api-consumer said: $api_out"
"$P/bin/ckpt" verify "$W/api/api.ckpt" >/dev/null || die "the image api-consumer made does not verify"

consumer() { # consumer DIR VERSION: configures and builds the consumer project
    cmake -S "$HERE/consumer" -B "$1" -DCMAKE_PREFIX_PATH="$P" -DCKPT_WANT_VERSION="$2" \
        >"$1.log" 2>&1 && cmake --build "$1" >>"$1.log" 2>&1
}
consumer "$W/consumer" 0.1 || die "find_package(ckpt) consumer failed: $(tail -20 "$W/consumer.log")"
"$W/consumer/read-header" "$W/run/job.ckpt" "$program" || die "read-header (CMake) failed"
[ "$("$W/consumer/api-consumer")" = "not under ckpt" ] || die "api-consumer (CMake) without checkpoint-run"
[ "$("$P/bin/checkpoint-run" --image "$W/api/api2.ckpt" -- "$W/consumer/api-consumer")" = \
    "checkpointed generation 1 $W/api/api2.ckpt" ] || die "api-consumer (CMake) under checkpoint-run"
for var in CHECKPOINT_RUN:checkpoint-run RESTORE_RUN:restore-run CKPT:ckpt; do
    [ "$(cat "$W/consumer/ckpt_${var%%:*}.txt")" -ef "$P/bin/${var#*:}" ] ||
        die "ckpt_${var%%:*} is $(cat "$W/consumer/ckpt_${var%%:*}.txt")"
done
! consumer "$W/consumer-99" 99 || die "find_package(ckpt 99) accepted version $(pkg-config --modversion ckpt)"

# ---- man pages ------------------------------------------------------------------------------
# The options a command's --help lists, one per line.
help_options() {
    "$@" --help | grep -Eo -- '(^|[ [|])--[a-z][a-z-]*' | sed 's/^[ [|]*//' | sort -u
}
warnings=$(MANWIDTH=80 man --warnings -l "$P/share/man/man3/ckpt.h.3" 2>&1 >/dev/null)
[ -z "$warnings" ] || die "man ckpt.h: $warnings"
for function in ckpt_checkpoint ckpt_restored ckpt_add_hook ckpt_remove_hook ckpt_exclude \
    ckpt_include CKPT_ENOTACTIVE CKPT_IMAGE CKPT_SIGNAL ctypes; do
    grep -q -- "$function" "$P/include/ckpt/ckpt.h" "$P/share/man/man3/ckpt.h.3" ||
        die "neither ckpt.h nor its man page mention $function"
done
for page in checkpoint-run restore-run ckpt; do
    man_file=$P/share/man/man1/$page.1
    warnings=$(MANWIDTH=80 man --warnings -l "$man_file" 2>&1 >/dev/null)
    [ -z "$warnings" ] || die "man $page: $warnings"
    warnings=$(groff -ww -z -man "$man_file" 2>&1)
    [ -z "$warnings" ] || die "groff $page: $warnings"
    text=$(MANWIDTH=200 man -l "$man_file" 2>/dev/null)
    for option in $(help_options "$P/bin/$page"); do
        grep -q -- "$option" <<<"$text" || die "man $page does not describe $option (in --help)"
    done
done
for command in checkpoint inspect verify check bench; do
    grep -Eq "^ +ckpt $command" <<<"$(MANWIDTH=200 man -l "$P/share/man/man1/ckpt.1")" ||
        die "man ckpt has no synopsis of ckpt $command"
done

# ---- bash completion ------------------------------------------------------------------------
C=$P/share/bash-completion/completions
for command in ckpt checkpoint-run restore-run; do
    bash -c 'source "$1" && complete -p "$2"' _ "$C/$command" "$command" >/dev/null ||
        die "$C/$command does not define a completion for $command"
done
# complete WORDS...: the candidates bash would offer for the last word.
complete_words() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
             spec=$(complete -p "$1"); fn=${spec#*-F }; fn=${fn%% *};
             "$fn"; printf "%s\n" "${COMPREPLY[@]}"' _ "$C/ckpt" "$@"
}
[ "$(complete_words ckpt ver)" = verify ] || die "ckpt ver completes to '$(complete_words ckpt ver)'"
[ "$(complete_words ckpt check --j)" = --json ] || die "ckpt check --j"
touch "$W/run/other.txt"
cd "$W/run"
[ "$(complete_words restore-run '')" = job.ckpt ] || die "restore-run offers '$(complete_words restore-run '')'"
[ "$(complete_words ckpt inspect j)" = job.ckpt ] || die "ckpt inspect j"
"$P/bin/checkpoint-run" --image "$W/run/sleep.ckpt" -- sleep 30 2>/dev/null &
pid=$!
sleep 0.2
offered=$(complete_words ckpt checkpoint '')
grep -qx "$pid" <<<"$offered" || die "ckpt checkpoint offers '$(echo $offered)', not $pid"
! grep -qx "$$" <<<"$offered" || die "ckpt checkpoint offers $$, which is not under ckpt"
noise=$(complete_words ckpt checkpoint '' 2>&1 >/dev/null)
[ -z "$noise" ] || die "completing ckpt checkpoint prints on stderr: $noise"
[ "$(complete_words checkpoint-run --no-b)" = --no-background ] || die "checkpoint-run --no-b"
echo "run-install: ok"
