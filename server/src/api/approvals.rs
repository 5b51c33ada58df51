//! `/api/approvals`: steps waiting for people, and their votes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use wire::{ApprovalList, ApprovalStatus, ApprovalView, VoteRequest};

use super::extract::{JsonBody, PathParam, QueryParams};
use super::{parse_id, Failure};
use crate::auth::{Caller, Identity};
use crate::state::AppState;
use crate::views::approvals::{approval, approvals};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    /// Only approvals in this state.
    #[param(value_type = Option<wire::ApprovalStatus>)]
    pub status: Option<String>,
}

/// `GET /api/approvals[?status=pending]`
#[utoipa::path(
    get, path = "/api/approvals", summary = "List approvals", tag = "approvals", params(ApprovalsQuery),
    responses((status = 200, description = "Approvals, newest first.", body = ApprovalList))
)]
pub async fn list(
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
#[utoipa::path(
    get, path = "/api/approvals/{approval_id}", summary = "Get an approval", tag = "approvals",
    params(("approval_id" = String, Path, description = "An approval's ULID.")),
    responses((status = 200, description = "One approval and its votes.", body = ApprovalView))
)]
pub async fn get(
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<ApprovalView>, Failure> {
    let id = parse_id(&id, "approval")?;
    approval(state.engine.journal(), id)
        .await?
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no approval with id {id}")))
}

/// `POST /api/approvals/{approval_id}/vote`
#[utoipa::path(
    post, path = "/api/approvals/{approval_id}/vote", summary = "Vote on an approval", tag = "approvals",
    params(("approval_id" = String, Path, description = "An approval's ULID.")),
    request_body(content = VoteRequest, example = json!({"decision": "approve", "comment": "Numbers check out"})),
    responses(
        (status = 200, description = "The approval with the vote counted.", body = ApprovalView),
        (status = 409, description = "The approval is resolved already, or this voter has voted.", body = wire::ApiError)
    )
)]
pub async fn vote(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PathParam(id): PathParam,
    JsonBody(vote): JsonBody<VoteRequest>,
) -> Result<Json<ApprovalView>, Failure> {
    let id = parse_id(&id, "approval")?;
    let voter = voter(&identity, state.gate.is_open(), vote.voter.as_deref())?;
    state.engine.vote(id, &voter, vote).await?;
    get(State(state), PathParam(id.to_string())).await
}

/// Who casts a vote: the caller's identity, which a `voter` in the body must
/// name if given; on an open server, the body's `voter`.
pub fn voter(identity: &Identity, open: bool, claimed: Option<&str>) -> Result<String, Failure> {
    let claimed = claimed.map(str::trim).filter(|v| !v.is_empty());
    if open {
        return claimed.map(str::to_string).ok_or_else(|| {
            Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_vote",
                "give the voter's name: this server has no identities to take it from",
            )
            .field("voter")
        });
    }
    match claimed {
        Some(name) if name != identity.name => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "voter_mismatch",
            format!("{} may only vote as itself, not as {name:?}", identity.name),
        )
        .field("voter")),
        _ => Ok(identity.name.clone()),
    }
}
