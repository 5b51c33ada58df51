//! The engine's events: one for every state change of a job, run or step.
//!
//! They are the single source of truth. The durable log stores them, and
//! every projection (run registry, metrics, analytics, WebSocket pushes) is a
//! fold over them, live or replayed at start-up. They are the server's own
//! types, records included ([`records`]), never the API's: the log's format
//! is decided here and in `store::format`, not by the wire types.

pub mod records;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use records::{AlertRule, AlertState, ApprovalStatus, Decision, Quorum, Severity, Workflow};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Position in the log: gap-free, strictly increasing.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
}

/// A step as planned when its run was created, so that a run can be rebuilt
/// from its own events alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub id: String,
    pub name: String,
    pub role: String,
    pub depends_on: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    JobCreated {
        job_id: Ulid,
        name: String,
        workflow_id: String,
        description: Option<String>,
        workflow: Workflow,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        /// What each run may spend.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<records::Budget>,
    },
    RunCreated {
        run_id: Ulid,
        job_id: Ulid,
        workflow_id: String,
        job_name: String,
        steps: Vec<PlannedStep>,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
        /// The job's budget when the run was made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<records::Budget>,
        /// The trace its request came in (W3C `traceparent`); without one
        /// the run starts a trace of its own, whose id is the run's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<records::TraceParent>,
        /// The server of a cluster that runs it (its `--node-id`); absent
        /// on a server alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// A server of the cluster took the run over from one whose lease
    /// lapsed: it runs the run from here on.
    RunClaimed {
        run_id: Ulid,
        node: String,
        from: String,
        /// The node that took `from` over and shared its runs out, when
        /// not `node` itself (it gives each node a share in proportion to
        /// its free step slots).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    RunStarted {
        run_id: Ulid,
    },
    StepStarted {
        run_id: Ulid,
        step_id: String,
        attempt: u32,
        /// How long the attempt, ready to run, waited for a concurrency slot
        /// (`--max-concurrent-steps`). Absent for approvals (they take no
        /// slot) and in logs older than the measure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queued_secs: Option<f64>,
    },
    /// Attempt `attempt` failed and another follows after `backoff_secs`.
    StepRetrying {
        run_id: Ulid,
        step_id: String,
        attempt: u32,
        error: String,
        timed_out: bool,
        duration_secs: f64,
        backoff_secs: f64,
        /// The provider and model the failed call went to (no counts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<records::Usage>,
    },
    StepCompleted {
        run_id: Ulid,
        step_id: String,
        attempt: u32,
        duration_secs: f64,
        output: String,
        output_truncated: bool,
        /// What the agent call used, when its backend says (absent in logs
        /// older than the measure).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<records::Usage>,
    },
    /// The last allowed attempt failed: the step has failed.
    StepFailed {
        run_id: Ulid,
        step_id: String,
        attempt: u32,
        error: String,
        timed_out: bool,
        duration_secs: f64,
        /// The provider and model the failed call went to (no counts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<records::Usage>,
    },
    StepSkipped {
        run_id: Ulid,
        step_id: String,
        reason: String,
    },
    /// Cancelled with its run; `attempt` is the attempt that was running, if any.
    StepCancelled {
        run_id: Ulid,
        step_id: String,
        attempt: Option<u32>,
        duration_secs: Option<f64>,
    },
    RunCompleted {
        run_id: Ulid,
        duration_secs: f64,
    },
    RunFailed {
        run_id: Ulid,
        duration_secs: f64,
        error: String,
    },
    /// Someone asked to cancel the run; it stops soon after (`RunCancelled`).
    RunCancelRequested {
        run_id: Ulid,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    RunCancelled {
        run_id: Ulid,
        duration_secs: f64,
        /// As for `RunInterrupted`: when its process stopped, for a run
        /// whose cancel was requested before a crash. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped_at: Option<DateTime<Utc>>,
    },
    /// A run that can never finish: written at a graceful stop for the runs
    /// in flight, or at start-up for those a killed process left.
    RunInterrupted {
        run_id: Ulid,
        /// When the process that ran it stopped, if earlier than the event
        /// (at start-up: the last event the old process wrote), so that the
        /// run's times do not include the downtime. Absent in older logs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped_at: Option<DateTime<Utc>>,
    },
    RoutineCreated {
        routine_id: Ulid,
        name: String,
        cron: String,
        timezone: String,
        job_id: Ulid,
        enabled: bool,
        /// The job's workflow, so that the routine shows it however old the
        /// job. Absent in older logs (the job was in memory then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workflow_id: Option<String>,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// The routine's definition changed (its enabled state has its own events).
    RoutineUpdated {
        routine_id: Ulid,
        name: String,
        cron: String,
        timezone: String,
        job_id: Ulid,
        /// As in `RoutineCreated`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workflow_id: Option<String>,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    RoutineEnabled {
        routine_id: Ulid,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    RoutineDisabled {
        routine_id: Ulid,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    RoutineDeleted {
        routine_id: Ulid,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    RoutineFired {
        routine_id: Ulid,
        run_id: Ulid,
        scheduled_for: DateTime<Utc>,
        missed: bool,
    },
    ApprovalRequested {
        approval_id: Ulid,
        run_id: Ulid,
        step_id: String,
        approvers: Vec<String>,
        quorum: Quorum,
        expires_at: Option<DateTime<Utc>>,
        /// Why the run asks, when it is not an approval step's own question:
        /// a budget spent (`step_id` is then the agent step held back).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    VoteCast {
        approval_id: Ulid,
        run_id: Ulid,
        voter: String,
        decision: Decision,
        comment: Option<String>,
    },
    ApprovalResolved {
        approval_id: Ulid,
        run_id: Ulid,
        status: ApprovalStatus,
    },
    /// A rule was created or changed through the API; it holds the whole
    /// rule as it is now.
    AlertRuleSet {
        rule: AlertRule,
        /// Who did it: an identity's name, `anonymous` on an open server,
        /// `system` for the scheduler. Absent in logs older than the audit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// One alert (a rule and a label set) changed state.
    AlertChanged {
        rule: String,
        labels: BTreeMap<String, String>,
        from: AlertState,
        to: AlertState,
        severity: Severity,
        value: f64,
        threshold: f64,
        message: String,
    },
}

impl EventKind {
    pub fn run_id(&self) -> Option<Ulid> {
        use EventKind::*;
        match self {
            JobCreated { .. } => None,
            RunCreated { run_id, .. }
            | RunClaimed { run_id, .. }
            | RunStarted { run_id }
            | StepStarted { run_id, .. }
            | StepRetrying { run_id, .. }
            | StepCompleted { run_id, .. }
            | StepFailed { run_id, .. }
            | StepSkipped { run_id, .. }
            | StepCancelled { run_id, .. }
            | RunCompleted { run_id, .. }
            | RunFailed { run_id, .. }
            | RunCancelRequested { run_id, .. }
            | RunCancelled { run_id, .. }
            | RunInterrupted { run_id, .. }
            | ApprovalRequested { run_id, .. }
            | VoteCast { run_id, .. }
            | ApprovalResolved { run_id, .. } => Some(*run_id),
            RoutineCreated { .. }
            | RoutineUpdated { .. }
            | RoutineEnabled { .. }
            | RoutineDisabled { .. }
            | RoutineDeleted { .. }
            | RoutineFired { .. }
            | AlertRuleSet { .. }
            | AlertChanged { .. } => None,
        }
    }

    /// Whether the event can change the number of enabled routines or of
    /// pending approvals (a cancelled or interrupted run cancels its
    /// approvals too).
    pub fn moves_routines_or_approvals(&self) -> bool {
        matches!(
            self,
            EventKind::RoutineCreated { .. }
                | EventKind::RoutineEnabled { .. }
                | EventKind::RoutineDisabled { .. }
                | EventKind::RoutineDeleted { .. }
                | EventKind::ApprovalRequested { .. }
                | EventKind::ApprovalResolved { .. }
                | EventKind::RunCancelled { .. }
                | EventKind::RunInterrupted { .. }
        )
    }

    /// The event's name as stored in the log's `kind` column.
    pub fn name(&self) -> &'static str {
        use EventKind::*;
        match self {
            JobCreated { .. } => "JobCreated",
            RunCreated { .. } => "RunCreated",
            RunClaimed { .. } => "RunClaimed",
            RunStarted { .. } => "RunStarted",
            StepStarted { .. } => "StepStarted",
            StepRetrying { .. } => "StepRetrying",
            StepCompleted { .. } => "StepCompleted",
            StepFailed { .. } => "StepFailed",
            StepSkipped { .. } => "StepSkipped",
            StepCancelled { .. } => "StepCancelled",
            RunCompleted { .. } => "RunCompleted",
            RunFailed { .. } => "RunFailed",
            RunCancelRequested { .. } => "RunCancelRequested",
            RunCancelled { .. } => "RunCancelled",
            RunInterrupted { .. } => "RunInterrupted",
            RoutineCreated { .. } => "RoutineCreated",
            RoutineUpdated { .. } => "RoutineUpdated",
            RoutineEnabled { .. } => "RoutineEnabled",
            RoutineDisabled { .. } => "RoutineDisabled",
            RoutineDeleted { .. } => "RoutineDeleted",
            RoutineFired { .. } => "RoutineFired",
            ApprovalRequested { .. } => "ApprovalRequested",
            VoteCast { .. } => "VoteCast",
            ApprovalResolved { .. } => "ApprovalResolved",
            AlertRuleSet { .. } => "AlertRuleSet",
            AlertChanged { .. } => "AlertChanged",
        }
    }
}

/// Events are shared, never copied, between the log, projections and sockets.
pub type SharedEvent = Arc<Event>;
