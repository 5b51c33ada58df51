//! Every JSON shape Shiioo speaks, defined once and shared by the server (which
//! produces them) and the WASM client (which consumes them).
//!
//! Field names follow `PHASE6_GUIDE.md` exactly: a client written from the guide
//! must work unchanged. Where we add fields beyond the guide they are extra keys
//! that such a client simply ignores.
//!
//! A crate of its own, like tokio-console's `console-api`: the server's engine
//! and model speak these types without depending on the dashboard (`app`),
//! and the browser decodes them with [`decode::Decode`] (feature `browser`).

// `#[derive(Decode)]` names `::wire::decode`, which must resolve here too.
extern crate self as wire;

mod alerts;
mod analytics;
mod approvals;
pub mod decode;
mod error;
pub mod format;
mod health;
mod jobs;
mod metrics;
mod routines;
mod runs;
mod session;
mod ws;

pub use alerts::{
    AlertHistory, AlertList, AlertRule, AlertRuleList, AlertRuleUpdate, AlertState,
    AlertTransition, AlertView, PostableAlert, RuleKind, Severity, WebhookAlert, WebhookPayload,
};
pub use analytics::{
    BottleneckReport, CriticalPath, CriticalStep, Heatmap, HeatmapCell, HeatmapRow, ModelStats,
    ModelStatsList, RecentRun, StepShare, StepStats, StepStatsList, Throughput, ThroughputPoint,
    Trace, TraceBottleneck, TraceList, TraceStep, WorkflowStats, WorkflowStatsList,
};
pub use approvals::{
    ApprovalList, ApprovalStatus, ApprovalView, Decision, Quorum, VoteRequest, VoteView,
};
pub use error::ApiError;
pub use health::{Alert, ClusterHealth, ClusterNode, EventLogHealth, HealthState, HealthStatus};
pub use jobs::{
    workflow_slug, AgentChoice, BackendKind, Budget, BudgetApproval, JobCreated, JobList, JobQuery,
    JobRequest, JobView, OnExceed, RetryPolicy, Simulation, StepAction, StepSpec, WorkflowSpec,
};
pub use metrics::{CounterSample, GaugeSample, HistogramSample, Labels, MetricsSnapshot};
pub use routines::{RoutineFire, RoutineList, RoutinePatch, RoutineRequest, RoutineView};
pub use runs::{
    AttemptStatus, AttemptView, CancelAccepted, RunList, RunStatus, RunSummaryView, RunView,
    StepKind, StepRunView, StepStatus, Timeline, Usage,
};
pub use session::{AuditEntry, AuditList, Session, WsTicket};
pub use ws::{
    AlertUpdate, ClientAction, ErrorMessage, HealthUpdate, MetricsUpdate, ServerMessage,
    StepUpdate, Subscribed, Unsubscribed, WorkflowUpdate,
};
