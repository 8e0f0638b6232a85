#!/usr/bin/env bash
# Start or stop every service the test suite needs: tests/services/*.sh except this and lib.
# Usage: all.sh start|stop|status
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
action="${1:?usage: all.sh start|stop|status}"
rc=0
for s in "$here"/*.sh; do
  case "$(basename "$s")" in all.sh|lib.sh) continue ;; esac
  if ! bash "$s" "$action"; then
    echo "[services] $(basename "$s") $action failed" >&2
    rc=1
  fi
done
exit $rc
