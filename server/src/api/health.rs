use axum::extract::State;
use axum::Json;
use wire::HealthStatus;

use crate::state::AppState;

/// `GET /api/health/status`
#[utoipa::path(
    get, path = "/api/health/status", summary = "Health", tag = "health",
    responses((status = 200, description = "Overall health, the event log's, and active alerts.", body = HealthStatus))
)]
pub async fn status(State(state): State<AppState>) -> Json<HealthStatus> {
    Json(state.health())
}
