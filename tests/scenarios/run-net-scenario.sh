#!/usr/bin/env bash
# run-net-scenario.sh — a TCP server survives checkpoint, kill -9 and restore from another
# directory: clients served before are served the same after, and the connection a client
# held open at the checkpoint is seen closed by its peer (registered in CTest by
# tests/scenarios/CMakeLists.txt).
#
# Usage: run-net-scenario.sh BINDIR SERVER [PROGRAM] [--unprivileged]
#   SERVER  inet         PROGRAM (tests/scenarios/inet.c) serve: a line server on a port it
#                        chose itself; its output must be byte-identical to an uninterrupted
#                        run in which the held connection is closed where the other run was
#                        checkpointed; the restored server's write to that connection fails
#                        with EPIPE; first a restore while another process holds the port
#                        must be refused, naming the descriptor and the address, changing
#                        nothing
#           http.server  python3 -m http.server on 127.0.0.1 (a free port), serving files
#                        fetched with curl before and after; a request left half-sent at the
#                        checkpoint ends in the restored server's handler thread
#           lighttpd     lighttpd -D (one process) with its own configuration, likewise
# Exit 0 = pass, anything else = fail with an explanation (the work directory is kept).
# shellcheck disable=SC2317  # shellcheck 0.9 takes the functions after die() for unreachable
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "${CKPT_TESTLIB:-$(dirname "$0")/../lib.sh}"
[[ $# -ge 2 ]] || { say "usage: $SELF BINDIR SERVER [PROGRAM] [--unprivileged]"; exit 2; }
BINDIR=$(cd "$1" && pwd -P)
SERVER=$2
shift 2
PROGRAM=
UNPRIV=0
for arg in "$@"; do
    if [[ $arg == --unprivileged ]]; then UNPRIV=1; else PROGRAM=$(realpath "$arg"); fi
done
require_tools "$BINDIR"
close_inherited_fds
PYTHON=/usr/bin/python3
case $SERVER in
inet) [[ -x $PROGRAM ]] || die "inet needs the scenario program (tests/scenarios/inet.c)" ;;
http.server) [[ -x $PYTHON ]] || die "$PYTHON is not installed (tools/debian-packages.txt)" ;;
lighttpd) command -v lighttpd >/dev/null || die "lighttpd is not installed (tools/debian-packages.txt)" ;;
*) die "unknown server $SERVER" ;;
esac
command -v curl >/dev/null || die "curl is not installed (tools/debian-packages.txt)"

if [[ $UNPRIV -eq 1 && $EUID -eq 0 ]]; then
    W=$(mktemp -d /tmp/ckpt-net.XXXXXX)
    if ! nobody_can_use "$BINDIR" ${PROGRAM:+"$PROGRAM"}; then
        copy_tools "$BINDIR" "$W"
        BINDIR=$W/tools/bin
        if [[ -n $PROGRAM ]]; then cp "$PROGRAM" "$W/" && PROGRAM=$W/$(basename "$PROGRAM"); fi
    fi
    copy_driver "$W"
    chmod 0755 "$W"
    chown nobody:nogroup "$W"
    say "running as nobody:nogroup in $W"
    rc=0
    (cd "$W" && WORKDIR=$W exec "${AS_NOBODY[@]}" env HOME="$W" bash "$W/run-net-scenario.sh" \
        "$BINDIR" "$SERVER" ${PROGRAM:+"$PROGRAM"}) || rc=$?
    finish_workdir "$rc" "$W"
    exit "$rc"
fi

W=${WORKDIR:-$(mktemp -d /tmp/ckpt-net.XXXXXX)}
mkdir -p "$W/ref" "$W/run" "$W/elsewhere" "$W/img" "$W/www" "$W/logs"
IMAGE=$W/img/server.ckpt
NAME="$SERVER checkpointed, killed and restored as uid $(id -u)"
STEP_TIMEOUT=20
PIDS=()

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    finish_run "$rc" "$W" "$([[ -n ${WORKDIR:-} ]] && echo 0 || echo 1)"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 143' TERM INT
on_die() {
    local f
    for f in "$W"/run/err "$W"/run/*.log "$W"/logs/*.err; do
        [[ -s $f ]] && { echo "----- $f (last lines) -----" >&2; tail -n 15 "$f" >&2; }
    done
    return 0
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start DIR PORT CKPT: the server in DIR (stdout DIR/out, stderr DIR/err), under
# checkpoint-run if CKPT is 1; SPID its pid, PORT the port it serves.
start() {
    local dir=$1 ckpt=$3 cmd
    PORT=$2
    case $SERVER in
    inet) cmd=("$PROGRAM" serve "$dir") ;;
    http.server) cmd=("$PYTHON" -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/www") ;;
    lighttpd)
        printf '%s\n' "server.document-root = \"$W/www\"" 'server.bind = "127.0.0.1"' \
            "server.port = $PORT" "server.errorlog = \"$dir/error.log\"" \
            'mimetype.assign = (".txt" => "text/plain", "" => "application/octet-stream")' \
            >"$dir/lighttpd.conf"
        cmd=(lighttpd -D -f "$dir/lighttpd.conf")
        ;;
    esac
    [[ $ckpt -eq 1 ]] && cmd=("$BINDIR/checkpoint-run" --image "$IMAGE" -- "${cmd[@]}")
    (cd "$dir" && exec "${cmd[@]}" </dev/null >"$dir/out" 2>"$dir/err") &
    SPID=$!
    PIDS+=("$SPID")
    if [[ $SERVER == inet ]]; then
        wait_until "$STEP_TIMEOUT" test -s "$dir/port" || die "the server wrote no port"
        PORT=$(cat "$dir/port")
    fi
    wait_until "$STEP_TIMEOUT" serves || die "the server (pid $SPID) does not answer on port $PORT"
    say "started $SERVER (pid $SPID) on port $PORT$([[ $ckpt -eq 1 ]] && echo " under checkpoint-run")"
}

# The server answers: HTTP, a request; inet (whose output counts its clients), it wrote its
# port (once listening) or restore-run has become it.
serves() {
    case $SERVER in
    inet) [[ -s $OUT_DIR/port && ${RPID:-} == '' ]] || [[ $(cat "/proc/${RPID:-0}/comm" 2>/dev/null) == inet ]] ;;
    *) curl -s -o /dev/null "http://127.0.0.1:$PORT/a.txt" ;;
    esac
}

# inet: ask LINE, the answer into the transcript; wait for the server to see the client go.
ask() {
    local c answer=
    exec {c}<>"/dev/tcp/127.0.0.1/$PORT"
    printf '%s\n' "$1" >&"$c"
    [[ $1 == QUIT ]] || read -r -t "$STEP_TIMEOUT" answer <&"$c" || die "no answer to '$1'"
    exec {c}>&-
    printf '%s -> %s\n' "$1" "$answer" >>"$TRANSCRIPT"
}
said() { grep -qF -- "$1" "$OUT_DIR/out"; }
wait_said() { wait_until "$STEP_TIMEOUT" said "$1" || die "the server did not say '$1'"; }

# http: every file fetched with curl equals the file.
fetch_all() {
    local f
    for f in a.txt b.bin; do
        curl -sf --max-time "$STEP_TIMEOUT" -o "$W/logs/$f.got" "http://127.0.0.1:$PORT/$f" ||
            die "$1: curl of /$f failed"
        cmp -s "$W/www/$f" "$W/logs/$f.got" || die "$1: /$f as served differs from the file"
    done
    say "$1: a.txt and b.bin served whole"
}

# Opens the held connection HELD and sends a request's first part (no end of line for
# inet, no blank line ending the headers for HTTP), which stays queued on the server.
hold_connection() {
    exec {HELD}<>"/dev/tcp/127.0.0.1/$PORT"
    if [[ $SERVER == inet ]]; then
        printf 'GET par' >&"$HELD"
        wait_said "client 2 connected"
    else
        printf 'GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&"$HELD"
        sleep 0.3 # taken by the server and read up to where it stops
    fi
}

checkpoint_and_kill() {
    local rc=0
    "$BINDIR/ckpt" checkpoint "$SPID" --kill --timeout "$STEP_TIMEOUT" \
        >"$W/logs/ckpt.out" 2>"$W/logs/ckpt.err" || rc=$?
    [[ $rc -eq 0 ]] || die "ckpt checkpoint $SPID --kill exited with status $rc: $(cat "$W/logs/ckpt.err")"
    wait "$SPID" 2>/dev/null || true
    "$BINDIR/ckpt" inspect "$IMAGE" >"$W/logs/inspect.txt" || die "ckpt inspect failed"
    grep -qE "tcp +127\.0\.0\.1:$PORT +- .* listening" "$W/logs/inspect.txt" ||
        die "the image has no TCP listener on port $PORT: $(grep -A9 'TCP and UDP' "$W/logs/inspect.txt")"
    grep -qE "tcp +127\.0\.0\.1:$PORT +127\.0\.0\.1:[0-9]+ +[0-9]+ closed by its peer" \
        "$W/logs/inspect.txt" || die "the image has no connection to outside: $(cat "$W/logs/inspect.txt")"
    if [[ $SERVER == inet ]]; then # the backlog asked for, which only the shim knows
        "$BINDIR/ckpt" inspect --json "$IMAGE" | grep -qF '"state":"listening","local":"127.0.0.1:'"$PORT"'","peer":"-","peer_fd":-1,"options":0,"linger":-1,"backlog":5000' ||
            die "the image's listener does not have the backlog of 5000 the server asked for: $("$BINDIR/ckpt" inspect --json "$IMAGE" | grep -o '"inet_sockets".*')"
    fi
    say "checkpointed and killed pid $SPID: $(grep -c 'tcp ' "$W/logs/inspect.txt") TCP sockets in the image"
}

restore() {
    (cd "$W/elsewhere" && exec "$BINDIR/restore-run" -- "$IMAGE" </dev/null \
        >"$W/logs/restore.out" 2>"$W/logs/restore.err") &
    RPID=$!
    PIDS+=("$RPID")
    wait_until "$STEP_TIMEOUT" serves || die "the restored server (pid $RPID) does not answer on port $PORT"
    say "restored from $W/elsewhere as pid $RPID"
}

# inet: a restore while another process listens on the port is refused, naming descriptor
# and address, and changes nothing (the output file keeps its bytes).
restore_refused_while_port_taken() {
    local before after rc=0 squatter
    before=$(sha256sum <"$W/run/out")
    "$PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
print("listening", flush=True); time.sleep(60)' "$PORT" >"$W/logs/squatter.out" &
    squatter=$!
    PIDS+=("$squatter")
    wait_until "$STEP_TIMEOUT" grep -q listening "$W/logs/squatter.out" || die "the squatter did not listen"
    (cd "$W/elsewhere" && "$BINDIR/restore-run" -- "$IMAGE" </dev/null >/dev/null 2>"$W/logs/refused.err") || rc=$?
    kill "$squatter"
    wait "$squatter" 2>/dev/null || true
    [[ $rc -ne 0 ]] || die "restore-run restored while another process listened on port $PORT"
    grep -qE "re-binding fd [0-9]+ \(TCP listener 127\.0\.0\.1:$PORT\): Address already in use" \
        "$W/logs/refused.err" || die "the refusal does not name the listener: $(cat "$W/logs/refused.err")"
    after=$(sha256sum <"$W/run/out")
    [[ $before == "$after" ]] || die "the refused restore changed the program's output file"
    say "refused while the port was taken: $(cat "$W/logs/refused.err")"
}

if [[ $SERVER == inet ]]; then
    # The reference: the held connection is closed where the other run is checkpointed.
    OUT_DIR=$W/ref TRANSCRIPT=$W/ref/transcript
    start "$W/ref" 0 0
    ask "GET alpha" && wait_said "client 1 ended"
    hold_connection
    exec {HELD}>&-
    wait_said "client 2 ended"
    ask "GET beta" && wait_said "client 3 ended"
    ask QUIT
    wait "$SPID" || die "the uninterrupted server exited with status $?"

    OUT_DIR=$W/run TRANSCRIPT=$W/run/transcript
    start "$W/run" 0 1
    ask "GET alpha" && wait_said "client 1 ended"
    hold_connection
    checkpoint_and_kill
    exec {HELD}>&-
    restore_refused_while_port_taken
    restore
    wait_said "client 2 ended"
    ask "GET beta" && wait_said "client 3 ended"
    ask QUIT
    rc=0
    wait "$RPID" || rc=$?
    [[ $rc -eq 0 ]] || die "the restored server exited with status $rc"
    for f in out transcript; do
        cmp -s "$W/ref/$f" "$W/run/$f" || {
            diff -u "$W/ref/$f" "$W/run/$f" >&2 || true
            die "$f differs from the uninterrupted run"
        }
    done
    grep -qF "client 2: write after the end: Broken pipe" "$W/run/err" ||
        die "the restored server's write to the connection closed by its peer did not fail with EPIPE"
    say "output and answers identical to the uninterrupted run ($(wc -l <"$W/run/out") lines); the held connection read 'GET par', then end of file, and its write failed with EPIPE"
    exit 0
fi

# The HTTP servers: the files before, a request held open across the checkpoint, the files
# after the restore.
printf 'alpha beta gamma\n' >"$W/www/a.txt"
head -c 200000 /dev/urandom >"$W/www/b.bin"
chmod -R a+rX "$W/www"
OUT_DIR=$W/run
start "$W/run" "$(free_port)" 1
fetch_all "before the checkpoint"
hold_connection
checkpoint_and_kill
exec {HELD}>&-
restore
fetch_all "after the restore"
fetch_all "after the restore, again"
alive "$RPID" || die "the restored server died"
kill -TERM "$RPID"
wait "$RPID" 2>/dev/null || true
say "the restored $SERVER served the same files to new clients"
exit 0
