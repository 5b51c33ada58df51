//! Runtime configuration: command-line flags, each with an environment
//! variable, each with an embedded default, so that `shiioo` with no argument
//! runs a complete server on localhost:8080.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::health::{HealthRules, Thresholds};
use crate::store::Durability;

pub use crate::engine::agents::{RoleAgent, RoleSimulation};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AgentBackendKind {
    Simulated,
    Openai,
    Anthropic,
    Command,
}

impl From<AgentBackendKind> for wire::BackendKind {
    fn from(k: AgentBackendKind) -> Self {
        match k {
            AgentBackendKind::Simulated => Self::Simulated,
            AgentBackendKind::Openai => Self::Openai,
            AgentBackendKind::Anthropic => Self::Anthropic,
            AgentBackendKind::Command => Self::Command,
        }
    }
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "shiioo",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SHIIOO_COMMIT"), ")"),
    about = "Observable workflow engine for LLM-agent workflows"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SHIIOO_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Folder holding the dashboard's compiled assets (pkg/shiioo.{js,wasm,css}).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Folder of the durable event log (`shiioo.db`), created if missing.
    #[arg(long, env = "SHIIOO_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// This server's name in the API, the dashboard and the database's
    /// sessions; by default its host name and process id.
    #[arg(long, env = "SHIIOO_NODE_ID")]
    pub node_id: Option<String>,

    /// In a cluster: how long a node's lease lasts, in seconds. A node renews
    /// its lease every second; once it has not for this long (it died, or
    /// lost the database), another node takes its runs over.
    #[arg(long, env = "SHIIOO_LEASE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub lease_secs: u32,

    /// The event log in PostgreSQL instead (13 or newer):
    /// `postgres://user:password@host:port/db`. Every node of a cluster
    /// names the same database. `DATABASE_URL` is read too.
    #[arg(long, env = "SHIIOO_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// What a committed change survives: `normal`, a process crash;
    /// `full`, a power cut too (an fsync per commit).
    #[arg(long, env = "SHIIOO_DURABILITY", value_enum, default_value_t = Durability::Normal)]
    pub durability: Durability,

    /// Longest a shutdown waits (for runs to stop, clients to say goodbye,
    /// the log to take the last events) before the process exits anyway.
    #[arg(long, env = "SHIIOO_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    /// What performs agent tasks.
    #[arg(long, env = "SHIIOO_AGENT_BACKEND", value_enum, default_value_t = AgentBackendKind::Simulated)]
    pub agent_backend: AgentBackendKind,

    /// Seed of the simulated backend: the same seed replays the same latencies
    /// and failures for the same run, step and attempt.
    #[arg(long, env = "SHIIOO_SIM_SEED", default_value_t = 42)]
    pub sim_seed: u64,

    /// Default simulated latency range, `MIN..MAX` milliseconds.
    #[arg(long, env = "SHIIOO_SIM_LATENCY_MS", default_value = "300..1500", value_parser = parse_range)]
    pub sim_latency_ms: [u64; 2],

    /// Default probability that a simulated attempt fails, in [0, 1].
    #[arg(long, env = "SHIIOO_SIM_FAILURE_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub sim_failure_rate: f64,

    /// Per-role simulation, `ROLE=MIN..MAX[:FAILURE_RATE]`; repeat the flag, or
    /// separate entries with commas in the variable.
    #[arg(long = "sim-role", env = "SHIIOO_SIM_ROLES", value_delimiter = ',', value_parser = parse_role)]
    pub sim_roles: Vec<(String, RoleSimulation)>,

    /// A role's default backend and model, `ROLE=BACKEND[:MODEL]` (e.g.
    /// `reviewer=anthropic:claude-sonnet-4-5`); a step's own `agent` comes
    /// first. Repeat the flag, or separate entries with commas in the
    /// variable.
    #[arg(long = "role-agent", env = "SHIIOO_ROLE_AGENTS", value_delimiter = ',', value_parser = parse_role_agent)]
    pub role_agents: Vec<(String, RoleAgent)>,

    /// Base URL of an OpenAI-compatible server (`--agent-backend openai`).
    #[arg(
        long,
        env = "SHIIOO_OPENAI_BASE_URL",
        default_value = "https://api.openai.com"
    )]
    pub openai_base_url: String,

    #[arg(long, env = "SHIIOO_OPENAI_MODEL", default_value = "gpt-4o-mini")]
    pub openai_model: String,

    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// Base URL of Anthropic's API (`--agent-backend anthropic`).
    #[arg(
        long,
        env = "SHIIOO_ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,

    #[arg(
        long,
        env = "SHIIOO_ANTHROPIC_MODEL",
        default_value = "claude-haiku-4-5"
    )]
    pub anthropic_model: String,

    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,

    /// Most tokens an answer may have (the Messages API requires a bound).
    #[arg(long, env = "SHIIOO_ANTHROPIC_MAX_TOKENS", default_value_t = 4096)]
    pub anthropic_max_tokens: u32,

    /// Prices of models (TOML: USD per million input, output and cached
    /// tokens), over the shipped table (`server/prices/default.toml`).
    #[arg(long, env = "SHIIOO_PRICES")]
    pub prices: Option<PathBuf>,

    /// Export every run as an OpenTelemetry trace over OTLP/HTTP protobuf to
    /// this collector (`http://host:4318`; `/v1/traces` is appended).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// The traces URL itself, taken as it is (over `--otlp-endpoint`).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// Headers sent to the collector: `key=value,key2=value2`, values
    /// percent-encoded (an API key, say).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_HEADERS",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub otlp_headers: String,

    /// Only `http/protobuf` is spoken.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf"
    )]
    pub otlp_protocol: String,

    /// Longest wait for the collector's answer, in milliseconds.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value_t = 10_000)]
    pub otlp_timeout_ms: u64,

    /// The exported traces' `service.name`.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "shiioo")]
    pub otel_service_name: String,

    /// More resource attributes: `key=value,…` (`deployment.environment=prod`).
    #[arg(
        long,
        env = "OTEL_RESOURCE_ATTRIBUTES",
        default_value = "",
        hide_default_value = true
    )]
    pub otel_resource_attributes: String,

    /// Spans waiting for the collector at most; past it, finished runs are
    /// not exported and `otlp_spans_dropped_total` counts their spans.
    #[arg(long, env = "OTEL_BSP_MAX_QUEUE_SIZE", default_value_t = 2048)]
    pub otlp_max_queue_spans: usize,

    /// Spans per request to the collector at most.
    #[arg(long, env = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", default_value_t = 512)]
    pub otlp_max_batch_spans: usize,

    /// Longest a finished run's spans wait to be sent, in milliseconds (a
    /// full batch goes at once).
    #[arg(long, env = "OTEL_BSP_SCHEDULE_DELAY", default_value_t = 5000)]
    pub otlp_schedule_delay_ms: u64,

    /// Shell command run for each attempt (`--agent-backend command`): the
    /// prompt on stdin, the answer on stdout.
    #[arg(long, env = "SHIIOO_AGENT_COMMAND")]
    pub agent_command: Option<String>,

    /// Steps executing at once, over all runs.
    #[arg(long, env = "SHIIOO_MAX_CONCURRENT_STEPS", default_value_t = 256)]
    pub max_concurrent_steps: usize,

    /// Finished runs whose full detail stays in memory; older ones are read
    /// back from the event log on demand.
    #[arg(long, env = "SHIIOO_RECENT_RUNS", default_value_t = 2_000)]
    pub recent_runs: usize,

    /// Keep a few sample workflows running on the simulated backend, so the
    /// dashboard has something to show.
    #[arg(long, env = "SHIIOO_DEMO", default_value_t = false)]
    pub demo: bool,

    /// Distinct label sets a metric may have; past it, new series fold into
    /// one `__overflow__` series.
    #[arg(long, env = "SHIIOO_MAX_SERIES_PER_METRIC", default_value_t = crate::telemetry::DEFAULT_MAX_SERIES)]
    pub max_series_per_metric: usize,

    /// Health looks at the success rate of executions finished within this
    /// window (or, when fewer than 5 finished in it, the last 5).
    #[arg(long, env = "SHIIOO_HEALTH_WINDOW_SECS", default_value_t = 300)]
    pub health_window_secs: u64,

    /// Health is `degraded` when the recent success rate is below this percentage.
    #[arg(long, env = "SHIIOO_HEALTH_DEGRADED_BELOW", default_value_t = 95.0)]
    pub health_degraded_below: f64,

    /// Health is `critical` when the recent success rate is below this percentage.
    #[arg(long, env = "SHIIOO_HEALTH_CRITICAL_BELOW", default_value_t = 80.0)]
    pub health_critical_below: f64,

    /// Interval of the health heartbeat pushed to WebSocket subscribers.
    #[arg(long, env = "SHIIOO_HEALTH_HEARTBEAT_MS", default_value_t = 5_000)]
    pub health_heartbeat_ms: u64,

    /// `MetricsUpdate` pushes are coalesced: at most one per series per interval.
    #[arg(long, env = "SHIIOO_METRICS_PUSH_MS", default_value_t = 250)]
    pub metrics_push_ms: u64,

    /// Alert rules file (TOML): changes to the default rules and new rules,
    /// by name. Changes made through the API are kept in the event log and
    /// applied over it.
    #[arg(long, env = "SHIIOO_ALERT_RULES")]
    pub alert_rules: Option<PathBuf>,

    /// Interval of the steady alert evaluation (events that can move a rule
    /// also trigger one).
    #[arg(long, env = "SHIIOO_ALERT_EVAL_MS", default_value_t = 1_000)]
    pub alert_eval_ms: u64,

    /// First wait before retrying a failed alert webhook; it doubles per retry.
    #[arg(long, env = "SHIIOO_WEBHOOK_RETRY_MS", default_value_t = 1_000)]
    pub webhook_retry_ms: u64,

    /// Alertmanager(s) to send alerts to (base URLs, comma-separated, e.g.
    /// `http://localhost:9093`): firing and resolved alerts are pushed to
    /// its API v2 and re-sent while firing, as Prometheus does.
    #[arg(long = "alertmanager-url", env = "SHIIOO_ALERTMANAGER_URL", value_delimiter = ',', value_parser = parse_http_url)]
    pub alertmanager_urls: Vec<String>,

    /// Seconds between pushes of the firing alerts to Alertmanager (as
    /// Prometheus's `--rules.alert.resend-delay`); changes go at once.
    #[arg(long, env = "SHIIOO_ALERTMANAGER_RESEND_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub alertmanager_resend_secs: u64,

    /// Identities and their tokens (TOML, `[[token]]` tables with `name`,
    /// `role` and `sha256`); re-read on SIGHUP. Without it the server is
    /// open to anyone who reaches it, which it allows only on loopback.
    #[arg(long, env = "SHIIOO_AUTH_TOKENS")]
    pub auth_tokens: Option<PathBuf>,

    /// Listen on a non-loopback address without --auth-tokens (when
    /// something in front of the server authenticates).
    #[arg(long, env = "SHIIOO_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,

    /// Failed authentications a client address may make in a burst; then
    /// one every 2 s (each refused with 429 until its turn).
    #[arg(long, env = "SHIIOO_AUTH_FAILURE_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failure_burst: u32,

    /// Hours a dashboard session lasts after signing in.
    #[arg(long, env = "SHIIOO_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u64,

    /// Leave the Prometheus scrape paths (/metrics,
    /// /api/metrics/prometheus) open without a token.
    #[arg(long, env = "SHIIOO_METRICS_PUBLIC")]
    pub metrics_public: bool,

    /// Host names browsers may reach this server by, beyond IP addresses,
    /// `localhost` and the host of --external-url (comma-separated): any
    /// other `Host` is refused, which defeats DNS rebinding.
    #[arg(long, env = "SHIIOO_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Origins of other sites' pages allowed to act on this server (submit,
    /// cancel, vote, open a WebSocket), e.g. `https://ops.example.com`;
    /// comma-separated. Pages of the server's own origin always may.
    #[arg(long, env = "SHIIOO_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// This server's URL as alert notifications link to it (default: the
    /// listening address).
    #[arg(long, env = "SHIIOO_EXTERNAL_URL")]
    pub external_url: Option<String>,

    /// Interval at which idle WebSocket connections are pinged; a connection
    /// silent for three intervals is closed as dead.
    #[arg(long, env = "SHIIOO_WS_PING_MS", default_value_t = 20_000)]
    pub ws_ping_ms: u64,
}

impl Config {
    /// Defaults for tests: any free port, the log in `data_dir`, instant
    /// simulated agents.
    pub fn for_tests(data_dir: &std::path::Path) -> Self {
        let mut config = Self::parse_from([
            "shiioo",
            "--addr",
            "127.0.0.1:0",
            "--sim-latency-ms",
            "0..0",
        ]);
        config.data_dir = data_dir.to_path_buf();
        config
    }

    /// `--node-id`, or `host-pid`.
    pub fn node_id(&self) -> String {
        self.node_id
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("shiioo.db")
    }

    /// What health is judged by.
    pub fn health_rules(&self) -> HealthRules {
        HealthRules {
            thresholds: Thresholds {
                degraded_below: self.health_degraded_below,
                critical_below: self.health_critical_below,
            },
            window: wire::format::whole_secs(self.health_window_secs),
        }
    }

    pub fn health_heartbeat(&self) -> Duration {
        Duration::from_millis(self.health_heartbeat_ms.max(100))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs.min(3_600))
    }

    pub fn alert_eval(&self) -> Duration {
        Duration::from_millis(self.alert_eval_ms.max(10))
    }

    pub fn external_url(&self) -> String {
        self.external_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
    }

    pub fn ws_ping(&self) -> Duration {
        Duration::from_millis(self.ws_ping_ms.max(100))
    }
}

fn parse_range(s: &str) -> Result<[u64; 2], String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: expected MIN..MAX milliseconds"))?;
    let lo: u64 = lo.trim().parse().map_err(|e| format!("{lo:?}: {e}"))?;
    let hi: u64 = hi.trim().parse().map_err(|e| format!("{hi:?}: {e}"))?;
    if lo > hi {
        return Err(format!("{s:?}: MIN is above MAX"));
    }
    Ok([lo, hi])
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{s:?}: a failure rate is in [0, 1]"));
    }
    Ok(rate)
}

/// An `http://` or `https://` URL with a host.
fn parse_http_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s.trim()).map_err(|e| format!("{s:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("{s:?}: expected an http:// or https:// URL"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn parse_role_agent(s: &str) -> Result<(String, RoleAgent), String> {
    let expected = || {
        format!("{s:?}: expected ROLE=BACKEND[:MODEL], BACKEND one of simulated, openai, anthropic, command")
    };
    let (role, spec) = s.split_once('=').ok_or_else(expected)?;
    // A model's name may hold colons itself (Ollama's `llama3:8b`).
    let (backend, model) = match spec.split_once(':') {
        Some((backend, model)) => (backend, Some(model.trim())),
        None => (spec, None),
    };
    let backend = wire::BackendKind::ALL
        .into_iter()
        .find(|k| k.as_str() == backend.trim())
        .ok_or_else(expected)?;
    let role = role.trim();
    if role.is_empty() || model.is_some_and(str::is_empty) {
        return Err(expected());
    }
    Ok((
        role.to_string(),
        RoleAgent {
            backend,
            model: model.map(str::to_string),
        },
    ))
}

fn parse_role(s: &str) -> Result<(String, RoleSimulation), String> {
    let (role, spec) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected ROLE=MIN..MAX[:FAILURE_RATE]"))?;
    let (range, rate) = match spec.split_once(':') {
        Some((range, rate)) => (range, parse_rate(rate)?),
        None => (spec, 0.0),
    };
    Ok((
        role.trim().to_string(),
        RoleSimulation {
            latency_ms: parse_range(range)?,
            failure_rate: rate,
        },
    ))
}

/// The machine's host name, as the kernel has it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "shiioo".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_localhost_8080() {
        let config = Config::parse_from(["shiioo"]);
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.health_heartbeat(), Duration::from_secs(5));
    }

    #[test]
    fn role_agents_parse_with_an_optional_model() {
        let config = Config::parse_from([
            "shiioo",
            "--role-agent",
            "reviewer=anthropic:claude-sonnet-4-5",
            "--role-agent",
            "local=openai:llama3:8b",
            "--role-agent",
            " drafter = simulated",
        ]);
        let agent = |backend, model: Option<&str>| RoleAgent {
            backend,
            model: model.map(str::to_string),
        };
        assert_eq!(
            config.role_agents,
            vec![
                (
                    "reviewer".into(),
                    agent(wire::BackendKind::Anthropic, Some("claude-sonnet-4-5"))
                ),
                (
                    "local".into(),
                    agent(wire::BackendKind::Openai, Some("llama3:8b"))
                ),
                ("drafter".into(), agent(wire::BackendKind::Simulated, None)),
            ]
        );
        for bad in ["reviewer", "reviewer=gpt", "=openai", "x=openai:"] {
            assert!(
                Config::try_parse_from(["shiioo", "--role-agent", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn roles_parse_with_an_optional_failure_rate() {
        let config = Config::parse_from([
            "shiioo",
            "--sim-role",
            "writer=100..200:0.25",
            "--sim-role",
            "analyst=5..5",
        ]);
        assert_eq!(
            config.sim_roles,
            vec![
                (
                    "writer".to_string(),
                    RoleSimulation {
                        latency_ms: [100, 200],
                        failure_rate: 0.25
                    }
                ),
                (
                    "analyst".to_string(),
                    RoleSimulation {
                        latency_ms: [5, 5],
                        failure_rate: 0.0
                    }
                ),
            ]
        );
        assert!(Config::try_parse_from(["shiioo", "--sim-role", "x=9..1"]).is_err());
        assert!(Config::try_parse_from(["shiioo", "--sim-failure-rate", "1.5"]).is_err());
    }

    #[test]
    fn intervals_have_a_floor() {
        let config = Config::parse_from(["shiioo", "--ws-ping-ms", "0"]);
        assert_eq!(config.ws_ping(), Duration::from_millis(100));
    }
}
