//! Runs: one execution of a job's workflow, and the state of each step.

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
pub enum RunStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// The server stopped while the run was in flight.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "Pending",
            RunStatus::Running => "Running",
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
            RunStatus::Interrupted => "Interrupted",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running)
    }

    /// Every status, in the order a run goes through them.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
pub enum StepStatus {
    Pending,
    Running,
    /// An attempt failed and the next one waits for its backoff.
    Retrying,
    Completed,
    Failed,
    /// Not run because a step it depends on failed.
    Skipped,
    Cancelled,
    Interrupted,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "Pending",
            StepStatus::Running => "Running",
            StepStatus::Retrying => "Retrying",
            StepStatus::Completed => "Completed",
            StepStatus::Failed => "Failed",
            StepStatus::Skipped => "Skipped",
            StepStatus::Cancelled => "Cancelled",
            StepStatus::Interrupted => "Interrupted",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            StepStatus::Pending | StepStatus::Running | StepStatus::Retrying
        )
    }
}

/// How one attempt of a step ended (or that it is still running).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
pub enum AttemptStatus {
    Running,
    Completed,
    Failed,
    TimedOut,
    Cancelled,
    Interrupted,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Running => "Running",
            AttemptStatus::Completed => "Completed",
            AttemptStatus::Failed => "Failed",
            AttemptStatus::TimedOut => "TimedOut",
            AttemptStatus::Cancelled => "Cancelled",
            AttemptStatus::Interrupted => "Interrupted",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct AttemptView {
    /// 0 for the first attempt.
    pub attempt: u32,
    pub status: AttemptStatus,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    pub error: Option<String>,
    /// How long the attempt, ready to run, waited for a concurrency slot
    /// before `started_at`; `null` for approvals and older runs.
    #[serde(default)]
    pub queued_secs: Option<f64>,
    /// What the agent call used, for a completed attempt whose backend
    /// says; `null` otherwise.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// What one agent call used: its provider and model, tokens, cost and,
/// for a streamed answer, the time to its first token. `provider` is
/// `simulated` for the simulated backend, whose figures are drawn, not
/// measured.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct Usage {
    /// `openai`, `anthropic`, `simulated` or `command`.
    pub provider: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Every input token, cached ones included.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Of the input, tokens read from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: Option<u64>,
    /// From the price table; `null` for a model it does not know (unknown,
    /// not zero).
    pub cost_usd: Option<f64>,
    /// Streamed answers: from the request to the first token.
    pub time_to_first_token_secs: Option<f64>,
}

/// What a step does: an agent's task, or a wait for people to approve
/// (whose time is waiting, not work).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    #[default]
    AgentTask,
    ManualApproval,
}

impl StepKind {
    pub fn is_approval(self) -> bool {
        self == StepKind::ManualApproval
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct StepRunView {
    pub step_id: String,
    pub name: String,
    pub role: String,
    pub depends_on: Vec<String>,
    pub status: StepStatus,
    pub attempts: Vec<AttemptView>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// From the first attempt's start to the last attempt's end, backoffs included.
    pub duration_secs: Option<f64>,
    pub output: Option<String>,
    /// The agent said more than the server keeps; `output` is its beginning.
    pub output_truncated: bool,
    pub error: Option<String>,
    /// `manual_approval`: its time is the wait for people.
    #[serde(default)]
    pub kind: StepKind,
}

/// `GET /api/runs/{run_id}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RunView {
    pub run_id: String,
    pub job_id: String,
    pub job_name: String,
    pub workflow_id: String,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    /// Percentage of steps that reached a terminal state.
    pub progress: f64,
    pub error: Option<String>,
    pub steps: Vec<StepRunView>,
    /// Who started the run (an identity, `anonymous`, or `system` for a
    /// routine); absent for runs older than the audit trail.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Who asked to cancel it, if anyone did.
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// The job's budget, when it has one.
    #[serde(default)]
    pub budget: Option<super::Budget>,
    /// What its agent calls have cost so far, over those whose model the
    /// price table knows; `null` when none is.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The run's OpenTelemetry trace id (32 hex digits): its caller's, when
    /// `POST /api/jobs` came with a W3C `traceparent`, or else its own. The
    /// spans exported with `--otlp-endpoint` carry it.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The node of a cluster that runs it (its `--node-id`); absent on a
    /// server alone.
    #[serde(default)]
    pub node: Option<String>,
}

/// One line of `GET /api/runs`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RunSummaryView {
    pub run_id: String,
    pub job_id: String,
    pub job_name: String,
    pub workflow_id: String,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    pub progress: f64,
    /// The step running now (the first, if several), for runs in flight.
    pub current_step: Option<String>,
}

/// `GET /api/runs`: newest first. Pass `next_before` as `?before=` for the next page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RunList {
    pub runs: Vec<RunSummaryView>,
    /// Runs matching the filters, over all pages.
    pub total: u64,
    pub next_before: Option<String>,
}

/// `GET /api/analytics/timeline`: every run active in a range (created
/// before its end, not finished before its start), newest first, for one
/// time axis across workflows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Timeline {
    /// The range, resolved on the server's clock.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub runs: Vec<RunSummaryView>,
    /// Runs active in the range; more than `runs` holds when `limit` cut it.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialise_as_the_guide_writes_them() {
        assert_eq!(
            serde_json::to_value(RunStatus::Completed).unwrap(),
            "Completed"
        );
        assert_eq!(
            serde_json::to_value(StepStatus::Skipped).unwrap(),
            "Skipped"
        );
        assert_eq!(RunStatus::parse("failed"), Some(RunStatus::Failed));
        assert_eq!(RunStatus::parse("nope"), None);
    }
}

/// `POST /api/runs/{run_id}/cancel` (202): the cancel is stored; the run
/// stops shortly.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct CancelAccepted {
    pub run_id: String,
    /// Always `cancelling`.
    pub status: String,
}
