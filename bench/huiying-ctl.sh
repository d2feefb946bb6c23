#!/usr/bin/env bash
# Start / reset / stop a bench Huiying server, for run_peer.sh's --reset-cmd / --stop-cmd.
#   huiying-ctl.sh reset    # stop, wipe the data dir, start empty, register the bench AEs, wait until ready
#   huiying-ctl.sh start | stop | status | pid
# The server binds 127.0.0.1 only (HUIYING_BIND_ADDRESS) and keeps its SQLite index and blobs in the data dir.
# Environment (defaults):
#   BENCH_TMP [/var/tmp/huiying-bench]      state in $BENCH_TMP/huiying (data/, server.log, server.pid)
#   HUIYING_DICOM_PORT [11112] HUIYING_HTTP_PORT [8080] HUIYING_AE_TITLE [HUIYING]
#   SCP_PORT [11113]                        C-MOVE destination BENCHSCP (run_peer.sh's storescp)
#   NODE [node], NODE_OPTIONS passed through (e.g. --max-old-space-size)
#   REGISTER_WHEN [auto]                    before|after the server starts; auto = before (the CLI and the
#                                           server share the SQLite index in the data dir), else after
# The calling AE titles are the ones run_peer.sh's dcmtk tools use: BENCHSCU (storescu, movescu,
# getscu), FINDSCU (findscu default), ECHOSCU (echoscu default), plus STORESCU/GETSCU/MOVESCU
# (dcmtk defaults, used by bench/big-instance.sh and by hand). Processes are stopped by PID only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BENCH_TMP="${BENCH_TMP:-/var/tmp/huiying-bench}"
STATE="${HUIYING_BENCH_STATE:-$BENCH_TMP/huiying}"
NODE="${NODE:-node}"
CLI=("$NODE" "$REPO/packages/server/src/cli/main.ts")
export HUIYING_DATA_DIR="${HUIYING_DATA_DIR:-$STATE/data}"
export HUIYING_DICOM_PORT="${HUIYING_DICOM_PORT:-11112}"
export HUIYING_HTTP_PORT="${HUIYING_HTTP_PORT:-8080}"
export HUIYING_AE_TITLE="${HUIYING_AE_TITLE:-HUIYING}"
export TCP_NODELAY="${TCP_NODELAY:-1}"
export HUIYING_BIND_ADDRESS="${HUIYING_BIND_ADDRESS:-127.0.0.1}"
# the harness sends no credentials: unauthenticated loopback requests act for the center (bench only)
export HUIYING_HTTP_LOOPBACK_HOSPITAL="${HUIYING_HTTP_LOOPBACK_HOSPITAL:-CENTER}"
SCP_PORT="${SCP_PORT:-11113}"
REGISTER_WHEN="${REGISTER_WHEN:-auto}"
CALLING_AETS=(BENCHSCU FINDSCU ECHOSCU STORESCU GETSCU MOVESCU)
PIDFILE="$STATE/server.pid"
LOGFILE="$STATE/server.log"
mkdir -p "$STATE"

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cli() { (cd "$REPO" && "${CLI[@]}" "$@") >>"$LOGFILE" 2>&1; }

register() {  # idempotent enough: an entry that already exists only logs a warning
  local a ok=0
  cli hospital add CENTER --name "Bench Center" --center || echo "warn: hospital add CENTER failed" >>"$LOGFILE"
  cli ae add BENCHSCP --hospital CENTER --host 127.0.0.1 --port "$SCP_PORT" || echo "warn: ae add BENCHSCP failed" >>"$LOGFILE"
  for a in "${CALLING_AETS[@]}"; do
    # calling-only AEs: no host/port, they are never contacted
    cli ae add "$a" --hospital CENTER || echo "warn: ae add $a failed" >>"$LOGFILE"
  done
  local list
  list="$(cd "$REPO" && "${CLI[@]}" ae list 2>>"$LOGFILE" || true)"
  [[ "$list" == *BENCHSCP* ]] && ok=1
  [ "$ok" = 1 ] || { echo "AE registration failed (see $LOGFILE)" >&2; return 1; }
}

stop_server() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if pid_alive "$pid"; then
    kill "$pid"
    for _ in $(seq 1 100); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then kill -9 "$pid" || true; fi
  fi
  rm -f "$PIDFILE"
}

start_server() {
  mkdir -p "$HUIYING_DATA_DIR"
  local registered=0
  if [ "$REGISTER_WHEN" != after ]; then
    if register; then registered=1; elif [ "$REGISTER_WHEN" = before ]; then return 1; fi
  fi
  echo "=== $(date -Is) serve (data $HUIYING_DATA_DIR, DICOM $HUIYING_DICOM_PORT, HTTP $HUIYING_HTTP_PORT, AE $HUIYING_AE_TITLE)" >>"$LOGFILE"
  (cd "$REPO" && exec nohup "${CLI[@]}" serve >>"$LOGFILE" 2>&1) &
  echo $! >"$PIDFILE"
  local pid
  pid="$(cat "$PIDFILE")"
  for _ in $(seq 1 300); do
    port_open "$HUIYING_DICOM_PORT" && break
    pid_alive "$pid" || {
      echo "huiying server exited; last log lines:" >&2
      tail -30 "$LOGFILE" >&2
      return 1
    }
    sleep 0.1
  done
  port_open "$HUIYING_DICOM_PORT" || {
    echo "huiying DICOM port $HUIYING_DICOM_PORT not open after 30 s" >&2
    tail -30 "$LOGFILE" >&2
    return 1
  }
  if [ "$registered" = 0 ]; then register || return 1; fi
  for _ in $(seq 1 300); do
    port_open "$HUIYING_HTTP_PORT" && return 0
    sleep 0.1
  done
  echo "huiying HTTP port $HUIYING_HTTP_PORT not open" >&2
  return 1
}

case "${1:-}" in
  start) start_server ;;
  stop) stop_server ;;
  reset)
    stop_server
    rm -rf "$HUIYING_DATA_DIR"
    sync
    start_server
    ;;
  status) pid_alive "$(cat "$PIDFILE" 2>/dev/null || true)" && echo running || echo stopped ;;
  pid) cat "$PIDFILE" ;;
  *)
    echo "usage: $0 reset|start|stop|status|pid" >&2
    exit 2
    ;;
esac
