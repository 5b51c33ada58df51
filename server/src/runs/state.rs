//! One run's full state, folded from its events: every step and every
//! attempt, and the views the API gives of them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{AttemptStatus, AttemptView, RunStatus, RunView, StepKind, StepRunView, StepStatus};

use super::Interner;
use crate::events::records::{ApprovalStatus, Budget, TraceParent, Usage};
use crate::events::{Event, EventKind};

/// Full state of one run: every step and every attempt.
#[derive(Clone, Debug)]
pub struct RunState {
    pub run_id: Ulid,
    pub job_id: Ulid,
    pub job_name: Arc<str>,
    pub workflow_id: Arc<str>,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    pub error: Option<String>,
    pub steps: Vec<StepState>,
    /// A cancel was asked for (and committed); it ends cancelled even if
    /// its process dies first.
    pub cancel_requested: bool,
    /// Who started it and who asked to cancel it (the audit's names;
    /// `None` in logs older than the audit).
    pub created_by: Option<Arc<str>>,
    pub cancelled_by: Option<Arc<str>>,
    pub budget: Option<Budget>,
    /// Each time its spent budget made it ask to spend more.
    pub budget_asks: Vec<BudgetAsk>,
    /// The caller's trace, when the run was asked for inside one.
    pub trace: Option<Box<TraceParent>>,
    /// The server of a cluster that runs it (`None`: a server alone).
    pub node: Option<Arc<str>>,
}

/// A question a run asked because its budget was spent.
#[derive(Clone, Debug)]
pub struct BudgetAsk {
    pub approval_id: Ulid,
    /// The agent step it held back.
    pub step_id: String,
    pub asked_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub status: ApprovalStatus,
}

#[derive(Clone, Debug)]
pub struct StepState {
    pub id: String,
    pub name: String,
    pub role: String,
    pub depends_on: Vec<String>,
    pub status: StepStatus,
    pub attempts: Vec<AttemptView>,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub error: Option<String>,
    /// Known once it asks for approval.
    pub kind: StepKind,
}

impl StepState {
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.attempts.first().map(|a| a.started_at)
    }

    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        if self.status.is_terminal() {
            self.attempts.last().and_then(|a| a.completed_at)
        } else {
            None
        }
    }

    /// The time its attempts waited for a concurrency slot, summed; `None`
    /// when none of them says (approvals, older logs).
    pub fn queued_secs(&self) -> Option<f64> {
        self.attempts
            .iter()
            .filter_map(|a| a.queued_secs)
            .reduce(|a, b| a + b)
    }

    /// First attempt's start to last attempt's end, backoffs included.
    pub fn duration_secs(&self) -> Option<f64> {
        Some(seconds_between(self.started_at()?, self.completed_at()?))
    }

    fn end_attempt(
        &mut self,
        attempt: u32,
        status: AttemptStatus,
        at: DateTime<Utc>,
        duration_secs: Option<f64>,
        error: Option<String>,
    ) {
        if let Some(a) = self
            .attempts
            .iter_mut()
            .rev()
            .find(|a| a.attempt == attempt)
        {
            a.status = status;
            a.completed_at = Some(at);
            a.duration_secs = duration_secs.or_else(|| Some(seconds_between(a.started_at, at)));
            a.error = error;
        }
    }

    /// What the attempt that just ended used: for a failed call, the
    /// provider and model it went to (its counts are unknown).
    fn used(&mut self, usage: Option<&Usage>) {
        if let (Some(u), Some(a)) = (usage, self.attempts.last_mut()) {
            a.usage = Some(u.into());
        }
    }

    fn view(&self) -> StepRunView {
        StepRunView {
            step_id: self.id.clone(),
            name: self.name.clone(),
            role: self.role.clone(),
            depends_on: self.depends_on.clone(),
            status: self.status,
            attempts: self.attempts.clone(),
            started_at: self.started_at(),
            completed_at: self.completed_at(),
            duration_secs: self.duration_secs(),
            output: self.output.clone(),
            output_truncated: self.output_truncated,
            error: self.error.clone(),
            kind: self.kind,
        }
    }
}

/// A run's trace id: its caller's, or one of its own whose 128 bits are the
/// run's ULID (so that it needs no storing and sorts by time as runs do).
pub fn trace_id(run_id: ulid::Ulid, caller: Option<&str>) -> String {
    match caller {
        Some(t) => t.to_string(),
        None => format!("{:032x}", run_id.0),
    }
}

pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
}

impl RunState {
    /// A run as its `RunCreated` event describes it, or `None` for any other event.
    pub fn created(event: &Event, interner: &mut Interner) -> Option<Self> {
        let EventKind::RunCreated {
            run_id,
            job_id,
            workflow_id,
            job_name,
            steps,
            actor,
            budget,
            trace,
            node,
        } = &event.kind
        else {
            return None;
        };
        Some(RunState {
            run_id: *run_id,
            job_id: *job_id,
            job_name: interner.intern(job_name),
            workflow_id: interner.intern(workflow_id),
            status: RunStatus::Pending,
            created_at: event.at,
            started_at: None,
            completed_at: None,
            duration_secs: None,
            error: None,
            cancel_requested: false,
            created_by: actor.as_deref().map(|a| interner.intern(a)),
            cancelled_by: None,
            budget: budget.clone(),
            budget_asks: Vec::new(),
            trace: trace.clone().map(Box::new),
            node: node.as_deref().map(|n| interner.intern(n)),
            steps: steps
                .iter()
                .map(|s| StepState {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    role: s.role.clone(),
                    depends_on: s.depends_on.clone(),
                    status: StepStatus::Pending,
                    attempts: Vec::new(),
                    output: None,
                    output_truncated: false,
                    error: None,
                    kind: StepKind::AgentTask,
                })
                .collect(),
        })
    }

    /// Rebuilds a run from its events, in log order (used for runs no longer
    /// held in memory).
    pub fn fold(events: &[Event]) -> Option<Self> {
        let mut interner = Interner::default();
        let mut run = RunState::created(events.first()?, &mut interner)?;
        for event in &events[1..] {
            run.apply(event);
        }
        Some(run)
    }

    pub fn step_mut(&mut self, step_id: &str) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|s| s.id == step_id)
    }

    /// The first step running (or waiting to retry) now.
    pub fn current_step(&self) -> Option<String> {
        self.steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Running | StepStatus::Retrying))
            .map(|s| s.id.clone())
    }

    pub fn finished_steps(&self) -> usize {
        self.steps.iter().filter(|s| s.status.is_terminal()).count()
    }

    pub fn progress(&self) -> f64 {
        progress(self.finished_steps(), self.steps.len())
    }

    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::RunStarted { .. } => {
                self.status = RunStatus::Running;
                self.started_at = Some(at);
            }
            EventKind::StepStarted {
                step_id,
                attempt,
                queued_secs,
                ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    step.status = StepStatus::Running;
                    step.attempts.push(AttemptView {
                        attempt: *attempt,
                        status: AttemptStatus::Running,
                        started_at: at,
                        completed_at: None,
                        duration_secs: None,
                        error: None,
                        queued_secs: *queued_secs,
                        usage: None,
                    });
                }
            }
            EventKind::StepRetrying {
                step_id,
                attempt,
                error,
                timed_out,
                duration_secs,
                usage,
                ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    let status = attempt_failure(*timed_out);
                    step.end_attempt(
                        *attempt,
                        status,
                        at,
                        Some(*duration_secs),
                        Some(error.clone()),
                    );
                    step.used(usage.as_ref());
                    step.status = StepStatus::Retrying;
                    step.error = Some(error.clone());
                }
            }
            EventKind::StepCompleted {
                step_id,
                attempt,
                duration_secs,
                output,
                output_truncated,
                usage,
                ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    step.end_attempt(
                        *attempt,
                        AttemptStatus::Completed,
                        at,
                        Some(*duration_secs),
                        None,
                    );
                    step.used(usage.as_ref());
                    step.status = StepStatus::Completed;
                    step.output = Some(output.clone());
                    step.output_truncated = *output_truncated;
                    step.error = None;
                }
            }
            EventKind::StepFailed {
                step_id,
                attempt,
                error,
                timed_out,
                duration_secs,
                usage,
                ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    let status = attempt_failure(*timed_out);
                    step.end_attempt(
                        *attempt,
                        status,
                        at,
                        Some(*duration_secs),
                        Some(error.clone()),
                    );
                    step.used(usage.as_ref());
                    step.status = StepStatus::Failed;
                    step.error = Some(error.clone());
                }
            }
            EventKind::StepSkipped {
                step_id, reason, ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    step.status = StepStatus::Skipped;
                    step.error = Some(reason.clone());
                }
            }
            EventKind::StepCancelled {
                step_id,
                attempt,
                duration_secs,
                ..
            } => {
                if let Some(step) = self.step_mut(step_id) {
                    if let Some(attempt) = attempt {
                        step.end_attempt(
                            *attempt,
                            AttemptStatus::Cancelled,
                            at,
                            *duration_secs,
                            None,
                        );
                    }
                    step.status = StepStatus::Cancelled;
                }
            }
            EventKind::RunCompleted { duration_secs, .. } => {
                self.finish(RunStatus::Completed, at, Some(*duration_secs), None)
            }
            EventKind::RunFailed {
                duration_secs,
                error,
                ..
            } => self.finish(
                RunStatus::Failed,
                at,
                Some(*duration_secs),
                Some(error.clone()),
            ),
            EventKind::RunCancelRequested { actor, .. } => {
                self.cancel_requested = true;
                self.cancelled_by = actor.as_deref().map(Arc::from);
            }
            EventKind::RunClaimed { node, .. } => self.node = Some(Arc::from(node.as_str())),
            EventKind::RunCancelled {
                duration_secs,
                stopped_at,
                ..
            } => {
                // Normally each step was cancelled by its own event; after a
                // crash the leftovers end here, at the stop.
                let at = stopped_at.map_or(at, |s| s.min(at));
                self.close_open_steps(StepStatus::Cancelled, AttemptStatus::Cancelled, at);
                let at = self.started_at.map_or(at, |s| at.max(s));
                self.finish(RunStatus::Cancelled, at, Some(*duration_secs), None)
            }
            EventKind::RunInterrupted { stopped_at, .. } => {
                // The run ended when its process stopped, not when a later
                // one noticed: downtime is no part of it.
                let at = stopped_at.map_or(at, |s| s.min(at));
                self.close_open_steps(StepStatus::Interrupted, AttemptStatus::Interrupted, at);
                let at = self.started_at.map_or(at, |s| at.max(s));
                let duration = self.started_at.map(|s| seconds_between(s, at));
                self.finish(
                    RunStatus::Interrupted,
                    at,
                    duration,
                    Some("the server stopped while this run was in flight".into()),
                );
            }
            EventKind::ApprovalRequested {
                approval_id,
                step_id,
                reason,
                ..
            } => match reason {
                None => {
                    if let Some(step) = self.step_mut(step_id) {
                        step.kind = StepKind::ManualApproval;
                    }
                }
                // It holds an agent step back, which stays one.
                Some(_) => self.budget_asks.push(BudgetAsk {
                    approval_id: *approval_id,
                    step_id: step_id.clone(),
                    asked_at: at,
                    resolved_at: None,
                    status: ApprovalStatus::Pending,
                }),
            },
            EventKind::ApprovalResolved {
                approval_id,
                status,
                ..
            } => {
                if let Some(ask) = self
                    .budget_asks
                    .iter_mut()
                    .find(|a| a.approval_id == *approval_id)
                {
                    ask.status = *status;
                    ask.resolved_at = Some(at);
                }
            }
            // Jobs, routines and approvals have their own registries.
            _ => {}
        }
    }

    /// The event that ends this run when its process stops at `stopped`:
    /// cancelled if a cancel was asked for, else interrupted. `record_stop`
    /// writes the stop's time into the event (for an ending written later,
    /// at the next start).
    pub fn ending(&self, stopped: DateTime<Utc>, record_stop: bool) -> EventKind {
        let stopped_at = record_stop.then_some(stopped);
        if self.cancel_requested {
            EventKind::RunCancelled {
                run_id: self.run_id,
                duration_secs: self.started_at.map_or(0.0, |s| seconds_between(s, stopped)),
                stopped_at,
            }
        } else {
            EventKind::RunInterrupted {
                run_id: self.run_id,
                stopped_at,
            }
        }
    }

    /// Ends every step not yet ended, and its running attempt, at `at`.
    fn close_open_steps(&mut self, step: StepStatus, attempt: AttemptStatus, at: DateTime<Utc>) {
        for s in &mut self.steps {
            if s.status.is_terminal() {
                continue;
            }
            s.status = step;
            for a in &mut s.attempts {
                if a.status == AttemptStatus::Running {
                    a.status = attempt;
                    a.completed_at = Some(at.max(a.started_at));
                    a.duration_secs = Some(seconds_between(a.started_at, at));
                }
            }
        }
    }

    fn finish(
        &mut self,
        status: RunStatus,
        at: DateTime<Utc>,
        duration_secs: Option<f64>,
        error: Option<String>,
    ) {
        self.status = status;
        self.completed_at = Some(at);
        self.duration_secs = duration_secs;
        self.error = error;
    }

    pub fn view(&self) -> RunView {
        RunView {
            run_id: self.run_id.to_string(),
            job_id: self.job_id.to_string(),
            job_name: self.job_name.to_string(),
            workflow_id: self.workflow_id.to_string(),
            status: self.status,
            created_at: self.created_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            duration_secs: self.duration_secs,
            progress: self.progress(),
            error: self.error.clone(),
            steps: self.steps.iter().map(StepState::view).collect(),
            created_by: self.created_by.as_deref().map(str::to_string),
            cancelled_by: self.cancelled_by.as_deref().map(str::to_string),
            budget: self.budget.clone().map(Into::into),
            cost_usd: self.cost_usd(),
            trace_id: Some(self.trace_id()),
            node: self.node.as_deref().map(str::to_string),
        }
    }

    /// The OpenTelemetry trace the run belongs to: its caller's, or one of
    /// its own whose 128 bits are the run's ULID (so that it needs no
    /// storing and sorts by time as the runs do).
    pub fn trace_id(&self) -> String {
        trace_id(self.run_id, self.trace.as_deref().map(|t| &*t.trace_id))
    }

    /// What the run's priced agent calls have cost, or `None` if none is.
    pub fn cost_usd(&self) -> Option<f64> {
        self.steps
            .iter()
            .flat_map(|s| &s.attempts)
            .filter_map(|a| a.usage.as_ref()?.cost_usd)
            .reduce(|a, b| a + b)
            .map(|c| (c * 1e8).round() / 1e8)
    }
}

fn attempt_failure(timed_out: bool) -> AttemptStatus {
    if timed_out {
        AttemptStatus::TimedOut
    } else {
        AttemptStatus::Failed
    }
}

/// Percentage of finished steps, two decimals.
pub fn progress(finished: usize, total: usize) -> f64 {
    if total == 0 {
        return 100.0;
    }
    (finished as f64 * 10_000.0 / total as f64).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PlannedStep;
    use chrono::Duration;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::milliseconds(ms)
    }

    /// A run of steps `a` → `b`, folded from `kinds` at the given times.
    fn fold(kinds: Vec<(i64, EventKind)>) -> RunState {
        let run_id = Ulid(7);
        let created = EventKind::RunCreated {
            run_id,
            job_id: Ulid(1),
            workflow_id: "w".into(),
            job_name: "W".into(),
            steps: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, id)| PlannedStep {
                    id: id.to_string(),
                    name: id.to_string(),
                    role: "r".into(),
                    depends_on: if i == 0 { vec![] } else { vec!["a".into()] },
                })
                .collect(),
            actor: None,
            budget: None,
            trace: None,
            node: None,
        };
        let events: Vec<Event> = std::iter::once((0, created))
            .chain(kinds)
            .enumerate()
            .map(|(i, (ms, kind))| Event {
                seq: i as u64 + 1,
                at: t(ms),
                kind,
            })
            .collect();
        RunState::fold(&events).unwrap()
    }

    fn started(step: &str, attempt: u32) -> EventKind {
        EventKind::StepStarted {
            run_id: Ulid(7),
            step_id: step.into(),
            attempt,
            queued_secs: None,
        }
    }

    #[test]
    fn a_retried_step_keeps_each_attempt_and_its_time_spans_them_all() {
        let run = fold(vec![
            (0, EventKind::RunStarted { run_id: Ulid(7) }),
            (10, started("a", 0)),
            (
                30,
                EventKind::StepRetrying {
                    run_id: Ulid(7),
                    step_id: "a".into(),
                    attempt: 0,
                    error: "boom".into(),
                    timed_out: false,
                    duration_secs: 0.02,
                    backoff_secs: 0.05,
                    usage: None,
                },
            ),
            (80, started("a", 1)),
            (
                100,
                EventKind::StepCompleted {
                    run_id: Ulid(7),
                    step_id: "a".into(),
                    attempt: 1,
                    duration_secs: 0.02,
                    output: "ok".into(),
                    output_truncated: false,
                    usage: None,
                },
            ),
        ]);
        let a = &run.steps[0];
        assert_eq!(a.status, StepStatus::Completed);
        assert_eq!(a.attempts.len(), 2);
        assert_eq!(a.attempts[0].status, AttemptStatus::Failed);
        assert_eq!(a.error, None, "a later success clears the error");
        assert_eq!(a.duration_secs(), Some(0.09), "first start to last end");
        assert_eq!(run.progress(), 50.0);
        assert_eq!(run.current_step(), None);
    }

    #[test]
    fn an_interrupted_run_ends_at_its_stop_and_a_cancelled_one_closes_what_was_open() {
        let running = || {
            vec![
                (0, EventKind::RunStarted { run_id: Ulid(7) }),
                (10, started("a", 0)),
            ]
        };
        // Interrupted at the next start (t = 10 s), as of the last event (t = 10 ms).
        let mut kinds = running();
        kinds.push((
            10_000,
            EventKind::RunInterrupted {
                run_id: Ulid(7),
                stopped_at: Some(t(10)),
            },
        ));
        let run = fold(kinds);
        assert_eq!(run.status, RunStatus::Interrupted);
        assert_eq!(run.completed_at, Some(t(10)));
        assert_eq!(run.duration_secs, Some(0.01));
        assert_eq!(run.steps[0].attempts[0].status, AttemptStatus::Interrupted);
        assert_eq!(run.steps[1].status, StepStatus::Interrupted);
        // A committed cancel, then a crash: the next start ends it cancelled.
        let mut kinds = running();
        kinds.push((
            20,
            EventKind::RunCancelRequested {
                run_id: Ulid(7),
                actor: Some("olga".into()),
            },
        ));
        let before = fold(kinds.clone());
        assert!(before.cancel_requested);
        assert_eq!(before.cancelled_by.as_deref(), Some("olga"));
        let ending = before.ending(t(20), true);
        assert!(matches!(
            ending,
            EventKind::RunCancelled {
                stopped_at: Some(_),
                ..
            }
        ));
        kinds.push((10_000, ending));
        let run = fold(kinds);
        assert_eq!(run.status, RunStatus::Cancelled);
        assert_eq!(run.completed_at, Some(t(20)));
        assert_eq!(run.steps[0].status, StepStatus::Cancelled);
        assert_eq!(run.steps[0].attempts[0].completed_at, Some(t(20)));
        assert_eq!(run.steps[1].status, StepStatus::Cancelled);
        assert_eq!(run.progress(), 100.0);
    }
}
