use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use wire::{JobCreated, JobList, JobQuery, JobRequest, JobView};

use super::extract::{JsonBody, PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::auth::Caller;
use crate::state::AppState;
use crate::views;

/// `POST /api/jobs`
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(job): JsonBody<JobRequest>,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let created = state.engine.create_job(job, &who.name).await?;
    Ok((StatusCode::CREATED, Json(created.wire())))
}

/// `GET /api/jobs[?workflow_id=&limit=&include_workflow=false]`: newest
/// first, every job unless limited.
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<JobQuery>,
) -> Result<Json<JobList>, Failure> {
    views::jobs::job_list(state.engine.journal(), &q)
        .await
        .map(Json)
}

/// `GET /api/jobs/{job_id}`
pub async fn get(
    State(state): State<AppState>,
    PathParam(job_id): PathParam,
) -> Result<Json<JobView>, Failure> {
    let id = parse_id(&job_id, "job")?;
    views::jobs::job(state.engine.journal(), id, true)
        .await?
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no job with id {job_id}")))
}

/// `POST /api/jobs/{job_id}/runs`
pub async fn start_run(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(job_id): PathParam,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let id = parse_id(&job_id, "job")?;
    let created = state.engine.start_run(id, &who.name).await?;
    Ok((StatusCode::CREATED, Json(created.wire())))
}
