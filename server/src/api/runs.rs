use app::wire::{RunList, RunStatus, RunView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use ulid::Ulid;

use super::extract::{PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::model::RunFilter;
use crate::state::AppState;

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    pub status: Option<String>,
    pub workflow_id: Option<String>,
    pub job_id: Option<String>,
    pub limit: Option<usize>,
    /// Cursor: the `next_before` of the previous page.
    pub before: Option<String>,
}

/// Parses the filters shared by the runs and traces lists.
pub fn filter(q: &RunsQuery) -> Result<RunFilter, Failure> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Failure::bad_request(
                "invalid_query",
                format!("unknown status {s:?}; one of Pending, Running, Completed, Failed, Cancelled, Interrupted"),
            )
            .field("status")
        })?),
    };
    let job_id = match q.job_id.as_deref() {
        None | Some("") => None,
        Some(j) => Some(j.parse::<Ulid>().map_err(|_| {
            Failure::bad_request("invalid_query", format!("{j:?} is not a job id")).field("job_id")
        })?),
    };
    Ok(RunFilter {
        status,
        workflow_id: q.workflow_id.clone().filter(|w| !w.is_empty()),
        job_id,
    })
}

/// The `before` cursor of a page, if any.
pub fn parse_before(raw: Option<&str>) -> Result<Option<Ulid>, Failure> {
    match raw {
        None | Some("") => Ok(None),
        Some(b) => b.parse::<Ulid>().map(Some).map_err(|_| {
            Failure::bad_request("invalid_query", format!("{b:?} is not a run id")).field("before")
        }),
    }
}

pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, Failure> {
    match limit {
        None => Ok(default),
        Some(0) => {
            Err(Failure::bad_request("invalid_query", "limit must be at least 1").field("limit"))
        }
        Some(n) => Ok(n.min(max)),
    }
}

/// `GET /api/runs?status=&workflow_id=&job_id=&limit=&before=`
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<RunsQuery>,
) -> Result<Json<RunList>, Failure> {
    let filter = filter(&q)?;
    let limit = page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let before = parse_before(q.before.as_deref())?;
    let (runs, total, next) = state
        .engine
        .journal()
        .read(|m| m.runs.list(&filter, before, limit));
    Ok(Json(RunList {
        runs,
        total,
        next_before: next.map(|n| n.to_string()),
    }))
}

/// `GET /api/runs/{run_id}`
pub async fn get(
    State(state): State<AppState>,
    PathParam(run_id): PathParam,
) -> Result<Json<RunView>, Failure> {
    let id = parse_id(&run_id, "run")?;
    let run = state
        .engine
        .journal()
        .load_run(&id)
        .await
        .map_err(|e| Failure::internal(e.to_string()))?;
    run.map(|r| Json(r.view()))
        .ok_or_else(|| Failure::not_found(format!("no run with id {run_id}")))
}

/// `POST /api/runs/{run_id}/cancel` — 202: the run stops shortly; follow it
/// with `GET /api/runs/{run_id}` or the WebSocket.
pub async fn cancel(
    State(state): State<AppState>,
    PathParam(run_id): PathParam,
) -> Result<(StatusCode, Json<serde_json::Value>), Failure> {
    let id = parse_id(&run_id, "run")?;
    state.engine.cancel(id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"run_id": run_id, "status": "cancelling"})),
    ))
}
