//! Performance analytics: workflow and step statistics, execution traces,
//! bottlenecks and critical paths. Field names follow the guide; fields
//! beyond it are additions a guide client ignores.

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RunStatus, StepKind, StepStatus};

/// One of a workflow's most recent finished runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct RecentRun {
    pub run_id: String,
    pub status: RunStatus,
    pub duration_secs: Option<f64>,
    pub completed_at: DateTime<Utc>,
}

/// `GET /api/analytics/workflows/{workflow_id}`. The duration figures are
/// `null` while no execution has a duration (only interrupted ones, say):
/// an average of nothing is not 0.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct WorkflowStats {
    pub workflow_id: String,
    pub execution_count: u64,
    pub success_count: u64,
    pub failure_count: u64,
    pub total_duration_secs: f64,
    pub min_duration_secs: Option<f64>,
    pub max_duration_secs: Option<f64>,
    pub avg_duration_secs: Option<f64>,
    pub last_execution: Option<DateTime<Utc>>,
    pub p50_duration_secs: Option<f64>,
    pub p95_duration_secs: Option<f64>,
    pub p99_duration_secs: Option<f64>,
    /// The last 10 finished runs, newest first.
    pub recent_runs: Vec<RecentRun>,
    /// Durations of the most recent runs, oldest first (a bounded window).
    pub durations: Vec<f64>,
    /// Tokens of the executions' agent calls (input includes cached).
    #[serde(default)]
    pub total_input_tokens: u64,
    #[serde(default)]
    pub total_output_tokens: u64,
    /// Dollars, over the calls whose model the price table knows; `null`
    /// when none does (unknown, not zero).
    #[serde(default)]
    pub total_cost_usd: Option<f64>,
    /// Per execution, over the executions with a known cost.
    #[serde(default)]
    pub avg_cost_usd: Option<f64>,
    /// Tokens (input and output) per execution, p95; all-time answers
    /// only (ranged ones keep sums).
    #[serde(default)]
    pub p95_tokens: Option<u64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct WorkflowStatsList {
    pub workflows: Vec<WorkflowStats>,
}

/// One step of one workflow, over all its executions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct StepStats {
    pub workflow_id: String,
    pub step_id: String,
    pub execution_count: u64,
    pub success_count: u64,
    pub failure_count: u64,
    pub retry_count: u64,
    pub total_duration_secs: f64,
    pub min_duration_secs: Option<f64>,
    pub max_duration_secs: Option<f64>,
    pub avg_duration_secs: Option<f64>,
    pub p50_duration_secs: Option<f64>,
    pub p95_duration_secs: Option<f64>,
    pub p99_duration_secs: Option<f64>,
    /// Durations of the most recent executions, oldest first (a bounded window).
    pub durations: Vec<f64>,
    /// Mean time an execution waited for concurrency slots (summed over its
    /// attempts), apart from its duration; `null` for approvals and
    /// executions older than the measure.
    #[serde(default)]
    pub avg_queued_secs: Option<f64>,
    /// `manual_approval`: the durations are waits for people, not work.
    #[serde(default)]
    pub kind: StepKind,
    /// Tokens of the executions' agent calls (input includes cached).
    #[serde(default)]
    pub total_input_tokens: u64,
    #[serde(default)]
    pub total_output_tokens: u64,
    /// Dollars, over the calls whose model the price table knows; `null`
    /// when none does (unknown, not zero).
    #[serde(default)]
    pub total_cost_usd: Option<f64>,
    /// Per execution, over the executions with a known cost.
    #[serde(default)]
    pub avg_cost_usd: Option<f64>,
    /// Tokens (input and output) per execution, p95; all-time answers
    /// only (ranged ones keep sums).
    #[serde(default)]
    pub p95_tokens: Option<u64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct StepStatsList {
    pub steps: Vec<StepStats>,
}

/// One attempt of one step in a trace (a step that was never attempted, such
/// as a skipped one, appears once with `attempt: null`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct TraceStep {
    pub step_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    /// The attempt's outcome (`Completed`, `Failed`, `TimedOut`, `Running`,
    /// …), or the step's status when it was never attempted.
    pub status: String,
    pub attempt: Option<u32>,
    pub error: Option<String>,
    /// The step's own status (beyond the guide), e.g. `Completed` for a step
    /// whose first attempt failed and second succeeded.
    pub step_status: StepStatus,
    pub depends_on: Vec<String>,
    /// How long this attempt, ready to run, waited for a concurrency slot
    /// before `started_at` (starved, not slow); `null` for approvals, steps
    /// never attempted and older runs.
    #[serde(default)]
    pub queued_secs: Option<f64>,
    /// `manual_approval`: the attempt is a wait for people, not work.
    #[serde(default)]
    pub kind: StepKind,
    /// What the attempt's agent call used (completed attempts whose
    /// backend says).
    #[serde(default)]
    pub usage: Option<super::Usage>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct TraceBottleneck {
    pub step_id: String,
    pub duration_secs: f64,
    pub percentage_of_total: f64,
}

/// `GET /api/analytics/traces/{run_id}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Trace {
    pub run_id: String,
    pub workflow_id: String,
    pub job_name: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// For a run in progress: the time elapsed so far.
    pub duration_secs: Option<f64>,
    pub status: RunStatus,
    pub progress: f64,
    pub steps: Vec<TraceStep>,
    pub bottleneck: Option<TraceBottleneck>,
    /// The chain of steps that determined the run's duration (finished runs).
    pub critical_path: Vec<String>,
    /// Who started the run and who cancelled it (as `GET /api/runs/{id}`
    /// says): an identity, `system` for routines; `null` when unknown.
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub cancelled_by: Option<String>,
    /// Time its approval steps waited for people, summed over them (so far,
    /// for a run in progress); `null` when the run has no approval step.
    #[serde(default)]
    pub approval_wait_secs: Option<f64>,
    /// The job's budget, and what the run's priced calls have cost so far.
    #[serde(default)]
    pub budget: Option<super::Budget>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The run's OpenTelemetry trace id, as on the run (`RunView.trace_id`).
    #[serde(default)]
    pub trace_id: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct TraceList {
    pub traces: Vec<Trace>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct StepShare {
    pub step_id: String,
    pub avg_duration_secs: f64,
    /// The step's share of the summed average step durations.
    pub percentage_of_workflow: f64,
    pub execution_count: u64,
    /// Percentage of completed runs in which the step was on the critical path.
    pub critical_path_percentage: f64,
    /// Mean time an execution waited for concurrency slots, apart from its
    /// duration (`null`: approvals, older executions).
    #[serde(default)]
    pub avg_queued_secs: Option<f64>,
    /// `slow`: the step spends its time running; `starved`: it waits longer
    /// for a concurrency slot than it runs (raise `--max-concurrent-steps`);
    /// `awaiting_approval`: its time is the wait for people to approve.
    #[serde(default)]
    pub diagnosis: String,
    #[serde(default)]
    pub kind: StepKind,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct CriticalStep {
    pub step_id: String,
    /// Average duration of the step in the runs where this path was critical.
    pub avg_duration_secs: f64,
    /// Its share of those runs' average duration.
    pub percentage_of_run: f64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct CriticalPath {
    pub steps: Vec<CriticalStep>,
    /// Completed runs whose critical path was exactly this chain.
    pub runs: u64,
    /// Those runs as a percentage of all completed runs analysed.
    pub percentage_of_runs: f64,
    pub avg_run_duration_secs: f64,
}

/// `GET /api/analytics/bottlenecks/{workflow_id}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct BottleneckReport {
    pub workflow_id: String,
    pub total_executions: u64,
    pub avg_duration_secs: f64,
    /// Sorted by `percentage_of_workflow`, highest first.
    pub bottlenecks: Vec<StepShare>,
    /// The most frequent critical path over completed runs, if any completed.
    pub critical_path: Option<CriticalPath>,
}

/// One provider's model: its calls (attempts of agent steps), tokens, cost
/// and latency. `provider` `simulated` marks drawn figures.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct ModelStats {
    pub provider: String,
    pub model: String,
    pub calls: u64,
    pub failures: u64,
    /// Failed calls, percent of all.
    pub error_rate: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    /// `null` when the price table does not know the model.
    pub total_cost_usd: Option<f64>,
    /// Call latency (the attempt's duration).
    pub p50_duration_secs: Option<f64>,
    pub p95_duration_secs: Option<f64>,
    pub p99_duration_secs: Option<f64>,
    /// Streamed answers only.
    pub p50_time_to_first_token_secs: Option<f64>,
    pub p95_time_to_first_token_secs: Option<f64>,
}

/// `GET /api/analytics/models`: most spent first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct ModelStatsList {
    pub models: Vec<ModelStats>,
}

/// `GET /api/analytics/heatmap/{workflow_id}`: each step's executions by
/// period, to see when a step got slow (or starved) and whether the others
/// followed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct Heatmap {
    pub workflow_id: String,
    /// Length of each period, in seconds.
    pub bucket_secs: u64,
    /// Start of each period, oldest first; each row has a cell for each.
    pub buckets: Vec<DateTime<Utc>>,
    /// Steps with executions in the range, most time taken first.
    pub steps: Vec<HeatmapRow>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct HeatmapRow {
    pub step_id: String,
    /// Summed durations over the range.
    pub total_duration_secs: f64,
    pub cells: Vec<HeatmapCell>,
}

/// One step in one period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct HeatmapCell {
    pub executions: u64,
    pub failures: u64,
    /// `null` when nothing ran in the period.
    pub p95_duration_secs: Option<f64>,
    /// Mean wait for a concurrency slot, apart from the duration.
    pub avg_queued_secs: Option<f64>,
}

impl WorkflowStats {
    /// Input and output tokens together (saturating).
    pub fn tokens(&self) -> u64 {
        self.total_input_tokens
            .saturating_add(self.total_output_tokens)
    }
}

impl StepStats {
    /// Input and output tokens together (saturating).
    pub fn tokens(&self) -> u64 {
        self.total_input_tokens
            .saturating_add(self.total_output_tokens)
    }
}

/// Finished executions in one period (a minute unless a range asks for more).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct ThroughputPoint {
    /// Start of the period.
    pub at: DateTime<Utc>,
    pub completed: u64,
    pub failed: u64,
    /// What the priced agent calls of the runs finished in it cost; `null`
    /// when none was priced.
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl ThroughputPoint {
    /// Completed and failed together (saturating: counts come from outside).
    pub fn executions(&self) -> u64 {
        self.completed.saturating_add(self.failed)
    }
}

/// `GET /api/analytics/throughput`: the last hour, minute by minute, oldest
/// first, quiet minutes included; or a range's periods (`bucket_secs`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Throughput {
    pub points: Vec<ThroughputPoint>,
    /// Length of each point's period, in seconds (60 without a range).
    #[serde(default = "wire_minute")]
    pub bucket_secs: u64,
}

fn wire_minute() -> u64 {
    60
}
