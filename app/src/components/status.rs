use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::live::use_live;
use wire::format;

/// A status word in its colour (the same colours on every page).
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let key = status.clone();
    view! { <span class="badge" data-status=key>{status}</span> }
}

/// A progress bar with its percentage.
#[component]
pub fn Progress(
    #[prop(into)] value: Signal<f64>,
    #[prop(into, optional)] status: Signal<String>,
) -> impl IntoView {
    view! {
        <span class="progress-line">
        <span class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=move || format!("{:.0}", value.get())
            data-status=move || status.get()>
            <span class="progress-fill" style=move || format!("width:{:.1}%", value.get().clamp(0.0, 100.0))></span>
        </span>
        <span class="progress-text">{move || format::percent(value.get())}</span>
        </span>
    }
}

/// A timestamp relative to now ("3 min ago"), exact on hover; it ages in
/// the browser as the clock ticks.
#[component]
pub fn RelTime(at: DateTime<Utc>) -> impl IntoView {
    let live = use_live();
    let text = move || {
        let now_ms = live.now_ms.get();
        let now = if now_ms > 0.0 {
            DateTime::from_timestamp_millis(now_ms as i64).unwrap_or_else(Utc::now)
        } else {
            Utc::now()
        };
        format::relative(at, now)
    };
    view! { <time datetime=format::datetime(at) title=format::exact(at)>{text}</time> }
}

/// When something last changed and who changed it ("3 min ago by ann"), or
/// a dash when neither is known (records older than the audit trail).
#[component]
pub fn ChangedBy(at: Option<DateTime<Utc>>, by: Option<String>) -> impl IntoView {
    if at.is_none() && by.is_none() {
        return view! { <span class="muted">"—"</span> }.into_any();
    }
    view! {
        <span class="changed">
            {at.map(|at| view! { <RelTime at=at/> })}
            {by.map(|by| view! { " by " <span class="who">{by}</span> })}
        </span>
    }
    .into_any()
}
