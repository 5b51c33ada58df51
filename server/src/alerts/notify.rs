//! Webhook notifications: when an alert fires or resolves and its rule has a
//! `webhook_url`, POST Alertmanager's webhook payload there, retrying with
//! exponential backoff.
//!
//! No transition is lost: the [`Outbox`] is one of the journal's observers,
//! so it sees every `AlertChanged` in order, under the journal's lock, and
//! queues the notification built from the model as it stood then. The
//! [`Notifier`] task drains the queue; deliveries run in tasks of their
//! own, so a slow or dead receiver never delays evaluation.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use wire::{AlertRule, AlertState, WebhookAlert, WebhookPayload};

use super::Labels;
use crate::events::{Event, EventKind};
use crate::journal::{Journal, Observer};
use crate::model::Model;
use crate::telemetry::names::ALERT_NOTIFICATIONS;
use crate::telemetry::Registry;

/// Attempts per notification, the first included.
pub const ATTEMPTS: u32 = 5;
/// Values of `alert_notifications_total`'s `outcome` label.
const OUTCOMES: [&str; 2] = ["delivered", "failed"];
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 32;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the notifier is asked to do.
enum Delivery {
    /// A rule was set: its counters exist from now on, at 0.
    Rule(String),
    Webhook {
        url: String,
        body: Box<WebhookPayload>,
    },
}

/// The journal's observer that queues notifications, and wakes whoever
/// sends alerts on (the webhook notifier, the Alertmanager pusher) once the
/// journal's lock is released.
pub struct Outbox {
    external_url: String,
    /// Off while the log is replayed at start-up: old transitions were
    /// notified when they happened.
    armed: AtomicBool,
    queue: Mutex<VecDeque<Delivery>>,
    queued: AtomicBool,
    alerts_changed: AtomicBool,
    /// The webhook notifier: deliveries are queued.
    pub(super) to_notifier: Notify,
    /// The Alertmanager pusher: some alert changed state.
    pub(super) to_alertmanager: Notify,
}

impl Outbox {
    pub fn new(external_url: &str) -> Self {
        Self {
            external_url: external_url.trim_end_matches('/').to_string(),
            armed: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicBool::new(false),
            alerts_changed: AtomicBool::new(false),
            to_notifier: Notify::new(),
            to_alertmanager: Notify::new(),
        }
    }

    /// Notifies the transitions from now on (call once the log is replayed).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    fn push(&self, delivery: Delivery) {
        self.queue.lock().push_back(delivery);
        self.queued.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> VecDeque<Delivery> {
        std::mem::take(&mut *self.queue.lock())
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }
}

/// Takes a flag set under the journal's lock; a plain load first, so that
/// the common case (nothing set) writes nothing.
fn take_flag(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed) && flag.swap(false, Ordering::Relaxed)
}

impl Observer for Outbox {
    fn observe(&self, event: &Event, model: &Model) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        match &event.kind {
            EventKind::AlertRuleSet { rule, .. } => self.push(Delivery::Rule(rule.name.clone())),
            EventKind::AlertChanged {
                rule,
                labels,
                to,
                message,
                ..
            } => {
                self.alerts_changed.store(true, Ordering::Relaxed);
                let to = AlertState::from(*to);
                if !matches!(to, AlertState::Firing | AlertState::Resolved) {
                    return;
                }
                let Some(rule) = model.alerts.rules.get(rule) else {
                    return;
                };
                let Some(url) = rule.webhook_url.clone() else {
                    return;
                };
                let fired_at = model
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
                let body = payload(rule, &change, &self.external_url);
                self.push(Delivery::Webhook {
                    url,
                    body: Box::new(body),
                });
            }
            _ => {}
        }
    }

    fn unlocked(&self) {
        if take_flag(&self.queued) {
            self.to_notifier.notify_one();
        }
        if take_flag(&self.alerts_changed) {
            self.to_alertmanager.notify_one();
        }
    }
}

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    /// The first retry waits this long; each next one twice as long.
    backoff: Duration,
    metrics: Arc<Registry>,
    in_flight: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(backoff: Duration, metrics: Arc<Registry>) -> Self {
        Self {
            client: super::http_client(REQUEST_TIMEOUT),
            backoff,
            metrics,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Delivers what the outbox queues, until the task is aborted.
    pub async fn run(self, journal: Arc<Journal>, outbox: Arc<Outbox>) {
        // Every rule's counters exist from the start, at 0, so that rate()
        // and alerts on them work before the first notification.
        for rule in journal.read(|m| m.alerts.rules.keys().cloned().collect::<Vec<_>>()) {
            self.count_zero(&rule);
        }
        loop {
            outbox.to_notifier.notified().await;
            for delivery in outbox.take() {
                match delivery {
                    Delivery::Rule(name) => self.count_zero(&name),
                    Delivery::Webhook { url, body } => {
                        let this = self.clone();
                        tokio::spawn(async move { this.deliver(url, *body).await });
                    }
                }
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

/// An alert's labels (its own, the rule's name and severity, and
/// `source="shiioo"`, which tells Shiioo's alerts from Prometheus's in a
/// shared Alertmanager) and annotations, as every notification carries them.
pub fn labels_and_annotations(
    rule: &AlertRule,
    labels: &Labels,
    message: &str,
) -> (Labels, Labels) {
    let mut all = labels.clone();
    all.insert("alertname".into(), rule.name.clone());
    all.insert("severity".into(), rule.severity.as_str().into());
    all.insert("source".into(), "shiioo".into());
    let annotations = Labels::from([
        ("summary".to_string(), message.to_string()),
        ("description".to_string(), rule.description.clone()),
        ("expression".to_string(), rule.expression.clone()),
    ]);
    (all, annotations)
}

/// The notification of one change.
pub fn payload(rule: &AlertRule, change: &Change, external_url: &str) -> WebhookPayload {
    let (all, annotations) = labels_and_annotations(rule, change.labels, change.message);
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
