//! The dashboard's live link to the server: one WebSocket to `/api/ws`,
//! reconnected with exponential backoff, whose messages feed signals that any
//! component can read.
//!
//! The signals exist on the server too (so components render the same markup
//! there), but only the hydrated client ever connects; a page rendered without
//! JavaScript therefore says it is not live.

use leptos::prelude::*;

use wire::HealthState;

/// State of the live connection, shown by the indicator in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Server-rendered page, not (yet) hydrated: nothing is live.
    Static,
    Connecting,
    Connected,
    /// The link dropped; the next attempt starts in `retry_in_secs`.
    Reconnecting {
        attempt: u32,
        retry_in_secs: u32,
    },
}

impl LinkState {
    /// Stable machine-readable name, used as `data-state` (tests read it).
    pub fn key(self) -> &'static str {
        match self {
            LinkState::Static => "static",
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Reconnecting { .. } => "reconnecting",
        }
    }

    pub fn label(self) -> String {
        match self {
            LinkState::Static => "not live".into(),
            LinkState::Connecting => "connecting…".into(),
            LinkState::Connected => "live".into(),
            LinkState::Reconnecting { retry_in_secs, .. } => {
                format!("reconnecting in {retry_in_secs}s…")
            }
        }
    }
}

/// The latest health heartbeat and when (client clock, ms) it arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthBeat {
    pub status: HealthState,
    pub uptime_secs: u64,
    pub active_workflows: u64,
    pub active_routines: u64,
    pub pending_approvals: u64,
    pub received_at_ms: f64,
}

/// Where a run stands, as the last pushed updates said.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRun {
    pub status: String,
    pub progress: f64,
    pub message: String,
    pub current_step: Option<String>,
}

impl LiveRun {
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "Pending" | "Running")
    }
}

/// Runs remembered by the live view; finished ones beyond this are forgotten.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const LIVE_RUNS: usize = 200;

/// Signals fed by the live connection. `Copy`, cheap to pass around.
#[derive(Clone, Copy)]
pub struct Live {
    pub link: RwSignal<LinkState>,
    pub health: RwSignal<Option<HealthBeat>>,
    /// Runs as the pushed updates describe them, by run id.
    pub runs: RwSignal<std::collections::HashMap<String, LiveRun>>,
    /// Bumped (at most a few times a second) when a run starts or finishes:
    /// lists and statistics that depend on finished runs refetch on it.
    pub version: RwSignal<u64>,
    /// Bumped per run when anything about it changed (throttled likewise).
    pub run_ticks: RwSignal<std::collections::HashMap<String, u64>>,
    /// Bumped whenever an alert changes state (and on every reconnect):
    /// the alert banner and page refetch on it.
    pub alerts: RwSignal<u64>,
    /// Client wall clock in ms, advanced every second once hydrated; 0 on the
    /// server. Lets durations tick without a message per second.
    pub now_ms: RwSignal<f64>,
    /// When the client started (ms); 0 on the server.
    pub started_ms: RwSignal<f64>,
}

impl Live {
    /// Seconds elapsed on the client since `since_ms`; 0 on the server and at
    /// hydration time, so server and client render the same first frame.
    pub fn elapsed_secs_since(&self, since_ms: f64) -> u64 {
        ((self.now_ms.get() - since_ms).max(0.0) / 1000.0) as u64
    }

    /// How many times `run_id` changed since the page loaded (0 on the server).
    pub fn run_tick(&self, run_id: &str) -> u64 {
        self.run_ticks.with(|t| t.get(run_id).copied().unwrap_or(0))
    }

    /// Server uptime: from the latest heartbeat when there is one, else from
    /// the figure the page was rendered with, advanced by the client's clock.
    pub fn uptime_secs(&self, rendered_uptime: u64) -> u64 {
        match self.health.get() {
            Some(beat) => beat.uptime_secs + self.elapsed_secs_since(beat.received_at_ms),
            None => rendered_uptime + self.elapsed_secs_since(self.started_ms.get()),
        }
    }
}

/// Creates the live signals, puts them in context and, in the browser, starts
/// the connection. Call once, at the top of the app.
pub fn provide_live() -> Live {
    let live = Live {
        link: RwSignal::new(LinkState::Static),
        health: RwSignal::new(None),
        runs: RwSignal::new(Default::default()),
        version: RwSignal::new(0),
        run_ticks: RwSignal::new(Default::default()),
        alerts: RwSignal::new(0),
        now_ms: RwSignal::new(0.0),
        started_ms: RwSignal::new(0.0),
    };
    provide_context(live);
    // Effects run only in the browser, after hydration.
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            #[cfg(feature = "hydrate")]
            client::start(live);
        }
    });
    live
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling to a
/// 15 s ceiling, with up to 25 % jitter so that a restarted server is not hit
/// by every browser in the same millisecond.
pub fn backoff_ms(attempt: u32, jitter_unit: f64) -> u32 {
    let base = 500f64 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    let capped = base.min(15_000.0);
    (capped * (1.0 + 0.25 * jitter_unit.clamp(0.0, 1.0))) as u32
}

#[cfg(feature = "hydrate")]
mod client {
    use std::time::Duration;

    use futures::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;

    use std::collections::HashSet;

    use super::{backoff_ms, HealthBeat, LinkState, Live, LiveRun, LIVE_RUNS};
    use wire::{
        ClientAction, ErrorMessage, HealthUpdate, ServerMessage, StepUpdate, WorkflowUpdate,
    };

    /// Changes seen since the last flush; flushed a few times a second so
    /// that a burst of updates refetches once, not once per message.
    #[derive(Default)]
    struct Dirty {
        version: bool,
        runs: HashSet<String>,
    }

    pub fn start(live: Live) {
        let now = js_sys::Date::now();
        live.started_ms.set(now);
        live.now_ms.set(now);
        set_interval(
            move || live.now_ms.set(js_sys::Date::now()),
            Duration::from_secs(1),
        );
        let dirty = StoredValue::new(Dirty::default());
        set_interval(
            move || {
                let taken = dirty.try_update_value(std::mem::take).unwrap_or_default();
                if taken.version {
                    live.version.update(|v| *v += 1);
                }
                if !taken.runs.is_empty() {
                    live.run_ticks.update(|t| {
                        for run in taken.runs {
                            *t.entry(run).or_default() += 1;
                        }
                    });
                }
            },
            Duration::from_millis(300),
        );
        leptos::task::spawn_local(run(live, dirty));
    }

    fn apply(live: Live, dirty: StoredValue<Dirty>, msg: ServerMessage) {
        match msg {
            ServerMessage::WorkflowUpdate(WorkflowUpdate {
                run_id,
                status,
                progress,
                message,
            }) => {
                let landmark = !matches!(status.as_str(), "Running");
                live.runs.update(|runs| {
                    let entry = runs.entry(run_id.clone()).or_insert_with(|| LiveRun {
                        status: status.clone(),
                        progress,
                        message: message.clone(),
                        current_step: None,
                    });
                    entry.status = status;
                    entry.progress = progress;
                    entry.message = message;
                    if entry.is_finished() {
                        entry.current_step = None;
                    }
                    if runs.len() > LIVE_RUNS {
                        runs.retain(|_, r| !r.is_finished());
                    }
                });
                dirty.update_value(|d| {
                    d.version |= landmark;
                    d.runs.insert(run_id);
                });
            }
            ServerMessage::StepUpdate(StepUpdate {
                run_id,
                step_id,
                status,
                ..
            }) => {
                if status == "Running" {
                    live.runs.update(|runs| {
                        if let Some(run) = runs.get_mut(&run_id) {
                            run.current_step = Some(step_id);
                        }
                    });
                }
                dirty.update_value(|d| {
                    d.runs.insert(run_id);
                });
            }
            ServerMessage::HealthUpdate(HealthUpdate {
                status,
                active_workflows,
                active_routines,
                pending_approvals,
                uptime_secs,
            }) => live.health.set(Some(HealthBeat {
                status,
                uptime_secs,
                active_workflows,
                active_routines,
                pending_approvals,
                received_at_ms: js_sys::Date::now(),
            })),
            ServerMessage::AlertUpdate(_) => live.alerts.update(|v| *v += 1),
            // The server dropped updates we could not take in time: refetch.
            ServerMessage::Error(ErrorMessage { message }) if message.starts_with("lagged") => {
                dirty.update_value(|d| d.version = true)
            }
            _ => {}
        }
    }

    fn ws_url() -> String {
        let location = window().location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        let host = location.host().unwrap_or_else(|_| "localhost:8080".into());
        format!("{scheme}://{host}/api/ws")
    }

    async fn run(live: Live, dirty: StoredValue<Dirty>) {
        let mut attempt = 0u32;
        loop {
            live.link.set(LinkState::Connecting);
            if session(live, dirty).await {
                attempt = 0;
            }
            attempt = attempt.saturating_add(1);
            let mut remaining = backoff_ms(attempt, js_sys::Math::random());
            // Count down visibly, a second at a time.
            while remaining > 0 {
                live.link.set(LinkState::Reconnecting {
                    attempt,
                    retry_in_secs: remaining.div_ceil(1000),
                });
                let step = remaining.min(1000);
                gloo_timers::future::TimeoutFuture::new(step).await;
                remaining -= step;
            }
        }
    }

    /// One connection, until it drops. Returns whether it ever got connected.
    async fn session(live: Live, dirty: StoredValue<Dirty>) -> bool {
        let Ok(ws) = WebSocket::open(&ws_url()) else {
            return false;
        };
        let (mut tx, mut rx) = ws.split();
        for action in [ClientAction::SubscribeHealth, ClientAction::SubscribeAll] {
            let text = serde_json::to_string(&action).expect("actions always serialise");
            if tx.send(Message::Text(text)).await.is_err() {
                return false;
            }
        }
        // Whatever changed while we were away: refetch once.
        dirty.update_value(|d| d.version = true);
        live.alerts.update(|v| *v += 1);
        let mut connected = false;
        while let Some(msg) = rx.next().await {
            let Ok(Message::Text(text)) = msg else {
                if msg.is_err() {
                    break;
                }
                continue;
            };
            let parsed = js_sys::JSON::parse(&text)
                .map_err(|_| "not JSON".to_string())
                .and_then(|v| crate::api::decode::<ServerMessage>(v).map_err(|e| e.to_string()));
            match parsed {
                Ok(ServerMessage::Subscribed(_)) => {
                    connected = true;
                    live.link.set(LinkState::Connected);
                }
                Ok(msg) => apply(live, dirty, msg),
                Err(err) => leptos::logging::warn!("unreadable message from /api/ws: {err}"),
            }
        }
        connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_with_bounded_jitter() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(2, 0.0), 1_000);
        assert_eq!(backoff_ms(3, 0.0), 2_000);
        assert_eq!(backoff_ms(6, 0.0), 15_000);
        assert_eq!(backoff_ms(40, 0.0), 15_000);
        assert_eq!(backoff_ms(1, 1.0), 625);
        assert_eq!(backoff_ms(40, 7.0), 18_750, "jitter is clamped to 25 %");
    }
}
