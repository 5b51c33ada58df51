//! Alerts: what fires now, the rules, and what happened.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::alert_banner::severity_word;
use crate::components::empty::Empty;
use crate::components::status::{ChangedBy, RelTime};
use crate::components::toggle::EnableToggle;
use crate::live::use_live;
use wire::format;
use wire::{AlertRule, AlertRuleUpdate, AlertState, AlertTransition, AlertView, RuleKind};

/// A measured value in its rule's unit.
fn value_text(kind: Option<RuleKind>, v: f64) -> String {
    match kind {
        Some(RuleKind::SuccessRate) => format::percent(v),
        Some(RuleKind::LatencyRegression) => format!("{}×", format::number(v)),
        Some(RuleKind::Cost | RuleKind::WorkflowCost) => format::usd(Some(v)),
        _ => format::number(v),
    }
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let live = use_live();
    let refresh = RwSignal::new(0u64);
    let data = api::resource(
        move || (live.alerts.get(), refresh.get()),
        |_| async {
            let (active, rules, history) =
                futures::join!(api::alerts(), api::alert_rules(), api::alert_history(50));
            Ok::<_, wire::ApiError>((active?, rules?, history?))
        },
    );
    view! {
        <Title text="Alerts"/>
        <div class="title-row">
            <h1>"Alerts"</h1>
            <span class="muted">
                "Rules as " <a href="/api/alerts/rules">"JSON"</a> " and as a "
                <a href="/api/alerts/rules/prometheus">"Prometheus rules file"</a>
            </span>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((active, rules, history)) => {
                        let kinds: HashMap<String, RuleKind> =
                            rules.rules.iter().map(|r| (r.name.clone(), r.kind)).collect();
                        let states: HashMap<String, AlertState> = active.alerts.iter().fold(HashMap::new(), |mut m, a| {
                            let e = m.entry(a.rule.clone()).or_insert(a.state);
                            if a.state == AlertState::Firing { *e = AlertState::Firing; }
                            m
                        });
                        view! {
                            <section class="card" aria-labelledby="active-title">
                                <h2 id="active-title">"Active"</h2>
                                <ActiveTable alerts=active.alerts kinds=kinds.clone()/>
                            </section>
                            <section class="card" aria-labelledby="rules-title">
                                <h2 id="rules-title">"Rules"</h2>
                                <RulesTable rules=rules.rules states=states refresh=refresh/>
                            </section>
                            <section class="card" aria-labelledby="history-title">
                                <h2 id="history-title">"History"</h2>
                                <HistoryTable transitions=history.transitions kinds=kinds/>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ActiveTable(alerts: Vec<AlertView>, kinds: HashMap<String, RuleKind>) -> impl IntoView {
    if alerts.is_empty() {
        return view! {
            <Empty title="Nothing is firing">
                "Rules are evaluated every second and whenever runs finish; an alert shows here as soon as its condition holds."
            </Empty>
        }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="active-alerts">
                <thead><tr><th>"State"</th><th>"Rule"</th><th class="num">"Value"</th><th>"Since"</th><th>"Message"</th></tr></thead>
                <tbody>
                    {alerts.into_iter().map(|a| {
                        let kind = kinds.get(&a.rule).copied();
                        let labels = format::labels(&a.labels);
                        view! {
                            <tr data-rule=a.rule.clone() data-state=a.state.as_str()>
                                <td><span class="badge" data-status=a.state.as_str()>{a.state.as_str()}</span>" "<span class="sev" data-severity=a.severity.as_str()>{severity_word(a.severity)}</span></td>
                                <td><strong class="mono">{a.rule.clone()}</strong>{(!labels.is_empty()).then(|| view! { <div class="muted small mono">{labels}</div> })}</td>
                                <td class="num">{value_text(kind, a.value)}<div class="muted small">{format!("limit {}", value_text(kind, a.threshold))}</div></td>
                                <td>{a.active_since.map(|at| view! { <RelTime at=at/> })}</td>
                                <td class="small">{a.message}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}

#[component]
fn RulesTable(
    rules: Vec<AlertRule>,
    states: HashMap<String, AlertState>,
    refresh: RwSignal<u64>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="alert-rules">
                <thead><tr><th>"Rule"</th><th>"Condition"</th><th>"For"</th><th>"Severity"</th><th>"State"</th><th>"Notifies"</th><th>"Changed"</th><th>"Enabled"</th></tr></thead>
                <tbody>
                    {rules.into_iter().map(|r| {
                        let state = states.get(&r.name).copied();
                        view! { <RuleRow rule=r state=state refresh=refresh/> }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn RuleRow(rule: AlertRule, state: Option<AlertState>, refresh: RwSignal<u64>) -> impl IntoView {
    let name = rule.name.clone();
    let enabled = rule.enabled;
    let set = move |on: bool| {
        let update = AlertRuleUpdate {
            enabled: Some(on),
            ..Default::default()
        };
        api::set_alert_rule(name.clone(), update)
    };
    let state_text = match (enabled, state) {
        (false, _) => "off",
        (true, Some(s)) => s.as_str(),
        (true, None) => "ok",
    };
    view! {
        <tr data-rule=rule.name.clone()>
            <td>
                <strong class="mono">{rule.name.clone()}</strong>
                {(!rule.description.is_empty()).then(|| view! { <div class="muted small">{rule.description.clone()}</div> })}
            </td>
            <td class="small">{rule.expression.clone()}</td>
            <td class="mono">{format::span(rule.for_secs)}</td>
            <td><span class="sev" data-severity=rule.severity.as_str()>{severity_word(rule.severity)}</span></td>
            <td><span class="badge" data-status=state_text>{state_text}</span></td>
            <td class="small">{if rule.webhook_url.is_some() { "webhook" } else { "—" }}</td>
            <td class="small" data-testid="rule-changed"><ChangedBy at=rule.updated_at by=rule.updated_by.clone()/></td>
            <td><EnableToggle enabled testid="rule-toggle" set refresh/></td>
        </tr>
    }
}

#[component]
fn HistoryTable(
    transitions: Vec<AlertTransition>,
    kinds: HashMap<String, RuleKind>,
) -> impl IntoView {
    if transitions.is_empty() {
        return view! {
            <Empty title="No alert has changed state yet">
                "Every move between pending, firing and resolved is recorded here and kept across restarts."
            </Empty>
        }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="alert-history">
                <thead><tr><th>"When"</th><th>"Rule"</th><th>"Change"</th><th class="num">"Value"</th><th>"Message"</th></tr></thead>
                <tbody>
                    {transitions.into_iter().map(|t| {
                        let kind = kinds.get(&t.rule).copied();
                        view! {
                            <tr>
                                <td><RelTime at=t.at/></td>
                                <td class="mono">{t.rule.clone()}</td>
                                <td>
                                    <span class="badge" data-status=t.from.as_str()>{t.from.as_str()}</span>
                                    " → "
                                    <span class="badge" data-status=t.to.as_str()>{t.to.as_str()}</span>
                                </td>
                                <td class="num">{value_text(kind, t.value)}</td>
                                <td class="small">{t.message}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
