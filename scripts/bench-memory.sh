#!/usr/bin/env bash
# scripts/bench-memory.sh [BIN] [RUNS...] — resident memory of the release
# server after RUNS (default 1000000 2000000) runs of the 3-step instant
# workflow, each a new job, posted by wrk (16 connections) on loopback. Prints
# the server's VmRSS, its idle VmRSS 10 s later, and the data folder's size at
# each mark; stops by itself.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"
BIN=${1:-$CARGO_TARGET_DIR/release/shiioo}
shift || true
MARKS=("${@:-1000000 2000000}")
read -r -a MARKS <<<"${MARKS[*]}"
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p server --bin shiioo" >&2; exit 1; }
command -v wrk >/dev/null || sudo -n apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null
PORT=${SHIIOO_BENCH_PORT:-8194}
data=$(mktemp -d)
"$BIN" --addr "127.0.0.1:$PORT" --data-dir "$data" >/dev/null 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health/status" >/dev/null && break; sleep 0.1; done
runs() { curl -s "http://127.0.0.1:$PORT/api/runs?limit=1" | grep -o '"total":[0-9]*' | cut -d: -f2; }
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$pid/status"; }
started=$(date +%s)
for mark in "${MARKS[@]}"; do
  while [ "$(runs)" -lt "$mark" ]; do
    # Stops by itself: an hour at most, whatever the server does.
    if [ $(( $(date +%s) - started )) -gt 3600 ]; then
      echo "gave up after an hour at $(runs) runs" >&2; exit 1
    fi
    wrk -t2 -c16 -d10s -s "$ROOT/server/benches/load/post_jobs.lua" "http://127.0.0.1:$PORT/api/jobs" >/dev/null
  done
  busy=$(rss)
  sleep 10
  echo "runs $(runs) after $(( $(date +%s) - started )) s: VmRSS $busy, idle $(rss); data $(du -sm "$data" | cut -f1) MB"
done
