#!/usr/bin/env bash
# Installs a single-machine Slurm from Debian's packages: slurmctld, slurmd, slurmdbd with the
# MySQL plugin, MariaDB and munge. Idempotent: does nothing when the daemons are already there.
# Exit status 2 (with a message) where it cannot install: no apt-get, or not root.
set -euo pipefail

have_all() {
    for bin in slurmctld slurmd slurmdbd munged mariadbd sacctmgr sbatch; do
        command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" ]] || return 1
    done
}

if have_all; then
    echo "slurm setup: already installed ($(/usr/sbin/slurmctld -V 2>/dev/null || echo unknown version))" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "slurm setup: cannot install Slurm here (no apt-get); install slurm-wlm, slurmdbd, mariadb-server, munge" >&2
    exit 2
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "slurm setup: cannot install Slurm here (not root); install slurm-wlm, slurmdbd, mariadb-server, munge" >&2
    exit 2
fi
echo "slurm setup: installing slurm-wlm, slurmdbd, mariadb-server, munge from apt" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# The packages' postinst scripts try to start services; with no init system here they fail
# quietly, and start.sh runs the daemons itself with its own configuration.
apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd slurm-client mariadb-server munge >&2
have_all || { echo "slurm setup: daemons still missing after install" >&2; exit 1; }
echo "slurm setup: installed ($(/usr/sbin/slurmctld -V 2>/dev/null || echo unknown version))" >&2
