#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine: munged, slurmctld, slurmd, two fake GPUs
# (character devices with /dev/null's numbers, so --gres=gpu:1 sets CUDA_VISIBLE_DEVICES).
# Usage: slurm.sh start|stop|status. Settings: .run/services/slurm.env (SLURM_CONF, ...).
SERVICE=slurm
source "$(dirname "$0")/lib.sh"
D="$RUN_DIR/slurm"
CONF="$D/slurm.conf"

running() { pid_alive "$D/slurmctld.pid" && pid_alive "$D/slurmd.pid"; }

munge_up() {
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || { mungekey -c -f -k /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    wait_for 10 bash -c 'munge -n | unmunge'
    mkdir -p "$D" && touch "$D/munged.ours"   # stop only a munged this script started
  fi
}

munge_down() {
  [ -f "$D/munged.ours" ] || return 0
  # Another SLURM on this machine (a private one a test started, or the shared one) may have
  # come up on our munged since: leave it to the last one.
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then return 0; fi
  stop_pidfile /run/munge/munged.pid
  rm -f "$D/munged.ours"
}

write_conf() {
  local ctld_port slurmd_port mem
  ctld_port=$(free_port); slurmd_port=$(free_port)
  mkdir -p "$D/state" "$D/spool" "$D/dev"
  for i in 0 1; do [ -e "$D/dev/nvidia$i" ] || mknod "$D/dev/nvidia$i" c 1 3; done
  chmod 0755 "$D" "$D/dev"
  cat > "$CONF" <<CONF
ClusterName=rigorlab-test
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=8000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  cat > "$D/gres.conf" <<CONF
AutoDetect=off
Name=gpu File=$D/dev/nvidia[0-1]
CONF
  chmod 0644 "$CONF" "$D/gres.conf"
}

start() {
  if running; then log "already running"; return 0; fi
  apt_install slurm-wlm slurmctld slurmd slurm-client munge
  munge_up
  stop_daemons
  write_conf
  export SLURM_CONF="$CONF"
  slurmctld -f "$CONF"
  slurmd -f "$CONF" -N localhost
  if ! wait_for 40 bash -c "sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)'"; then
    log "slurm did not become idle; logs in $D"; tail -5 "$D/slurmctld.log" "$D/slurmd.log" >&2; return 1
  fi
  cat > "$RUN_DIR/slurm.env" <<ENV
SLURM_CONF=$CONF
SLURM_PARTITION=debug
SLURM_GPUS=2
ENV
  log "up (SLURM_CONF=$CONF)"
}

stop_daemons() {
  stop_pidfile "$D/slurmd.pid"
  stop_pidfile "$D/slurmctld.pid"
}

stop() {
  stop_daemons
  munge_down
  rm -f "$RUN_DIR/slurm.env"
}

status() {
  if running; then SLURM_CONF="$CONF" sinfo; else echo "slurm: stopped"; return 1; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
