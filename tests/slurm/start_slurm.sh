#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, for tests/test_slurm.py (or by hand).
#
#   sudo tests/slurm/start_slurm.sh [DIR]        # DIR defaults to /tmp/writing-alpaca-slurm
#   export SLURM_CONF=DIR/etc/slurm.conf         # then sinfo, sbatch, snakemake --profile profiles/slurm
#   sudo tests/slurm/stop_slurm.sh [DIR]
#
# Needs root on Debian 12 (or Ubuntu); works without systemd (containers, CI). Idempotent:
# what is installed or running already is kept. What it changes on the machine:
#   - installs the Debian packages slurmctld, slurmd, slurm-client, munge when missing
#     (apt-get update only when the package lists do not know them; services are not started
#     by the installation: a policy-rc.d is put in place for its duration if none exists);
#   - creates /etc/munge/munge.key when the munge package did not, and /run/munge;
#   - starts munged (as user munge) unless one already answers, then slurmctld and slurmd.
# Everything else (configuration, state, spool, logs, pid files) lives under DIR: no file
# under /etc/slurm is written. slurmd runs "configless" (it fetches the configuration from
# slurmctld) and links /run/slurm/conf to its cache, where SLURM commands look when neither
# SLURM_CONF nor /etc/slurm/slurm.conf is there: the Snakemake job step drops SLURM_CONF
# from the environment of its inner `srun`. stop_slurm.sh stops exactly the daemons this
# script started and removes that link.
#
# Environment: WA_SLURM_CTLD_PORT / WA_SLURM_SLURMD_PORT (default 6817 / 6818),
# WA_SLURM_WAIT (seconds to wait for the node to become idle, default 60).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$(realpath -m "${1:-/tmp/writing-alpaca-slurm}")"
CTLD_PORT="${WA_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${WA_SLURM_SLURMD_PORT:-6818}"
WAIT="${WA_SLURM_WAIT:-60}"
PACKAGES=(slurmctld slurmd slurm-client munge)

export SLURM_CONF="$DIR/etc/slurm.conf"

say() { printf 'start_slurm: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    for log in "$DIR"/log/*.log; do
        [ -f "$log" ] && { say "--- last lines of $log"; tail -n 20 "$log" >&2; }
    done
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts the SLURM daemons)"

# A daemon started by us is alive when its pid file names a live process (not a zombie).
alive() {
    [ -s "$1" ] || return 1
    local stat="/proc/$(cat "$1")/stat"
    [ -r "$stat" ] && [ "$(sed 's/.*) //' "$stat" | cut -d' ' -f1)" != Z ]
}

# ---------------------------------------------------------------------------------- packages
install_packages() {
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# written by writing-alpaca tests/slurm/start_slurm.sh during apt-get install\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get install -y -q --no-install-recommends "${missing[@]}")
    local ok=0
    if apt-cache show "${missing[@]}" >/dev/null 2>&1 && "${apt[@]}" >"$DIR/log/apt.log" 2>&1; then
        ok=1
    else
        say "apt-get update (package lists missing or stale)"
        apt-get update -q >>"$DIR/log/apt.log" 2>&1 && "${apt[@]}" >>"$DIR/log/apt.log" 2>&1 && ok=1
    fi
    [ "$added_policy" -eq 1 ] && rm -f "$policy"
    [ "$ok" -eq 1 ] || { tail -n 30 "$DIR/log/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

# ---------------------------------------------------------------------------------- config
write_config() {
    local cpus memory_mb host
    cpus="$(nproc)"
    # declare 90 % of the memory: slurmd refuses a node that claims more than it has
    memory_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
    host="$(hostname -s)"
    sed -e "s|@DIR@|$DIR|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY@|$memory_mb|g" \
        -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
        "$HERE/slurm.conf.in" >"$DIR/etc/slurm.conf"
    cp "$HERE/gres.conf.in" "$DIR/etc/gres.conf"
    printf 'export SLURM_CONF=%s\n' "$SLURM_CONF" >"$DIR/env"
}

# ---------------------------------------------------------------------------------- munge
munge_answers() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_answers; then
        say "munged already running"
        return 0
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do
        if munge_answers; then
            # munged (user munge) writes its pid under /run/munge; remember it as ours
            cp /run/munge/munged.pid "$DIR/run/munged.pid"
            return 0
        fi
        sleep 0.2
    done
    die "munged does not answer (see /var/log/munge/munged.log)"
}

# ---------------------------------------------------------------------------------- slurm
node_state() { sinfo --noheader --nodes=localhost --format='%t' 2>/dev/null | head -n 1 || true; }

start_slurm() {
    if alive "$DIR/run/slurmctld.pid"; then
        say "slurmctld already running"
    else
        slurmctld
    fi
    for i in $(seq 100); do
        alive "$DIR/run/slurmctld.pid" || [ "$i" -lt 10 ] || die "slurmctld exited"
        scontrol ping 2>/dev/null | grep -q 'is UP' && break
        sleep 0.2
    done
    scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld does not answer"
    if alive "$DIR/run/slurmd.pid"; then
        say "slurmd already running"
    else
        env -u SLURM_CONF slurmd -N localhost --conf-server "127.0.0.1:$CTLD_PORT"
    fi
    local state deadline=$((SECONDS + WAIT))
    while [ $SECONDS -lt $deadline ]; do
        state="$(node_state)"
        case "$state" in
            idle | mix | alloc) say "node localhost is $state"; return 0 ;;
            down* | drain* | drng*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    die "node localhost is not idle after ${WAIT}s (state: '${state:-unknown}'; sinfo -R: $(sinfo -R --noheader 2>&1))"
}

mkdir -p "$DIR"/{etc,state,spool,log,run}
install_packages
write_config
start_munge
start_slurm
say "ready: export SLURM_CONF=$SLURM_CONF"
