#!/usr/bin/env bash
# A real headless browser for the web UI's tests: Debian's chromium and its chromedriver.
# Nothing runs between tests (each test starts its own browser); start installs the packages
# when missing and writes the binaries' paths to .run/services/browser.env.
# Usage: browser.sh start|stop|status.
SERVICE=browser
source "$(dirname "$0")/lib.sh"

binaries() {
  CHROMIUM="$(command -v chromium || true)"
  CHROMEDRIVER="$(command -v chromedriver || true)"
  [ -n "$CHROMIUM" ] && [ -n "$CHROMEDRIVER" ]
}

start() {
  binaries || apt_install chromium chromium-driver fonts-dejavu-core
  if ! binaries; then log "chromium or chromedriver missing after install"; return 1; fi
  local version
  version="$("$CHROMIUM" --version 2>/dev/null | head -1)"
  cat > "$RUN_DIR/$SERVICE.env" <<ENV
CHROMIUM=$CHROMIUM
CHROMEDRIVER=$CHROMEDRIVER
ENV
  log "ready: $version"
}

stop() { rm -f "$RUN_DIR/$SERVICE.env"; }

status() {
  if binaries && [ -f "$RUN_DIR/$SERVICE.env" ]; then cat "$RUN_DIR/$SERVICE.env"
  else echo "browser: not installed"; return 1; fi
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
