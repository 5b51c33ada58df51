use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wire::{RunList, RunView};

use super::extract::{PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::auth::Caller;
use crate::state::AppState;
use crate::views::{self, runs::RunsQuery};

/// `GET /api/runs?status=&workflow_id=&job_id=&limit=&before=`
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<RunList>, Failure> {
    views::runs::run_list(state.engine.journal(), &q)
        .await
        .map(Json)
}

/// `GET /api/runs/{run_id}`
pub async fn get(
    State(state): State<AppState>,
    PathParam(run_id): PathParam,
) -> Result<Json<RunView>, Failure> {
    let id = parse_id(&run_id, "run")?;
    let run = state.engine.journal().load_run(&id).await?;
    run.map(|r| Json(r.view()))
        .ok_or_else(|| Failure::not_found(format!("no run with id {run_id}")))
}

/// `POST /api/runs/{run_id}/cancel` — 202: the run stops shortly; follow it
/// with `GET /api/runs/{run_id}` or the WebSocket.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(run_id): PathParam,
) -> Result<(StatusCode, Json<serde_json::Value>), Failure> {
    let id = parse_id(&run_id, "run")?;
    state.engine.cancel(id, &who.name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"run_id": run_id, "status": "cancelling"})),
    ))
}
