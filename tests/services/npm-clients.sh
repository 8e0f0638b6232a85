#!/usr/bin/env bash
# The real MCP clients the tests drive: MCP Inspector CLI and the four coding agents' CLIs,
# pinned, installed from the npm registry into .run/services/npm-clients (kept between runs).
SERVICE=npm-clients
source "$(dirname "$0")/lib.sh"
DIR="$RUN_DIR/$SERVICE"
PKGS=(@modelcontextprotocol/inspector@2.12.0 @anthropic-ai/claude-code@2.1.332 @openai/codex@0.171.0
      @google/gemini-cli@0.61.0 opencode-ai@1.18.33)
STAMP="$DIR/.installed-$(echo "${PKGS[*]}" | md5sum | cut -c1-12)"

case "${1:-}" in
  start)
    if [ ! -f "$STAMP" ]; then
      command -v npm >/dev/null || apt_install nodejs npm
      mkdir -p "$DIR"
      log "npm install ${PKGS[*]}"
      npm install --no-audit --no-fund --loglevel=error --prefix "$DIR" "${PKGS[@]}" >"$DIR/install.log" 2>&1 \
        || { tail -20 "$DIR/install.log" >&2; exit 1; }
      touch "$STAMP"
    fi
    echo "NPM_CLIENTS_BIN=$DIR/node_modules/.bin" > "$RUN_DIR/$SERVICE.env"
    ;;
  stop) rm -f "$RUN_DIR/$SERVICE.env" ;;
  status) [ -f "$STAMP" ] ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
