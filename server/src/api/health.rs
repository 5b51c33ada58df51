use axum::extract::State;
use axum::Json;
use wire::HealthStatus;

use crate::state::AppState;

/// `GET /api/health/status`
pub async fn status(State(state): State<AppState>) -> Json<HealthStatus> {
    Json(state.health())
}
