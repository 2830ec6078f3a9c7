#!/usr/bin/env bash
# Starts a single-machine Slurm cluster "qm" with accounting, as a test bed and a demo:
# munged, MariaDB on 127.0.0.1, slurmdbd, slurmctld and one slurmd per fake GPU node.
# Everything (configs, sockets, state, logs, the database) lives in $QM_SLURM_DIR
# (default /tmp/qm-slurm); nothing is written to /etc. No systemd: daemons run by hand.
#
# QM_SLURM_GPUS="h100=4,a100=4" declares the pools: one partition and one node per GPU type,
# the node holding that many typed GPUs (gres.conf File= points at empty files).
# Prints `export SLURM_CONF=...` lines on stdout for `eval "$(scripts/slurm/start.sh)"`.
# Idempotent: a cluster already up in $QM_SLURM_DIR is left as it is.
set -euo pipefail

DIR="${QM_SLURM_DIR:-/tmp/qm-slurm}"
GPUS="${QM_SLURM_GPUS:-h100=4,a100=4}"
PORT_BASE="${QM_SLURM_PORT_BASE:-16817}"
CTLD_PORT=$PORT_BASE
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))
NODE_PORT_BASE=$((PORT_BASE + 10))
HOST="$(hostname -s)"
export PATH="/usr/sbin:/usr/bin:$PATH"
export SLURM_CONF="$DIR/etc/slurm.conf"

log() { echo "slurm start: $*" >&2; }
fail() { log "$*"; for f in "$DIR"/log/*.log; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

# Waits up to $2 seconds (default 30) for the command $1 to succeed.
wait_for() {
    local what="$1" limit="${2:-30}" i
    for ((i = 0; i < limit * 5; i++)); do
        if eval "$what" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

if [[ -f "$DIR/up" ]] && scontrol ping 2>/dev/null | grep -q UP; then
    log "already up in $DIR"
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
fi

mkdir -p "$DIR"/{etc,log,run,state,spool,munge,gpu,mysql}
chmod 755 "$DIR/munge"

# --- munge: a fresh key, its own socket
if [[ ! -f "$DIR/munge/munge.key" ]]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$DIR/munge/munge.key"
fi
# The default socket: Slurm 22.05 clients (sacctmgr) ignore AuthInfo=socket= for munge.
MUNGE_SOCKET="${QM_MUNGE_SOCKET:-/run/munge/munge.socket.2}"
mkdir -p "$(dirname "$MUNGE_SOCKET")"
if ! pgrep -F "$DIR/run/munged.pid" >/dev/null 2>&1; then
    munged --force --key-file="$DIR/munge/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
fi
wait_for "[[ -S '$MUNGE_SOCKET' ]]" 10 || fail "munged did not start"

# --- MariaDB on 127.0.0.1 only, for slurmdbd
DB_SOCKET="$DIR/run/mysql.sock"
if [[ ! -d "$DIR/mysql/mysql" ]]; then
    mariadb-install-db --no-defaults --user=root --datadir="$DIR/mysql" --auth-root-authentication-method=normal \
        --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
fi
if ! pgrep -F "$DIR/run/mariadb.pid" >/dev/null 2>&1; then
    mariadbd --no-defaults --user=root --datadir="$DIR/mysql" --socket="$DB_SOCKET" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$DIR/run/mariadb.pid" --log-error="$DIR/log/mariadb.log" \
        --innodb-buffer-pool-size=64M --skip-name-resolve &
fi
wait_for "mariadb --no-defaults -uroot --socket='$DB_SOCKET' -e 'select 1'" 60 || fail "MariaDB did not start"
DB_PASS_FILE="$DIR/etc/db.pass"
[[ -f "$DB_PASS_FILE" ]] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DB_PASS_FILE"; chmod 600 "$DB_PASS_FILE"; }
DB_PASS="$(cat "$DB_PASS_FILE")"
mariadb --no-defaults -uroot --socket="$DB_SOCKET" <<SQL || fail "cannot create the accounting database"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL

# --- configs
TYPES=()
declare -A COUNT
IFS=',' read -ra PAIRS <<<"$GPUS"
for pair in "${PAIRS[@]}"; do
    type="${pair%%=*}"; n="${pair#*=}"
    [[ "$type" =~ ^[a-z0-9]+$ && "$n" =~ ^[0-9]+$ ]] || fail "bad QM_SLURM_GPUS entry '$pair' (want type=count)"
    TYPES+=("$type"); COUNT[$type]=$n
done
tres="gres/gpu"
for type in "${TYPES[@]}"; do tres+=",gres/gpu:$type"; done

cat >"$DIR/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
CONF
chmod 600 "$DIR/etc/slurmdbd.conf"

{
    cat <<CONF
ClusterName=qm
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
JobRequeue=1
# Quick feedback for a test bed: schedule often, keep finished jobs visible briefly.
SchedulerParameters=defer_batch=0,sched_interval=5,bf_interval=5
MinJobAge=300
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos,safe
AccountingStorageTRES=$tres
JobCompType=jobcomp/none
# Refuses untyped GPU requests under Quartermaster QOS (see job_submit.lua for why).
JobSubmitPlugins=lua
CONF
    i=0
    for type in "${TYPES[@]}"; do
        echo "NodeName=qm-$type NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((NODE_PORT_BASE + i)) CPUs=16 RealMemory=16000 Gres=gpu:$type:${COUNT[$type]} State=UNKNOWN"
        i=$((i + 1))
    done
    for type in "${TYPES[@]}"; do
        echo "PartitionName=$type Nodes=qm-$type MaxTime=INFINITE State=UP OverSubscribe=NO"
    done
} >"$DIR/etc/slurm.conf"

{
    echo "AutoDetect=off"
    for type in "${TYPES[@]}"; do
        files=()
        for ((g = 0; g < COUNT[$type]; g++)); do
            f="$DIR/gpu/$type$g"; : >"$f"; files+=("$f")
        done
        range="$DIR/gpu/$type[0-$((COUNT[$type] - 1))]"
        echo "NodeName=qm-$type Name=gpu Type=$type File=$range"
    done
} >"$DIR/etc/gres.conf"
rm -f "$DIR/etc/cgroup.conf"
cp "$(dirname "$0")/job_submit.lua" "$DIR/etc/job_submit.lua"
for type in "${TYPES[@]}"; do mkdir -p "$DIR/spool/qm-$type"; done

# --- slurmdbd, then the cluster record, then slurmctld and the nodes
if ! pgrep -F "$DIR/run/slurmdbd.pid" >/dev/null 2>&1; then
    # slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF.
    slurmdbd || fail "slurmdbd failed to start"
fi
wait_for "sacctmgr -n list cluster" 60 || fail "slurmdbd does not answer"
if ! sacctmgr -nP list cluster format=cluster | grep -qx qm; then
    sacctmgr -i add cluster qm >/dev/null || fail "cannot add cluster qm"
fi
if ! pgrep -F "$DIR/run/slurmctld.pid" >/dev/null 2>&1; then
    slurmctld -f "$SLURM_CONF" || fail "slurmctld failed to start"
fi
wait_for "scontrol ping | grep -q UP" 60 || fail "slurmctld does not answer"
for type in "${TYPES[@]}"; do
    if ! pgrep -F "$DIR/run/slurmd-qm-$type.pid" >/dev/null 2>&1; then
        slurmd -f "$SLURM_CONF" -N "qm-$type" || fail "slurmd qm-$type failed to start"
    fi
done
for type in "${TYPES[@]}"; do
    wait_for "sinfo -h -n qm-$type -o %t | grep -Eq '^(idle|mix|alloc)'" 60 || fail "node qm-$type did not come up"
done
touch "$DIR/up"
log "up in $DIR: partitions ${TYPES[*]}; SLURM_CONF=$SLURM_CONF"
echo "export SLURM_CONF=$SLURM_CONF"
