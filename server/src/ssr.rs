//! The dashboard: Leptos renders every page on the server with real data, and
//! serves the compiled WASM client that hydrates it.

use std::sync::Arc;

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

pub fn routes(state: &AppState) -> Router<AppState> {
    let backend = BackendContext(Arc::new(ServerBackend {
        state: state.clone(),
    }));
    let options = state.leptos_options.clone();
    Router::new()
        .leptos_routes_with_context(
            state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
