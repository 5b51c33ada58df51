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
    // In a cluster: how many nodes hold a lease, each named in the title.
    let cluster = move || {
        let cluster = health.get().and_then(Result::ok)?.cluster?;
        let alive = cluster.nodes.iter().filter(|n| n.alive).count();
        let text = format!("{alive} node{}", if alive == 1 { "" } else { "s" });
        let mut title = String::from("The cluster's nodes:");
        for n in &cluster.nodes {
            let state = match (&n.taken_by, n.alive) {
                (Some(by), _) => format!("taken over by {by}"),
                (None, true) => "alive".to_string(),
                (None, false) => "lease lapsed".to_string(),
            };
            let lead = if cluster.leader.as_deref() == Some(&*n.node_id) {
                ", leader"
            } else {
                ""
            };
            title.push_str(&format!("\n{} ({state}{lead})", n.node_id));
        }
        Some(view! {
            <span class="cluster wide-only" data-testid="cluster" title=title>{text}</span>
        })
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
                <span class="node wide-only" title="The server this page talks to (--node-id)">
                    <span data-testid="node-id">{node}</span>
                </span>
                {cluster}
                <span class="uptime" title="Server uptime">
                    "up "
                    <span data-testid="uptime">{uptime}</span>
                </span>
            </Transition>
        </div>
    }
}
