use leptos::prelude::*;
use leptos_router::components::A;

use super::alert_banner::AlertBanner;
use super::live_badge::LiveBadge;

/// The frame around every page: brand, navigation, live indicator.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                <span class="brand-name">"Shiioo"</span>
            </a>
            <nav class="nav" aria-label="Main">
                <A href="/" exact=true>"Overview"</A>
                <A href="/workflows">"Workflows"</A>
                <A href="/steps">"Steps"</A>
                <A href="/traces">"Traces"</A>
                <A href="/metrics">"Metrics"</A>
            </nav>
            <nav class="nav nav-secondary" aria-label="Governance">
                <A href="/routines">"Routines"</A>
                <A href="/approvals">"Approvals"</A>
                <A href="/alerts">"Alerts"</A>
            </nav>
            <a class="button primary run-link" href="/run">"Run a workflow"</a>
            <LiveBadge/>
        </header>
        <main id="main" class="page">
            <AlertBanner/>
            {children()}
        </main>
        <footer class="footer">
            "Shiioo — every figure on this page comes from engine events. "
            <a href="/api/health/status">"Health JSON"</a>
        </footer>
    }
}
