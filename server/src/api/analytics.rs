use app::wire::{
    BottleneckReport, StepStatsList, Throughput, Trace, TraceList, WorkflowStats, WorkflowStatsList,
};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use ulid::Ulid;

use super::extract::{PathParam, QueryParams};
use super::runs::{filter, page_limit, parse_before, RunsQuery};
use super::Failure;
use crate::state::AppState;

/// The guide's "last 50"; `?limit=` may ask for up to 200.
pub const DEFAULT_TRACES: usize = 50;
pub const MAX_TRACES: usize = 200;

/// `GET /api/analytics/workflows`
pub async fn workflows(State(state): State<AppState>) -> Json<WorkflowStatsList> {
    let workflows = state.engine.journal().read(|m| m.analytics.workflows());
    Json(WorkflowStatsList { workflows })
}

/// `GET /api/analytics/workflows/{workflow_id}`
pub async fn workflow(
    State(state): State<AppState>,
    PathParam(workflow_id): PathParam,
) -> Result<Json<WorkflowStats>, Failure> {
    state
        .engine
        .journal()
        .read(|m| m.analytics.workflow(&workflow_id))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no executions of workflow {workflow_id:?} yet")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsQuery {
    pub workflow_id: Option<String>,
}

/// `GET /api/analytics/steps[?workflow_id=]`
pub async fn steps(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<StepsQuery>,
) -> impl IntoResponse {
    let workflow = q.workflow_id.filter(|w| !w.is_empty());
    let steps = state
        .engine
        .journal()
        .read(|m| m.analytics.steps(workflow.as_deref()));
    // Many series make a large answer: write it into a buffer sized for it
    // up front (about 600 bytes a series) rather than growing one.
    let mut body = Vec::with_capacity(256 + steps.len() * 640);
    serde_json::to_writer(&mut body, &StepStatsList { steps }).expect("statistics serialise");
    ([(CONTENT_TYPE, "application/json")], body)
}

/// `GET /api/analytics/traces[?status=&workflow_id=&limit=&before=]`: the most
/// recent runs' traces, newest first, including runs in progress.
pub async fn traces(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<TraceList>, Failure> {
    Ok(Json(TraceList {
        traces: trace_list(&state, &q).await?,
    }))
}

/// The traces a query asks for (shared by the API and the dashboard).
pub async fn trace_list(state: &AppState, q: &RunsQuery) -> Result<Vec<Trace>, Failure> {
    let filter = filter(q)?;
    let limit = page_limit(q.limit, DEFAULT_TRACES, MAX_TRACES)?;
    let before = parse_before(q.before.as_deref())?;
    let journal = state.engine.journal();
    let now = Utc::now();
    // Recent runs are traced under the lock; older ones are read back from
    // the log afterwards, without holding it.
    let slots: Vec<Result<Trace, Ulid>> = journal.read(|m| {
        let (page, _, _) = m.runs.list(&filter, before, limit);
        page.iter()
            .map(|r| {
                let id: Ulid = r.run_id.parse().expect("run ids are ULIDs");
                m.runs
                    .get(&id)
                    .map(|run| crate::analytics::trace(run, now))
                    .ok_or(id)
            })
            .collect()
    });
    let old: Vec<Ulid> = slots
        .iter()
        .filter_map(|s| s.as_ref().err().copied())
        .collect();
    let mut read_back = journal
        .load_runs(&old)
        .await
        .map_err(|e| Failure::internal(e.to_string()))?
        .into_iter();
    let mut traces = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Ok(trace) => traces.push(trace),
            Err(_) => {
                if let Some(run) = read_back.next().flatten() {
                    traces.push(crate::analytics::trace(&run, now));
                }
            }
        }
    }
    Ok(traces)
}

/// One run's trace, or `None` (shared by the API and the dashboard).
pub async fn find_trace(state: &AppState, run_id: &str) -> Result<Option<Trace>, Failure> {
    let Ok(id) = run_id.parse::<Ulid>() else {
        return Ok(None);
    };
    let run = state
        .engine
        .journal()
        .load_run(&id)
        .await
        .map_err(|e| Failure::internal(e.to_string()))?;
    Ok(run.map(|r| crate::analytics::trace(&r, Utc::now())))
}

/// `GET /api/analytics/traces/{run_id}`: any run, finished or in progress.
pub async fn trace(
    State(state): State<AppState>,
    PathParam(run_id): PathParam,
) -> Result<Json<Trace>, Failure> {
    find_trace(&state, &run_id)
        .await?
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no run with id {run_id}")))
}

/// `GET /api/analytics/bottlenecks/{workflow_id}`
pub async fn bottlenecks(
    State(state): State<AppState>,
    PathParam(workflow_id): PathParam,
) -> Result<Json<BottleneckReport>, Failure> {
    state
        .engine
        .journal()
        .read(|m| m.analytics.bottlenecks(&workflow_id))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no executions of workflow {workflow_id:?} yet")))
}

/// `GET /api/analytics/throughput`: finished executions per minute, last hour.
pub async fn throughput(State(state): State<AppState>) -> Json<Throughput> {
    Json(
        state
            .engine
            .journal()
            .read(|m| m.analytics.throughput(Utc::now())),
    )
}
