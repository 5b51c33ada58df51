use leptos::prelude::*;

use crate::{api, live::use_live};
use wire::format;

/// Connection indicator, the server's name and uptime, in the header of
/// every page.
///
/// The server renders the uptime it knows and "not live"; once hydrated, the
/// client connects to `/api/ws`, and the uptime ticks from the heartbeats.
/// The name (`--node-id`) says which server of several the page talks to.
#[component]
pub fn LiveBadge() -> impl IntoView {
    let live = use_live();
    let health = api::resource(|| (), |_| api::health());
    let uptime = move || {
        health
            .get()
            .and_then(Result::ok)
            .map(|h| format::uptime(live.uptime_secs(h.uptime_secs)))
    };
    let node = move || health.get().and_then(Result::ok).map(|h| h.node_id);
    view! {
        <div class="live-badge">
            <span
                class="link"
                data-state=move || live.link.get().key()
                title="Live updates over WebSocket /api/ws"
            >
                <span class="dot" aria-hidden="true"></span>
                <span class="link-label" role="status">{move || live.link.get().label()}</span>
            </span>
            <Transition fallback=|| ()>
                <span class="node wide-only" title="The server this page talks to (--node-id)">
                    <span data-testid="node-id">{node}</span>
                </span>
                <span class="uptime" title="Server uptime">
                    "up "
                    <span data-testid="uptime">{uptime}</span>
                </span>
            </Transition>
        </div>
    }
}
