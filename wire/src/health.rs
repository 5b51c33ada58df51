use super::decode::Decode;
use serde::{Deserialize, Serialize};

/// Overall health, serialised in lower case as in the guide; ordered from
/// best to worst.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    #[default]
    Healthy,
    Degraded,
    Critical,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Critical => "critical",
        }
    }
}

/// `GET /api/health/status`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct HealthStatus {
    pub status: HealthState,
    /// Seconds since this server process started.
    pub uptime_secs: u64,
    pub active_routines: u64,
    pub total_routines: u64,
    pub pending_approvals: u64,
    pub total_workflow_executions: u64,
    pub successful_executions: u64,
    pub failed_executions: u64,
    /// Percentage of finished executions that succeeded, rounded to two
    /// decimals; 100 while nothing has finished (no failure has been seen).
    pub success_rate: f64,
    /// Runs in progress right now (beyond the guide, as in `HealthUpdate`).
    pub active_workflows: u64,
    /// Success rate of the executions `status` is judged by: those finished
    /// within the health window, or the latest few when the window is quiet.
    pub recent_success_rate: f64,
    pub recent_executions: u64,
    /// Alert rules that fire now (the guide's "Alert Rules").
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Whether the durable log takes writes; `critical` while it does not.
    #[serde(default)]
    pub event_log: EventLogHealth,
    /// The server that answered (`--node-id`; by default its host name and
    /// process id).
    #[serde(default)]
    pub node_id: String,
}

/// The durable event log, as health sees it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct EventLogHealth {
    /// `ok`, or `failing` while commits fail (nothing that changes state is
    /// accepted meanwhile).
    pub status: String,
    /// Why commits fail, while they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Events waiting for the disk.
    pub backlog: u64,
    /// Where the log is: `sqlite` (the file in `--data-dir`) or `postgres`
    /// (`--database-url`).
    #[serde(default)]
    pub store: String,
}

impl Default for EventLogHealth {
    fn default() -> Self {
        Self {
            status: "ok".into(),
            error: None,
            backlog: 0,
            store: String::new(),
        }
    }
}

impl EventLogHealth {
    pub fn failing(&self) -> bool {
        self.error.is_some()
    }
}

/// A firing alert rule.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Alert {
    /// `warning` or `critical`.
    pub severity: String,
    /// Stable name of the rule, e.g. `success_rate`.
    pub rule: String,
    pub message: String,
}
