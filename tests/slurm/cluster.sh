#!/usr/bin/env bash
# A real one-node Slurm for the integration test, from Debian's packages:
#   tests/slurm/cluster.sh start|stop|status
# Everything lives under $CSTP_SLURM_DIR (default /tmp/cstp-slurm): munge key and socket, slurm.conf,
# gres.conf (a fake GPU, so the shipped profile's --gpus runs unchanged), state, logs, pid files.
# The one path outside it is /etc/slurm/slurm.conf: `srun` inside a job loses SLURM_CONF and reads
# the default path. It is linked only if absent and removed only if this script linked it.
# Facts behind each setting: ../shared/notes/slurm-one-node.md of the project's notes.
set -euo pipefail

DIR=${CSTP_SLURM_DIR:-/tmp/cstp-slurm}
CONF=$DIR/slurm.conf
DEFAULT_CONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF

say() { echo "cluster.sh: $*" >&2; }

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
    command -v apt-get >/dev/null || { say "no slurmctld/munged and no apt-get to install them"; return 1; }
    say "installing slurm-wlm and munge from Debian's packages"
    (apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends slurm-wlm munge; } >/dev/null 2>&1) ||
        { say "could not install slurm-wlm and munge"; return 1; }
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
    mkdir -p "$DIR"/{state,spool,log,run}
    cat >"$CONF" <<EOF
ClusterName=cstp-test
SlurmctldHost=$host
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/run/munge.socket.2
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# The executor plugin reads job states with squeue; it falls back to sacct (no accounting here)
# when MinJobAge is below 3x its first status check (40 s).
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$host Name=gpu File=/dev/null" >"$DIR/gres.conf"
}

start_munge() {
    mkdir -p "$DIR"/munge/{etc,lib,log,run}
    chmod 700 "$DIR"/munge/{etc,lib,log}
    chmod 755 "$DIR/munge" "$DIR/munge/run" # munged refuses a socket folder others cannot enter
    [ -f "$DIR/munge/etc/munge.key" ] || dd if=/dev/urandom of="$DIR/munge/etc/munge.key" bs=1024 count=1 2>/dev/null
    chmod 400 "$DIR/munge/etc/munge.key"
    munged -S "$DIR/munge/run/munge.socket.2" --key-file="$DIR/munge/etc/munge.key" \
        --log-file="$DIR/munge/log/munged.log" --pid-file="$DIR/munge/run/munged.pid" \
        --seed-file="$DIR/munge/lib/munged.seed" --force
}

link_default_conf() {
    if [ ! -e "$DEFAULT_CONF" ] && [ ! -L "$DEFAULT_CONF" ]; then
        mkdir -p "$(dirname "$DEFAULT_CONF")"
        ln -s "$CONF" "$DEFAULT_CONF"
        echo "$DEFAULT_CONF" >"$DIR/created"
    elif [ "$(readlink "$DEFAULT_CONF" || true)" != "$CONF" ]; then
        say "warning: $DEFAULT_CONF exists and is not ours; srun inside jobs will read it"
    fi
}

start() {
    install
    [ -f "$DIR/run/slurmctld.pid" ] && kill -0 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null &&
        { say "already running ($DIR)"; return 0; }
    write_config
    start_munge
    link_default_conf
    slurmctld -i
    slurmd
    # A few seconds here; three minutes for a machine ten times slower, then the state it was in.
    for _ in $(seq 180); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            say "one node idle ($DIR)"
            return 0
        fi
        sleep 1
    done
    say "the node did not become idle in 180 s (sinfo: $(sinfo -h -o %T 2>&1 | tr '\n' ' ')); see $DIR/log"
    return 1
}

stop_pid() {
    local file=$1
    [ -f "$file" ] || return 0
    local pid
    pid=$(cat "$file")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop() {
    stop_pid "$DIR/run/slurmd.pid"
    stop_pid "$DIR/run/slurmctld.pid"
    stop_pid "$DIR/munge/run/munged.pid"
    if [ -f "$DIR/created" ]; then
        while read -r path; do rm -f "$path"; done <"$DIR/created"
        rm -f "$DIR/created"
    fi
    say "stopped"
}

status() {
    sinfo -h -o "%N %T %c CPUs %m MB %G"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
