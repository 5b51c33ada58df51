//! The dashboard: Leptos renders every page on the server with real data, and
//! serves the compiled WASM client that hydrates it.

use std::sync::{Arc, OnceLock};

use app::api::{Backend, BackendContext};
use app::wire::HealthStatus;
use app::{shell, App};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};

use crate::state::AppState;

/// What pages read while rendering: the same projections the API serves.
struct ServerBackend {
    state: AppState,
}

impl Backend for ServerBackend {
    fn health(&self) -> HealthStatus {
        crate::health::status(&self.state)
    }
}

/// The app's routes, generated once per process.
///
/// Generating them renders the app with resource loading suppressed through
/// a process-wide flag in leptos_server (leptos issue #4773): a resource first
/// polled by a concurrent render while that flag is up never resolves. One
/// generation, before any server of this process serves, rules that out even
/// when tests run several servers side by side.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: OnceLock<Vec<leptos_axum::AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn routes(state: &AppState) -> Router<AppState> {
    let backend = BackendContext(Arc::new(ServerBackend {
        state: state.clone(),
    }));
    let options = state.leptos_options.clone();
    Router::new()
        .leptos_routes_with_context(
            state,
            route_list(),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
