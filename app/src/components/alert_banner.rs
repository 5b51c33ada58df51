use leptos::prelude::*;

use crate::api;
use crate::live::use_live;
use wire::{AlertState, AlertView, Severity};

/// Shown on every page while an alert fires; rendered by the server and
/// refreshed live when an `AlertUpdate` arrives.
#[component]
pub fn AlertBanner() -> impl IntoView {
    let live = use_live();
    // Refetched on every alert change, and while alerts fire on the health
    // figures too, so that a firing alert's message says what it measures
    // now ("20 approvals are waiting"), not what it did when it fired.
    let figures = move || {
        live.health.with(|h| {
            h.filter(|h| h.status != wire::HealthState::Healthy)
                .map(|h| (h.active_workflows, h.pending_approvals))
        })
    };
    let alerts = api::resource(move || (live.alerts.get(), figures()), |_| api::alerts());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let firing: Vec<AlertView> = alerts
                    .await
                    .map(|l| l.alerts.into_iter().filter(|a| a.state == AlertState::Firing).collect())
                    .unwrap_or_default();
                (!firing.is_empty()).then(|| {
                    let worst = firing.iter().map(|a| a.severity).max().unwrap_or_default();
                    let n = firing.len();
                    view! {
                        <div class="alert alert-banner" role="alert" data-testid="alert-banner" data-severity=worst.as_str()>
                            <div class="alert-banner-head">
                                <strong>{format!("{n} alert{} firing", if n == 1 { "" } else { "s" })}</strong>
                                <a href="/alerts">"Details →"</a>
                            </div>
                            <ul class="alert-banner-list">
                                {firing.into_iter().map(|a| {
                                    let labels = wire::format::labels(&a.labels);
                                    let rule = a.rule.clone();
                                    view! {
                                        <li data-rule=rule>
                                            <span class="sev" data-severity=a.severity.as_str()>{severity_word(a.severity)}</span>
                                            " " <strong class="mono">{a.rule}</strong>
                                            {(!labels.is_empty()).then(|| view! { <span class="muted small">" {" {labels} "}"</span> })}
                                            " — " {a.message}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        </div>
                    }
                })
            })}
        </Transition>
    }
}

pub fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Warning => "Warning",
        Severity::Critical => "Critical",
    }
}
