//! Shiioo's server: engine, API, live updates and the server-rendered dashboard.

pub mod api;
pub mod config;
pub mod health;
mod ssr;
pub mod state;
pub mod ws;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;

/// The whole HTTP surface: `/api/*` first, then the dashboard's pages, then
/// static assets.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api", api::router())
        .merge(ssr::routes(&state))
        .with_state(state)
}

/// A server bound to its port, not yet serving: lets callers (tests, `main`)
/// learn the real address before anything runs.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    pub async fn bind(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self {
            listener,
            state: AppState::new(config),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
