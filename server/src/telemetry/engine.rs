//! Metrics derived from engine events. Applied live and during replay, so
//! execution counters and duration histograms survive a restart.

use std::sync::Arc;

use super::cells::{CounterCell, GaugeCell, HistogramCell};
use super::family::Family;
use super::names::*;
use super::Registry;
use crate::events::{Event, EventKind};
use crate::journal::Observer;
use crate::model::Model;

/// The engine's metrics, found once: each event looks its series up by
/// borrowed label values (the workflow id from the model, the step id from
/// the event), so recording allocates nothing.
pub struct EngineMetrics {
    workflow_executions: Arc<Family<CounterCell>>,
    workflow_duration: Arc<Family<HistogramCell>>,
    step_duration: Arc<Family<HistogramCell>>,
    step_executions: Arc<Family<CounterCell>>,
    step_retries: Arc<Family<CounterCell>>,
    errors: Arc<Family<CounterCell>>,
    alerts_firing: Arc<Family<GaugeCell>>,
    active_workflows: Arc<GaugeCell>,
    active_routines: Arc<GaugeCell>,
    pending_approvals: Arc<GaugeCell>,
}

/// Label values known in advance, whose series exist from the start at 0:
/// otherwise `increase()` misses the first event of each (the series is
/// born at 1), and a dashboard or alert on them has no data until it happens.
const OUTCOMES: [&str; 4] = ["success", "failure", "cancelled", "interrupted"];
const ENGINE_ERRORS: [&str; 4] = [
    "step_attempt_failed",
    "step_failed",
    "run_failed",
    "run_interrupted",
];

impl EngineMetrics {
    pub fn new(registry: Arc<Registry>) -> Self {
        let gauge = |name| registry.gauges(name, &[]).handle(&[]);
        let metrics = Self {
            workflow_executions: registry.counters(WORKFLOW_EXECUTIONS, &["status"]),
            workflow_duration: registry.histograms(WORKFLOW_DURATION, &["workflow_id"]),
            step_duration: registry.histograms(STEP_DURATION, &["workflow_id", "step_id"]),
            step_executions: registry
                .counters(STEP_EXECUTIONS, &["workflow_id", "step_id", "status"]),
            step_retries: registry.counters(STEP_RETRIES, &["workflow_id", "step_id"]),
            errors: registry.counters(ERRORS, &["kind"]),
            alerts_firing: registry.gauges(ALERTS_FIRING, &["severity"]),
            active_workflows: gauge(ACTIVE_WORKFLOWS),
            active_routines: gauge(ACTIVE_ROUTINES),
            pending_approvals: gauge(PENDING_APPROVALS),
        };
        for status in OUTCOMES {
            metrics.workflow_executions.handle(&[status]);
        }
        for kind in ENGINE_ERRORS {
            metrics.errors.handle(&[kind]);
        }
        for severity in [wire::Severity::Warning, wire::Severity::Critical] {
            metrics.alerts_firing.handle(&[severity.as_str()]);
        }
        metrics
    }
}

impl Observer for EngineMetrics {
    fn observe(&self, event: &Event, model: &Model) {
        let at = event.at.timestamp_millis();
        let workflow_of = |run_id| {
            model
                .runs
                .get(&run_id)
                .map_or("unknown", |r| &*r.workflow_id)
        };
        let step = |run_id, step_id: &str, status: &str| {
            self.step_executions
                .with(&[workflow_of(run_id), step_id, status], |c| {
                    c.increment_at(1, at)
                });
        };
        let attempt = |run_id, step_id: &str, secs: f64| {
            self.step_duration
                .with(&[workflow_of(run_id), step_id], |h| h.record_at(secs, at));
        };
        let error = |kind: &str| self.errors.with(&[kind], |c| c.increment_at(1, at));
        let active = || self.active_workflows.set_at(model.runs.active() as f64, at);
        let finished = |run_id, status: &str, secs: Option<f64>| {
            self.workflow_executions
                .with(&[status], |c| c.increment_at(1, at));
            if let Some(secs) = secs {
                self.workflow_duration
                    .with(&[workflow_of(run_id)], |h| h.record_at(secs, at));
            }
            active();
        };
        match &event.kind {
            EventKind::RunCreated { .. } => active(),
            EventKind::StepRetrying {
                run_id,
                step_id,
                duration_secs,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                self.step_retries
                    .with(&[workflow_of(*run_id), step_id], |c| c.increment_at(1, at));
                error("step_attempt_failed");
            }
            EventKind::StepCompleted {
                run_id,
                step_id,
                duration_secs,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                step(*run_id, step_id, "success");
            }
            EventKind::StepFailed {
                run_id,
                step_id,
                duration_secs,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                step(*run_id, step_id, "failure");
                error("step_failed");
            }
            EventKind::StepSkipped {
                run_id, step_id, ..
            } => step(*run_id, step_id, "skipped"),
            EventKind::RunCompleted {
                run_id,
                duration_secs,
            } => finished(*run_id, "success", Some(*duration_secs)),
            EventKind::RunFailed {
                run_id,
                duration_secs,
                ..
            } => {
                finished(*run_id, "failure", Some(*duration_secs));
                error("run_failed");
            }
            EventKind::RunCancelled { run_id, .. } => finished(*run_id, "cancelled", None),
            EventKind::RunInterrupted { run_id, .. } => {
                finished(*run_id, "interrupted", None);
                error("run_interrupted");
            }
            EventKind::JobCreated { .. }
            | EventKind::RunCancelRequested { .. }
            | EventKind::RunStarted { .. }
            | EventKind::StepStarted { .. }
            | EventKind::StepCancelled { .. }
            | EventKind::RoutineFired { .. }
            | EventKind::VoteCast { .. } => {}
            EventKind::RoutineCreated { .. }
            | EventKind::RoutineUpdated { .. }
            | EventKind::RoutineEnabled { .. }
            | EventKind::RoutineDisabled { .. }
            | EventKind::RoutineDeleted { .. }
            | EventKind::ApprovalRequested { .. }
            | EventKind::ApprovalResolved { .. }
            | EventKind::AlertRuleSet { .. } => {}
            EventKind::AlertChanged { .. } => {
                for severity in [wire::Severity::Warning, wire::Severity::Critical] {
                    let firing = model
                        .alerts
                        .instances
                        .values()
                        .filter(|i| i.state == wire::AlertState::Firing && i.severity == severity)
                        .count();
                    self.alerts_firing
                        .with(&[severity.as_str()], |g| g.set_at(firing as f64, at));
                }
            }
        }
        if event.kind.moves_routines_or_approvals() {
            self.active_routines
                .set_at(model.routines.enabled() as f64, at);
            self.pending_approvals
                .set_at(model.approvals.pending() as f64, at);
        }
    }
}
