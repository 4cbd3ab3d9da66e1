# A single-node Slurm cluster on 127.0.0.1 for the tests, in a directory of its own:
# sourced by run-slurm.sh. cluster_start DIR starts munged, slurmctld and slurmd with a
# generated slurm.conf (the machine's real CPUs and memory, from `slurmd -C`); cluster_stop
# kills exactly those daemons (by the pids they wrote) and is safe to call twice.
# Clients (sbatch, scontrol) find the cluster through SLURM_CONF, which cluster_start exports.
# shellcheck shell=bash

CLUSTER_DIR=

# die's report (tests/lib.sh): the daemons' logs, once the cluster has a directory.
on_die() { [ -z "$CLUSTER_DIR" ] || cluster_logs >&2; }

cluster_logs() {
    local f
    for f in "$CLUSTER_DIR"/log/*.log; do
        [ -s "$f" ] || continue
        echo "---- $f (last lines)"
        tail -n 15 "$f"
    done
}

# A TCP port nobody listens on, on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Exits 77 (the test's "cannot run here") when a facility is genuinely absent; anything
# else that keeps the cluster from starting is a failure.
cluster_require() {
    local tool
    for tool in munged mungekey slurmctld slurmd sbatch scontrol; do
        command -v "$tool" >/dev/null ||
            skip "$tool is not installed (Debian: slurmctld slurmd slurm-client munge)"
    done
    [ "$(id -u)" = 0 ] ||
        skip "slurmd must run as root (it starts jobs as their owner)"
}

cluster_write_conf() {
    local d=$1 ctld_port=$2 slurmd_port=$3 node
    # "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105": the machine's own figures.
    node=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*//' -e 's/UpTime=.*//')
    [ -n "$node" ] || die "slurmd -C printed nothing"
    cat >"$d/slurm.conf" <<CONF
ClusterName=ckpttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge-socket/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=600
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=ckpt Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

cluster_start() {
    CLUSTER_DIR=$1
    local d=$1
    mkdir -p "$d"/{munge,munge-socket,state,spool,run,log}
    # The key is root's alone; the socket must be reachable by every job's user.
    chmod 700 "$d/munge"
    chmod 755 "$d/munge-socket"
    mungekey --create --keyfile="$d/munge/munge.key" ||
        die "mungekey could not create a key"
    munged --force --socket="$d/munge-socket/munge.socket" --key-file="$d/munge/munge.key" \
        --pid-file="$d/run/munged.pid" --log-file="$d/log/munged.log" \
        --seed-file="$d/munge/munged.seed" ||
        die "munged did not start"
    cluster_write_conf "$d" "$(free_port)" "$(free_port)"
    export SLURM_CONF=$d/slurm.conf
    slurmctld -i ||  die "slurmctld did not start"
    slurmd -N localhost || die "slurmd did not start"
    local i
    for i in $(seq 1 100); do
        if sinfo -h -n localhost -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; then
            return 0
        fi
        sleep 0.2
    done
    die "the node did not come up in 20 s: $(sinfo 2>&1)"
}

cluster_stop() {
    [ -n "$CLUSTER_DIR" ] || return 0
    local name pid
    for name in slurmd slurmctld munged; do
        pid=$(cat "$CLUSTER_DIR/run/$name.pid" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || continue
        wait_until 5 gone "$pid" || true
        kill -9 "$pid" 2>/dev/null || true
    done
    CLUSTER_DIR=
}
