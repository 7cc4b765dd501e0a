//! The WASM entry point: hydrates the server-rendered page (lazy routes: the chunk of the page
//! shown is loaded before its part hydrates).
#![forbid(unsafe_code)]
// Deeply nested view types (without erase_components in release) need a higher limit.
#![recursion_limit = "256"]

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
