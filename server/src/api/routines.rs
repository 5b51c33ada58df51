//! `/api/routines`: cron-scheduled workflows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ulid::Ulid;
use wire::{RoutineList, RoutinePatch, RoutineRequest, RoutineView};

use super::extract::{JsonBody, PathParam};
use super::{parse_id, Failure};
use crate::auth::Caller;
use crate::state::AppState;
use crate::views::routines::{routine_view, routines};

fn one(state: &AppState, id: Ulid) -> Result<Json<RoutineView>, Failure> {
    state
        .engine
        .journal()
        .read(|m| m.routines.get(&id).map(|r| routine_view(m, r)))
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no routine with id {id}")))
}

/// `POST /api/routines`
#[utoipa::path(
    post, path = "/api/routines", summary = "Create a routine", tag = "routines",
    request_body(content = RoutineRequest, example = json!({"name": "nightly report", "cron": "0 0 3 * * *", "timezone": "Europe/Paris", "workflow": crate::api::openapi::guide_job()["workflow"]})),
    responses((status = 201, description = "The routine, stored.", body = RoutineView,
        links(("GetRoutine" = (operation_id = "get_routine", parameters(("routine_id" = "$response.body#/routine_id")))))))
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(who): Caller,
    JsonBody(req): JsonBody<RoutineRequest>,
) -> Result<(StatusCode, Json<RoutineView>), Failure> {
    let id = state.engine.create_routine(req, &who.name).await?;
    Ok((StatusCode::CREATED, one(&state, id)?))
}

/// `GET /api/routines`
#[utoipa::path(
    get, path = "/api/routines", summary = "List routines", tag = "routines",
    responses((status = 200, description = "Every routine.", body = RoutineList))
)]
pub async fn list(State(state): State<AppState>) -> Json<RoutineList> {
    Json(state.engine.journal().read(routines))
}

/// `GET /api/routines/{routine_id}`
#[utoipa::path(
    get, path = "/api/routines/{routine_id}", summary = "Get a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    responses((status = 200, description = "One routine, its next fires and history.", body = RoutineView))
)]
pub async fn get(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    one(&state, parse_id(&id, "routine")?)
}

/// `PUT /api/routines/{routine_id}`: the whole definition.
#[utoipa::path(
    put, path = "/api/routines/{routine_id}", summary = "Replace a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    request_body(content = RoutineRequest),
    responses((status = 200, description = "The routine, replaced.", body = RoutineView))
)]
pub async fn replace(
    State(state): State<AppState>,
    Caller(who): Caller,
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
    state.engine.update_routine(id, patch, &who.name).await?;
    one(&state, id)
}

/// `PATCH /api/routines/{routine_id}`: some fields.
#[utoipa::path(
    patch, path = "/api/routines/{routine_id}", summary = "Change a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    request_body(content = RoutinePatch, example = json!({"cron": "0 30 4 * * *"})),
    responses((status = 200, description = "The routine, changed.", body = RoutineView))
)]
pub async fn patch(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(id): PathParam,
    JsonBody(patch): JsonBody<RoutinePatch>,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state.engine.update_routine(id, patch, &who.name).await?;
    one(&state, id)
}

/// `POST /api/routines/{routine_id}/enable`
#[utoipa::path(
    post, path = "/api/routines/{routine_id}/enable", summary = "Enable a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    responses((status = 200, description = "The routine, enabled.", body = RoutineView))
)]
pub async fn enable(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state
        .engine
        .set_routine_enabled(id, true, &who.name)
        .await?;
    one(&state, id)
}

/// `POST /api/routines/{routine_id}/disable`
#[utoipa::path(
    post, path = "/api/routines/{routine_id}/disable", summary = "Disable a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    responses((status = 200, description = "The routine, disabled.", body = RoutineView))
)]
pub async fn disable(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(id): PathParam,
) -> Result<Json<RoutineView>, Failure> {
    let id = parse_id(&id, "routine")?;
    state
        .engine
        .set_routine_enabled(id, false, &who.name)
        .await?;
    one(&state, id)
}

/// `DELETE /api/routines/{routine_id}`
#[utoipa::path(
    delete, path = "/api/routines/{routine_id}", summary = "Delete a routine", tag = "routines", params(("routine_id" = String, Path, description = "A routine's ULID.")),
    responses((status = 204, description = "The routine is deleted."))
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(id): PathParam,
) -> Result<StatusCode, Failure> {
    state
        .engine
        .delete_routine(parse_id(&id, "routine")?, &who.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
