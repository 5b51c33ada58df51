//! The state every handler can reach, passed explicitly through axum.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::{AgentBackendKind, Config, RoleSimulation};
use crate::engine::agents::{AgentBackend, Command, OpenAi, Simulated};
use crate::engine::{Engine, EngineConfig};
use crate::journal::{Journal, Replayed};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub engine: Engine,
    /// When this process started serving; uptime is measured from here.
    pub started: Instant,
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
    pub fn open(config: Config) -> Result<(Self, Replayed), StartError> {
        let (journal, replayed) = Journal::open_sqlite(&config.db_path(), config.recent_runs)
            .map_err(|e| StartError(e.to_string()))?;
        let engine = Engine::new(
            Arc::new(journal),
            agent_backend(&config)?,
            EngineConfig {
                max_concurrent_steps: config.max_concurrent_steps,
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
            leptos_options,
            engine,
            started: Instant::now(),
        };
        Ok((state, replayed))
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

fn agent_backend(config: &Config) -> Result<Arc<dyn AgentBackend>, StartError> {
    Ok(match config.agent_backend {
        AgentBackendKind::Simulated => Arc::new(Simulated::new(
            config.sim_seed,
            RoleSimulation {
                latency_ms: config.sim_latency_ms,
                failure_rate: config.sim_failure_rate,
            },
            config.sim_roles.iter().cloned().collect::<HashMap<_, _>>(),
        )),
        AgentBackendKind::Openai => Arc::new(
            OpenAi::new(
                &config.openai_base_url,
                &config.openai_model,
                config.openai_api_key.clone(),
            )
            .map_err(StartError)?,
        ),
        AgentBackendKind::Command => {
            let command = config.agent_command.as_deref().ok_or_else(|| {
                StartError(
                    "--agent-backend command needs --agent-command (or SHIIOO_AGENT_COMMAND)"
                        .into(),
                )
            })?;
            Arc::new(Command::new(command))
        }
    })
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
