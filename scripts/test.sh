#!/usr/bin/env bash
# scripts/test.sh — set up, then run every test: formatting and lints, Rust unit and
# contract tests, and the Playwright end-to-end tests in Debian's Chromium.
# Screenshots taken by the end-to-end tests land in end2end/screenshots/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"
log() { printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t0=$SECONDS

"$ROOT/scripts/setup.sh"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (server + app/ssr, and app/hydrate: the browser's code)"
cargo clippy -p app -p server -p wire -p wire-derive --all-targets --locked -- -D warnings
cargo clippy -p app --features hydrate --lib --locked -- -D warnings

log "Rust tests (unit + contract)"
# The Prometheus contract test parses our output with the official client.
# Schemathesis runs on its own afterwards, so that the count of cases it ran is printed.
SHIIOO_PYTHON="$SHIIOO_CACHE/venv/bin/python" cargo test -p app -p server -p wire -p wire-derive --locked -- \
  --skip schemathesis_finds_nothing_the_document_does_not_say

log "the contract suite again, with the event log in PostgreSQL (a throw-away cluster)"
# Every test server gets a database of its own on one cluster of Debian's PostgreSQL
# (server/tests/common/postgres.rs); fsync is off in this cluster, which is thrown away.
pg_dir=$(mktemp -d /tmp/shiioo-test-pg.XXXXXX)
trap '"$ROOT/scripts/postgres.sh" kill "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
pg_url=$(SHIIOO_PG_OPTIONS="-c fsync=off -c full_page_writes=off" "$ROOT/scripts/postgres.sh" start "$pg_dir")
SHIIOO_TEST_POSTGRES=$pg_url SHIIOO_PYTHON="$SHIIOO_CACHE/venv/bin/python" \
  cargo test -p server --locked --test '*' -- --skip schemathesis_finds_nothing_the_document_does_not_say

log "schemathesis against the OpenAPI document (server/tests/schemathesis.rs)"
SHIIOO_PYTHON="$SHIIOO_CACHE/venv/bin/python" cargo test -p server --locked --test schemathesis -- --nocapture

log "building the site and server for the end-to-end tests"
mapfile -t built < <("$ROOT/scripts/build.sh" dev | tail -n 2)

log "Playwright (Chromium at /usr/bin/chromium)"
(cd end2end && SHIIOO_SITE="${built[0]}" SHIIOO_BIN="${built[1]}" SHIIOO_E2E_POSTGRES="$pg_url" npx playwright test)

log "all tests passed in $((SECONDS - t0))s"
