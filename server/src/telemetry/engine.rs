//! Metrics derived from engine events. Applied live and during replay, so
//! execution counters and duration histograms survive a restart.

use std::sync::Arc;

use metrics::{counter, gauge, histogram};

use super::names::*;
use super::{clock, Registry};
use crate::events::{Event, EventKind};
use crate::journal::Observer;
use crate::model::Model;

pub struct EngineMetrics {
    registry: Arc<Registry>,
}

impl EngineMetrics {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

impl Observer for EngineMetrics {
    fn observe(&self, event: &Event, model: &Model) {
        metrics::with_local_recorder(&*self.registry, || {
            clock::at(event.at, || record(event, model))
        });
    }
}

fn record(event: &Event, model: &Model) {
    let workflow_of = |run_id| {
        model
            .runs
            .get(&run_id)
            .map_or_else(|| "unknown".to_string(), |r| r.workflow_id.to_string())
    };
    let step = |run_id, step_id: &str, status: &'static str| {
        counter!(STEP_EXECUTIONS, "workflow_id" => workflow_of(run_id), "step_id" => step_id.to_string(), "status" => status)
            .increment(1);
    };
    let attempt = |run_id, step_id: &str, secs: f64| {
        histogram!(STEP_DURATION, "workflow_id" => workflow_of(run_id), "step_id" => step_id.to_string())
            .record(secs);
    };
    let finished = |run_id, status: &'static str, secs: Option<f64>| {
        counter!(WORKFLOW_EXECUTIONS, "status" => status).increment(1);
        if let Some(secs) = secs {
            histogram!(WORKFLOW_DURATION, "workflow_id" => workflow_of(run_id)).record(secs);
        }
        gauge!(ACTIVE_WORKFLOWS).set(model.runs.active() as f64);
    };
    match &event.kind {
        EventKind::RunCreated { .. } => gauge!(ACTIVE_WORKFLOWS).set(model.runs.active() as f64),
        EventKind::StepRetrying {
            run_id,
            step_id,
            duration_secs,
            ..
        } => {
            attempt(*run_id, step_id, *duration_secs);
            counter!(STEP_RETRIES, "workflow_id" => workflow_of(*run_id), "step_id" => step_id.to_string())
                .increment(1);
            counter!(ERRORS, "kind" => "step_attempt_failed").increment(1);
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
            counter!(ERRORS, "kind" => "step_failed").increment(1);
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
            counter!(ERRORS, "kind" => "run_failed").increment(1);
        }
        EventKind::RunCancelled { run_id, .. } => finished(*run_id, "cancelled", None),
        EventKind::RunInterrupted { run_id, .. } => {
            finished(*run_id, "interrupted", None);
            counter!(ERRORS, "kind" => "run_interrupted").increment(1);
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
                gauge!(ALERTS_FIRING, "severity" => severity.as_str()).set(firing as f64);
            }
        }
    }
    if event.kind.moves_routines_or_approvals() {
        gauge!(ACTIVE_ROUTINES).set(model.routines.enabled() as f64);
        gauge!(PENDING_APPROVALS).set(model.approvals.pending() as f64);
    }
}
