//! `/api/routines` and `/api/approvals`.

use app::wire::{
    ApprovalList, ApprovalStatus, ApprovalView, RoutineList, RoutinePatch, RoutineRequest,
    RoutineView, VoteRequest,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use ulid::Ulid;

use super::extract::{JsonBody, PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::engine::schedule::Schedule;
use crate::model::{Model, RoutineState};
use crate::state::AppState;

/// A routine as the API shows it: its next fires and its history with each
/// run's current status.
pub fn routine_view(m: &Model, r: &RoutineState) -> RoutineView {
    let next_fires = match (r.enabled, Schedule::parse(&r.cron, Some(&r.timezone))) {
        (true, Ok(schedule)) => {
            let after = r.last_scheduled.map_or(Utc::now(), |l| l.max(Utc::now()));
            schedule.next_fires(after, 5)
        }
        _ => Vec::new(),
    };
    let history = r
        .history
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.status = f.run_id.parse().ok().and_then(|id| m.runs.status(&id));
            f
        })
        .collect();
    RoutineView {
        routine_id: r.routine_id.to_string(),
        name: r.name.clone(),
        cron: r.cron.clone(),
        timezone: r.timezone.clone(),
        job_id: r.job_id.to_string(),
        workflow_id: m
            .jobs
            .get(&r.job_id)
            .map(|j| j.workflow_id.to_string())
            .unwrap_or_default(),
        enabled: r.enabled,
        created_at: r.created_at,
        next_fires,
        history,
    }
}

pub fn routines(m: &Model) -> RoutineList {
    RoutineList {
        routines: m
            .governance
            .routines
            .values()
            .map(|r| routine_view(m, r))
            .collect(),
    }
}

fn one(state: &AppState, id: Ulid) -> Result<Json<RoutineView>, Failure> {
    state
        .engine
        .journal()
        .read(|m| m.governance.routines.get(&id).map(|r| routine_view(m, r)))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no routine with id {id}")))
}

/// `POST /api/routines`
pub async fn create(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RoutineRequest>,
) -> Result<(StatusCode, Json<RoutineView>), Failure> {
    let id = state.engine.create_routine(req).await?;
    Ok((StatusCode::CREATED, one(&state, id)?))
}

/// `GET /api/routines`
pub async fn list(State(state): State<AppState>) -> Json<RoutineList> {
    Json(state.engine.journal().read(routines))
}

/// `GET /api/routines/{routine_id}`
pub async fn get(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    one(&state, parse_id(&id, "routine")?)
}

/// `PUT /api/routines/{routine_id}`: the whole definition.
pub async fn replace(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    JsonBody(req): JsonBody<RoutineRequest>,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    if req.workflow.is_some() {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_routine",
            "a routine's job is changed by job_id; create the job first",
        )
        .field("workflow"));
    }
    let patch = RoutinePatch {
        name: Some(req.name),
        cron: Some(req.cron),
        timezone: Some(req.timezone.unwrap_or_else(|| "UTC".into())),
        job_id: req.job_id,
        enabled: Some(req.enabled),
    };
    state.engine.update_routine(id, patch).await?;
    one(&state, id)
}

/// `PATCH /api/routines/{routine_id}`: some fields.
pub async fn patch(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    JsonBody(patch): JsonBody<RoutinePatch>,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state.engine.update_routine(id, patch).await?;
    one(&state, id)
}

/// `POST /api/routines/{routine_id}/enable`
pub async fn enable(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state.engine.set_routine_enabled(id, true).await?;
    one(&state, id)
}

/// `POST /api/routines/{routine_id}/disable`
pub async fn disable(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state.engine.set_routine_enabled(id, false).await?;
    one(&state, id)
}

/// `DELETE /api/routines/{routine_id}`
pub async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<StatusCode, Failure> {
    state
        .engine
        .delete_routine(parse_id(&id, "routine")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    pub status: Option<String>,
}

/// Approvals, pending first, then newest first.
pub fn approvals(m: &Model, status: Option<ApprovalStatus>) -> ApprovalList {
    let mut list: Vec<ApprovalView> = m
        .governance
        .approvals
        .values()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .map(|a| approval_view(m, a))
        .collect();
    list.sort_by_key(|a| a.status != ApprovalStatus::Pending);
    ApprovalList { approvals: list }
}

fn approval_view(m: &Model, a: &crate::model::ApprovalState) -> ApprovalView {
    let (workflow, job) = m
        .runs
        .get(&a.run_id)
        .map(|r| (r.workflow_id.to_string(), r.job_name.to_string()))
        .unwrap_or_default();
    a.view(&workflow, &job)
}

/// `GET /api/approvals[?status=pending]`
pub async fn list_approvals(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ApprovalsQuery>,
) -> Result<Json<ApprovalList>, Failure> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            Failure::bad_request(
                "invalid_query",
                format!(
                    "unknown status {s:?}; one of pending, approved, rejected, expired, cancelled"
                ),
            )
            .field("status")
        })?),
    };
    Ok(Json(state.engine.journal().read(|m| approvals(m, status))))
}

/// `GET /api/approvals/{approval_id}`
pub async fn get_approval(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<ApprovalView>, Failure> {
    let id = parse_id(&id, "approval")?;
    state
        .engine
        .journal()
        .read(|m| m.governance.approvals.get(&id).map(|a| approval_view(m, a)))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no approval with id {id}")))
}

/// `POST /api/approvals/{approval_id}/vote`
pub async fn vote(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    JsonBody(vote): JsonBody<VoteRequest>,
) -> Result<Json<ApprovalView>, Failure> {
    let id = parse_id(&id, "approval")?;
    state.engine.vote(id, vote).await?;
    get_approval(State(state), PathParam(id.to_string())).await
}
