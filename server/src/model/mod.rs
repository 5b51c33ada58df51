//! The engine's state as a fold over its events: jobs, runs, routines,
//! approvals, alert states and the analytics' bounded sketches. The same
//! `apply` runs live and during replay at start-up, so what the API shows
//! after a restart is what it showed before.
//!
//! The layers read downwards only: `runs` (each run's fold) is below
//! `analytics` and the alert book, which read it; [`Model`] composes them;
//! the journal owns the model; the engine, alert evaluation, health and the
//! live-updates hub read it through the journal.

mod alerts;
mod approvals;
mod audit;
mod jobs;
mod routines;

pub use alerts::{AlertBook, HISTORY as ALERT_HISTORY};
pub use approvals::{ApprovalState, Approvals, KEPT_RESOLVED};
pub use audit::Audit;
pub use jobs::{JobEntry, Jobs, KEPT_JOBS};
pub use routines::{RoutineState, Routines};

use crate::analytics::Analytics;
use crate::events::{Event, EventKind};
use crate::runs::Runs;
use crate::store::IndexRow;

/// Finished executions by outcome, for health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecutionCounts {
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub interrupted: u64,
}

#[derive(Default)]
pub struct Model {
    pub jobs: Jobs,
    pub runs: Runs,
    pub executions: ExecutionCounts,
    pub analytics: Analytics,
    pub routines: Routines,
    pub approvals: Approvals,
    pub alerts: AlertBook,
    pub audit: Audit,
}

impl Model {
    pub fn with_recent_runs(keep_full: usize) -> Self {
        Self {
            runs: Runs::new(keep_full),
            ..Self::default()
        }
    }

    /// Alert rules in force before the log's own rule changes are replayed.
    pub fn with_alert_rules(mut self, rules: Vec<wire::AlertRule>) -> Self {
        self.alerts = AlertBook::with_rules(rules);
        self
    }

    /// Rows for the store's read index made by the events applied since
    /// the last call: the journal commits them with those events.
    pub fn drain_index(&mut self, out: &mut Vec<IndexRow>) {
        self.runs.drain_index(out);
        self.jobs.drain_index(out);
        self.approvals.drain_index(out);
    }

    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::JobCreated { .. } => self.jobs.apply(event),
            EventKind::RunCreated { job_id, run_id, .. } => {
                self.jobs.record_run(*job_id, *run_id);
                self.runs.apply(event);
            }
            kind => {
                match kind {
                    EventKind::RunCompleted { .. } => self.executions.completed += 1,
                    EventKind::RunFailed { .. } => self.executions.failed += 1,
                    EventKind::RunCancelled { .. } => self.executions.cancelled += 1,
                    EventKind::RunInterrupted { .. } => self.executions.interrupted += 1,
                    _ => {}
                }
                self.runs.apply(event);
            }
        }
        // After the runs, so the analytics see the run's state with this event.
        self.analytics.apply(event, &self.runs);
        self.routines.apply(event);
        match &event.kind {
            EventKind::RoutineCreated {
                routine_id, job_id, ..
            }
            | EventKind::RoutineUpdated {
                routine_id, job_id, ..
            } => {
                self.jobs.pin(*job_id);
                let workflow = self.jobs.get(job_id).map(|j| &*j.workflow_id);
                self.routines.know_workflow(routine_id, workflow);
            }
            EventKind::RoutineFired { run_id, .. } => {
                self.routines.run_status(*run_id, self.runs.status(run_id))
            }
            kind => {
                if let Some(run_id) = kind.run_id() {
                    // A fire's run keeps its status in the routine's history.
                    self.routines.run_status(run_id, self.runs.status(&run_id));
                }
            }
        }
        self.approvals.apply(event);
        self.audit.apply(event);
        if let EventKind::ApprovalRequested {
            approval_id,
            run_id,
            ..
        } = &event.kind
        {
            if let Some(run) = self.runs.get(run_id) {
                let (workflow, job) = (run.workflow_id.clone(), run.job_name.clone());
                self.approvals.name(approval_id, workflow, job);
            }
        }
        self.alerts.apply(event, &self.runs);
    }
}
