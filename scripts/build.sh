#!/usr/bin/env bash
# scripts/build.sh [dev|release] — build the dashboard's WASM client into the site folder
# and the server binary. The same steps cargo-leptos performs, without needing it installed:
#   1. the frontend crate for wasm32-unknown-unknown (release: the size-optimised profile);
#   2. wasm-bindgen --target web into $SHIIOO_SITE/pkg, named shiioo.{js,wasm};
#   3. release only: wasm-opt -Oz;
#   4. the stylesheet and public/ assets into the site;
#      release only: .br (brotli -q 11) and .gz (zopfli: gzip format, 4 % smaller
#      than gzip -9) siblings of pkg/*, which the server sends to browsers that accept them;
#   5. the server (LEPTOS_OUTPUT_NAME comes from .cargo/config.toml at compile time).
# Prints the site folder and the server binary's path on its last two lines.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"

PROFILE=${1:-${SHIIOO_PROFILE:-dev}}
case "$PROFILE" in
  dev) wasm_profile=dev; wasm_dir=debug; server_args=(); server_dir=debug ;;
  release) wasm_profile=wasm-release; wasm_dir=wasm-release; server_args=(--release); server_dir=release ;;
  *) echo "usage: $0 [dev|release]" >&2; exit 2 ;;
esac
log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

toolchain_file=$SHIIOO_CACHE/wasm-toolchain
[ -f "$toolchain_file" ] || { echo "run scripts/setup.sh first (no $toolchain_file)" >&2; exit 1; }
WASM_TOOLCHAIN=$(cat "$toolchain_file")

t0=$SECONDS
log "frontend -> wasm32 ($PROFILE, toolchain $WASM_TOOLCHAIN)"
# .cargo/config.toml sets leptos's erase_components for both sides.
RUSTUP_TOOLCHAIN=$WASM_TOOLCHAIN cargo build -p frontend --lib --target wasm32-unknown-unknown \
  --profile "$wasm_profile"
wasm=$CARGO_TARGET_DIR/wasm32-unknown-unknown/$wasm_dir/frontend.wasm

pkg=$SHIIOO_SITE/pkg
staging=$SHIIOO_SITE.new
rm -rf "$staging" && mkdir -p "$staging/pkg"
wasm-bindgen --target web --no-typescript --out-name "$LEPTOS_OUTPUT_NAME" --out-dir "$staging/pkg" "$wasm"
mv "$staging/pkg/${LEPTOS_OUTPUT_NAME}_bg.wasm" "$staging/pkg/$LEPTOS_OUTPUT_NAME.wasm"
if [ "$PROFILE" = release ]; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    "$staging/pkg/$LEPTOS_OUTPUT_NAME.wasm" -o "$staging/pkg/$LEPTOS_OUTPUT_NAME.wasm"
fi
cp style/main.css "$staging/pkg/$LEPTOS_OUTPUT_NAME.css"
if [ "$PROFILE" = release ]; then
  for f in "$staging/pkg/$LEPTOS_OUTPUT_NAME".{wasm,js,css}; do
    brotli -q 11 -f -k "$f"
    zopfli -c "$f" >"$f.gz"
  done
fi
cp -r public/. "$staging/"
# Swap the finished site in at once, so a running server never sees half of one.
rm -rf "$SHIIOO_SITE" && mv "$staging" "$SHIIOO_SITE"
log "site ready in $SHIIOO_SITE ($(du -h "$pkg/$LEPTOS_OUTPUT_NAME.wasm" | cut -f1) wasm)"

log "server ($PROFILE)"
cargo build -p server --bin shiioo "${server_args[@]}"
log "build took $((SECONDS - t0))s"
echo "$SHIIOO_SITE"
echo "$CARGO_TARGET_DIR/$server_dir/shiioo"
