//! Webhook notifications: when an alert fires or resolves and its rule has a
//! `webhook_url`, POST Alertmanager's webhook payload there, retrying with
//! exponential backoff. Deliveries run in their own tasks, fed from the
//! journal's live events: a slow or dead receiver never delays evaluation.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;
use wire::{AlertRule, AlertState, WebhookAlert, WebhookPayload};

use super::Labels;
use crate::events::EventKind;
use crate::journal::Journal;
use crate::telemetry::names::ALERT_NOTIFICATIONS;
use crate::telemetry::Registry;

/// Attempts per notification, the first included.
pub const ATTEMPTS: u32 = 5;
/// Values of `alert_notifications_total`'s `outcome` label.
const OUTCOMES: [&str; 2] = ["delivered", "failed"];
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 32;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// Base URL of this server, for `externalURL` and `generatorURL`.
    external_url: String,
    /// The first retry waits this long; each next one twice as long.
    backoff: Duration,
    metrics: Arc<Registry>,
    in_flight: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(external_url: String, backoff: Duration, metrics: Arc<Registry>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("shiioo/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a default HTTP client builds");
        Self {
            client,
            external_url: external_url.trim_end_matches('/').to_string(),
            backoff,
            metrics,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Watches the journal for alerts that fire or resolve, until it closes.
    pub async fn run(self, journal: Arc<Journal>) {
        let mut live = journal.subscribe_where(|kind| {
            matches!(
                kind,
                EventKind::AlertRuleSet { .. } | EventKind::AlertChanged { .. }
            )
        });
        // Every rule's counters exist from the start, at 0, so that rate()
        // and alerts on them work before the first notification.
        for rule in journal.read(|m| m.alerts.rules.keys().cloned().collect::<Vec<_>>()) {
            self.count_zero(&rule);
        }
        loop {
            let event = match live.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("alert notifier lagged; {n} events were skipped");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if let EventKind::AlertRuleSet { rule } = &event.kind {
                self.count_zero(&rule.name);
            }
            let EventKind::AlertChanged {
                rule,
                labels,
                to,
                message,
                ..
            } = &event.kind
            else {
                continue;
            };
            let to = AlertState::from(*to);
            if !matches!(to, AlertState::Firing | AlertState::Resolved) {
                continue;
            }
            // The notification describes this transition, whatever the
            // alert has done since (it may already have resolved).
            let found = journal.read(|m| {
                let rule = m.alerts.rules.get(rule)?;
                let url = rule.webhook_url.clone()?;
                let fired_at = m
                    .alerts
                    .instances
                    .get(&(rule.name.clone(), labels.clone()))
                    .and_then(|i| i.fired_at)
                    .filter(|f| *f <= event.at)
                    .unwrap_or(event.at);
                let change = Change {
                    labels,
                    to,
                    message,
                    fired_at,
                    at: event.at,
                };
                Some((url, payload(rule, &change, &self.external_url)))
            });
            if let Some((url, body)) = found {
                let this = self.clone();
                tokio::spawn(async move { this.deliver(url, body).await });
            }
        }
    }

    async fn deliver(self, url: String, body: WebhookPayload) {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return;
        };
        let rule = body
            .common_labels
            .get("alertname")
            .cloned()
            .unwrap_or_default();
        let mut wait = self.backoff;
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    self.count(&rule, "delivered");
                    return;
                }
                Ok(r) => {
                    tracing::warn!(%url, attempt, status = %r.status(), "alert webhook refused")
                }
                Err(e) => tracing::warn!(%url, attempt, "alert webhook failed: {e}"),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        self.count(&rule, "failed");
    }

    fn count(&self, rule: &str, outcome: &'static str) {
        self.add(rule, outcome, 1);
    }

    fn count_zero(&self, rule: &str) {
        for outcome in OUTCOMES {
            self.add(rule, outcome, 0);
        }
    }

    fn add(&self, rule: &str, outcome: &'static str, n: u64) {
        metrics::with_local_recorder(&*self.metrics, || {
            metrics::counter!(ALERT_NOTIFICATIONS, "rule" => rule.to_string(), "outcome" => outcome)
                .increment(n)
        });
    }
}

/// Alertmanager's "zero" end time of an alert that has not ended.
fn zero_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .expect("a valid timestamp")
        .with_timezone(&Utc)
}

/// An alert that fired or resolved, as a notification tells it.
pub struct Change<'a> {
    pub labels: &'a Labels,
    /// `Firing` or `Resolved`.
    pub to: AlertState,
    pub message: &'a str,
    /// When it (last) started firing.
    pub fired_at: DateTime<Utc>,
    /// When this change happened.
    pub at: DateTime<Utc>,
}

/// The notification of one change.
pub fn payload(rule: &AlertRule, change: &Change, external_url: &str) -> WebhookPayload {
    let mut all = change.labels.clone();
    all.insert("alertname".into(), rule.name.clone());
    all.insert("severity".into(), rule.severity.as_str().into());
    let annotations = Labels::from([
        ("summary".to_string(), change.message.to_string()),
        ("description".to_string(), rule.description.clone()),
        ("expression".to_string(), rule.expression.clone()),
    ]);
    let (status, ends_at) = match change.to {
        AlertState::Firing => ("firing", zero_time()),
        _ => ("resolved", change.at),
    };
    let starts_at = change.fired_at;
    let group_labels = Labels::from([("alertname".to_string(), rule.name.clone())]);
    WebhookPayload {
        version: "4".into(),
        group_key: format!("{{}}:{{alertname={:?}}}", rule.name),
        truncated_alerts: 0,
        status: status.into(),
        receiver: rule.name.clone(),
        group_labels,
        common_labels: all.clone(),
        common_annotations: annotations.clone(),
        external_url: external_url.to_string(),
        alerts: vec![WebhookAlert {
            status: status.into(),
            fingerprint: fingerprint(&all),
            labels: all,
            annotations,
            starts_at,
            ends_at,
            generator_url: format!("{external_url}/alerts"),
        }],
    }
}

/// A stable identifier of a label set (FNV-1a, 64 bits, in hex), as
/// Alertmanager gives each alert.
fn fingerprint(labels: &Labels) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for byte in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_the_alerts_labels_times_and_status() {
        let rule = super::super::rules::defaults()
            .into_iter()
            .find(|r| r.name == "success_rate")
            .unwrap();
        let fired = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let none = Labels::new();
        let mut change = Change {
            labels: &none,
            to: AlertState::Firing,
            message: "Success rate 80% ...",
            fired_at: fired,
            at: fired,
        };
        let p = payload(&rule, &change, "http://localhost:8080");
        assert_eq!(p.status, "firing");
        let a = &p.alerts[0];
        assert_eq!(a.labels["alertname"], "success_rate");
        assert_eq!(a.labels["severity"], "warning");
        assert_eq!(a.annotations["summary"], "Success rate 80% ...");
        assert_eq!(a.starts_at, fired);
        assert_eq!(a.ends_at, zero_time());
        assert_eq!(a.generator_url, "http://localhost:8080/alerts");
        change.to = AlertState::Resolved;
        change.at = fired + chrono::Duration::seconds(60);
        let p2 = payload(&rule, &change, "http://localhost:8080");
        assert_eq!(p2.status, "resolved");
        assert_eq!(
            (p2.alerts[0].starts_at, p2.alerts[0].ends_at),
            (fired, change.at)
        );
        assert_eq!(
            p2.alerts[0].fingerprint, a.fingerprint,
            "same alert, same fingerprint"
        );
        let other = Labels::from([("workflow_id".to_string(), "x".to_string())]);
        change.labels = &other;
        assert_ne!(
            payload(&rule, &change, "").alerts[0].fingerprint,
            a.fingerprint
        );
    }
}
