//! Metrics: our recorder behind the `metrics` facade, fed by engine events,
//! HTTP middleware and samplers, rendered as the guide's JSON and as
//! Prometheus text.
//!
//! Each server owns its registry and records into it explicitly, so that two
//! servers in one process (as in tests) never mix their figures: the hot
//! paths (engine events, the HTTP layer) hold its families and look series
//! up by borrowed label values; samplers go through the `metrics` facade
//! with `metrics::with_local_recorder`. `main` also installs the registry as
//! the process's global recorder, so a library's `counter!` lands there too.

pub mod cells;
mod engine;
pub mod family;
pub mod http;
pub mod process;
pub mod registry;
pub mod render;

use std::sync::Arc;

pub use engine::{EngineMetrics, EveryNode};
pub use registry::Registry;

/// The series the API's JSON and the dashboard show. Prometheus scrapes
/// each node's own (`node`: its counters count the events it wrote, so
/// that summing the nodes gives the cluster's totals); on a node of a
/// cluster the engine's series shown here come instead from `cluster`,
/// which folds every node's events, so that any node answers for all.
#[derive(Clone)]
pub struct MetricsView {
    pub node: Arc<Registry>,
    pub cluster: Option<Arc<Registry>>,
}

impl MetricsView {
    pub fn read_all(&self) -> Vec<registry::SeriesRead> {
        let mut all = self.node.read_all();
        if let Some(cluster) = &self.cluster {
            let theirs = cluster.read_all();
            let names: std::collections::HashSet<&str> =
                theirs.iter().map(|s| s.name.as_str()).collect();
            all.retain(|s| !names.contains(s.name.as_str()));
            all.extend(theirs);
            all.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        }
        all
    }

    /// The registries the engine's gauges are set in.
    pub fn engines(&self) -> impl Iterator<Item = &Arc<Registry>> {
        std::iter::once(&self.node).chain(&self.cluster)
    }
}

/// Metric names, in one place.
pub mod names {
    pub const WORKFLOW_EXECUTIONS: &str = "workflow_executions_total";
    pub const WORKFLOW_DURATION: &str = "workflow_duration_seconds";
    pub const STEP_DURATION: &str = "step_duration_seconds";
    pub const STEP_EXECUTIONS: &str = "step_executions_total";
    pub const STEP_RETRIES: &str = "step_retries_total";
    pub const ERRORS: &str = "errors_total";
    pub const HTTP_REQUESTS: &str = "http_requests_total";
    pub const REQUEST_DURATION: &str = "request_duration_seconds";
    pub const ACTIVE_WORKFLOWS: &str = "active_workflows";
    pub const ACTIVE_ROUTINES: &str = "active_routines";
    pub const PENDING_APPROVALS: &str = "pending_approvals";
    pub const MEMORY_USAGE: &str = "memory_usage_mb";
    pub const WEBSOCKET_CONNECTIONS: &str = "websocket_connections";
    pub const WEBSOCKET_MESSAGES_SENT: &str = "websocket_messages_sent_total";
    pub const WEBSOCKET_MESSAGES_DROPPED: &str = "websocket_messages_dropped_total";
    pub const EVENT_LOG_BACKLOG: &str = "event_log_backlog_events";
    pub const EVENT_LOG_APPENDED: &str = "event_log_events_total";
    pub const EVENT_LOG_WRITE_ERRORS: &str = "event_log_write_errors_total";
    pub const ALERTS_FIRING: &str = "alerts_firing";
    pub const ALERT_NOTIFICATIONS: &str = "alert_notifications_total";
    pub const ALERT_PUSHES: &str = "alert_pushes_total";
    pub const AUTH_FAILURES: &str = "auth_failures_total";
    // Prometheus's standard process metrics (`process`).
    pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
    pub const PROCESS_VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
    pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
    pub const PROCESS_MAX_FDS: &str = "process_max_fds";
    pub const PROCESS_START_TIME: &str = "process_start_time_seconds";
    pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
    pub const BUILD_INFO: &str = "shiioo_build_info";
    // Agent calls, named after OpenTelemetry's GenAI semantic conventions
    // (`gen_ai.client.token.usage`, `gen_ai.client.operation.duration`),
    // in Prometheus's spelling; and Shiioo's spend per workflow.
    pub const GEN_AI_TOKEN_USAGE: &str = "gen_ai_client_token_usage";
    pub const GEN_AI_OPERATION_DURATION: &str = "gen_ai_client_operation_duration_seconds";
    pub const LLM_COST: &str = "llm_cost_usd_total";
    pub const LLM_TOKENS: &str = "llm_tokens_total";
    // OpenTelemetry export (`--otlp-endpoint`); present only when it is on.
    pub const OTLP_SPANS_EXPORTED: &str = "otlp_spans_exported_total";
    pub const OTLP_SPANS_DROPPED: &str = "otlp_spans_dropped_total";
}

/// The conventions' bucket boundaries: tokens (powers of 4 from 1 to
/// 4^13) and seconds (doubling from 10 ms to 81.92 s).
pub const GEN_AI_TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
pub const GEN_AI_DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Metrics with labels: the ones a series cap can fold into `__overflow__`.
const LABELLED: [&str; 14] = [
    names::WORKFLOW_EXECUTIONS,
    names::WORKFLOW_DURATION,
    names::STEP_DURATION,
    names::STEP_EXECUTIONS,
    names::STEP_RETRIES,
    names::ERRORS,
    names::HTTP_REQUESTS,
    names::REQUEST_DURATION,
    names::ALERTS_FIRING,
    names::ALERT_NOTIFICATIONS,
    names::GEN_AI_TOKEN_USAGE,
    names::GEN_AI_OPERATION_DURATION,
    names::LLM_COST,
    names::LLM_TOKENS,
];

/// Default cap on distinct label sets per metric.
pub const DEFAULT_MAX_SERIES: usize = 1_000;

/// A fresh registry with every metric described.
pub fn registry(max_series_per_metric: usize) -> Arc<Registry> {
    let registry = Arc::new(Registry::new(max_series_per_metric));
    metrics::with_local_recorder(&*registry, || {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        use names::*;
        describe_counter!(
            WORKFLOW_EXECUTIONS,
            "Finished workflow runs by outcome (success, failure, cancelled, interrupted)."
        );
        describe_histogram!(
            WORKFLOW_DURATION,
            "Duration of finished workflow runs, per workflow."
        );
        describe_histogram!(
            STEP_DURATION,
            "Duration of every ended step attempt, per workflow and step."
        );
        describe_histogram!(
            GEN_AI_TOKEN_USAGE,
            "Tokens per agent call, by type (input, output), model and provider (OpenTelemetry GenAI conventions; provider simulated is drawn, not measured)."
        );
        describe_histogram!(
            GEN_AI_OPERATION_DURATION,
            "Duration of agent calls, by model and provider, failed ones with error_type (OpenTelemetry GenAI conventions)."
        );
        describe_counter!(
            LLM_COST,
            "Dollars spent on agent calls whose model the price table knows, per workflow and model."
        );
        describe_counter!(
            LLM_TOKENS,
            "Tokens of agent calls, per workflow, step and type (input, output)."
        );
        describe_counter!(
            STEP_EXECUTIONS,
            "Steps that reached a final state, per workflow, step and status."
        );
        describe_counter!(
            STEP_RETRIES,
            "Failed step attempts that were retried, per workflow and step."
        );
        describe_counter!(ERRORS, "Errors by kind: step_attempt_failed, step_failed, run_failed, run_interrupted, server_error.");
        describe_counter!(
            HTTP_REQUESTS,
            "HTTP requests by method and matched route template."
        );
        describe_histogram!(
            REQUEST_DURATION,
            "HTTP request latency by method and matched route template."
        );
        describe_gauge!(ACTIVE_WORKFLOWS, "Workflow runs in flight.");
        describe_gauge!(ACTIVE_ROUTINES, "Enabled scheduled routines.");
        describe_gauge!(PENDING_APPROVALS, "Approvals awaiting votes.");
        describe_gauge!(
            MEMORY_USAGE,
            "Resident memory of the server process, in MiB."
        );
        describe_gauge!(PROCESS_RESIDENT_MEMORY, "Resident memory size in bytes.");
        describe_gauge!(PROCESS_VIRTUAL_MEMORY, "Virtual memory size in bytes.");
        describe_gauge!(PROCESS_OPEN_FDS, "Number of open file descriptors.");
        describe_gauge!(PROCESS_MAX_FDS, "Maximum number of open file descriptors.");
        describe_gauge!(
            PROCESS_START_TIME,
            "Start time of the process since unix epoch in seconds."
        );
        describe_counter!(
            PROCESS_CPU,
            "Total user and system CPU time spent in seconds."
        );
        describe_gauge!(
            BUILD_INFO,
            "Always 1; its labels say which release and commit this server runs."
        );
        describe_gauge!(WEBSOCKET_CONNECTIONS, "Open WebSocket connections.");
        describe_counter!(
            WEBSOCKET_MESSAGES_SENT,
            "Messages sent to WebSocket clients."
        );
        describe_counter!(
            WEBSOCKET_MESSAGES_DROPPED,
            "Messages not delivered to WebSocket clients that could not keep up."
        );
        describe_gauge!(
            EVENT_LOG_BACKLOG,
            "Events waiting to be written to the durable log."
        );
        describe_counter!(
            EVENT_LOG_APPENDED,
            "Events written to the durable log by this process."
        );
        describe_counter!(
            EVENT_LOG_WRITE_ERRORS,
            "Commits to the durable log that failed (each retry counts); while they fail, changes are refused with 503."
        );
        describe_gauge!(ALERTS_FIRING, "Alerts firing now, by severity.");
        describe_counter!(
            ALERT_NOTIFICATIONS,
            "Alert webhook notifications by rule and outcome (delivered, or failed after every retry)."
        );
        describe_counter!(
            ALERT_PUSHES,
            "Pushes of the alert state to Alertmanager (--alertmanager-url) by outcome."
        );
        describe_counter!(
            AUTH_FAILURES,
            "Requests refused for want of a valid token, by reason (missing, unknown, rate_limited)."
        );
        describe_counter!(
            OTLP_SPANS_EXPORTED,
            "Spans of finished runs the OpenTelemetry collector accepted (--otlp-endpoint)."
        );
        describe_counter!(
            OTLP_SPANS_DROPPED,
            "Spans of finished runs not exported: the queue was full, the collector refused them or could not be reached."
        );
        describe_counter!(registry::OVERFLOW_COUNTER, "Registrations of new series folded into __overflow__ because a metric reached its series cap.");
        // Counters that may stay at 0 for a long time exist from the start,
        // so that rate() and alerts on them work (Prometheus practice).
        metrics::counter!(WEBSOCKET_MESSAGES_DROPPED).increment(0);
        metrics::counter!(WEBSOCKET_MESSAGES_SENT).increment(0);
        metrics::gauge!(WEBSOCKET_CONNECTIONS).set(0.0);
        metrics::gauge!(BUILD_INFO, "version" => crate::VERSION, "commit" => crate::COMMIT)
            .set(1.0);
        for labelled in LABELLED {
            metrics::counter!(registry::OVERFLOW_COUNTER, "metric" => labelled).increment(0);
        }
    });
    registry.set_buckets(names::GEN_AI_TOKEN_USAGE, &GEN_AI_TOKEN_BUCKETS);
    registry.set_buckets(names::GEN_AI_OPERATION_DURATION, &GEN_AI_DURATION_BUCKETS);
    registry.set_buckets(
        names::REQUEST_DURATION,
        &[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ],
    );
    registry
}

/// Resident memory of this process in MiB, from `/proc/self/status`.
pub fn resident_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(mib(kb * 1024.0))
}

/// Bytes in MiB, to a tenth: the guide's `memory_usage_mb`.
pub fn mib(bytes: f64) -> f64 {
    (bytes / (1024.0 * 1024.0) * 10.0).round() / 10.0
}
