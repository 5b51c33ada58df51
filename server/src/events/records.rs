//! What events carry beyond ids and numbers: the server's own records, not
//! the API's types. They hold the shapes the log was first written with;
//! the API may rename or reshape its types freely, and only the
//! conversions here change. (Changing a record itself means a new event
//! version: see `store::format`.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A job's workflow as submitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub steps: Vec<Step>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub action: StepAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Simulation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentChoice>,
}

/// A step's own backend and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Simulated,
    Openai,
    Anthropic,
    Command,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    AgentTask {
        prompt: String,
    },
    ManualApproval {
        approvers: Vec<String>,
        quorum: Quorum,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff_secs: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<[u64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_first_attempts: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    Unanimous,
    Majority,
    Count(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub name: String,
    pub kind: RuleKind,
    pub description: String,
    pub severity: Severity,
    pub threshold: f64,
    pub for_secs: u64,
    pub window_secs: u64,
    pub baseline_secs: u64,
    pub min_executions: u64,
    pub enabled: bool,
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub expression: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    SuccessRate,
    LatencyRegression,
    PendingApprovals,
    ActiveWorkflows,
    Cost,
    WorkflowCost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// Two-way conversions between a record and its API type, field by field.
macro_rules! same_variants {
    ($record:ident <=> $api:path { $($variant:ident),+ $(,)? }) => {
        impl From<$api> for $record {
            fn from(v: $api) -> Self {
                use $api as Api;
                match v { $(Api::$variant => Self::$variant),+ }
            }
        }
        impl From<$record> for $api {
            fn from(v: $record) -> Self {
                use $api as Api;
                match v { $($record::$variant => Api::$variant),+ }
            }
        }
    };
}

same_variants!(Decision <=> wire::Decision { Approve, Reject });
same_variants!(ApprovalStatus <=> wire::ApprovalStatus { Pending, Approved, Rejected, Expired, Cancelled });
same_variants!(RuleKind <=> wire::RuleKind { SuccessRate, LatencyRegression, PendingApprovals, ActiveWorkflows, Cost, WorkflowCost });
same_variants!(Severity <=> wire::Severity { Warning, Critical });
same_variants!(Backend <=> wire::BackendKind { Simulated, Openai, Anthropic, Command });
same_variants!(AlertState <=> wire::AlertState { Inactive, Pending, Firing, Resolved });

impl From<wire::Quorum> for Quorum {
    fn from(q: wire::Quorum) -> Self {
        match q {
            wire::Quorum::Unanimous => Self::Unanimous,
            wire::Quorum::Majority => Self::Majority,
            wire::Quorum::Count(n) => Self::Count(n),
        }
    }
}

impl From<Quorum> for wire::Quorum {
    fn from(q: Quorum) -> Self {
        match q {
            Quorum::Unanimous => Self::Unanimous,
            Quorum::Majority => Self::Majority,
            Quorum::Count(n) => Self::Count(n),
        }
    }
}

impl From<&wire::WorkflowSpec> for Workflow {
    fn from(w: &wire::WorkflowSpec) -> Self {
        Self {
            steps: w
                .steps
                .iter()
                .map(|s| Step {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    role: s.role.clone(),
                    action: match &s.action {
                        wire::StepAction::AgentTask { prompt } => StepAction::AgentTask {
                            prompt: prompt.clone(),
                        },
                        wire::StepAction::ManualApproval { approvers, quorum } => {
                            StepAction::ManualApproval {
                                approvers: approvers.clone(),
                                quorum: (*quorum).into(),
                            }
                        }
                    },
                    timeout_secs: s.timeout_secs,
                    retry_policy: s.retry_policy.map(|p| RetryPolicy {
                        max_attempts: p.max_attempts,
                        backoff_secs: p.backoff_secs,
                    }),
                    simulation: s.simulation.map(|sim| Simulation {
                        latency_ms: sim.latency_ms,
                        failure_rate: sim.failure_rate,
                        fail_first_attempts: sim.fail_first_attempts,
                    }),
                    agent: s.agent.as_ref().map(|a| AgentChoice {
                        backend: a.backend.map(Into::into),
                        model: a.model.clone(),
                    }),
                })
                .collect(),
            dependencies: w.dependencies.clone(),
        }
    }
}

impl From<&Workflow> for wire::WorkflowSpec {
    fn from(w: &Workflow) -> Self {
        Self {
            steps: w
                .steps
                .iter()
                .map(|s| wire::StepSpec {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    role: s.role.clone(),
                    action: match &s.action {
                        StepAction::AgentTask { prompt } => wire::StepAction::AgentTask {
                            prompt: prompt.clone(),
                        },
                        StepAction::ManualApproval { approvers, quorum } => {
                            wire::StepAction::ManualApproval {
                                approvers: approvers.clone(),
                                quorum: (*quorum).into(),
                            }
                        }
                    },
                    timeout_secs: s.timeout_secs,
                    retry_policy: s.retry_policy.map(|p| wire::RetryPolicy {
                        max_attempts: p.max_attempts,
                        backoff_secs: p.backoff_secs,
                    }),
                    simulation: s.simulation.map(|sim| wire::Simulation {
                        latency_ms: sim.latency_ms,
                        failure_rate: sim.failure_rate,
                        fail_first_attempts: sim.fail_first_attempts,
                    }),
                    agent: s.agent.as_ref().map(|a| wire::AgentChoice {
                        backend: a.backend.map(Into::into),
                        model: a.model.clone(),
                    }),
                })
                .collect(),
            dependencies: w.dependencies.clone(),
        }
    }
}

impl From<&wire::AlertRule> for AlertRule {
    fn from(r: &wire::AlertRule) -> Self {
        Self {
            name: r.name.clone(),
            kind: r.kind.into(),
            description: r.description.clone(),
            severity: r.severity.into(),
            threshold: r.threshold,
            for_secs: r.for_secs,
            window_secs: r.window_secs,
            baseline_secs: r.baseline_secs,
            min_executions: r.min_executions,
            enabled: r.enabled,
            webhook_url: r.webhook_url.clone(),
            expression: r.expression.clone(),
        }
    }
}

impl From<&AlertRule> for wire::AlertRule {
    fn from(r: &AlertRule) -> Self {
        Self {
            name: r.name.clone(),
            kind: r.kind.into(),
            description: r.description.clone(),
            severity: r.severity.into(),
            threshold: r.threshold,
            for_secs: r.for_secs,
            window_secs: r.window_secs,
            baseline_secs: r.baseline_secs,
            min_executions: r.min_executions,
            enabled: r.enabled,
            webhook_url: r.webhook_url.clone(),
            expression: r.expression.clone(),
            updated_at: None,
            updated_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_api_types_convert_both_ways_without_loss() {
        let spec: wire::WorkflowSpec = serde_json::from_value(serde_json::json!({
            "steps": [
                {"id": "a", "name": "A", "role": "r", "action": {"agent_task": {"prompt": "p"}},
                 "timeout_secs": 2.5, "retry_policy": {"max_attempts": 3, "backoff_secs": 0.5},
                 "simulation": {"latency_ms": [1, 2], "failure_rate": 0.1, "fail_first_attempts": 1}},
                {"id": "g", "action": {"manual_approval": {"approvers": ["x"], "quorum": {"count": 1}}}}
            ],
            "dependencies": {"g": ["a"]}
        }))
        .unwrap();
        let record = Workflow::from(&spec);
        assert_eq!(wire::WorkflowSpec::from(&record), spec);
        // The record's JSON is the API's as it was: old logs read the same.
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            serde_json::to_value(&spec).unwrap()
        );
        let rule = wire::AlertRule {
            name: "n".into(),
            kind: wire::RuleKind::LatencyRegression,
            description: "d".into(),
            severity: wire::Severity::Critical,
            threshold: 2.0,
            for_secs: 1,
            window_secs: 2,
            baseline_secs: 3,
            min_executions: 4,
            enabled: true,
            webhook_url: Some("http://x/".into()),
            expression: "e".into(),
            updated_at: None,
            updated_by: None,
        };
        assert_eq!(wire::AlertRule::from(&AlertRule::from(&rule)), rule);
        for q in [
            wire::Quorum::Unanimous,
            wire::Quorum::Majority,
            wire::Quorum::Count(7),
        ] {
            assert_eq!(wire::Quorum::from(Quorum::from(q)), q);
        }
    }
}

/// A run's spending limit, as stored with its job and its run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub max_cost_usd: f64,
    /// `fail`: no further agent step starts once it is spent; `approval`:
    /// none starts until `approval`'s approvers let the run spend more.
    pub on_exceed: OnExceed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<BudgetApproval>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    Fail,
    Approval,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetApproval {
    pub approvers: Vec<String>,
    pub quorum: Quorum,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
}

impl From<wire::Budget> for Budget {
    fn from(b: wire::Budget) -> Self {
        Budget {
            max_cost_usd: b.max_cost_usd,
            on_exceed: match b.on_exceed {
                wire::OnExceed::Fail => OnExceed::Fail,
                wire::OnExceed::Approval => OnExceed::Approval,
            },
            approval: b.approval.map(|a| BudgetApproval {
                // Stored trimmed, as an approval step's approvers run: votes
                // are matched on the trimmed name.
                approvers: a.approvers.iter().map(|n| n.trim().to_string()).collect(),
                quorum: a.quorum.into(),
                timeout_secs: a.timeout_secs,
            }),
        }
    }
}

impl From<Budget> for wire::Budget {
    fn from(b: Budget) -> Self {
        wire::Budget {
            max_cost_usd: b.max_cost_usd,
            on_exceed: match b.on_exceed {
                OnExceed::Fail => wire::OnExceed::Fail,
                OnExceed::Approval => wire::OnExceed::Approval,
            },
            approval: b.approval.map(|a| wire::BudgetApproval {
                approvers: a.approvers,
                quorum: a.quorum.into(),
                timeout_secs: a.timeout_secs,
            }),
        }
    }
}

impl From<&Usage> for wire::Usage {
    fn from(u: &Usage) -> Self {
        wire::Usage {
            provider: u.provider.clone(),
            model: u.model.clone(),
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cached_input_tokens,
            cost_usd: u.cost_usd,
            time_to_first_token_secs: u.time_to_first_token_secs,
        }
    }
}

/// What one agent call used, as the backend reported it (and its cost, from
/// the price table in force when it was recorded: a bill is not rewritten
/// when prices change).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// `openai`, `anthropic`, `simulated`, `command`.
    pub provider: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Of the input, tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    /// Tokens written to the prompt cache (Anthropic bills them apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// `None` for a model the price table does not know: never guessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Streamed answers: the request to the first token of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_secs: Option<f64>,
}

/// The caller's W3C trace context (`traceparent`), when a run was asked for
/// with one: the run's spans join that trace, under that parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the caller's span.
    pub parent_span_id: String,
    /// The caller's sampling decision: a run whose caller did not sample
    /// its trace is not exported either.
    pub sampled: bool,
    /// The caller's `tracestate`, passed on as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}
