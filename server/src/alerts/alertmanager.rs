//! Shiioo's alerts pushed to Alertmanager's API v2 (`POST /api/v2/alerts`)
//! the way Prometheus pushes its own: every firing alert, re-sent while it
//! fires with an end a few resends ahead (so that Alertmanager resolves it
//! by itself if Shiioo goes away), and every alert resolved in the last 15
//! minutes with the time it resolved. Grouping, silences, inhibition and
//! routing are then Alertmanager's.
//!
//! Each push is read from the alert book as it stands, not from the events
//! that changed it: a push that fails, or changes that come faster than
//! pushes, lose nothing, since the next push carries the state as it is.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use wire::{AlertState, PostableAlert};

use super::notify::{labels_and_annotations, Outbox};
use crate::journal::Journal;
use crate::model::Model;
use crate::telemetry::names::ALERT_PUSHES;
use crate::telemetry::Registry;

/// How long a resolved alert is still sent, as Prometheus does.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);
/// Shortest gap between a change and the push that carries it: the changes
/// of one evaluation go in one push.
const DEBOUNCE: Duration = Duration::from_millis(50);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Values of `alert_pushes_total`'s `outcome` label.
const OUTCOMES: [&str; 2] = ["delivered", "failed"];

/// The alerts to push at `now`: firing ones, ending `4 × resend` ahead
/// unless re-sent (Prometheus's rule), and those resolved within
/// [`RESOLVED_RETENTION`]. A firing alert's summary is its current reading.
pub fn postable(
    model: &Model,
    now: DateTime<Utc>,
    resend: Duration,
    external_url: &str,
) -> Vec<PostableAlert> {
    let horizon = chrono::Duration::from_std(resend * 4).unwrap_or(chrono::Duration::MAX);
    let retention = chrono::Duration::from_std(RESOLVED_RETENTION).expect("15 minutes");
    let shown: Vec<_> = model
        .alerts
        .instances
        .values()
        .filter(|i| match i.state {
            AlertState::Firing => true,
            AlertState::Resolved => i.resolved_at.is_some_and(|at| now - at <= retention),
            _ => false,
        })
        .cloned()
        .collect();
    super::with_current_readings(model, shown, now)
        .into_iter()
        .filter_map(|alert| {
            let rule = model.alerts.rules.get(&alert.rule)?;
            let (labels, annotations) = labels_and_annotations(rule, &alert.labels, &alert.message);
            let starts_at = alert.fired_at.or(alert.active_since).unwrap_or(now);
            let ends_at = match alert.state {
                AlertState::Firing => now + horizon,
                _ => alert.resolved_at.unwrap_or(now),
            };
            Some(PostableAlert {
                labels,
                annotations,
                starts_at,
                ends_at,
                generator_url: format!("{external_url}/alerts"),
            })
        })
        .collect()
}

pub struct Alertmanager {
    client: reqwest::Client,
    /// Each Alertmanager's `…/api/v2/alerts`; every one gets every push (a
    /// highly available pair deduplicates, as with Prometheus).
    endpoints: Vec<String>,
    resend: Duration,
    metrics: Arc<Registry>,
}

impl Alertmanager {
    /// `urls` are the Alertmanagers' base URLs (`http://localhost:9093`).
    pub fn new(urls: &[String], resend: Duration, metrics: Arc<Registry>) -> Self {
        let this = Self {
            client: super::http_client(REQUEST_TIMEOUT),
            endpoints: urls
                .iter()
                .map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/')))
                .collect(),
            resend: resend.max(Duration::from_secs(1)),
            metrics,
        };
        for outcome in OUTCOMES {
            this.count(outcome, 0);
        }
        this
    }

    /// Pushes on every resend tick and soon after any alert changes, until
    /// the task is aborted.
    pub async fn run(self, journal: Arc<Journal>, outbox: Arc<Outbox>) {
        let mut tick = tokio::time::interval(self.resend);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = outbox.to_alertmanager.notified() => tokio::time::sleep(DEBOUNCE).await,
            }
            let alerts =
                journal.read(|m| postable(m, Utc::now(), self.resend, outbox.external_url()));
            if alerts.is_empty() {
                continue;
            }
            let pushes = self.endpoints.iter().map(|url| self.push(url, &alerts));
            futures::future::join_all(pushes).await;
        }
    }

    async fn push(&self, url: &str, alerts: &[PostableAlert]) {
        let outcome = match self.client.post(url).json(alerts).send().await {
            Ok(r) if r.status().is_success() => "delivered",
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                tracing::warn!(%url, %status, "Alertmanager refused the alerts: {body}");
                "failed"
            }
            Err(e) => {
                tracing::warn!(%url, "Alertmanager unreachable: {e}");
                "failed"
            }
        };
        self.count(outcome, 1);
    }

    fn count(&self, outcome: &'static str, n: u64) {
        metrics::with_local_recorder(&*self.metrics, || {
            metrics::counter!(ALERT_PUSHES, "outcome" => outcome).increment(n)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind};

    fn changed(model: &mut Model, at: DateTime<Utc>, from: AlertState, to: AlertState) {
        let event = Event {
            seq: 0,
            at,
            kind: EventKind::AlertChanged {
                rule: "pending_approvals".into(),
                labels: Default::default(),
                from: from.into(),
                to: to.into(),
                severity: wire::Severity::Warning.into(),
                value: 21.0,
                threshold: 20.0,
                message: "21 approvals waiting".into(),
            },
        };
        model.apply(&event);
    }

    #[test]
    fn firing_alerts_end_four_resends_ahead_and_resolved_ones_stay_15_minutes() {
        let mut model =
            Model::with_recent_runs(10).with_alert_rules(super::super::rules::defaults());
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let resend = Duration::from_secs(60);
        assert!(postable(&model, t0, resend, "http://x").is_empty());

        changed(&mut model, t0, AlertState::Inactive, AlertState::Pending);
        assert!(
            postable(&model, t0, resend, "http://x").is_empty(),
            "pending is not sent"
        );
        let fired = t0 + chrono::Duration::seconds(60);
        changed(&mut model, fired, AlertState::Pending, AlertState::Firing);
        let now = fired + chrono::Duration::seconds(5);
        let sent = postable(&model, now, resend, "http://x");
        assert_eq!(sent.len(), 1);
        let a = &sent[0];
        assert_eq!(a.labels["alertname"], "pending_approvals");
        assert_eq!(a.labels["severity"], "warning");
        assert_eq!(a.labels["source"], "shiioo");
        assert_eq!(a.starts_at, fired);
        assert_eq!(a.ends_at, now + chrono::Duration::seconds(240));
        assert_eq!(a.generator_url, "http://x/alerts");

        let resolved = fired + chrono::Duration::seconds(120);
        changed(
            &mut model,
            resolved,
            AlertState::Firing,
            AlertState::Resolved,
        );
        let later = resolved + chrono::Duration::seconds(14 * 60);
        let sent = postable(&model, later, resend, "http://x");
        assert_eq!((sent[0].starts_at, sent[0].ends_at), (fired, resolved));
        let gone = resolved + chrono::Duration::seconds(15 * 60 + 1);
        assert!(postable(&model, gone, resend, "http://x").is_empty());
    }
}
