//! The hub turns engine events into the guide's WebSocket messages, once,
//! and fans them out to every connection through a broadcast ring.

//!
//! It observes the journal, so each message is built from the model as it
//! was at that event (a `progress` is exact, never recomputed later). Each
//! message is serialised once, whatever the number of clients. The ring is
//! bounded: a connection that falls behind is told it lagged and skips
//! ahead; it never holds up the engine or other clients, and never makes
//! memory grow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::wire::{
    AlertUpdate, HealthState, HealthUpdate, MetricsUpdate, ServerMessage, StepStatus, StepUpdate,
    WorkflowUpdate,
};
use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use ulid::Ulid;

use crate::events::{Event, EventKind};
use crate::health::{self, HealthRules};
use crate::journal::Observer;
use crate::model::{Model, RunState};
use crate::telemetry::registry::{Registry, Value};

/// Updates buffered for connections; a connection further behind lags.
pub const RING: usize = 4_096;

/// What an update is about, for subscription filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `WorkflowUpdate` and `StepUpdate` of one run.
    Run(Ulid),
    Health,
    Metrics,
    /// `AlertUpdate`s.
    Alerts,
}

#[derive(Debug)]
pub struct Update {
    /// The event it came from (0 for metrics), to drop what a snapshot
    /// already said.
    pub seq: u64,
    pub channel: Channel,
    pub message: ServerMessage,
    /// `message` as sent on the wire; cloning it shares the bytes.
    pub json: Utf8Bytes,
}

impl Update {
    fn new(seq: u64, channel: Channel, message: ServerMessage) -> Arc<Self> {
        let json = serde_json::to_string(&message)
            .expect("server messages serialise")
            .into();
        Arc::new(Self {
            seq,
            channel,
            message,
            json,
        })
    }
}

/// The health figures a `HealthUpdate` carries, to send one only on change.
type HealthKey = (HealthState, u64, u64, u64);

pub struct Hub {
    tx: broadcast::Sender<Arc<Update>>,
    rules: HealthRules,
    started: Instant,
    last_health: Mutex<Option<HealthKey>>,
}

impl Hub {
    pub fn new(rules: HealthRules, started: Instant) -> Self {
        Self {
            tx: broadcast::channel(RING).0,
            rules,
            started,
            last_health: Mutex::new(None),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.tx.subscribe()
    }

    fn publish(&self, update: Arc<Update>) {
        let _ = self.tx.send(update);
    }

    /// Watches the metrics registry and pushes each series that changed, at
    /// most once per `every` (a burst of events is one message per series).
    pub async fn push_metrics(self: Arc<Self>, registry: Arc<Registry>, every: Duration) {
        let mut last: HashMap<(String, Vec<(String, String)>), f64> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if self.tx.receiver_count() == 0 {
                last.clear();
                continue;
            }
            for series in registry.read_all() {
                let (metric_type, value) = match &series.value {
                    Value::Counter(v) => ("counter", *v as f64),
                    Value::Gauge(v) => ("gauge", *v),
                    // A histogram's value is its number of observations.
                    Value::Histogram(h) => ("histogram", h.count as f64),
                };
                let key = (
                    series.name.clone(),
                    series.labels.clone().into_iter().collect(),
                );
                if last.get(&key) == Some(&value) {
                    continue;
                }
                last.insert(key, value);
                self.publish(Update::new(
                    0,
                    Channel::Metrics,
                    ServerMessage::MetricsUpdate(MetricsUpdate {
                        metric_type: metric_type.into(),
                        name: series.name,
                        value,
                        labels: series.labels,
                    }),
                ));
            }
        }
    }
}

impl Observer for Hub {
    fn observe(&self, event: &Event, model: &Model) {
        // Nobody listens while the log is replayed at start-up.
        if self.tx.receiver_count() == 0 {
            return;
        }
        self.push_run_updates(event, model);
        if let EventKind::AlertChanged {
            rule,
            labels,
            to,
            severity,
            value,
            threshold,
            message,
            ..
        } = &event.kind
        {
            self.publish(Update::new(
                event.seq,
                Channel::Alerts,
                ServerMessage::AlertUpdate(AlertUpdate {
                    rule: rule.clone(),
                    labels: labels.clone(),
                    state: *to,
                    severity: *severity,
                    value: *value,
                    threshold: *threshold,
                    message: message.clone(),
                    at: event.at,
                }),
            ));
        }
        // Sent only if a figure it carries changed.
        if event.kind.moves_governance()
            || matches!(event.kind, EventKind::AlertChanged { .. })
            || matches!(
                event.kind,
                EventKind::RunCreated { .. }
                    | EventKind::RunCompleted { .. }
                    | EventKind::RunFailed { .. }
            )
        {
            self.health_changed(event.seq, model);
        }
    }
}

impl Hub {
    /// `WorkflowUpdate`s and `StepUpdate`s for a run event.
    fn push_run_updates(&self, event: &Event, model: &Model) {
        let Some(run_id) = event.kind.run_id() else {
            return;
        };
        let Some(run) = model.runs.get(&run_id) else {
            return;
        };
        let seq = event.seq;
        let step = |step_id: &str, status: StepStatus, message: String| {
            self.publish(Update::new(
                seq,
                Channel::Run(run_id),
                ServerMessage::StepUpdate(StepUpdate {
                    run_id: run_id.to_string(),
                    step_id: step_id.to_string(),
                    status: status.as_str().into(),
                    message,
                }),
            ))
        };
        let mut workflow_changed = false;
        match &event.kind {
            EventKind::RunCreated { .. }
            | EventKind::RunStarted { .. }
            | EventKind::RunCompleted { .. }
            | EventKind::RunFailed { .. }
            | EventKind::RunCancelled { .. }
            | EventKind::RunInterrupted { .. } => workflow_changed = true,
            EventKind::StepStarted {
                step_id, attempt, ..
            } => {
                let message = if *attempt == 0 {
                    "Started".to_string()
                } else {
                    format!("Attempt {} started", attempt + 1)
                };
                step(step_id, StepStatus::Running, message);
            }
            EventKind::StepRetrying {
                step_id,
                attempt,
                error,
                backoff_secs,
                ..
            } => step(
                step_id,
                StepStatus::Retrying,
                format!(
                    "Attempt {} failed: {error}; retrying in {backoff_secs}s",
                    attempt + 1
                ),
            ),
            EventKind::StepCompleted {
                step_id,
                duration_secs,
                ..
            } => {
                step(
                    step_id,
                    StepStatus::Completed,
                    format!("Completed in {duration_secs:.2}s"),
                );
                workflow_changed = true;
            }
            EventKind::StepFailed {
                step_id,
                attempt,
                error,
                ..
            } => {
                let attempts = attempt + 1;
                let s = if attempts == 1 { "" } else { "s" };
                step(
                    step_id,
                    StepStatus::Failed,
                    format!("Failed after {attempts} attempt{s}: {error}"),
                );
                workflow_changed = true;
            }
            EventKind::StepSkipped {
                step_id, reason, ..
            } => {
                step(step_id, StepStatus::Skipped, format!("Skipped: {reason}"));
                workflow_changed = true;
            }
            EventKind::StepCancelled { step_id, .. } => {
                step(step_id, StepStatus::Cancelled, "Cancelled".into());
                workflow_changed = true;
            }
            EventKind::ApprovalRequested {
                step_id,
                approvers,
                quorum,
                ..
            } => step(
                step_id,
                StepStatus::Running,
                format!(
                    "Waiting for approval: {} of {}",
                    quorum.needed(approvers.len()),
                    approvers.join(", ")
                ),
            ),
            EventKind::VoteCast {
                approval_id,
                voter,
                decision,
                ..
            } => {
                if let Some(a) = model.governance.approvals.get(approval_id) {
                    let verb = match decision {
                        app::wire::Decision::Approve => "approved",
                        app::wire::Decision::Reject => "rejected",
                    };
                    let (yes, _) = a.tally();
                    step(
                        &a.step_id,
                        StepStatus::Running,
                        format!(
                            "{voter} {verb} ({yes} of {} approvals)",
                            a.quorum.needed(a.approvers.len())
                        ),
                    );
                }
            }
            _ => {}
        }
        if workflow_changed {
            self.publish(Update::new(seq, Channel::Run(run_id), workflow_update(run)));
        }
    }
}

impl Hub {
    /// Pushes a `HealthUpdate` if anything it carries changed.
    fn health_changed(&self, seq: u64, model: &Model) {
        let h = health::assess(
            model,
            &self.rules,
            self.started.elapsed().as_secs(),
            chrono::Utc::now(),
        );
        let key = (
            h.status,
            h.active_workflows,
            h.active_routines,
            h.pending_approvals,
        );
        let mut last = self.last_health.lock();
        if *last != Some(key) {
            *last = Some(key);
            self.publish(Update::new(seq, Channel::Health, health_update(h)));
        }
    }
}

pub fn health_update(h: app::wire::HealthStatus) -> ServerMessage {
    ServerMessage::HealthUpdate(HealthUpdate {
        status: h.status,
        active_workflows: h.active_workflows,
        active_routines: h.active_routines,
        pending_approvals: h.pending_approvals,
        uptime_secs: h.uptime_secs,
    })
}

/// A run's state as the guide's `WorkflowUpdate`.
pub fn workflow_update(run: &RunState) -> ServerMessage {
    use app::wire::RunStatus::*;
    let total = run.steps.len();
    let finished = run.finished_steps();
    let message = match run.status {
        Pending => "Queued".to_string(),
        Running if finished < total => format!("Processing step {} of {total}", finished + 1),
        Running => format!("Finishing: {finished} of {total} steps done"),
        Completed => format!("Completed {total} of {total} steps"),
        Failed => format!(
            "Failed: {}",
            run.error.as_deref().unwrap_or("a step failed")
        ),
        Cancelled => format!("Cancelled after {finished} of {total} steps"),
        Interrupted => "Interrupted: the server stopped while this run was in flight".to_string(),
    };
    ServerMessage::WorkflowUpdate(WorkflowUpdate {
        run_id: run.run_id.to_string(),
        status: run.status.as_str().into(),
        progress: run.progress(),
        message,
    })
}

/// `AlertUpdate`s for the alerts pending or firing now.
pub fn alert_snapshot(model: &Model) -> Vec<ServerMessage> {
    model
        .alerts
        .active()
        .into_iter()
        .map(|a| {
            ServerMessage::AlertUpdate(AlertUpdate {
                at: a.fired_at.or(a.active_since).unwrap_or_default(),
                rule: a.rule,
                labels: a.labels,
                state: a.state,
                severity: a.severity,
                value: a.value,
                threshold: a.threshold,
                message: a.message,
            })
        })
        .collect()
}

/// `StepUpdate`s describing where each started step stands now.
pub fn step_snapshot(run: &RunState) -> Vec<ServerMessage> {
    run.steps
        .iter()
        .filter(|s| s.status != StepStatus::Pending)
        .map(|s| {
            ServerMessage::StepUpdate(StepUpdate {
                run_id: run.run_id.to_string(),
                step_id: s.id.clone(),
                status: s.status.as_str().into(),
                message: match (&s.error, s.status) {
                    (Some(e), _) => e.clone(),
                    (None, st) => st.as_str().to_string(),
                },
            })
        })
        .collect()
}
