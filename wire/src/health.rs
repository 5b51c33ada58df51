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
    /// The cluster this server is a node of, when its log is shared
    /// (several servers on one PostgreSQL); absent alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// The nodes of a cluster, as the one that answered last saw them (it
/// renews its lease and reads the others' every second).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct ClusterHealth {
    /// The node that evaluates alert rules and fires routines, if one does.
    #[serde(default)]
    pub leader: Option<String>,
    pub nodes: Vec<ClusterNode>,
}

/// One node of a cluster.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct ClusterNode {
    pub node_id: String,
    /// Its lease is current: it runs its runs.
    pub alive: bool,
    /// Seconds since it last renewed its lease; `null` once it stopped and
    /// handed its runs over.
    #[serde(default)]
    pub seen_secs_ago: Option<f64>,
    pub lease_secs: u64,
    /// Step slots it had free when it last renewed (`--max-concurrent-steps`
    /// less the steps it runs).
    pub free_slots: u64,
    /// The node that took its runs over, once its lease lapsed.
    #[serde(default)]
    pub taken_by: Option<String>,
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
