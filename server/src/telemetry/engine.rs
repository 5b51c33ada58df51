//! Metrics derived from engine events. Applied live and during replay, so
//! execution counters and duration histograms survive a restart.

use std::sync::Arc;

use super::cells::{CounterCell, FloatCounterCell, GaugeCell, HistogramCell};
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
    token_usage: Arc<Family<HistogramCell>>,
    operation_duration: Arc<Family<HistogramCell>>,
    llm_cost: Arc<Family<FloatCounterCell>>,
    llm_tokens: Arc<Family<CounterCell>>,
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
            token_usage: registry.histograms(
                GEN_AI_TOKEN_USAGE,
                &[
                    "gen_ai_token_type",
                    "gen_ai_request_model",
                    "gen_ai_provider_name",
                ],
            ),
            operation_duration: registry.histograms(
                GEN_AI_OPERATION_DURATION,
                &["gen_ai_request_model", "gen_ai_provider_name", "error_type"],
            ),
            llm_cost: registry.float_counters(LLM_COST, &["workflow_id", "model"]),
            llm_tokens: registry.counters(LLM_TOKENS, &["workflow_id", "step_id", "type"]),
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

/// Engine metrics of every node's events, not only this node's: the
/// cluster's figures, for the API's JSON and the dashboard (see
/// [`super::MetricsView`]).
pub struct EveryNode(pub EngineMetrics);

impl Observer for EveryNode {
    fn observe(&self, event: &Event, model: &Model) {
        self.0.observe(event, model);
    }

    fn observe_foreign(&self, event: &Event, model: &Model) {
        self.0.observe(event, model);
    }
}

/// The conventions' `error.type` of a failed call: `timeout`, or `_OTHER`
/// (their word for a failure of no known class).
fn error_type(timed_out: bool) -> &'static str {
    if timed_out {
        "timeout"
    } else {
        "_OTHER"
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
        // An agent call: its duration by model (with the error's type when
        // it failed), and for a completed one its tokens and cost.
        let call = |run_id,
                    step_id: &str,
                    usage: &Option<crate::events::records::Usage>,
                    secs: f64,
                    error_type: &str| {
            let Some(u) = usage else { return };
            let (model, provider) = (u.model.as_str(), u.provider.as_str());
            self.operation_duration
                .with(&[model, provider, error_type], |h| h.record_at(secs, at));
            for (kind, n) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                let Some(n) = n else { continue };
                self.token_usage
                    .with(&[kind, model, provider], |h| h.record_at(n as f64, at));
                self.llm_tokens
                    .with(&[workflow_of(run_id), step_id, kind], |c| {
                        c.increment_at(n, at)
                    });
            }
            if let Some(cost) = u.cost_usd {
                self.llm_cost
                    .with(&[workflow_of(run_id), model], |c| c.increment_at(cost, at));
            }
        };
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
            EventKind::RunClaimed { .. } => {}
            EventKind::StepRetrying {
                run_id,
                step_id,
                duration_secs,
                usage,
                timed_out,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                call(
                    *run_id,
                    step_id,
                    usage,
                    *duration_secs,
                    error_type(*timed_out),
                );
                self.step_retries
                    .with(&[workflow_of(*run_id), step_id], |c| c.increment_at(1, at));
                error("step_attempt_failed");
            }
            EventKind::StepCompleted {
                run_id,
                step_id,
                duration_secs,
                usage,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                call(*run_id, step_id, usage, *duration_secs, "");
                step(*run_id, step_id, "success");
            }
            EventKind::StepFailed {
                run_id,
                step_id,
                duration_secs,
                usage,
                timed_out,
                ..
            } => {
                attempt(*run_id, step_id, *duration_secs);
                call(
                    *run_id,
                    step_id,
                    usage,
                    *duration_secs,
                    error_type(*timed_out),
                );
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
