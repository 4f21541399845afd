#!/usr/bin/env bash
# A single-node Slurm on localhost, for tests and trying the Slurm backend
# (../shared/CLUSTER.md has the measured facts behind every choice here).
#
#   scripts/slurm-local.sh start         install if needed, configure, start, wait for an idle node
#   scripts/slurm-local.sh stop          stop the daemons (TERM, then KILL after a deadline)
#   scripts/slurm-local.sh status        sinfo; exit 0 when the node takes jobs
#   scripts/slurm-local.sh restart-ctld  kill -9 slurmctld and start it again (tests use it)
#
# Runs as root, without systemd: Debian 12's slurm-wlm 22.05 packages, daemons started by
# hand, each writing a pid file. Every command is idempotent. No accounting daemon: final
# job states come from `scontrol show job` (exact for MinJobAge seconds) and the jobcomp file.
# A /etc/slurm/slurm.conf this script did not write is never overwritten.
set -euo pipefail

conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
marker="# written by phase scripts/slurm-local.sh"
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
munge_pid=/run/munge/munged.pid
log_dir=/var/log/slurm
# How long start waits for an idle node, and stop for a daemon to exit.
deadline_s=${SLURM_LOCAL_DEADLINE_S:-60}

say() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    ((${#missing[@]})) || return 0
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    # Package installs do not start services here (no systemd): we start them below.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        munge slurm-client slurmctld slurmd >/dev/null
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
    if ! alive "$munge_pid"; then
        runuser -u munge -- /usr/sbin/munged
    fi
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
}

# proctrack/cgroup ends a job's background processes with it; it needs writable cgroup v1
# controllers (else linuxproc, which leaves them running).
cgroup_ok() {
    local c
    for c in freezer memory cpuset; do
        mkdir "/sys/fs/cgroup/$c/slurm-probe.$$" 2>/dev/null || return 1
        rmdir "/sys/fs/cgroup/$c/slurm-probe.$$"
    done
}

write_config() {
    if [[ -f "$conf" ]] && ! grep -qF "$marker" "$conf"; then
        die "$conf exists and was not written by this script; not touching it"
    fi
    local cpus mem proctrack task
    cpus=$(nproc)
    # slurmd drains a node that has less memory than RealMemory claims: leave some out.
    mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
    if cgroup_ok; then
        proctrack=proctrack/cgroup task=task/cgroup,task/affinity
    else
        proctrack=proctrack/linuxproc task=task/none
        say "cgroup v1 controllers not writable: proctrack/linuxproc (background processes of a job outlive it)"
    fi
    install -d -m 755 "$conf_dir" "$log_dir" /var/spool/slurmctld /var/spool/slurmd
    cat >"$conf.tmp" <<EOF
$marker
ClusterName=phase-local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ProctrackType=$proctrack
TaskPlugin=$task
InactiveLimit=30
MinJobAge=300
KillWait=30
ReturnToService=2
JobCompType=jobcomp/filetxt
JobCompLoc=$log_dir/jobcomp.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
# Without a default a job is given the whole node's memory, and jobs run one at a time.
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=$((mem / cpus))
EOF
    mv "$conf.tmp" "$conf"
    cat >"$conf_dir/cgroup.conf" <<EOF
$marker
CgroupPlugin=cgroup/v1
ConstrainCores=yes
ConstrainRAMSpace=yes
EOF
}

node_state() { sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n1; }

wait_idle() {
    local end=$((SECONDS + deadline_s)) state=""
    while ((SECONDS < end)); do
        state=$(node_state || true)
        case "$state" in
            idle | mixed | allocated | completing) return 0 ;;
            down* | drain* | *drained*)
                # Left down or drained by an unclean stop: it is ours, take it back.
                scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
        esac
        sleep 0.2
    done
    die "the node is not idle after ${deadline_s}s (state: ${state:-none}); see $log_dir/"
}

start() {
    install_packages
    start_munge
    write_config
    alive "$ctld_pid" || slurmctld
    alive "$slurmd_pid" || slurmd -N localhost
    wait_idle
    say "up: $(sinfo -h -o '%P %a %D %T')"
}

stop_daemon() {
    local pidfile=$1 name=$2 pid end
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    end=$((SECONDS + deadline_s))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= end)); then
            say "$name did not stop in ${deadline_s}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
}

stop() {
    stop_daemon "$slurmd_pid" slurmd
    stop_daemon "$ctld_pid" slurmctld
    stop_daemon "$munge_pid" munged
    say "stopped"
}

status() {
    command -v sinfo >/dev/null || { say "not installed"; return 1; }
    local state
    state=$(node_state || true)
    printf 'slurmctld: %s\nslurmd: %s\nnode: %s\n' \
        "$(alive "$ctld_pid" && echo running || echo stopped)" \
        "$(alive "$slurmd_pid" && echo running || echo stopped)" "${state:-unknown}"
    case "$state" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

# A crash of the controller with jobs running: batch jobs survive it (CLUSTER.md).
restart_ctld() {
    alive "$ctld_pid" || die "slurmctld is not running"
    local pid
    pid=$(cat "$ctld_pid")
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    slurmctld
    wait_idle
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    restart-ctld) restart_ctld ;;
    *) echo "usage: $0 start|stop|status|restart-ctld" >&2; exit 2 ;;
esac
