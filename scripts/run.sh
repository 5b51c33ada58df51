#!/usr/bin/env bash
# scripts/run.sh — set up, build (release) and run Shiioo on http://localhost:8080 with its
# embedded defaults. Extra arguments go to the server (try `scripts/run.sh --help`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
SETUP_E2E=0 SETUP_BROWSER=0 "$ROOT/scripts/setup.sh"
mapfile -t built < <("$ROOT/scripts/build.sh" release | tail -n 2)
cd "$ROOT"
LEPTOS_SITE_ROOT="${built[0]}" exec "${built[1]}" "$@"
