//! Picking a run up where the process that ran it stopped.
//!
//! The log says how far a run got. Completed steps stay completed; an
//! attempt that was in flight when its process died is recorded as failed
//! with [`NODE_LOST`] (or [`NODE_STOPPED`], after a shutdown) and retried
//! under its step's retry policy, with the next attempt number; an approval
//! step waits again for the question it asked, with the votes cast so far.
//! A run that cannot go on like that ends as it did before there was a
//! resume: interrupted, or cancelled if a cancel was asked for. That is the
//! case when an attempt in flight had no retry left (running it again
//! could do twice what the step's author asked to be done once).

use std::time::Instant;

use chrono::{DateTime, Utc};
use wire::{AttemptStatus, StepAction, StepStatus};

use super::approvals::Asked;
use super::plan::Plan;
use crate::events::records::ApprovalStatus;
use crate::events::EventKind;
use crate::model::Model;
use crate::runs::{seconds_between, RunState};

/// The error of an attempt whose process died under it.
pub const NODE_LOST: &str = "node lost";

/// The error of an attempt its process stopped for a shutdown.
pub const NODE_STOPPED: &str = "node stopped";

/// Where one step stands when its run is picked up.
#[derive(Debug)]
pub(crate) enum StepPoint {
    /// Not started: starts once its dependencies have completed.
    Waiting,
    /// Starts again with this attempt number.
    Attempt(u32),
    /// An approval step, waiting for the question it asked (at `since`).
    Approval(Asked, DateTime<Utc>),
    Completed,
    Failed(String),
    Skipped,
}

/// How a run goes on.
#[derive(Debug)]
pub(crate) struct ResumePoint {
    /// `None`: it never started.
    pub started_at: Option<DateTime<Utc>>,
    /// By the plan's step index.
    pub steps: Vec<StepPoint>,
    /// What its agent calls have cost so far.
    pub spent_usd: f64,
    /// The times approvers let it spend its budget again.
    pub approved_asks: u32,
    /// The last question its spent budget asked, unless approved: its held
    /// steps wait for that answer instead of asking again.
    pub budget_ask: Option<Asked>,
    /// The attempts in flight, ended as failed: published before it goes on.
    pub lost: Vec<EventKind>,
}

/// How `run` goes on under `plan`, its attempts in flight ended as lost at
/// `lost_at` (`why`: [`NODE_LOST`] or [`NODE_STOPPED`]); `None` if it
/// cannot.
pub(crate) fn assess(
    run: &RunState,
    plan: &Plan,
    model: &Model,
    lost_at: DateTime<Utc>,
    why: &str,
) -> Option<ResumePoint> {
    if run.cancel_requested || run.steps.len() != plan.steps.len() {
        return None;
    }
    let mut lost = Vec::new();
    let mut steps = Vec::with_capacity(plan.steps.len());
    for spec in &plan.steps {
        let step = run.steps.iter().find(|s| s.id == spec.id)?;
        let last = step.attempts.last();
        let point = match step.status {
            StepStatus::Pending => StepPoint::Waiting,
            StepStatus::Completed => StepPoint::Completed,
            StepStatus::Failed => StepPoint::Failed(step.error.clone().unwrap_or_default()),
            StepStatus::Skipped => StepPoint::Skipped,
            StepStatus::Cancelled | StepStatus::Interrupted => return None,
            // Between two attempts: the backoff has passed, or nearly.
            StepStatus::Retrying => {
                let next = last?.attempt + 1;
                if next >= spec.max_attempts() {
                    return None;
                }
                StepPoint::Attempt(next)
            }
            StepStatus::Running => match &spec.action {
                StepAction::ManualApproval { .. } => {
                    let approval = model.approvals.values().rev().find(|a| {
                        a.run_id == run.run_id && a.step_id == spec.id && a.reason.is_none()
                    })?;
                    StepPoint::Approval(Asked::of(approval), step.started_at()?)
                }
                StepAction::AgentTask { .. } => {
                    let last = last?;
                    if last.attempt + 1 >= spec.max_attempts() {
                        return None;
                    }
                    if last.status == AttemptStatus::Running {
                        lost.push(EventKind::StepRetrying {
                            run_id: run.run_id,
                            step_id: spec.id.clone(),
                            attempt: last.attempt,
                            error: why.to_string(),
                            timed_out: false,
                            duration_secs: seconds_between(last.started_at, lost_at),
                            backoff_secs: 0.0,
                            usage: None,
                        });
                    }
                    StepPoint::Attempt(last.attempt + 1)
                }
            },
        };
        steps.push(point);
    }
    let spent_usd = run.cost_usd().unwrap_or(0.0);
    let approved_asks = run
        .budget_asks
        .iter()
        .filter(|a| a.status == ApprovalStatus::Approved)
        .count() as u32;
    let budget_ask = run
        .budget_asks
        .last()
        .filter(|a| a.status != ApprovalStatus::Approved)
        .and_then(|a| model.approvals.get(&a.approval_id))
        .map(Asked::of);
    Some(ResumePoint {
        started_at: run.started_at,
        steps,
        spent_usd,
        approved_asks,
        budget_ask,
        lost,
    })
}

/// The instant that was `at`, for timing what began before this process.
pub(crate) fn instant_of(at: DateTime<Utc>) -> Instant {
    let ago = (Utc::now() - at).to_std().unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}
