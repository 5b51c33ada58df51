//! The REST API under `/api`, one module per resource. Handlers stay thin:
//! they parse, call a plain function, and serialise.

mod error;
mod health;

use axum::routing::get;
use axum::Router;

pub use error::Failure;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/status", get(health::status))
        .route("/ws", get(crate::ws::upgrade))
        .fallback(error::not_found)
}
