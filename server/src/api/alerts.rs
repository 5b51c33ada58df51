//! `/api/alerts`: alerts, their history, and their rules.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use wire::{AlertHistory, AlertList, AlertRule, AlertRuleList, AlertRuleUpdate};

use super::extract::{JsonBody, PathParam, QueryParams};
use super::Failure;
use crate::alerts::prometheus;
use crate::auth::Caller;
use crate::state::AppState;
use crate::views::{self, alerts::AlertQuery, alerts::HistoryQuery};

/// `GET /api/alerts[?state=]`: alerts pending or firing, firing first.
#[utoipa::path(
    get, path = "/api/alerts", summary = "List active alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, description = "Alerts pending or firing (or in the state asked for), firing first, with what their rules measure now.", body = AlertList))
)]
pub async fn list(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<AlertQuery>,
) -> Result<Json<AlertList>, Failure> {
    state
        .engine
        .journal()
        .read(|m| views::alerts::alert_list(m, &q, chrono::Utc::now()))
        .map(Json)
}

/// `GET /api/alerts/history[?limit=&rule=]`: state changes, newest first.
#[utoipa::path(
    get, path = "/api/alerts/history", summary = "List alert state changes", tag = "alerts", params(HistoryQuery),
    responses((status = 200, description = "State changes, newest first.", body = AlertHistory))
)]
pub async fn history(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<Json<AlertHistory>, Failure> {
    state
        .engine
        .journal()
        .read(|m| views::alerts::history(m, &q))
        .map(Json)
}

/// `GET /api/alerts/rules`
#[utoipa::path(
    get, path = "/api/alerts/rules", summary = "List alert rules", tag = "alerts",
    responses((status = 200, description = "Every rule, built-in and defined.", body = AlertRuleList))
)]
pub async fn rules(State(state): State<AppState>) -> Json<AlertRuleList> {
    let rules = state.engine.journal().read(|m| m.alerts.rule_list());
    Json(AlertRuleList { rules })
}

/// `GET /api/alerts/rules/{name}`
#[utoipa::path(
    get, path = "/api/alerts/rules/{name}", summary = "Get an alert rule", tag = "alerts",
    params(("name" = String, Path, description = "The rule's name.")),
    responses((status = 200, description = "The rule.", body = AlertRule))
)]
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
#[utoipa::path(
    put, path = "/api/alerts/rules/{name}", summary = "Create or change an alert rule", tag = "alerts",
    params(("name" = String, Path, description = "The rule's name.")),
    request_body(content = AlertRuleUpdate, example = json!({"threshold": 90.0, "for_secs": 600})),
    responses(
        (status = 200, description = "The rule, changed.", body = AlertRule),
        (status = 201, description = "The rule, created (it had no rule of that name).", body = AlertRule)
    )
)]
pub async fn put_rule(
    State(state): State<AppState>,
    Caller(who): Caller,
    PathParam(name): PathParam,
    JsonBody(update): JsonBody<AlertRuleUpdate>,
) -> Result<(StatusCode, Json<AlertRule>), Failure> {
    let change = state
        .engine
        .set_alert_rule(&name, update, &who.name)
        .await?;
    let status = if change.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(change.rule)))
}

/// `GET /api/alerts/rules/prometheus`: the rules as a Prometheus rules file.
#[utoipa::path(
    get, path = "/api/alerts/rules/prometheus", summary = "Alert rules as a Prometheus rules file", tag = "alerts",
    responses((status = 200, description = "The rules as a Prometheus rules file (YAML), for `promtool` and Prometheus's `rule_files`.", content_type = "application/yaml", body = Object))
)]
pub async fn prometheus_rules(State(state): State<AppState>) -> impl IntoResponse {
    let rules: Vec<AlertRule> = state.engine.journal().read(|m| m.alerts.rule_list());
    (
        [(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)],
        prometheus::rules_file(&rules),
    )
}
