#!/usr/bin/env bash
# A real OpenSSH server on 127.0.0.1 (own port, host key, config) with a test user that logs
# in with a key; commands over SSH see SLURM_CONF so sbatch works through it.
# Usage: sshd.sh start|stop|status. Settings: .run/services/sshd.env.
SERVICE=sshd
source "$(dirname "$0")/lib.sh"
D="$RUN_DIR/sshd"
USER_NAME=rltest

start() {
  if pid_alive "$D/sshd.pid"; then log "already running"; return 0; fi
  apt_install openssh-server openssh-client rsync
  mkdir -p "$D/authorized"
  chmod 0755 "$D" "$D/authorized"
  id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/bash "$USER_NAME"
  usermod -p '*' "$USER_NAME"          # a locked account refuses even keys
  [ -f "$D/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/host_key"
  [ -f "$D/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/client_key"
  cp "$D/client_key.pub" "$D/authorized/$USER_NAME"
  chmod 0644 "$D/authorized/$USER_NAME"
  local port; port=$(free_port)
  install -d -m 0755 /run/sshd
  cat > "$D/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $D/host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers $USER_NAME
Subsystem sftp internal-sftp
SetEnv SLURM_CONF=$RUN_DIR/slurm/slurm.conf
MaxStartups 50
MaxSessions 50
CONF
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$D/host_key.pub")" > "$D/known_hosts"
  /usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
  if ! wait_for 20 bash -c "ssh -o BatchMode=yes -o UserKnownHostsFile=$D/known_hosts -i $D/client_key -p $port $USER_NAME@127.0.0.1 true"; then
    log "sshd did not accept the test key; see $D/sshd.log"; tail -5 "$D/sshd.log" >&2; return 1
  fi
  cat > "$RUN_DIR/sshd.env" <<ENV
SSH_HOST=127.0.0.1
SSH_PORT=$port
SSH_USER=$USER_NAME
SSH_KEY=$D/client_key
SSH_KNOWN_HOSTS=$D/known_hosts
SSH_CONFIG=$D/sshd_config
SSH_PIDFILE=$D/sshd.pid
ENV
  log "up on 127.0.0.1:$port"
}

stop() {
  stop_pidfile "$D/sshd.pid"
  rm -f "$RUN_DIR/sshd.env"
}

status() {
  if pid_alive "$D/sshd.pid"; then cat "$RUN_DIR/sshd.env"; else echo "sshd: stopped"; return 1; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
