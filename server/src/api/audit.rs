//! `GET /api/audit?actor=&limit=`: who did what, newest first.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use wire::AuditList;

use super::extract::QueryParams;
use super::Failure;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this identity's actions.
    #[serde(default)]
    actor: Option<String>,
    /// How many, newest first: 100 unless given, at most 1000.
    #[serde(default)]
    #[param(minimum = 1)]
    limit: Option<usize>,
}

#[utoipa::path(
    get, path = "/api/audit", summary = "List recent actions", tag = "access", params(AuditQuery),
    responses((status = 200, description = "Recent actions, newest first.", body = AuditList))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<AuditList>, Failure> {
    let limit = crate::views::runs::page_limit(q.limit, 100, 1_000)?;
    let actor = q.actor.as_deref().map(str::trim).filter(|a| !a.is_empty());
    Ok(Json(AuditList {
        entries: state
            .engine
            .journal()
            .read(|m| m.audit.recent(actor, limit)),
    }))
}
