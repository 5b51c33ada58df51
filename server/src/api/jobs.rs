use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use wire::{JobCreated, JobList, JobQuery, JobRequest, JobView};

use super::extract::{JsonBody, PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::auth::Caller;
use crate::state::AppState;
use crate::views;

/// `POST /api/jobs`
#[utoipa::path(
    post, path = "/api/jobs", summary = "Submit a job", tag = "jobs",
    params(
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context: the run joins the caller's trace, under its span (exported with `--otlp-endpoint`). A malformed one is ignored."),
        ("tracestate" = Option<String>, Header, description = "W3C Trace Context vendor state, passed on to the run's spans.")
    ),
    request_body(content = JobRequest, example = json!(crate::api::openapi::guide_job())),
    responses((status = 201, description = "The job, stored; with `execute: true` its first run has started.", body = JobCreated,
        links(
            ("GetJob" = (operation_id = "get_job", parameters(("job_id" = "$response.body#/job_id")))),
            ("StartRun" = (operation_id = "start_run_job", parameters(("job_id" = "$response.body#/job_id")))),
            ("GetRun" = (operation_id = "get_run", parameters(("run_id" = "$response.body#/run_id")))),
            ("CancelRun" = (operation_id = "cancel_run", parameters(("run_id" = "$response.body#/run_id"))))
        )))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    JsonBody(job): JsonBody<JobRequest>,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let created = state
        .engine
        .create_job_traced(job, &who.name, trace_context(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(created.wire())))
}

/// `GET /api/jobs[?workflow_id=&limit=&include_workflow=false]`: newest
/// first, every job unless limited.
#[utoipa::path(
    get, path = "/api/jobs", summary = "List jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, description = "Jobs, newest first.", body = JobList))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<JobQuery>,
) -> Result<Json<JobList>, Failure> {
    views::jobs::job_list(state.engine.journal(), &q)
        .await
        .map(Json)
}

/// `GET /api/jobs/{job_id}`
#[utoipa::path(
    get, path = "/api/jobs/{job_id}", summary = "Get a job", tag = "jobs",
    params(("job_id" = String, Path, description = "A job's ULID.")),
    responses((status = 200, description = "One job and its definition.", body = JobView))
)]
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
#[utoipa::path(
    post, path = "/api/jobs/{job_id}/runs", summary = "Start a run of a job", tag = "jobs",
    params(
        ("job_id" = String, Path, description = "A job's ULID."),
        ("traceparent" = Option<String>, Header, description = "W3C Trace Context, as for `POST /api/jobs`."),
        ("tracestate" = Option<String>, Header, description = "W3C Trace Context vendor state.")
    ),
    responses((status = 201, description = "A new run of the job, started.", body = JobCreated,
        links(
            ("GetRun" = (operation_id = "get_run", parameters(("run_id" = "$response.body#/run_id")))),
            ("CancelRun" = (operation_id = "cancel_run", parameters(("run_id" = "$response.body#/run_id"))))
        )))
)]
pub async fn start_run(
    State(state): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    PathParam(job_id): PathParam,
) -> Result<(StatusCode, Json<JobCreated>), Failure> {
    let id = parse_id(&job_id, "job")?;
    let created = state
        .engine
        .start_run_traced(id, &who.name, trace_context(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(created.wire())))
}

/// The caller's W3C trace context, if it sent a valid one (an invalid
/// `traceparent` is ignored, as the recommendation says: the run then
/// starts a trace of its own).
fn trace_context(headers: &HeaderMap) -> Option<crate::events::records::TraceParent> {
    let parent = headers.get("traceparent")?.to_str().ok()?;
    let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
    crate::otlp::context::parse(parent, state)
}
