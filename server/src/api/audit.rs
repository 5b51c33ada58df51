//! `GET /api/audit?actor=&limit=`: who did what, newest first.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use wire::AuditList;

use super::extract::QueryParams;
use super::Failure;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

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
