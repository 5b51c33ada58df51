use leptos::prelude::*;

use crate::{api, live::use_live};
use wire::format;

/// Connection indicator and server uptime, in the header of every page.
///
/// The server renders the uptime it knows and "not live"; once hydrated, the
/// client connects to `/api/ws`, and the uptime ticks from the heartbeats.
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
                <span class="uptime" title="Server uptime">
                    "up "
                    <span data-testid="uptime">{uptime}</span>
                </span>
            </Transition>
        </div>
    }
}
