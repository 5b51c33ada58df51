use leptos::prelude::*;
use leptos_router::components::A;

use super::access::may;
use super::alert_banner::AlertBanner;
use super::live_badge::LiveBadge;

/// The frame around every page: brand, navigation, live indicator.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let navs = NodeRef::<leptos::html::Div>::new();
    let location = leptos_router::hooks::use_location();
    // On a phone the menus are a row that scrolls sideways: bring the current
    // page's entry into sight after each navigation (once `<A>` has marked it).
    Effect::new(move |_| {
        location.pathname.track();
        request_animation_frame(move || {
            #[cfg(feature = "hydrate")]
            if let Some(navs) = navs.get_untracked() {
                reveal_current(&navs);
            }
        });
    });
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                <span class="brand-name">"Shiioo"</span>
            </a>
            // One box for both menus so that a phone shows them as a single
            // row that scrolls sideways, instead of three wrapped rows.
            <div class="navs" node_ref=navs>
                <nav class="nav" aria-label="Main">
                    <A href="/" exact=true>"Overview"</A>
                    <A href="/workflows">"Workflows"</A>
                    <A href="/steps">"Steps"</A>
                    <A href="/traces">"Traces"</A>
                    <A href="/timeline">"Timeline"</A>
                    <A href="/models">"Models"</A>
                    <A href="/metrics">"Metrics"</A>
                </nav>
                <nav class="nav nav-secondary" aria-label="Governance">
                    <A href="/routines">"Routines"</A>
                    <A href="/approvals">"Approvals"</A>
                    <A href="/alerts">"Alerts"</A>
                </nav>
            </div>
            <a class="button primary run-link" href="/run" aria-label="Run a workflow" hidden=move || !may("operator")()>
                "Run"<span class="wide-only">" a workflow"</span>
            </a>
            <LiveBadge/>
        </header>
        <main id="main" class="page">
            <AlertBanner/>
            {children()}
        </main>
        <footer class="footer">
            "Shiioo — every figure on this page comes from engine events. "
            <a href="/api/health/status">"Health JSON"</a>
            " · "
            <a href="/sign-in">"Account"</a>
        </footer>
    }
}

/// Scrolls the menus' row so that the entry marked `aria-current` is centred.
/// A no-op where the row does not scroll (wide screens).
#[cfg(feature = "hydrate")]
fn reveal_current(navs: &web_sys::HtmlElement) {
    use wasm_bindgen::JsCast;
    let current = navs
        .query_selector("[aria-current=page]")
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(link) = current {
        // `.navs` is the links' offset parent on phones (position: relative).
        let centre = link.offset_left() + link.offset_width() / 2;
        navs.set_scroll_left(centre - navs.client_width() / 2);
    }
}
