#!/usr/bin/env bash
# A real Docker engine for the sandbox tests: its own data-root, exec-root and socket under
# .run/services/docker/ (never the host's /var/lib/docker). Writes DOCKER_HOST to docker.env.
SERVICE=docker
source "$(dirname "$0")/lib.sh"
D="$RUN_DIR/docker"
SOCK="$D/docker.sock"
PIDF="$D/dockerd.pid"
ENVF="$RUN_DIR/docker.env"

up() { docker -H "unix://$SOCK" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  # debootstrap: the real image's base (tests/sandbox/test_real_clients.py).
  apt_install docker.io iptables busybox-static debootstrap
  if pid_alive "$PIDF" && up; then log "already running"; write_env; return 0; fi
  stop_pidfile "$PIDF"
  # Leftovers of a killed engine: containerd's pid/sock files make the next start fail.
  rm -rf "$D/exec" "$SOCK"
  mkdir -p "$D/data" "$D/exec"
  setsid dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$PIDF" \
    -H "unix://$SOCK" >"$D/dockerd.log" 2>&1 < /dev/null &
  if ! wait_for 60 up; then
    log "dockerd did not answer within 60 s; last lines of $D/dockerd.log:"
    tail -20 "$D/dockerd.log" >&2
    return 1
  fi
  write_env
  log "running (DOCKER_HOST=unix://$SOCK)"
}

write_env() { printf 'DOCKER_HOST=unix://%s\n' "$SOCK" > "$ENVF"; }

stop() {
  if up; then
    ids="$(docker -H "unix://$SOCK" ps -q)"
    [ -z "$ids" ] || docker -H "unix://$SOCK" kill $ids >/dev/null 2>&1 || true
  fi
  stop_pidfile "$PIDF"
  rm -f "$ENVF"
}

status() { pid_alive "$PIDF" && up && echo "docker: running ($SOCK)" || { echo "docker: stopped"; return 1; }; }

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
