//! The REST API under `/api`, one module per resource. Handlers stay thin:
//! they parse, call a plain function, and serialise.

pub mod alerts;
pub mod analytics;
pub mod approvals;
pub mod asyncapi;
pub mod audit;
mod docs;
mod error;
pub mod extract;
mod health;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod routines;
pub mod runs;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::{parse_id, Failure};

use crate::state::AppState;

/// Largest request body accepted; a job of 1,000 steps fits with room to spare.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/status", get(health::status))
        .route("/alerts", get(alerts::list))
        .route("/alerts/history", get(alerts::history))
        .route("/alerts/rules", get(alerts::rules))
        .route("/alerts/rules/prometheus", get(alerts::prometheus_rules))
        .route(
            "/alerts/rules/{name}",
            get(alerts::rule).put(alerts::put_rule),
        )
        .route("/analytics/workflows", get(analytics::workflows))
        .route(
            "/analytics/workflows/{workflow_id}",
            get(analytics::workflow),
        )
        .route("/analytics/steps", get(analytics::steps))
        .route("/analytics/traces", get(analytics::traces))
        .route("/analytics/traces/{run_id}", get(analytics::trace))
        .route(
            "/analytics/bottlenecks/{workflow_id}",
            get(analytics::bottlenecks),
        )
        .route("/analytics/heatmap/{workflow_id}", get(analytics::heatmap))
        .route("/analytics/throughput", get(analytics::throughput))
        .route("/analytics/timeline", get(analytics::timeline))
        .route("/analytics/models", get(analytics::models))
        .route("/jobs", post(jobs::create).get(jobs::list))
        .route("/jobs/{job_id}", get(jobs::get))
        .route("/jobs/{job_id}/runs", post(jobs::start_run))
        .route("/metrics", get(metrics::json))
        .route("/metrics/prometheus", get(metrics::prometheus))
        .route("/runs", get(runs::list))
        .route("/runs/{run_id}", get(runs::get))
        .route("/runs/{run_id}/cancel", post(runs::cancel))
        .route("/routines", post(routines::create).get(routines::list))
        .route(
            "/routines/{routine_id}",
            get(routines::get)
                .put(routines::replace)
                .patch(routines::patch)
                .delete(routines::delete),
        )
        .route("/routines/{routine_id}/enable", post(routines::enable))
        .route("/routines/{routine_id}/disable", post(routines::disable))
        .route("/approvals", get(approvals::list))
        .route("/approvals/{approval_id}", get(approvals::get))
        .route("/approvals/{approval_id}/vote", post(approvals::vote))
        .route("/session", get(crate::sign_in::whoami))
        .route("/audit", get(audit::list))
        .route("/ws", get(crate::ws::upgrade))
        .route("/ws/ticket", post(crate::sign_in::ws_ticket))
        .route("/openapi.json", get(openapi::document))
        .route("/asyncapi.json", get(openapi::asyncapi))
        .route("/docs", get(openapi::docs))
        .route("/docs/{file}", get(docs::asset))
        .route_layer(crate::panics::layer(crate::panics::Answer::Json))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}
