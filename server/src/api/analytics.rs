use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use wire::{
    BottleneckReport, Heatmap, ModelStatsList, StepStatsList, Throughput, Timeline, Trace,
    TraceList, WorkflowStats, WorkflowStatsList,
};

use super::extract::{PathParam, QueryParams};
use super::Failure;
use crate::state::AppState;
use crate::views::range::RangeQuery;
use crate::views::runs::RunsQuery;
use crate::views::traces::{find_trace, trace_list};

/// `GET /api/analytics/workflows`
#[utoipa::path(
    get, path = "/api/analytics/workflows", summary = "Statistics of every workflow", tag = "analytics",
    params(RangeQuery),
    responses((status = 200, description = "Statistics of every workflow (that ran in the range, if one is given).", body = WorkflowStatsList))
)]
pub async fn workflows(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<WorkflowStatsList>, Failure> {
    let range = q.range(Utc::now())?;
    let workflows = state
        .engine
        .journal()
        .read(|m| m.analytics.workflows_in(range));
    Ok(Json(WorkflowStatsList { workflows }))
}

/// `GET /api/analytics/workflows/{workflow_id}`
#[utoipa::path(
    get, path = "/api/analytics/workflows/{workflow_id}", summary = "Statistics of one workflow", tag = "analytics",
    params(("workflow_id" = String, Path), RangeQuery),
    responses((status = 200, description = "One workflow's statistics (in the range, if one is given).", body = WorkflowStats))
)]
pub async fn workflow(
    State(state): State<AppState>,
    PathParam(workflow_id): PathParam,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<WorkflowStats>, Failure> {
    let range = q.range(Utc::now())?;
    state
        .engine
        .journal()
        .read(|m| m.analytics.workflow_in(&workflow_id, range))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no executions of workflow {workflow_id:?} yet")))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StepsQuery {
    /// Only this workflow's steps.
    pub workflow_id: Option<String>,
    /// Start of the range: an RFC 3339 time, or a span back from now
    /// (`15m`, `1h`, `24h`, `7d`).
    pub since: Option<String>,
    /// End of the range (exclusive), as `since`; now when absent.
    pub until: Option<String>,
}

/// `GET /api/analytics/steps[?workflow_id=]`
#[utoipa::path(
    get, path = "/api/analytics/steps", summary = "Statistics of every step", tag = "analytics", params(StepsQuery),
    responses((status = 200, description = "Per-step statistics with percentiles.", body = StepStatsList))
)]
pub async fn steps(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<StepsQuery>,
) -> Result<impl IntoResponse, Failure> {
    let range = crate::views::range::parse(q.since.as_deref(), q.until.as_deref(), Utc::now())?;
    let workflow = q.workflow_id.filter(|w| !w.is_empty());
    let steps = state
        .engine
        .journal()
        .read(|m| m.analytics.steps_in(workflow.as_deref(), range));
    // Many series make a large answer: write it into a buffer sized for it
    // up front (about 600 bytes a series) rather than growing one.
    let mut body = Vec::with_capacity(256 + steps.len() * 640);
    serde_json::to_writer(&mut body, &StepStatsList { steps }).expect("statistics serialise");
    Ok(([(CONTENT_TYPE, "application/json")], body))
}

/// `GET /api/analytics/traces[?status=&workflow_id=&limit=&before=]`: the most
/// recent runs' traces, newest first, including runs in progress.
#[utoipa::path(
    get, path = "/api/analytics/traces", summary = "List recent traces", tag = "analytics", params(RunsQuery),
    responses((status = 200, description = "The most recent runs' traces, newest first, runs in progress included.", body = TraceList))
)]
pub async fn traces(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<TraceList>, Failure> {
    Ok(Json(TraceList {
        traces: trace_list(state.engine.journal(), &q).await?,
    }))
}

/// `GET /api/analytics/traces/{run_id}`: any run, finished or in progress.
#[utoipa::path(
    get, path = "/api/analytics/traces/{run_id}", summary = "Get a run's trace", tag = "analytics",
    params(("run_id" = String, Path, description = "A run's ULID.")),
    responses((status = 200, description = "One run's trace, finished or in progress.", body = Trace))
)]
pub async fn trace(
    State(state): State<AppState>,
    PathParam(run_id): PathParam,
) -> Result<Json<Trace>, Failure> {
    find_trace(state.engine.journal(), &run_id)
        .await?
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no run with id {run_id}")))
}

/// `GET /api/analytics/bottlenecks/{workflow_id}`
#[utoipa::path(
    get, path = "/api/analytics/bottlenecks/{workflow_id}", summary = "Bottlenecks of a workflow", tag = "analytics",
    params(("workflow_id" = String, Path), RangeQuery),
    responses((status = 200, description = "Where a workflow spends its time: step shares and critical paths (of the runs in the range, if one is given).", body = BottleneckReport))
)]
pub async fn bottlenecks(
    State(state): State<AppState>,
    PathParam(workflow_id): PathParam,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<BottleneckReport>, Failure> {
    let range = q.range(Utc::now())?;
    state
        .engine
        .journal()
        .read(|m| m.analytics.bottlenecks(&workflow_id, range))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no executions of workflow {workflow_id:?} yet")))
}

/// `GET /api/analytics/models[?since=&until=]`
#[utoipa::path(
    get, path = "/api/analytics/models", summary = "Statistics of every model", tag = "analytics",
    params(RangeQuery),
    responses((status = 200, description = "Agent calls by provider and model (in the range, if one is given): calls, failures and error rate, tokens, cost, latency p50/p95/p99 and time to first token p50/p95; most spent first.", body = ModelStatsList))
)]
pub async fn models(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<ModelStatsList>, Failure> {
    let range = q.range(Utc::now())?;
    let models = state.engine.journal().read(|m| m.analytics.models(range));
    Ok(Json(ModelStatsList { models }))
}

/// `GET /api/analytics/timeline[?since=&until=&workflow_id=&status=&limit=]`
#[utoipa::path(
    get, path = "/api/analytics/timeline", summary = "Runs on one time axis", tag = "analytics", params(RunsQuery),
    responses((status = 200, description = "Every run active in the range (the last hour unless one is given), newest first, across workflows: created before its end and not finished before its start. 500 runs unless `limit` asks for up to 2,000.", body = Timeline))
)]
pub async fn timeline(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<Timeline>, Failure> {
    Ok(Json(
        crate::views::runs::timeline(state.engine.journal(), &q).await?,
    ))
}

/// `GET /api/analytics/heatmap/{workflow_id}[?since=&until=]`: the last
/// 24 hours unless a range is given.
#[utoipa::path(
    get, path = "/api/analytics/heatmap/{workflow_id}", summary = "Heatmap of a workflow's steps", tag = "analytics",
    params(("workflow_id" = String, Path), RangeQuery),
    responses((status = 200, description = "Each step's executions, p95 duration and queue time by period (the last 24 hours unless a range is given; at most 60 periods).", body = Heatmap))
)]
pub async fn heatmap(
    State(state): State<AppState>,
    PathParam(workflow_id): PathParam,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<Heatmap>, Failure> {
    let now = Utc::now();
    let range = q.range(now)?;
    state
        .engine
        .journal()
        .read(|m| m.analytics.heatmap(&workflow_id, range, now))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no executions of workflow {workflow_id:?} yet")))
}

/// `GET /api/analytics/throughput`: finished executions per minute, last
/// hour; or per period over a range.
#[utoipa::path(
    get, path = "/api/analytics/throughput", summary = "Executions per minute", tag = "analytics",
    params(RangeQuery),
    responses((status = 200, description = "Finished executions per minute over the last hour; over a range, per period of `bucket_secs` (at most 180 points).", body = Throughput))
)]
pub async fn throughput(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RangeQuery>,
) -> Result<Json<Throughput>, Failure> {
    let now = Utc::now();
    let range = q.range(now)?;
    Ok(Json(
        state
            .engine
            .journal()
            .read(|m| m.analytics.throughput(range, now)),
    ))
}
