use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wire::{CancelAccepted, RunList, RunView};

use super::extract::{PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::auth::Caller;
use crate::state::AppState;
use crate::views::{self, runs::RunsQuery};

/// `GET /api/runs?status=&workflow_id=&job_id=&limit=&before=`
#[utoipa::path(
    get, path = "/api/runs", summary = "List runs", tag = "runs", params(RunsQuery),
    responses((status = 200, description = "Runs, newest first, a page at a time.", body = RunList))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<RunList>, Failure> {
    views::runs::run_list(state.engine.journal(), &q)
        .await
        .map(Json)
}

/// `GET /api/runs/{run_id}`
#[utoipa::path(
    get, path = "/api/runs/{run_id}", summary = "Get a run", tag = "runs",
    params(("run_id" = String, Path, description = "A run's ULID.")),
    responses((status = 200, description = "One run, its steps and attempts.", body = RunView))
)]
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
#[utoipa::path(
    post, path = "/api/runs/{run_id}/cancel", summary = "Cancel a run", tag = "runs",
    params(("run_id" = String, Path, description = "A run's ULID.")),
    responses(
        (status = 202, description = "The run stops shortly; follow it with `GET /api/runs/{run_id}` or the WebSocket.", body = CancelAccepted),
        (status = 409, description = "The run has finished already (`conflict`).", body = wire::ApiError)
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(run_id): PathParam,
) -> Result<(StatusCode, Json<CancelAccepted>), Failure> {
    let id = parse_id(&run_id, "run")?;
    state.engine.cancel(id, &who.name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelAccepted {
            run_id,
            status: "cancelling".into(),
        }),
    ))
}
