# tests/lib.sh — the helpers the test drivers share, one version of each. Sourced, never
# run: a driver one folder below tests/ starts with
#     . "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
# (CKPT_TESTLIB is set by copy_driver for a driver that runs itself again as nobody from a
# copy in its work directory, where ../lib.sh is not this file).
# shellcheck shell=bash

CKPT_TESTLIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lib.sh

# Messages are "SELF: ...", SELF the driver's name without .sh (a driver may set its own).
SELF=${SELF:-$(basename "$0" .sh)}
say() { printf '%s: %s\n' "$SELF" "$*" >&2; }

# die WHY: "SELF: FAIL: [NAME: ]WHY", then on_die (a driver's report of what it saw, if it
# defines one), exit 1. skip WHY: the same with SKIP, exit 77 (CTest's "cannot run here").
die() {
    say "FAIL: ${NAME:+$NAME: }$*"
    if declare -F on_die >/dev/null; then on_die || true; fi
    exit 1
}
skip() {
    say "SKIP: ${NAME:+$NAME: }$*"
    exit 77
}

# CTest passes its log as fd 3: a program started by a driver must not inherit it (into its
# image, among other things). Closes every descriptor of the shell but 0, 1 and 2.
close_inherited_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if [[ $fd -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

# temp_workdir [TEMPLATE]: W, a new directory removed when the driver exits.
# shellcheck disable=SC2120  # TEMPLATE is optional
temp_workdir() {
    W=$(mktemp -d ${1:+"$1"})
    trap 'rm -rf "$W"' EXIT
}

# finish_workdir RC DIR: a passed (0) or skipped (77) run's DIR is removed, a failed one's
# kept for inspection, and said so.
finish_workdir() {
    if [[ $1 -eq 0 || $1 -eq 77 ]]; then rm -rf "$2"; else say "work directory kept: $2"; fi
}

# finish_run RC DIR OWN: says "PASS: NAME" on 0; finish_workdir RC DIR if OWN is 1 (a work
# directory the caller made for us is the caller's to keep or remove).
finish_run() {
    [[ $1 -ne 0 ]] || say "PASS: $NAME"
    [[ $3 -ne 1 ]] || finish_workdir "$1" "$2"
}

# ---------------------------------------------------------------------------------------
# The build's tools, and running them as another user

CKPT_TOOLS=(checkpoint-run restore-run ckpt)

# require_tools BINDIR: checkpoint-run, restore-run and ckpt are there.
require_tools() {
    local tool
    for tool in "${CKPT_TOOLS[@]}"; do
        [[ -x $1/$tool ]] || die "$1/$tool is missing (not built?)"
    done
}

# The unprivileged user of the tests; "another user" is played by a second numeric uid.
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
as_nobody() { "${AS_NOBODY[@]}" "$@"; } # as_nobody COMMAND...

# nobody_can_use BINDIR [PROGRAM...]: nobody can run the tools and PROGRAMs and read the
# shim (BINDIR/../lib/libckpt.so) where they are.
nobody_can_use() {
    local bindir=$1 tool args=()
    shift
    for tool in "${CKPT_TOOLS[@]}"; do args+=(-x "$bindir/$tool" -a); done
    for tool in "$@"; do args+=(-x "$tool" -a); done
    "${AS_NOBODY[@]}" test "${args[@]}" -r "$bindir/../lib/libckpt.so" 2>/dev/null
}

# copy_tools BINDIR DIR: copies the tools to DIR/tools/bin and the shim to DIR/tools/lib
# (where the tools look for it), readable by all.
copy_tools() {
    local tool
    mkdir -p "$2/tools/bin" "$2/tools/lib"
    for tool in "${CKPT_TOOLS[@]}"; do cp "$1/$tool" "$2/tools/bin/"; done
    cp "$1/../lib/libckpt.so" "$2/tools/lib/"
    chmod -R a+rX "$2/tools"
}

# refusal_setup BINDIR PROGRAM NAME [--unprivileged]: for a driver that checkpoints PROGRAM
# in a work directory of its own and restores it after changing what is there: W (made by
# temp_workdir /tmp/ckpt-NAME.XXXXXX) with run/ (the current directory, holding the
# program's out and err) and elsewhere/; BINDIR and PROGRAM absolute (copies nobody can use
# with --unprivileged as root); RUN the prefix that runs a command as the program's user.
refusal_setup() {
    BINDIR=$(cd "$1" && pwd -P)
    PROGRAM=$(cd "$(dirname "$2")" && pwd -P)/$(basename "$2")
    RUN=()
    temp_workdir "/tmp/ckpt-$3.XXXXXX"
    if [[ ${4:-} == --unprivileged && $EUID -eq 0 ]]; then
        if ! nobody_can_use "$BINDIR" "$PROGRAM"; then
            copy_tools "$BINDIR" "$W"
            mkdir -p "$W/tools/prog" && cp "$PROGRAM" "$W/tools/prog/"
            chmod -R a+rX "$W/tools"
            BINDIR=$W/tools/bin PROGRAM=$W/tools/prog/$(basename "$PROGRAM")
        fi
        chown nobody:nogroup "$W"
        RUN=("${AS_NOBODY[@]}")
    fi
    "${RUN[@]}" mkdir "$W/run" "$W/elsewhere"
    cd "$W/run"
    "${RUN[@]}" touch out err # the program's, so that its restore may reopen them
}

# copy_driver DIR: copies the running driver and this file into DIR, readable by all, for a
# run of DIR/$(basename "$0") as another user; exports CKPT_TESTLIB for that run.
copy_driver() {
    cp "$0" "$1/$(basename "$0")"
    cp "$CKPT_TESTLIB" "$1/lib.sh"
    chmod 0644 "$1/$(basename "$0")" "$1/lib.sh"
    export CKPT_TESTLIB=$1/lib.sh
}

# ---------------------------------------------------------------------------------------
# Processes and waiting

# alive PID: running or stopped, not a zombie. gone PID: no longer alive.
alive() {
    [[ -e /proc/$1/stat ]] || return 1
    local state
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}
gone() { ! alive "$1"; }

# wait_until SECONDS COMMAND...: runs COMMAND every 10 ms until it succeeds (status 0) or
# SECONDS (an integer) have passed (status 1).
wait_until() {
    local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000))
    shift
    until "$@"; do
        [[ ${EPOCHREALTIME/./} -lt $deadline ]] || return 1
        sleep 0.01
    done
}
