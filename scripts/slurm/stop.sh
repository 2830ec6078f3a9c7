#!/usr/bin/env bash
# Stops the daemons scripts/slurm/start.sh started in $QM_SLURM_DIR (default /tmp/qm-slurm),
# by their pid files. `--purge` also deletes the directory (database, state, logs).
set -uo pipefail

DIR="${QM_SLURM_DIR:-/tmp/qm-slurm}"
stop_pid_file() {
    local file="$1" pid i
    [[ -f "$file" ]] || return 0
    pid="$(cat "$file" 2>/dev/null)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
}
rm -f "$DIR/up"
for f in "$DIR"/run/slurmd-*.pid; do stop_pid_file "$f"; done
stop_pid_file "$DIR/run/slurmctld.pid"
stop_pid_file "$DIR/run/slurmdbd.pid"
stop_pid_file "$DIR/run/mariadb.pid"
stop_pid_file "$DIR/run/munged.pid"
if [[ "${1:-}" == "--purge" ]]; then rm -rf "$DIR"; fi
echo "slurm stop: stopped daemons in $DIR" >&2
