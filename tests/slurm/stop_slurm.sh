#!/usr/bin/env bash
# Stop the one-node SLURM cluster that start_slurm.sh started in DIR (same argument):
# cancel its jobs, then stop slurmd, slurmctld and munged (munged only when start_slurm.sh
# started it), and remove slurmd's /run/slurm/conf link. Daemons it did not start are left alone. DIR itself (configuration, logs,
# jobcomp.log) is kept for inspection; remove it when done. Safe to run twice.
set -uo pipefail

DIR="$(realpath -m "${1:-/tmp/writing-alpaca-slurm}")"
export SLURM_CONF="$DIR/etc/slurm.conf"

say() { printf 'stop_slurm: %s\n' "$*" >&2; }

# running PID: the process exists and is not a zombie (PID 1 of a container may not reap).
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }

# stop PIDFILE NAME: TERM, wait up to 15 s, then KILL; removes the pid file.
stop() {
    local pidfile="$1" name="$2" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 75); do
            running "$pid" || break
            sleep 0.2
        done
        if running "$pid"; then
            say "$name ($pid) ignored SIGTERM: killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        say "stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}

if [ -f "$SLURM_CONF" ] && [ -s "$DIR/run/slurmctld.pid" ]; then
    # cancel whatever is still queued or running, and let slurmd reap the job steps
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do
        [ -z "$(squeue --noheader --states=RUNNING,COMPLETING 2>/dev/null)" ] && break
        sleep 0.2
    done
fi
stop "$DIR/run/slurmd.pid" slurmd
stop "$DIR/run/slurmctld.pid" slurmctld
stop "$DIR/run/munged.pid" munged
# slurmd (configless) links /run/slurm/conf to its configuration cache under DIR
if [ "$(readlink /run/slurm/conf 2>/dev/null)" = "$DIR/spool/conf-cache" ]; then
    rm -f /run/slurm/conf
    rmdir /run/slurm 2>/dev/null
fi
exit 0
