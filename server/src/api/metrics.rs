use axum::extract::{RawQuery, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wire::MetricsSnapshot;

use crate::state::AppState;
use crate::telemetry::render::{self, Selector, PROMETHEUS_CONTENT_TYPE};

/// `GET /api/metrics[?name=a,b&label=value…]`: every series, or those whose
/// name is one of `name` and whose labels match every other parameter.
#[utoipa::path(
    get, path = "/api/metrics", summary = "Metrics as JSON", tag = "metrics",
    params(("name" = Option<String>, Query, description = "Comma-separated metric names; any other parameter is a label that each series must carry with that value.")),
    responses((status = 200, description = "Every series (or those selected) as JSON.", body = MetricsSnapshot))
)]
pub async fn json(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Json<MetricsSnapshot> {
    state.sample_gauges();
    let selector = Selector::from_query(query.as_deref().unwrap_or_default());
    Json(render::snapshot_of(
        state.metrics_view.read_all(),
        &selector,
    ))
}

/// `GET /api/metrics/prometheus` and `GET /metrics`: text format 0.0.4.
#[utoipa::path(
    get, path = "/api/metrics/prometheus", summary = "Metrics for Prometheus", tag = "metrics",
    responses((status = 200, description = "Every series in the Prometheus text exposition format 0.0.4.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    state.sample_gauges();
    (
        [(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
        render::prometheus(&state.metrics),
    )
}

/// `GET /metrics` is two things: Prometheus's conventional scrape path, and
/// the dashboard's Metrics page. A client that asks for HTML (a browser) gets
/// the page; anything else (Prometheus, curl) gets the exposition text.
pub async fn negotiate_root_metrics(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == "/metrics" && !wants_html(&req) {
        return prometheus(State(state)).await.into_response();
    }
    next.run(req).await
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}
