//! Shiioo's server: engine, API, live updates and the server-rendered dashboard.

pub mod alerts;
pub mod analytics;
pub mod api;
mod assets;
pub mod auth;
pub mod cli;
pub mod config;
mod demo;
pub mod engine;
pub mod events;
pub mod health;
pub mod hub;
pub mod journal;
pub mod model;
pub mod otlp;
pub mod panics;
pub mod prices;
pub mod runs;
pub mod sign_in;
pub mod ssr;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod ws;

/// This build's release, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit this build was made from (`build.rs`), or `unknown`.
pub const COMMIT: &str = env!("SHIIOO_COMMIT");

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::{AppState, StartError};

/// The whole HTTP surface: `/api/*` first, then the dashboard's pages, then
/// static assets; answers compressed as the client accepts.
pub fn router(state: AppState) -> Router {
    let metrics = std::sync::Arc::new(telemetry::http::HttpMetrics::new(&state.metrics));
    Router::new()
        .nest("/api", api::router())
        .merge(sign_in::routes())
        .merge(ssr::routes(&state))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::metrics::negotiate_root_metrics,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.gate.clone(),
            auth::authorize,
        ))
        .route_layer(axum::middleware::from_fn(
            telemetry::http::expose_matched_path,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(auth::sites::Sites::new(
                &state.config.allowed_hosts,
                &state.config.allowed_origins,
                state.config.external_url.as_deref(),
            )),
            auth::sites::guard,
        ))
        .layer(assets::compression())
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            telemetry::http::track,
        ))
        .with_state(state)
}

/// A server bound to its port, not yet serving: lets callers (tests, `main`)
/// learn the real address before anything runs.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Opens the event log (replaying it) and binds the address.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        let addr = config.addr;
        let (state, replayed) = AppState::open(config)?;
        let recovered = state.engine.recover(replayed.stopped_at).await;
        // In a cluster, from here on what the other nodes write is folded too.
        state.engine.journal().follow();
        tracing::info!(
            agents = state.engine.agent_backend(),
            events = replayed.events,
            resumed = recovered.resumed.len(),
            interrupted = recovered.interrupted.len(),
            millis = replayed.millis as u64,
            "event log replayed"
        );
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
        Ok(Self { listener, state })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let engine = self.state.engine.clone();
        let scheduler = tokio::spawn(engine.clone().run_scheduler());
        let cluster = tokio::spawn(engine.clone().run_cluster());
        let cluster_events = tokio::spawn(engine.clone().follow_cluster());
        let demo = self
            .state
            .config
            .demo
            .then(|| tokio::spawn(demo::run(engine.clone())));
        let alerts = tokio::spawn(crate::alerts::run(
            engine.journal().clone(),
            self.state.config.alert_eval(),
        ));
        let notifier = tokio::spawn(
            crate::alerts::notify::Notifier::new(
                std::time::Duration::from_millis(self.state.config.webhook_retry_ms),
                self.state.metrics.clone(),
            )
            .run(engine.journal().clone(), self.state.outbox.clone()),
        );
        let alertmanager = (!self.state.config.alertmanager_urls.is_empty()).then(|| {
            tokio::spawn(
                crate::alerts::alertmanager::Alertmanager::new(
                    &self.state.config.alertmanager_urls,
                    std::time::Duration::from_secs(self.state.config.alertmanager_resend_secs),
                    self.state.metrics.clone(),
                )
                .run(engine.journal().clone(), self.state.outbox.clone()),
            )
        });
        // Stopped after the last events are on disk, so that the runs a stop
        // interrupts are exported too.
        let otlp_stop = tokio_util::sync::CancellationToken::new();
        let otlp = self.state.otlp.clone().map(|(exporter, settings)| {
            tokio::spawn(exporter.run(settings, engine.journal().clone(), otlp_stop.clone()))
        });
        let log_health = tokio::spawn(self.state.hub.clone().follow_log(engine.journal().clone()));
        let metrics_push = tokio::spawn(self.state.hub.clone().push_metrics(
            self.state.metrics_view.clone(),
            std::time::Duration::from_millis(self.state.config.metrics_push_ms.max(50)),
        ));
        // SIGHUP re-reads the tokens file, as daemons re-read their files.
        #[cfg(unix)]
        let hangup = self.state.config.auth_tokens.is_some().then(|| {
            let gate = self.state.gate.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hangups.recv().await.is_some() {
                    match gate.reload() {
                        Ok(n) => tracing::info!(identities = n, "tokens file re-read"),
                        Err(e) => {
                            tracing::error!("tokens file not re-read, the old identities stay: {e}")
                        }
                    }
                }
            })
        });
        let sampler = {
            let state = self.state.clone();
            tokio::spawn(async move {
                // Each second the series that changed are dated (recording
                // reads no clock); every fifth, the gauges are sampled.
                let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
                for tick in 0u64.. {
                    every.tick().await;
                    if tick % 5 == 0 {
                        state.sample_gauges();
                    }
                    state.metrics.stamp();
                }
            })
        };
        let demo = demo.map(|d| d.abort_handle());
        let budget = self.state.config.shutdown_timeout();
        // Set when the stop begins: every stage of it ends by this instant.
        let (deadline_tx, deadline_rx) = tokio::sync::watch::channel(None);
        let stopping = {
            let state = self.state.clone();
            let scheduler = scheduler.abort_handle();
            let fenced = state.engine.fenced().clone();
            async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = fenced.cancelled() => {
                        // Nothing this node still holds may reach the log:
                        // none of it was acknowledged.
                        state.engine.journal().writer().abandon();
                    }
                }
                let _ = deadline_tx.send(Some(tokio::time::Instant::now() + budget));
                // Nothing new starts; runs in flight stop here, their
                // attempts recorded as stopped now (not at the next start,
                // with the downtime in their times), to go on at the next
                // start; watchers get those updates, then a close.
                scheduler.abort();
                if let Some(demo) = demo {
                    demo.abort();
                }
                let stopped = state.engine.stop().await;
                if !stopped.interrupted.is_empty() || !stopped.resumed.is_empty() {
                    tracing::info!(
                        interrupted = stopped.interrupted.len(),
                        left_to_resume = stopped.resumed.len(),
                        "stopped the runs in flight"
                    );
                }
                state.closing.cancel();
            }
        };
        let sessions = self.state.sessions.clone();
        let app = router(self.state);
        // Small frames (WebSocket updates, JSON answers) go out at once
        // rather than waiting on Nagle's algorithm for the peer's ACK.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // The client's address keys the rate limit of failed authentication.
        let serving = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopping);
        let mut deadline_watch = deadline_rx.clone();
        let deadline = async move {
            let at = deadline_watch.wait_for(Option::is_some).await.map(|at| *at);
            match at {
                Ok(Some(at)) => tokio::time::sleep_until(at).await,
                // The sender lives as long as the serving future.
                _ => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        let served = tokio::select! {
            served = serving.into_future() => served,
            _ = &mut deadline => {
                tracing::warn!(?budget, "requests still in flight at the shutdown deadline were dropped");
                Ok(())
            }
        };
        let at = (*deadline_rx.borrow()).unwrap_or_else(|| tokio::time::Instant::now() + budget);
        tracing::debug!("stop: HTTP connections done");
        // WebSocket sessions outlive the HTTP server: wait for their goodbyes.
        sessions.close();
        if tokio::time::timeout_at(at, sessions.wait()).await.is_err() {
            tracing::warn!("some WebSocket clients did not take their close in time");
        }
        sampler.abort();
        metrics_push.abort();
        cluster.abort();
        cluster_events.abort();
        log_health.abort();
        alerts.abort();
        notifier.abort();
        #[cfg(unix)]
        if let Some(hangup) = hangup {
            hangup.abort();
        }
        if let Some(alertmanager) = alertmanager {
            alertmanager.abort();
        }
        tracing::debug!("stop: WebSocket sessions closed");
        // Everything published before the stop reaches the disk, unless the
        // disk will not take it by the deadline: then the process exits
        // anyway, saying what was lost. None of it was acknowledged, since
        // acknowledgements wait for the commit.
        let journal = engine.journal();
        if tokio::time::timeout_at(at, engine.flush()).await.is_err() {
            tracing::error!(
                events = journal.log_backlog(),
                cause = journal
                    .log_failing()
                    .as_deref()
                    .unwrap_or("the disk is slow"),
                "shutting down without writing the last events; none of them was acknowledged"
            );
            journal.writer().abandon();
        } else {
            tracing::debug!("stop: event log committed");
            // In a cluster: the runs left go to another node now, their
            // stop on record, rather than when the lease would lapse.
            if let Some(log) = journal.shared().cloned() {
                if !engine.fenced().is_cancelled() {
                    let left = tokio::task::spawn_blocking(move || log.leave()).await;
                    if let Ok(Err(e)) = left {
                        tracing::warn!("could not hand this node's runs over at once: {e}");
                    }
                }
            }
        }
        journal.close();
        // The last spans go in one attempt each, by the deadline.
        if let Some(otlp) = otlp {
            otlp_stop.cancel();
            if tokio::time::timeout_at(at, otlp).await.is_err() {
                tracing::warn!("the last runs' spans were not exported by the shutdown deadline");
            }
        }
        served
    }
}
