//! The state every handler can reach, passed explicitly through axum.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::notify::Outbox;
use crate::auth::Gate;
use crate::config::{Config, RoleSimulation};
use crate::engine::agents::{AgentBackend, Agents, Anthropic, Command, OpenAi, Simulated};
use crate::engine::{Engine, EngineConfig};
use crate::hub::Hub;
use crate::journal::{Journal, Replayed};
use crate::model::Model;
use crate::telemetry::{self, EngineMetrics, Registry};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Shared: axum clones the state for every request, and these options
    /// are a dozen strings (seen in profiles of `POST /api/jobs`).
    pub leptos_options: Arc<LeptosOptions>,
    pub engine: Engine,
    /// This node's metrics: what Prometheus scrapes.
    pub metrics: Arc<Registry>,
    /// What the API's JSON and the dashboard show (the cluster's, in one).
    pub metrics_view: telemetry::MetricsView,
    pub hub: Arc<Hub>,
    /// Alert notifications, queued in order from the journal.
    pub outbox: Arc<Outbox>,
    /// Who may do what.
    pub gate: Arc<Gate>,
    /// When this process started serving; uptime is measured from here.
    pub started: Instant,
    /// Cancelled at shutdown, once the final updates are out: WebSocket
    /// sessions send what is left for them and close with 1001.
    pub closing: CancellationToken,
    /// The WebSocket sessions alive, for shutdown to wait for their goodbyes.
    pub sessions: TaskTracker,
    /// The OpenTelemetry export, when `--otlp-endpoint` is set.
    pub otlp: Option<(Arc<crate::otlp::Exporter>, crate::otlp::Settings)>,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl AppState {
    /// Opens the event log, rebuilds the model from it, and builds the engine.
    pub fn open(mut config: Config) -> Result<(Self, Replayed), StartError> {
        let started = Instant::now();
        config.node_id = Some(config.node_id());
        let metrics = telemetry::registry(config.max_series_per_metric);
        let gate = Gate::new(
            config.auth_tokens.clone(),
            config.metrics_public,
            config.auth_failure_burst,
            std::time::Duration::from_secs(config.session_hours.max(1) * 3600),
            metrics.clone(),
        )
        .map_err(|e| StartError(format!("--auth-tokens: {e}")))?;
        if gate.is_open() && !config.addr.ip().is_loopback() && !config.insecure_no_auth {
            return Err(StartError(format!(
                "refusing to listen on {} without authentication: anyone who can reach it could \
                 submit jobs (and run the command backend's program), cancel runs and vote. Give \
                 --auth-tokens FILE, or --insecure-no-auth if something in front of the server \
                 authenticates",
                config.addr
            )));
        }
        let hub = Arc::new(Hub::new(config.health_rules(), started));
        let outbox = Arc::new(Outbox::new(&config.external_url()));
        let otlp = crate::otlp::Settings::from_config(&config)
            .map_err(StartError)?
            .map(|settings| (crate::otlp::Exporter::new(&settings, &metrics), settings));
        let mut observers: Vec<Arc<dyn crate::journal::Observer>> = vec![
            Arc::new(EngineMetrics::new(metrics.clone())),
            hub.clone(),
            outbox.clone(),
        ];
        if let Some((exporter, _)) = &otlp {
            observers.push(exporter.clone());
        }
        // On a shared log, the cluster's engine metrics beside this node's.
        let cluster_metrics = config.database_url.is_some().then(|| {
            let cluster = telemetry::registry(config.max_series_per_metric);
            observers.push(Arc::new(telemetry::EveryNode(EngineMetrics::new(
                cluster.clone(),
            ))));
            cluster
        });
        let metrics_view = telemetry::MetricsView {
            node: metrics.clone(),
            cluster: cluster_metrics,
        };
        let rules =
            crate::alerts::rules::load(config.alert_rules.as_deref()).map_err(StartError)?;
        let model = Model::with_recent_runs(config.recent_runs).with_alert_rules(rules);
        let (journal, replayed) = match &config.database_url {
            Some(url) => {
                Journal::open_postgres(url, &config.node_id(), config.lease_secs, model, observers)
            }
            None => Journal::open_sqlite(&config.db_path(), config.durability, model, observers),
        }
        .map_err(|e| StartError(e.to_string()))?;
        hub.watch_log(journal.writer().probe());
        outbox.arm();
        if let Some((exporter, _)) = &otlp {
            exporter.arm();
        }
        let engine = Engine::new(
            Arc::new(journal),
            agents(&config)?,
            EngineConfig {
                max_concurrent_steps: config.max_concurrent_steps,
                prices: Arc::new(
                    crate::prices::Prices::load(config.prices.as_deref()).map_err(StartError)?,
                ),
                ..EngineConfig::default()
            },
        );
        let leptos_options = LeptosOptions::builder()
            .output_name("shiioo")
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(config.addr)
            .build();
        let state = Self {
            config: Arc::new(config),
            leptos_options: Arc::new(leptos_options),
            engine,
            metrics,
            metrics_view,
            hub,
            outbox,
            gate: Arc::new(gate),
            started,
            closing: CancellationToken::new(),
            sessions: TaskTracker::new(),
            otlp,
        };
        state.sample_gauges();
        Ok((state, replayed))
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The server's health now.
    pub fn health(&self) -> wire::HealthStatus {
        let rules = self.config.health_rules();
        let uptime = self.uptime_secs();
        let journal = self.engine.journal();
        let log = journal.writer().probe().health();
        let mut health =
            journal.read(|m| crate::health::assess(m, &rules, uptime, chrono::Utc::now(), log));
        health.node_id = self.config.node_id();
        health.cluster = self.engine.cluster();
        health
    }

    /// Sets the gauges that describe current state rather than events:
    /// memory, the log's backlog, routines and approvals, and Prometheus's
    /// standard process metrics.
    pub fn sample_gauges(&self) {
        use crate::telemetry::names::*;
        let journal = self.engine.journal();
        let backlog = journal.log_backlog() as f64;
        let stats = &journal.writer().stats;
        let appended = stats.appended.load(std::sync::atomic::Ordering::Relaxed);
        let write_errors = stats.failures.load(std::sync::atomic::Ordering::Relaxed);
        let process = telemetry::process::Process::read();
        if let Some(cpu) = process.cpu_seconds {
            self.metrics
                .float_counters(PROCESS_CPU, &[])
                .with(&[], |c| c.absolute(cpu));
        }
        metrics::with_local_recorder(&*self.metrics, || {
            for (name, value) in [
                (PROCESS_RESIDENT_MEMORY, process.resident_memory_bytes),
                (PROCESS_VIRTUAL_MEMORY, process.virtual_memory_bytes),
                (PROCESS_OPEN_FDS, process.open_fds),
                (PROCESS_MAX_FDS, process.max_fds),
                (PROCESS_START_TIME, process.start_time_seconds),
            ] {
                if let Some(value) = value {
                    metrics::gauge!(name).set(value);
                }
            }
            if let Some(bytes) = process.resident_memory_bytes {
                metrics::gauge!(MEMORY_USAGE).set(telemetry::mib(bytes));
            }
            metrics::gauge!(EVENT_LOG_BACKLOG).set(backlog);
            metrics::counter!(EVENT_LOG_APPENDED).absolute(appended);
            metrics::counter!(EVENT_LOG_WRITE_ERRORS).absolute(write_errors);
        });
        let (routines, approvals) = journal.read(|m| (m.routines.enabled(), m.approvals.pending()));
        for registry in self.metrics_view.engines() {
            metrics::with_local_recorder(&**registry, || {
                metrics::gauge!(ACTIVE_ROUTINES).set(routines as f64);
                metrics::gauge!(PENDING_APPROVALS).set(approvals as f64);
            });
        }
    }
}

/// Every backend this server can reach: the `--agent-backend` one performs
/// the steps that name none (nor their role); the others those that do.
fn agents(config: &Config) -> Result<Agents, StartError> {
    let mut backends = Vec::new();
    for kind in wire::BackendKind::ALL {
        if let Some(backend) = agent_backend(config, kind)? {
            backends.push(backend);
        }
    }
    let default = wire::BackendKind::from(config.agent_backend);
    let Some(at) = backends.iter().position(|b| b.kind() == default) else {
        return Err(StartError(
            "--agent-backend command needs --agent-command (or SHIIOO_AGENT_COMMAND)".into(),
        ));
    };
    let default = backends.remove(at);
    for (role, agent) in &config.role_agents {
        if backends
            .iter()
            .chain([&default])
            .all(|b| b.kind() != agent.backend)
        {
            return Err(StartError(format!(
                "--role-agent {role}={}: {}",
                agent.backend.as_str(),
                crate::engine::agents::missing(agent.backend)
            )));
        }
    }
    let roles = config
        .role_agents
        .iter()
        .cloned()
        .collect::<HashMap<_, _>>();
    Ok(Agents::new(default, backends, roles))
}

/// The backend of `kind` as configured, `None` if it is not (a command
/// backend needs its command).
fn agent_backend(
    config: &Config,
    kind: wire::BackendKind,
) -> Result<Option<Arc<dyn AgentBackend>>, StartError> {
    use wire::BackendKind as Kind;
    Ok(Some(match kind {
        Kind::Simulated => Arc::new(Simulated::new(
            config.sim_seed,
            RoleSimulation {
                latency_ms: config.sim_latency_ms,
                failure_rate: config.sim_failure_rate,
            },
            config.sim_roles.iter().cloned().collect::<HashMap<_, _>>(),
        )),
        Kind::Openai => Arc::new(
            OpenAi::new(
                &config.openai_base_url,
                &config.openai_model,
                config.openai_api_key.clone(),
            )
            .map_err(StartError)?,
        ),
        Kind::Anthropic => Arc::new(
            Anthropic::new(
                &config.anthropic_base_url,
                &config.anthropic_model,
                config.anthropic_api_key.clone(),
                config.anthropic_max_tokens,
            )
            .map_err(StartError)?,
        ),
        Kind::Command => match config.agent_command.as_deref() {
            Some(command) => Arc::new(Command::new(command)),
            None => return Ok(None),
        },
    }))
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos_options).clone()
    }
}
