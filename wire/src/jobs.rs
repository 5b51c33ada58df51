//! Jobs: a named workflow of agent steps, as posted to `POST /api/jobs`.

use std::collections::BTreeMap;

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The body of `POST /api/jobs`, exactly as in the guide's "Complete
/// Observability Example". Unknown fields are refused so that a typo such as
/// `retry_polcy` is an error instead of a silently ignored setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Also names the workflow: `workflow_id` is its slug.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub workflow: WorkflowSpec,
    /// Start a run at once. Without it the job is only stored; start runs
    /// with `POST /api/jobs/{job_id}/runs`.
    #[serde(default)]
    pub execute: bool,
    /// What each run may spend on agent calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

/// A run's spending limit. Once the run's priced agent calls have cost
/// `max_cost_usd` or more, no further agent step (or attempt) starts. With
/// `on_exceed: "fail"` the step fails saying so, what depends on it is
/// skipped, and the run fails. With `on_exceed: "approval"` the run asks
/// `approval`'s approvers instead: while they decide no agent step starts;
/// an approval lets the run spend another `max_cost_usd` beyond what it
/// has spent by then (and ask again when that is spent), a rejection or a
/// timeout fails the run as `fail` would. Calls of models the price table does not know cost nothing here:
/// the limit holds only what is priced.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0, maximum = 1e9))]
    pub max_cost_usd: f64,
    /// What happens when it is spent: `fail` (the default) or `approval`.
    #[serde(default)]
    pub on_exceed: OnExceed,
    /// Who lets the run go on; required with `on_exceed: "approval"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<BudgetApproval>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    #[default]
    Fail,
    Approval,
}

/// The approval a run asks for each time it spends its budget: as an
/// approval step's, with `timeout_secs` bounding each wait (none: it waits
/// until decided or cancelled).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct BudgetApproval {
    pub approvers: Vec<String>,
    #[serde(default = "unanimous")]
    pub quorum: super::Quorum,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(exclusive_minimum = 0.0, maximum = 86400.0)
    )]
    pub timeout_secs: Option<f64>,
}

fn unanimous() -> super::Quorum {
    super::Quorum::Unanimous
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub steps: Vec<StepSpec>,
    /// `step id → ids of the steps it waits for`.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Vec<String>>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique in the workflow: letters, digits, `_`, `-` and `.`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub id: String,
    /// Display name; the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent role that performs the step (selects simulated latencies,
    /// and is the system prompt of LLM backends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub action: StepAction,
    /// Each attempt is cancelled after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(exclusive_minimum = 0.0, maximum = 86400.0)
    )]
    pub timeout_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Overrides the simulated backend's behaviour for this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Simulation>,
    /// Which backend and model perform it, over its role's default (the
    /// server's `--role-agent`) and the server's `--agent-backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentChoice>,
}

/// A backend and a model, either of which may be left to the defaults:
/// without a model, the backend's configured one (`--openai-model`, …).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct AgentChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub model: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Simulated,
    Openai,
    Anthropic,
    Command,
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Simulated,
        BackendKind::Openai,
        BackendKind::Anthropic,
        BackendKind::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Simulated => "simulated",
            BackendKind::Openai => "openai",
            BackendKind::Anthropic => "anthropic",
            BackendKind::Command => "command",
        }
    }
}

impl StepSpec {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    pub fn role_or_default(&self) -> &str {
        self.role.as_deref().unwrap_or("agent")
    }

    pub fn max_attempts(&self) -> u32 {
        self.retry_policy.map_or(1, |p| p.max_attempts)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    AgentTask {
        prompt: String,
    },
    /// Waits until enough of `approvers` approve (the step's `timeout_secs`,
    /// if set, bounds the wait). Attempted once: a rejection fails the step.
    ManualApproval {
        approvers: Vec<String>,
        quorum: super::Quorum,
    },
}

/// `max_attempts` counts every attempt including the first, as Temporal's
/// `maximum_attempts` does; attempt `n` (0-based) that fails is retried after
/// `backoff_secs × 2ⁿ`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_attempts: u32,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.0, maximum = 3600.0))]
    pub backoff_secs: f64,
}

impl RetryPolicy {
    /// Delay before the attempt that follows failed attempt `attempt`.
    pub fn backoff_after(&self, attempt: u32) -> f64 {
        self.backoff_secs * 2f64.powi(attempt.min(30) as i32)
    }
}

/// Simulated-backend behaviour of one step (or the defaults of a role).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Latency range in milliseconds, drawn uniformly: `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<[u64; 2]>,
    /// Probability in `[0, 1]` that an attempt fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.0, maximum = 1.0))]
    pub failure_rate: Option<f64>,
    /// The first `n` attempts of every run fail, deterministically (a flaky
    /// step that a retry policy rescues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_first_attempts: Option<u32>,
}

/// Answer of `POST /api/jobs` and `POST /api/jobs/{job_id}/runs`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct JobCreated {
    pub job_id: String,
    pub workflow_id: String,
    /// The run started by `execute: true`, or by `POST /api/jobs/{id}/runs`.
    pub run_id: Option<String>,
    pub status: String,
    /// The run's OpenTelemetry trace id, as on the run (`RunView.trace_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// A stored job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct JobView {
    pub job_id: String,
    pub name: String,
    pub workflow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The definition; left out when asked with `?include_workflow=false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowSpec>,
    pub run_count: u64,
    pub last_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

/// Filters of `GET /api/jobs` (`?workflow_id=&limit=&include_workflow=`).
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobQuery {
    /// Only jobs of this workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// How many, newest first: all unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub limit: Option<usize>,
    /// Each job's full definition (a 1,000-step workflow is large); pages
    /// that list jobs leave it out.
    #[serde(default = "yes")]
    pub include_workflow: bool,
}

fn yes() -> bool {
    true
}

impl Default for JobQuery {
    fn default() -> Self {
        Self {
            workflow_id: None,
            limit: None,
            include_workflow: true,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

/// `"Monthly Report Generation"` → `"monthly_report_generation"`: the id under
/// which a job's runs are analysed.
pub fn workflow_slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    while slug.ends_with('_') {
        slug.pop();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_the_guide() {
        assert_eq!(
            workflow_slug("Monthly Report Generation"),
            "monthly_report_generation"
        );
        assert_eq!(
            workflow_slug("daily_report_generation"),
            "daily_report_generation"
        );
        assert_eq!(workflow_slug("  User -- Onboarding! "), "user_onboarding");
        assert_eq!(workflow_slug("Äpfel & Birnen"), "äpfel_birnen");
        assert_eq!(workflow_slug("!!!"), "");
    }

    #[test]
    fn the_guides_job_parses() {
        let body = r#"{
            "name": "Monthly Report Generation",
            "workflow": {
              "steps": [
                {"id": "fetch_data", "name": "Fetch Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Fetch monthly data"}}},
                {"id": "analyze_data", "name": "Analyze Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Analyze the data"}}}
              ],
              "dependencies": {"analyze_data": ["fetch_data"]}
            },
            "execute": true
        }"#;
        let job: JobRequest = serde_json::from_str(body).unwrap();
        assert!(job.execute);
        assert_eq!(job.workflow.steps[1].display_name(), "Analyze Data");
        assert_eq!(
            job.workflow.steps[0].action,
            StepAction::AgentTask {
                prompt: "Fetch monthly data".into()
            }
        );
        assert_eq!(
            job.workflow.dependencies["analyze_data"],
            vec!["fetch_data"]
        );
    }

    #[test]
    fn backoff_is_exponential() {
        let p = RetryPolicy {
            max_attempts: 4,
            backoff_secs: 0.5,
        };
        assert_eq!(p.backoff_after(0), 0.5);
        assert_eq!(p.backoff_after(1), 1.0);
        assert_eq!(p.backoff_after(2), 2.0);
    }
}
