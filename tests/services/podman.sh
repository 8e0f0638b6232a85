#!/usr/bin/env bash
# Rootful Podman for the sandbox tests, with one consistent storage and engine config under
# .run/services/podman/ (never the host's /var/lib/containers). Podman needs no daemon:
# start writes the configs, checks `podman info`, and writes the two config paths to podman.env.
SERVICE=podman
source "$(dirname "$0")/lib.sh"
D="$RUN_DIR/podman"
ENVF="$RUN_DIR/podman.env"
export CONTAINERS_STORAGE_CONF="$D/storage.conf" CONTAINERS_CONF="$D/containers.conf"

start() {
  # bubblewrap: the sandbox tests' third runtime, which needs no service of its own.
  apt_install podman runc conmon catatonit containernetworking-plugins busybox-static bubblewrap
  mkdir -p "$D/storage" "$D/runroot" "$D/tmp"
  cat > "$D/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$D/storage"
runroot = "$D/runroot"
CONF
  cat > "$D/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$D/events.log"
tmp_dir = "$D/tmp"
runtime = "runc"
CONF
  if ! podman info --format '{{.Store.GraphRoot}}' >"$D/info.log" 2>&1; then
    log "podman info failed:"; cat "$D/info.log" >&2; return 1
  fi
  printf 'CONTAINERS_STORAGE_CONF=%s\nCONTAINERS_CONF=%s\n' "$CONTAINERS_STORAGE_CONF" \
    "$CONTAINERS_CONF" > "$ENVF"
  log "ready (storage $D/storage)"
}

stop() {
  if [ -f "$D/storage.conf" ]; then
    podman ps -q 2>/dev/null | xargs -r podman kill >/dev/null 2>&1 || true
    podman rm -af >/dev/null 2>&1 || true
  fi
  rm -f "$ENVF"
}

status() {
  [ -f "$ENVF" ] && podman info >/dev/null 2>&1 && echo "podman: ready" || { echo "podman: not ready"; return 1; }
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
