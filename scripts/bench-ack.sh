#!/usr/bin/env bash
# scripts/bench-ack.sh [BIN] — acknowledged POST /api/jobs per second and their
# latency, with wrk (Debian's package) from a separate process on loopback:
# 16 connections for 10 s, at --durability normal and full, each on a fresh
# data folder. The server is the release binary unless BIN is given.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"
BIN=${1:-$CARGO_TARGET_DIR/release/shiioo}
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p server --bin shiioo" >&2; exit 1; }
command -v wrk >/dev/null || sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
PORT=${SHIIOO_BENCH_PORT:-8193}
for durability in normal full; do
  data=$(mktemp -d)
  "$BIN" --addr "127.0.0.1:$PORT" --data-dir "$data" --durability "$durability" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health/status" >/dev/null && break; sleep 0.1; done
  echo "== --durability $durability, 16 connections, 10 s"
  wrk -t2 -c16 -d10s --latency -s "$ROOT/server/benches/load/post_jobs.lua" "http://127.0.0.1:$PORT/api/jobs" \
    | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors"
  # Every 201 is a run: the server's own count says how many were acknowledged.
  echo "runs stored: $(curl -s "http://127.0.0.1:$PORT/api/runs?limit=1" | grep -o '"total":[0-9]*')"
  # The WAL file keeps its longest length: it shows how far the log ran
  # ahead of its checkpoints.
  for wal in "$data"/*-wal; do [ -e "$wal" ] && echo "longest WAL: $(( $(stat -c %s "$wal") / 1024 )) KiB"; done
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$data"
done
