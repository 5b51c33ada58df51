//! Alerting, evaluated by Shiioo itself: the guide's "Alert Rules" with
//! Prometheus's semantics (a `for` duration, `pending → firing → resolved`).
//!
//! The data flow is the engine's: the evaluator ([`evaluate`]) reads the
//! model and publishes an `AlertChanged` event for each transition; the
//! [`AlertBook`](crate::model::AlertBook) is the fold of those events (and of `AlertRuleSet`)
//! into rules, current states and history. So alert state and history
//! survive a restart like everything else, the WebSocket hub pushes
//! `AlertUpdate`s from the same events, [`notify`] delivers webhooks from
//! them without ever holding up evaluation, and [`alertmanager`] pushes the
//! alert state to Alertmanager.

pub mod alertmanager;
pub mod evaluate;
pub mod notify;
pub mod prometheus;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wire::{Alert, AlertRule, AlertState, AlertView};

use crate::events::EventKind;
use crate::model::Model;

pub use evaluate::evaluate;
pub use wire::Labels;

/// Shortest gap between two evaluations set off by events: a burst of
/// events is judged once, not once per event.
const EVENT_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether an event can change what a rule measures.
fn moves_alerts(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::RunCreated { .. }
            | EventKind::RunCompleted { .. }
            | EventKind::RunFailed { .. }
            | EventKind::RunCancelled { .. }
            | EventKind::RunInterrupted { .. }
            | EventKind::ApprovalRequested { .. }
            | EventKind::ApprovalResolved { .. }
            | EventKind::AlertRuleSet { .. }
    )
}

/// Evaluates every rule on a steady tick and soon after any event that can
/// move one, until the journal closes.
pub async fn run(journal: Arc<crate::journal::Journal>, every: std::time::Duration) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut live = journal.subscribe_where(moves_alerts);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            event = live.recv() => match event {
                Ok(_) => {
                    tokio::time::sleep_until(last + EVENT_DEBOUNCE).await;
                    // What arrived meanwhile is covered by this evaluation.
                    loop {
                        match live.try_recv() {
                            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Closed) => return,
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
        last = tokio::time::Instant::now();
        // In a cluster one node, the leader, evaluates: its transitions
        // (and so webhooks) are the cluster's, once.
        if journal.leads() {
            evaluate_now(&journal, Utc::now());
        }
    }
}

/// The client notifications are sent with.
fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("shiioo/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a default HTTP client builds")
}

/// A rule as [`set_rule`] left it.
#[derive(Debug)]
pub struct RuleChange {
    pub rule: AlertRule,
    pub created: bool,
    /// The event that changed it; none when the change changed nothing.
    pub seq: Option<u64>,
}

/// Creates or changes the rule `name`. The change is an event, so it lasts
/// across restarts.
pub fn set_rule(
    journal: &crate::journal::Journal,
    name: &str,
    update: wire::AlertRuleUpdate,
    actor: &str,
) -> Result<RuleChange, rules::RuleError> {
    let existing = journal.read(|m| m.alerts.rules.get(name).cloned());
    let mut rule = rules::apply_update(name, existing.as_ref(), update)?;
    // A PUT that changes nothing leaves no event behind.
    let seq = (existing.as_ref() != Some(&rule)).then(|| {
        let event = journal.publish(EventKind::AlertRuleSet {
            rule: (&rule).into(),
            actor: Some(actor.to_string()),
        });
        rule.updated_at = Some(event.at);
        rule.updated_by = Some(actor.to_string());
        event.seq
    });
    Ok(RuleChange {
        rule,
        created: existing.is_none(),
        seq,
    })
}

/// Alerts as they stand at `now`: an active alert carries what its rule
/// measures at this moment, so that one which fired at "1 approval is
/// waiting" says 20 once 20 are. Each transition's own value stays in the
/// history.
pub fn with_current_readings(
    model: &Model,
    mut alerts: Vec<AlertView>,
    now: DateTime<Utc>,
) -> Vec<AlertView> {
    let mut readings: HashMap<&str, Vec<evaluate::Reading>> = HashMap::new();
    for alert in alerts.iter_mut().filter(|a| a.state.is_active()) {
        let Some(rule) = model.alerts.rules.get(&alert.rule).filter(|r| r.enabled) else {
            continue;
        };
        let measured = readings
            .entry(rule.name.as_str())
            .or_insert_with(|| evaluate::measure(rule, model, now));
        if let Some(r) = measured.iter().find(|r| r.labels == alert.labels) {
            alert.value = r.value;
            alert.message = r.message.clone();
        }
    }
    alerts
}

/// The alerts firing at `now`, as health reports them, with current readings.
pub fn firing_now(model: &Model, now: DateTime<Utc>) -> Vec<Alert> {
    let firing = model
        .alerts
        .active()
        .into_iter()
        .filter(|a| a.state == AlertState::Firing)
        .collect();
    with_current_readings(model, firing, now)
        .into_iter()
        .map(|a| Alert {
            severity: a.severity.as_str().into(),
            rule: a.rule,
            message: a.message,
        })
        .collect()
}

/// One evaluation, its transitions published; returns how many.
pub fn evaluate_now(journal: &crate::journal::Journal, now: DateTime<Utc>) -> usize {
    let changes = journal.read(|m| evaluate(m, now));
    let n = changes.len();
    for change in changes {
        journal.publish(change);
    }
    n
}
