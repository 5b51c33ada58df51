#!/usr/bin/env bash
# scripts/build.sh [dev|release] — build the dashboard's WASM client into the site folder
# and the server binary. The same steps cargo-leptos performs, without needing it installed:
#   1. the frontend crate for wasm32-unknown-unknown (release: the size-optimised profile);
#   2. wasm-bindgen --target web into $SHIIOO_SITE/pkg, named shiioo.{js,wasm};
#   3. release only: wasm-opt -Oz, functions then ordered by name (see below);
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

# Release: std and core rebuilt with the client (`-Zbuild-std`, from the toolchain's own library
# sources) for size: std's size-optimised code paths, panics that trap at once instead of
# formatting a message, no Debug output and no file/line strings. 8.6 % off the gzipped WASM
# (BENCHMARKS.md). The price is that a panic in a release client is a bare `unreachable` trap;
# a dev build keeps the messages (and console_error_panic_hook) for debugging.
# RUSTC_BOOTSTRAP unlocks these flags on a stable compiler; they are confined to this build.
# LLVM inlines nothing on its own (inline-threshold=0): at opt-level z it still copies small
# generic helpers into each of their many instances; -1.4 % gzipped.
# RUSTFLAGS replaces build.rustflags, so erase_components (.cargo/config.toml) is repeated.
wasm_env=(RUSTUP_TOOLCHAIN="$WASM_TOOLCHAIN")
wasm_args=()
if [ "$PROFILE" = release ]; then
  size_flags="--cfg erase_components -Cllvm-args=-inline-threshold=0"
  library=$(RUSTUP_TOOLCHAIN=$WASM_TOOLCHAIN rustc --print sysroot)/lib/rustlib/src/rust/library
  if [ -f "$library/Cargo.lock" ]; then
    wasm_env+=(RUSTC_BOOTSTRAP=1
      RUSTFLAGS="$size_flags -Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none")
    wasm_args=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
  else
    log "no library sources in the $WASM_TOOLCHAIN toolchain: the WASM keeps the prebuilt std (larger)"
    wasm_env+=(RUSTFLAGS="$size_flags")
  fi
fi

t0=$SECONDS
log "frontend -> wasm32 ($PROFILE, toolchain $WASM_TOOLCHAIN)"
# .cargo/config.toml sets leptos's erase_components for both sides.
env "${wasm_env[@]}" cargo build -p frontend --lib --target wasm32-unknown-unknown \
  --profile "$wasm_profile" "${wasm_args[@]}"
wasm=$CARGO_TARGET_DIR/wasm32-unknown-unknown/$wasm_dir/frontend.wasm

pkg=$SHIIOO_SITE/pkg
staging=$SHIIOO_SITE.new
rm -rf "$staging" && mkdir -p "$staging/pkg"
wasm-bindgen --target web --no-typescript --out-name "$LEPTOS_OUTPUT_NAME" --out-dir "$staging/pkg" "$wasm"
mv "$staging/pkg/${LEPTOS_OUTPUT_NAME}_bg.wasm" "$staging/pkg/$LEPTOS_OUTPUT_NAME.wasm"
if [ "$PROFILE" = release ]; then
  # Monomorphised code is full of functions that differ only in constants: merge them first.
  # Then order functions by their (Rust) names, which puts the instances of each generic
  # function side by side where gzip's 32 KB window finds their likeness: -3 % gzipped, the
  # same bytes uncompressed. -g only carries the names from the first pass to the second.
  opt_features=(--enable-bulk-memory --enable-nontrapping-float-to-int)
  wasm=$staging/pkg/$LEPTOS_OUTPUT_NAME.wasm
  wasm-opt -g --merge-similar-functions -Oz --converge "${opt_features[@]}" "$wasm" -o "$wasm.opt"
  wasm-opt --reorder-functions-by-name "${opt_features[@]}" "$wasm.opt" -o "$wasm"
  rm "$wasm.opt"
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
