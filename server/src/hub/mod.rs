//! The hub turns engine events into the guide's WebSocket messages, once,
//! and delivers them to the connections that listen (see [`mailbox`]).
//! Below the WebSocket handler (`ws/`), which connects to it.
//!
//! It observes the journal, so each message is built from the model as it
//! was at that event (a `progress` is exact, never recomputed later). Each
//! message is serialised once, whatever the number of clients, and not at
//! all when nobody listens to it.

pub mod mailbox;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use ulid::Ulid;
use wire::{
    AlertUpdate, HealthState, HealthUpdate, MetricsUpdate, ServerMessage, StepStatus, StepUpdate,
    WorkflowUpdate,
};

use crate::events::{Event, EventKind};
use crate::health::{self, HealthRules};
use crate::journal::Observer;
use crate::model::{Approvals, Model};
use crate::runs::RunState;
use crate::store::LogProbe;
use crate::telemetry::registry::Value;

pub use mailbox::{Batch, Interest};
use mailbox::{Mailbox, Routes};

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
    pub(crate) fn new(seq: u64, channel: Channel, message: ServerMessage) -> Arc<Self> {
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
    routes: Routes,
    rules: HealthRules,
    started: Instant,
    last_health: Mutex<Option<HealthKey>>,
    /// The log's state, once the journal is open (health says when it fails).
    log: std::sync::OnceLock<LogProbe>,
}

impl Hub {
    pub fn new(rules: HealthRules, started: Instant) -> Self {
        Self {
            routes: Routes::default(),
            rules,
            started,
            last_health: Mutex::new(None),
            log: std::sync::OnceLock::new(),
        }
    }

    /// Lets health updates say whether the log can be written.
    pub fn watch_log(&self, probe: LogProbe) {
        let _ = self.log.set(probe);
    }

    /// A new connection's mailbox, listening to nothing yet.
    pub fn connect(self: &Arc<Self>) -> Listener {
        Listener {
            hub: self.clone(),
            mailbox: Arc::default(),
        }
    }

    /// Watches the metrics registry and pushes each series that changed, at
    /// most once per `every` (a burst of events is one message per series).
    pub async fn push_metrics(
        self: Arc<Self>,
        registry: crate::telemetry::MetricsView,
        every: Duration,
    ) {
        let mut last: HashMap<(String, Vec<(String, String)>), f64> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let to = self.routes.recipients(Channel::Metrics);
            if to.is_empty() {
                last.clear();
                continue;
            }
            for series in registry.read_all() {
                let (metric_type, value) = match &series.value {
                    Value::Counter(v) => ("counter", *v as f64),
                    Value::FloatCounter(v) => ("counter", *v),
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
                to.deliver(Update::new(
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
            self.routes.wake();
        }
    }
}

impl Observer for Hub {
    fn unlocked(&self) {
        self.routes.wake();
    }

    /// The dashboard shows the cluster: others' events go out as our own.
    fn observe_foreign(&self, event: &Event, model: &Model) {
        self.observe(event, model);
    }

    fn observe(&self, event: &Event, model: &Model) {
        // Nobody listens while the log is replayed at start-up, and often
        // not at all.
        if !self.routes.any() {
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
            let listeners = self.routes.recipients(Channel::Alerts);
            if !listeners.is_empty() {
                listeners.deliver(Update::new(
                    event.seq,
                    Channel::Alerts,
                    ServerMessage::AlertUpdate(AlertUpdate {
                        rule: rule.clone(),
                        labels: labels.clone(),
                        state: (*to).into(),
                        severity: (*severity).into(),
                        value: *value,
                        threshold: *threshold,
                        message: message.clone(),
                        at: event.at,
                    }),
                ));
            }
        }
        // Sent only if a figure it carries changed.
        if event.kind.moves_routines_or_approvals()
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
        let to = self.routes.recipients(Channel::Run(run_id));
        if to.is_empty() {
            return;
        }
        let Some(run) = model.runs.get(&run_id) else {
            return;
        };
        let seq = event.seq;
        let step_with = |step_id: &str, status: StepStatus, message: String, usage| {
            to.deliver(Update::new(
                seq,
                Channel::Run(run_id),
                ServerMessage::StepUpdate(StepUpdate {
                    run_id: run_id.to_string(),
                    step_id: step_id.to_string(),
                    status: status.as_str().into(),
                    message,
                    usage,
                }),
            ))
        };
        let step = |step_id: &str, status: StepStatus, message: String| {
            step_with(step_id, status, message, None)
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
            } => step(step_id, StepStatus::Running, says::started(*attempt)),
            EventKind::StepRetrying {
                step_id,
                attempt,
                error,
                backoff_secs,
                ..
            } => step(
                step_id,
                StepStatus::Retrying,
                says::retrying(*attempt, error, Some(*backoff_secs)),
            ),
            EventKind::StepCompleted {
                step_id,
                duration_secs,
                usage,
                ..
            } => {
                step_with(
                    step_id,
                    StepStatus::Completed,
                    says::completed(*duration_secs),
                    usage.as_ref().map(wire::Usage::from),
                );
                workflow_changed = true;
            }
            EventKind::StepFailed {
                step_id,
                attempt,
                error,
                ..
            } => {
                step(step_id, StepStatus::Failed, says::failed(*attempt, error));
                workflow_changed = true;
            }
            EventKind::StepSkipped {
                step_id, reason, ..
            } => {
                step(step_id, StepStatus::Skipped, says::skipped(reason));
                workflow_changed = true;
            }
            EventKind::StepCancelled { step_id, .. } => {
                step(step_id, StepStatus::Cancelled, says::CANCELLED.into());
                workflow_changed = true;
            }
            EventKind::ApprovalRequested {
                step_id,
                approvers,
                quorum,
                reason,
                ..
            } => step(
                step_id,
                says::asking_status(reason.as_deref()),
                says::waiting_for_approval((*quorum).into(), approvers, reason.as_deref()),
            ),
            EventKind::VoteCast {
                approval_id,
                voter,
                decision,
                ..
            } => {
                if let Some(a) = model.approvals.get(approval_id) {
                    let needed = a.quorum.needed(a.approvers.len());
                    step(
                        &a.step_id,
                        says::asking_status(a.reason.as_deref()),
                        says::vote(voter, (*decision).into(), a.tally().0, needed),
                    );
                }
            }
            _ => {}
        }
        if workflow_changed {
            to.deliver(Update::new(seq, Channel::Run(run_id), workflow_update(run)));
        }
    }
}

impl Hub {
    /// Tells health's listeners when the log starts or stops failing,
    /// which no event does: while it fails nothing new is published.
    pub async fn follow_log(self: Arc<Self>, journal: Arc<crate::journal::Journal>) {
        let Some(mut probe) = self.log.get().cloned() else {
            return;
        };
        while probe.failing_changed().await {
            journal.read_at(|model, seq| self.health_changed(seq, model));
        }
    }

    /// Pushes a `HealthUpdate` if anything it carries changed.
    fn health_changed(&self, seq: u64, model: &Model) {
        let to = self.routes.recipients(Channel::Health);
        if to.is_empty() {
            // The next listener's first update is sent whatever it says.
            *self.last_health.lock() = None;
            return;
        }
        let log = self.log.get().map(LogProbe::health).unwrap_or_default();
        let h = health::assess(
            model,
            &self.rules,
            self.started.elapsed().as_secs(),
            chrono::Utc::now(),
            log,
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
            to.deliver(Update::new(seq, Channel::Health, health_update(h)));
        }
    }
}

/// One connection's end of the hub: its mailbox, routed by what it listens
/// to, until it is dropped.
pub struct Listener {
    hub: Arc<Hub>,
    mailbox: Arc<Mailbox>,
}

impl Listener {
    /// Listens to `interest` from now on: every update published after this
    /// returns reaches the mailbox.
    pub fn listen(&self, interest: Interest) {
        self.hub.routes.set(&self.mailbox, interest);
    }

    /// Waits for updates, and takes up to `max` (cancel-safe).
    pub async fn next(&self, max: usize) -> Batch {
        self.mailbox.take(max).await
    }

    /// What is waiting now, without waiting.
    pub fn waiting(&self) -> Batch {
        self.mailbox.try_take(usize::MAX).unwrap_or_default()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.hub.routes.remove(&self.mailbox);
    }
}

pub fn health_update(h: wire::HealthStatus) -> ServerMessage {
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
    use wire::RunStatus::*;
    let total = run.steps.len();
    let finished = run.finished_steps();
    let failed = run.steps.iter().find(|s| s.status == StepStatus::Failed);
    let message = match (run.status, failed) {
        (Pending, _) => "Queued".to_string(),
        // Its branches that do not depend on the failure run to their end.
        (Running, Some(step)) => format!(
            "Step {} failed; finishing the other branches ({finished} of {total} steps done)",
            step.id
        ),
        (Running, None) if finished < total => {
            format!("Processing step {} of {total}", finished + 1)
        }
        (Running, None) => format!("Finishing: {finished} of {total} steps done"),
        (Completed, _) => format!("Completed {total} of {total} steps"),
        (Failed, _) => format!(
            "Failed: {}",
            run.error.as_deref().unwrap_or("a step failed")
        ),
        (Cancelled, _) => format!("Cancelled after {finished} of {total} steps"),
        (Interrupted, _) => {
            "Interrupted: the server stopped while this run was in flight".to_string()
        }
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

/// `StepUpdate`s describing where each started step stands now, in the
/// words the live updates use. `approvals` tells a step waiting for an
/// approval from one merely running.
pub fn step_snapshot(run: &RunState, approvals: Option<&Approvals>) -> Vec<ServerMessage> {
    // A step not started says nothing, unless a spent budget holds it on a
    // question: a client subscribing then must hear of it.
    let held: Vec<&str> = approvals.map_or_else(Vec::new, |approvals| {
        approvals
            .values()
            .filter(|a| a.run_id == run.run_id && a.status == wire::ApprovalStatus::Pending)
            .map(|a| a.step_id.as_str())
            .collect()
    });
    run.steps
        .iter()
        .filter(|s| s.status != StepStatus::Pending || held.contains(&s.id.as_str()))
        .map(|s| {
            ServerMessage::StepUpdate(StepUpdate {
                run_id: run.run_id.to_string(),
                step_id: s.id.clone(),
                status: s.status.as_str().into(),
                message: says::now(s, run.run_id, approvals),
                usage: (s.status == StepStatus::Completed)
                    .then(|| s.attempts.last().and_then(|a| a.usage.clone()))
                    .flatten(),
            })
        })
        .collect()
}

/// What a step update says, live and in snapshots alike. Attempts are
/// counted from 1, as everywhere people read them.
mod says {
    use ulid::Ulid;
    use wire::{ApprovalStatus, AttemptStatus, Decision, Quorum, StepStatus};

    use crate::model::{ApprovalState, Approvals};
    use crate::runs::StepState;

    pub const CANCELLED: &str = "Cancelled";

    pub fn started(attempt: u32) -> String {
        if attempt == 0 {
            "Started".into()
        } else {
            format!("Attempt {} started", u64::from(attempt) + 1)
        }
    }

    pub fn retrying(attempt: u32, error: &str, backoff_secs: Option<f64>) -> String {
        let n = u64::from(attempt) + 1;
        match backoff_secs {
            Some(b) => format!("Attempt {n} failed: {error}; retrying in {b}s"),
            None => format!("Attempt {n} failed: {error}; retrying"),
        }
    }

    pub fn completed(duration_secs: f64) -> String {
        format!("Completed in {duration_secs:.2}s")
    }

    pub fn failed(attempt: u32, error: &str) -> String {
        let n = u64::from(attempt) + 1;
        let s = if n == 1 { "" } else { "s" };
        format!("Failed after {n} attempt{s}: {error}")
    }

    pub fn skipped(reason: &str) -> String {
        format!("Skipped: {reason}")
    }

    /// An approval step runs while it asks; an agent step held back by its
    /// run's spent budget (`reason`) has not started yet.
    pub fn asking_status(reason: Option<&str>) -> StepStatus {
        match reason {
            None => StepStatus::Running,
            Some(_) => StepStatus::Pending,
        }
    }

    pub fn waiting_for_approval(
        quorum: Quorum,
        approvers: &[String],
        reason: Option<&str>,
    ) -> String {
        let needed = quorum.needed(approvers.len());
        let approvers = approvers.join(", ");
        match reason {
            None => format!("Waiting for approval: {needed} of {approvers}"),
            Some(reason) => {
                format!("Waiting for approval to spend more: {needed} of {approvers} ({reason})")
            }
        }
    }

    pub fn vote(voter: &str, decision: Decision, yes: usize, needed: usize) -> String {
        let verb = match decision {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        };
        format!("{voter} {verb} ({yes} of {needed} approvals)")
    }

    /// Where `step` stands now.
    pub fn now(step: &StepState, run_id: Ulid, approvals: Option<&Approvals>) -> String {
        let last = step.attempts.last();
        let attempt = last.map_or(0, |a| a.attempt);
        let error = step.error.as_deref().unwrap_or("unknown error");
        match step.status {
            StepStatus::Running | StepStatus::Pending => match asking(step, run_id, approvals) {
                Some(a) => match a.votes.last() {
                    Some(v) => vote(
                        &v.voter,
                        v.decision,
                        a.tally().0,
                        a.quorum.needed(a.approvers.len()),
                    ),
                    None => waiting_for_approval(a.quorum, &a.approvers, a.reason.as_deref()),
                },
                None if step.status == StepStatus::Pending => "Pending".into(),
                None => started(attempt),
            },
            StepStatus::Retrying => {
                let failed =
                    step.attempts.iter().rev().find(|a| {
                        matches!(a.status, AttemptStatus::Failed | AttemptStatus::TimedOut)
                    });
                retrying(failed.map_or(attempt, |a| a.attempt), error, None)
            }
            StepStatus::Completed => completed(last.and_then(|a| a.duration_secs).unwrap_or(0.0)),
            StepStatus::Failed => failed(attempt, error),
            StepStatus::Skipped => skipped(error),
            StepStatus::Cancelled => CANCELLED.into(),
            StepStatus::Interrupted => "Interrupted: the server stopped".into(),
        }
    }

    /// The pending approval `step` waits on, if any.
    fn asking<'a>(
        step: &StepState,
        run_id: Ulid,
        approvals: Option<&'a Approvals>,
    ) -> Option<&'a ApprovalState> {
        approvals?.values().find(|a| {
            a.run_id == run_id && a.step_id == step.id && a.status == ApprovalStatus::Pending
        })
    }
}
