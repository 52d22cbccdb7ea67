#!/usr/bin/env bash
# Start or stop the project's local Prefect server (UI and API at http://127.0.0.1:4200),
# with PREFECT_HOME=./.prefect (SQLite database, logs) and analytics off.
#   infra/prefect_server.sh start|stop [VENV_BIN]
set -euo pipefail
cmd=${1:?start or stop}
bin=${2:-.venv/bin}
home=${PREFECT_HOME:-$(pwd)/.prefect}
pidfile="$home/server.pid"
url=http://127.0.0.1:4200
export PREFECT_HOME="$home" PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
healthy() { curl -fsS -m 2 "$url/api/health" >/dev/null 2>&1; }

case "$cmd" in
  start)
    if healthy; then echo "Prefect server already up at $url"; exit 0; fi
    mkdir -p "$home"
    setsid "$bin/prefect" server start --host 127.0.0.1 --port 4200 >"$home/server.log" 2>&1 < /dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      if healthy; then echo "Prefect server up at $url (log: $home/server.log)"; exit 0; fi
      sleep 0.5
    done
    echo "Prefect server did not start; see $home/server.log" >&2; tail -20 "$home/server.log" >&2; exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then kill -- -"$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    echo "Prefect server stopped" ;;
  *) echo "usage: $0 start|stop [VENV_BIN]" >&2; exit 2 ;;
esac
