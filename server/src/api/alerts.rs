//! `/api/alerts`: alerts, their history, and their rules.

use app::wire::{AlertHistory, AlertList, AlertRule, AlertRuleList, AlertRuleUpdate, AlertState};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::extract::{JsonBody, PathParam, QueryParams};
use super::Failure;
use crate::alerts::{prometheus, HISTORY};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `active` (pending and firing, the default), `all`, or one state.
    #[serde(default)]
    state: Option<String>,
}

/// `GET /api/alerts`: alerts pending or firing, firing first.
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<AlertQuery>,
) -> Result<Json<AlertList>, Failure> {
    let wanted = q.state.as_deref().unwrap_or("active");
    let one: Option<AlertState> = match wanted {
        "active" | "all" => None,
        "pending" => Some(AlertState::Pending),
        "firing" => Some(AlertState::Firing),
        "resolved" => Some(AlertState::Resolved),
        "inactive" => Some(AlertState::Inactive),
        other => {
            return Err(Failure::bad_request(
                "invalid_query",
                format!(
                    "state={other:?}: expected active, all, pending, firing, resolved or inactive"
                ),
            )
            .field("state"))
        }
    };
    let alerts = state.engine.journal().read(|m| {
        let alerts = match (wanted, one) {
            ("active", _) => m.alerts.active(),
            (_, None) => m.alerts.all(),
            (_, Some(s)) => m
                .alerts
                .all()
                .into_iter()
                .filter(|a| a.state == s)
                .collect(),
        };
        crate::alerts::with_current_readings(m, alerts, chrono::Utc::now())
    });
    Ok(Json(AlertList { alerts }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    rule: Option<String>,
}

/// `GET /api/alerts/history`: state changes, newest first.
pub async fn history(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<Json<AlertHistory>, Failure> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=HISTORY).contains(&limit) {
        return Err(Failure::bad_request(
            "invalid_query",
            format!("limit={limit}: expected 1 to {HISTORY}"),
        )
        .field("limit"));
    }
    let transitions = state.engine.journal().read(|m| {
        m.alerts
            .history(HISTORY)
            .into_iter()
            .filter(|t| q.rule.as_deref().is_none_or(|r| t.rule == r))
            .take(limit)
            .collect()
    });
    Ok(Json(AlertHistory { transitions }))
}

/// `GET /api/alerts/rules`
pub async fn rules(State(state): State<AppState>) -> Json<AlertRuleList> {
    let rules = state.engine.journal().read(|m| m.alerts.rule_list());
    Json(AlertRuleList { rules })
}

/// `GET /api/alerts/rules/{name}`
pub async fn rule(
    State(state): State<AppState>,
    PathParam(name): PathParam,
) -> Result<Json<AlertRule>, Failure> {
    state
        .engine
        .journal()
        .read(|m| m.alerts.rules.get(&name).cloned())
        .map(Json)
        .ok_or_else(|| Failure::not_found(format!("no alert rule named {name:?}")))
}

/// `PUT /api/alerts/rules/{name}`: changes the fields given; creates the
/// rule (201) when there is none of that name.
pub async fn put_rule(
    State(state): State<AppState>,
    PathParam(name): PathParam,
    JsonBody(update): JsonBody<AlertRuleUpdate>,
) -> Result<(StatusCode, Json<AlertRule>), Failure> {
    let change = state.engine.set_alert_rule(&name, update).await?;
    let status = if change.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(change.rule)))
}

/// `GET /api/alerts/rules/prometheus`: the rules as a Prometheus rules file.
pub async fn prometheus_rules(State(state): State<AppState>) -> impl IntoResponse {
    let rules: Vec<AlertRule> = state.engine.journal().read(|m| m.alerts.rule_list());
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        prometheus::rules_file(&rules),
    )
}
