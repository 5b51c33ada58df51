//! The WASM entry point: hydrates the server-rendered dashboard in place.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Release clients abort on panic without running any hook
    // (scripts/build.sh), so only dev builds carry the hook's code.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
