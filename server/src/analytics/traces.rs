//! Execution traces: a run as a time line of step attempts.

use chrono::{DateTime, Utc};
use wire::{RunStatus, Trace, TraceBottleneck, TraceStep};

use super::critical::critical_path;
use super::durations::round6;
use super::percent;
use crate::runs::{seconds_between, RunState};

/// The trace of `run` as of `now` (which only matters while it runs).
pub fn trace(run: &RunState, now: DateTime<Utc>) -> Trace {
    let mut steps: Vec<TraceStep> = Vec::with_capacity(run.steps.len());
    for s in &run.steps {
        if s.attempts.is_empty() {
            steps.push(TraceStep {
                step_id: s.id.clone(),
                started_at: None,
                completed_at: None,
                duration_secs: None,
                status: s.status.as_str().to_string(),
                attempt: None,
                error: s.error.clone(),
                step_status: s.status,
                depends_on: s.depends_on.clone(),
                queued_secs: None,
                kind: s.kind,
                usage: None,
            });
        }
        for a in &s.attempts {
            steps.push(TraceStep {
                step_id: s.id.clone(),
                started_at: Some(a.started_at),
                completed_at: a.completed_at,
                duration_secs: a.duration_secs.map(round6),
                status: a.status.as_str().to_string(),
                attempt: Some(a.attempt),
                error: a.error.clone(),
                step_status: s.status,
                depends_on: s.depends_on.clone(),
                queued_secs: a.queued_secs.map(round6),
                kind: s.kind,
                usage: a.usage.clone(),
            });
        }
    }
    // In time order; steps never attempted last, in plan order.
    steps.sort_by_key(|s| (s.started_at.is_none(), s.started_at));

    let running = !run.status.is_terminal();
    let duration = match (run.duration_secs, run.started_at) {
        (Some(d), _) => Some(d),
        (None, Some(start)) if running => Some(seconds_between(start, now)),
        _ => None,
    };
    let bottleneck = duration.and_then(|total| {
        run.steps
            .iter()
            .filter_map(|s| s.duration_secs().map(|d| (d, s)))
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.id.cmp(&a.1.id)))
            .map(|(d, s)| TraceBottleneck {
                step_id: s.id.clone(),
                duration_secs: round6(d),
                percentage_of_total: percent(d, total).min(100.0),
            })
    });
    Trace {
        run_id: run.run_id.to_string(),
        workflow_id: run.workflow_id.to_string(),
        job_name: run.job_name.to_string(),
        started_at: run.started_at,
        completed_at: run.completed_at,
        duration_secs: duration.map(round6),
        status: run.status,
        progress: run.progress(),
        steps,
        bottleneck,
        critical_path: match run.status {
            RunStatus::Completed => critical_path(run)
                .unwrap_or_default()
                .into_iter()
                .map(|i| run.steps[i].id.clone())
                .collect(),
            _ => Vec::new(),
        },
        created_by: run.created_by.as_deref().map(str::to_string),
        cancelled_by: run.cancelled_by.as_deref().map(str::to_string),
        approval_wait_secs: approval_wait(run, now).map(round6),
        budget: run.budget.clone().map(Into::into),
        cost_usd: run.cost_usd(),
        trace_id: Some(run.trace_id()),
    }
}

/// Time the run's approval steps waited for people, summed (so far, for
/// those still waiting); `None` without an approval step.
fn approval_wait(run: &RunState, now: DateTime<Utc>) -> Option<f64> {
    run.steps
        .iter()
        .filter(|s| s.kind.is_approval())
        .flat_map(|s| &s.attempts)
        .map(|a| {
            a.duration_secs
                .unwrap_or_else(|| seconds_between(a.started_at, a.completed_at.unwrap_or(now)))
        })
        .reduce(|a, b| a + b)
}
