#!/usr/bin/env bash
# scripts/setup.sh — install everything Shiioo needs to build and test, idempotently.
#
# Every step checks whether its result is already there and skips if so; a re-run takes
# a second or two. Nothing is downloaded from outside the package registries (Debian apt,
# crates.io, npm, PyPI): in particular no rustup component download and no browser download.
#
#   1. A Rust toolchain that can build wasm32-unknown-unknown:
#      - rustup's stable, when its wasm32 target is already installed (a developer with
#        internet access who ran `rustup target add wasm32-unknown-unknown`), or
#      - Debian's rustc-web (1.96) + rust-web-src + lld, linked into rustup as toolchain
#        "debweb", with the wasm32 std built once from rust-web-src (`rustup target add`
#        cannot reach its server from these machines; it hangs).
#   2. wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (the CLI and the
#      library must agree byte for byte on the ABI).
#   3. wasm-opt from npm's binaryen (Debian's binaryen 108 miscompiles wasm-bindgen output),
#      and Swagger UI's assets (npm's swagger-ui-dist) for the server's GET /api/docs,
#      and Debian's brotli and zopfli, with which the release build precompresses the client.
#   4. Debian's chromium, the browser the end-to-end tests drive (SETUP_BROWSER=0 skips it).
#   5. The end-to-end tests' npm packages, without any browser download.
#   6. A Python venv with schemathesis (PyPI), which fuzzes the API from its OpenAPI document,
#      and the official prometheus_client (PyPI), whose parser the
#      contract tests feed our Prometheus output to, and PyYAML, which reads our
#      Prometheus rules file back.
#   7. Debian's prometheus (with promtool) and prometheus-alertmanager, which the
#      suite starts itself on free ports, and systemd, whose systemd-analyze checks
#      the unit file in deploy/systemd. (On a machine with systemd, the packages
#      also start their own services on :9090 and :9093; the tests do not use them.)
#   8. Debian's postgresql (initdb, pg_ctl, postgres), of which the tests start throw-away
#      clusters on free ports to run the contract suite and the cluster tests against.
#
# The chosen wasm toolchain is written to $SHIIOO_CACHE/wasm-toolchain for the build script.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

BINARYEN_NPM_VERSION=${BINARYEN_NPM_VERSION:-132}
SETUP_BROWSER=${SETUP_BROWSER:-1}
SETUP_E2E=${SETUP_E2E:-1}
WASM_TARGET=wasm32-unknown-unknown
HOST=x86_64-unknown-linux-gnu
DEB_RUSTC=/usr/bin/rustc
DEB_CARGO=/usr/bin/cargo
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
APT_UPDATED=0
apt_install() {
  local missing=() p t0=$SECONDS
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "  ...apt took $((SECONDS - t0))s"
}
# Debian's cargo with Debian's rustc, whatever rustup or the environment would pick.
deb_cargo() {
  env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_TARGET \
      -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET_DIR \
      RUSTC="$DEB_RUSTC" RUSTDOC=/usr/bin/rustdoc "$DEB_CARGO" "$@"
}

mkdir -p "$SHIIOO_CACHE"

# 1. wasm toolchain -----------------------------------------------------------------------------
if command -v rustup >/dev/null && rustup target list --installed --toolchain stable 2>/dev/null | grep -qx "$WASM_TARGET"; then
  WASM_TOOLCHAIN=stable
  log "step 1: rustup stable has $WASM_TARGET; using it"
else
  apt_install rustc-web cargo-web rust-web-src
  rustc_ver=$(dpkg-query -W -f='${Version}' rustc-web)
  src_ver=$(dpkg-query -W -f='${Version}' rust-web-src)
  [ "$rustc_ver" = "$src_ver" ] || { log "ERROR: rustc-web $rustc_ver != rust-web-src $src_ver"; exit 1; }
  llvm=$("$DEB_RUSTC" -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
  apt_install "lld-$llvm"
  # rust-lld is the linker name rustc uses by default for wasm targets.
  host_tools=/usr/lib/rustlib/$HOST/bin
  if [ "$(readlink "$host_tools/rust-lld" 2>/dev/null)" != "/usr/bin/lld-$llvm" ]; then
    $SUDO mkdir -p "$host_tools" && $SUDO ln -sfn "/usr/bin/lld-$llvm" "$host_tools/rust-lld"
  fi
  if command -v rustup >/dev/null && ! rustup toolchain list | grep -q '^debweb'; then
    rustup toolchain link debweb /usr
  fi
  # std for wasm32, built once from the exact sources of this rustc (like rustup's rust-std).
  libdir=/usr/lib/rustlib/$WASM_TARGET/lib
  stamp=/usr/lib/rustlib/$WASM_TARGET/.shiioo-std-stamp
  want="$("$DEB_RUSTC" -vV | tr '\n' ' ')rust-web-src=$src_ver"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! ls "$libdir"/libstd-*.rlib >/dev/null 2>&1; then
    log "step 1: building the $WASM_TARGET std from rust-web-src (about 75 s, once per machine)"
    build=$(mktemp -d /tmp/shiioo-wasm-std.XXXXXX)
    t0=$SECONDS
    # RUSTC_BOOTSTRAP: the library workspace uses unstable features, as rustup's own build does.
    # -Zforce-unstable-if-unmarked and a distinct metadata hash keep these std crates from
    # clashing with crates.io crates of the same name (libc, hashbrown, ...).
    if ! (cd /usr/lib/rustlib/src/rust/library &&
          RUSTC_BOOTSTRAP=1 __CARGO_DEFAULT_LIB_METADATA=shiioo-wasm32-std \
          deb_cargo --config "build.rustflags=['-Zforce-unstable-if-unmarked']" \
            build --locked --profile dist --target "$WASM_TARGET" -p sysroot \
            --features backtrace --target-dir "$build") >"$build.log" 2>&1; then
      tail -40 "$build.log" >&2; log "ERROR: std build failed (log: $build.log)"; exit 1
    fi
    $SUDO rm -rf "$libdir.new" && $SUDO mkdir -p "$libdir.new"
    $SUDO cp "$build/$WASM_TARGET/dist/deps/"*.rlib "$build/$WASM_TARGET/dist/deps/"*.rmeta "$libdir.new/"
    $SUDO rm -rf "$libdir" && $SUDO mv "$libdir.new" "$libdir"
    printf '%s' "$want" | $SUDO tee "$stamp" >/dev/null
    rm -rf "$build" "$build.log"
    log "  ...took $((SECONDS - t0))s"
  fi
  WASM_TOOLCHAIN=debweb
  log "step 1: wasm toolchain = Debian $("$DEB_RUSTC" -V) (rustup name: debweb)"
fi
echo "$WASM_TOOLCHAIN" > "$SHIIOO_CACHE/wasm-toolchain"

# 2. wasm-bindgen-cli = the version in Cargo.lock -----------------------------------------------
wb=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")
if [ "$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $wb" ]; then
  log "step 2: cargo install wasm-bindgen-cli@$wb (about 4 minutes)"
  t0=$SECONDS
  # Its own lockfile can name a crate version crates.io no longer serves; then resolve afresh.
  env -u RUSTUP_TOOLCHAIN -u CARGO_TARGET_DIR cargo install -q wasm-bindgen-cli --version "=$wb" --locked --force 2>/dev/null ||
    env -u RUSTUP_TOOLCHAIN -u CARGO_TARGET_DIR cargo install -q wasm-bindgen-cli --version "=$wb" --force
  log "  ...took $((SECONDS - t0))s"
fi
[ "$("$CARGO_BIN/wasm-bindgen" --version)" = "wasm-bindgen $wb" ] || { log "ERROR: wasm-bindgen $wb missing"; exit 1; }

# 3. wasm-opt from npm's binaryen ----------------------------------------------------------------
binaryen=$SHIIOO_CACHE/binaryen-$BINARYEN_NPM_VERSION
if ! "$binaryen/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_NPM_VERSION"; then
  log "step 3: npm install binaryen@$BINARYEN_NPM_VERSION"
  mkdir -p "$binaryen"
  npm install --no-audit --no-fund --loglevel=error --prefix "$binaryen" "binaryen@$BINARYEN_NPM_VERSION" >/dev/null
fi
apt_install brotli zopfli

# 3b. Swagger UI's assets, built into the server for GET /api/docs -------------------------------
# --ignore-scripts: its @scarf/scarf dependency would report the install to a third party.
api_docs_sum=$(sha256sum "$ROOT/server/api-docs/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$ROOT/server/api-docs/node_modules/.shiioo-lock" 2>/dev/null)" != "$api_docs_sum" ]; then
  log "step 3b: npm ci in server/api-docs/ (swagger-ui-dist)"
  (cd "$ROOT/server/api-docs" && SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$api_docs_sum" > "$ROOT/server/api-docs/node_modules/.shiioo-lock"
fi

# 4. chromium --------------------------------------------------------------------------------------
if [ "$SETUP_BROWSER" = 1 ]; then apt_install chromium; fi

# 5. end-to-end test packages (Playwright without its browser download) ---------------------------
if [ "$SETUP_E2E" = 1 ]; then
  lock_sum=$(sha256sum "$ROOT/end2end/package-lock.json" | cut -d' ' -f1)
  if [ ! -d "$ROOT/end2end/node_modules" ] || [ "$(cat "$ROOT/end2end/node_modules/.shiioo-lock" 2>/dev/null)" != "$lock_sum" ]; then
    log "step 5: npm ci in end2end/"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$lock_sum" > "$ROOT/end2end/node_modules/.shiioo-lock"
  fi
fi

# 6. prometheus_client and PyYAML, for the Prometheus contract tests --------------------------------
PROMETHEUS_CLIENT_VERSION=${PROMETHEUS_CLIENT_VERSION:-0.26.0}
PYYAML_VERSION=${PYYAML_VERSION:-6.0.3}
SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
venv=$SHIIOO_CACHE/venv
if [ "$SETUP_E2E" = 1 ] && ! "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('prometheus_client') != '$PROMETHEUS_CLIENT_VERSION' or m.version('PyYAML') != '$PYYAML_VERSION' or m.version('schemathesis') != '$SCHEMATHESIS_VERSION')" 2>/dev/null; then
  log "step 6: python venv with prometheus_client==$PROMETHEUS_CLIENT_VERSION, PyYAML==$PYYAML_VERSION, schemathesis==$SCHEMATHESIS_VERSION"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "prometheus_client==$PROMETHEUS_CLIENT_VERSION" "PyYAML==$PYYAML_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
fi

# 7. Prometheus and Alertmanager, the real ones the contract tests run against -----------------------
if [ "$SETUP_E2E" = 1 ]; then apt_install prometheus prometheus-alertmanager systemd; fi

# 8. PostgreSQL, the shared event log of a cluster ---------------------------------------------------
# The tests make a throw-away cluster of their own with initdb/pg_ctl in a temp folder
# (server/tests/common/postgres.rs); the package's own service is not used.
if [ "$SETUP_E2E" = 1 ]; then apt_install postgresql; fi

log "done (wasm toolchain: $WASM_TOOLCHAIN, wasm-bindgen $wb, wasm-opt $BINARYEN_NPM_VERSION)"
