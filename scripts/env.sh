# Sourced by the other scripts: where things live. Override any of these from the environment.
#   SHIIOO_CACHE      tools installed by setup.sh (wasm-opt, the chosen wasm toolchain)
#   CARGO_TARGET_DIR  build output; CI points it at a cache outside the clone
#   SHIIOO_PROFILE    dev (default for tests) or release
SHIIOO_CACHE=${SHIIOO_CACHE:-$HOME/.cache/shiioo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export SHIIOO_SITE=${SHIIOO_SITE:-$CARGO_TARGET_DIR/site}
export PATH="$SHIIOO_CACHE/binaryen-${BINARYEN_NPM_VERSION:-132}/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# The name of the wasm/js/css files under pkg/ (also [[workspace.metadata.leptos]] name).
export LEPTOS_OUTPUT_NAME=shiioo
