# Shared helpers for tests/services/*.sh. Each service script takes start|stop|status,
# is idempotent (start on a running service does nothing, stop on a stopped one too),
# keeps all its files under $RUN_DIR/<name>/, and on start writes $RUN_DIR/<name>.env
# (KEY=VALUE lines) that tests/conftest.py loads into the environment.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${RIGORLAB_SERVICES_RUN:-$REPO/.run/services}"
mkdir -p "$RUN_DIR"

log() { echo "[services:${SERVICE:-?}] $*" >&2; }

# apt_install PKG... : install Debian packages that are missing (one apt-get update per run).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ ! -f "$RUN_DIR/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && touch "$RUN_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pid_alive FILE : true when FILE holds the pid of a live process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE : TERM, wait up to 10 s, then KILL.
stop_pidfile() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for SECONDS CMD... : poll CMD until it succeeds or time runs out.
wait_for() {
  local secs="$1"; shift
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# free_port : an unused TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
