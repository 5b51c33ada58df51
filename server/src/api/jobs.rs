use app::wire::{JobCreated, JobList, JobRequest, JobView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::extract::JsonBody;
use super::{parse_id, Failure};
use crate::state::AppState;

/// `POST /api/jobs`
pub async fn create(
    State(state): State<AppState>,
    JsonBody(job): JsonBody<JobRequest>,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let created = state.engine.create_job(job)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/jobs`
pub async fn list(State(state): State<AppState>) -> Json<JobList> {
    let jobs = state.engine.journal().read(|m| {
        m.jobs
            .newest_first()
            .into_iter()
            .map(|j| j.view())
            .collect()
    });
    Json(JobList { jobs })
}

/// `GET /api/jobs/{job_id}`
pub async fn get(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Json<JobView>, Failure> {
    let id = parse_id(&job_id, "job")?;
    state
        .engine
        .journal()
        .read(|m| m.jobs.get(&id).map(|j| j.view()))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no job with id {job_id}")))
}

/// `POST /api/jobs/{job_id}/runs`
pub async fn start_run(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let id = parse_id(&job_id, "job")?;
    let created = state.engine.start_run(id)?;
    Ok((StatusCode::CREATED, Json(created)))
}
