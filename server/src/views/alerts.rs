//! Alerts: those active (or in any state), with what their rules measure
//! now, and the history of their transitions.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use wire::{AlertHistory, AlertList, AlertState};

use super::Failure;
use crate::model::Model;
use crate::model::ALERT_HISTORY;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `active` (pending and firing, the default), `all`, or one state.
    #[serde(default)]
    #[param(pattern = "^(active|all|pending|firing|resolved|inactive)$")]
    pub state: Option<String>,
}

/// The alerts a query asks for, firing first, with current readings.
pub fn alert_list(m: &Model, q: &AlertQuery, now: DateTime<Utc>) -> Result<AlertList, Failure> {
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
    Ok(AlertList {
        alerts: crate::alerts::with_current_readings(m, alerts, now),
    })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many, newest first: 100 unless given.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only this rule's changes.
    #[serde(default)]
    pub rule: Option<String>,
}

/// State changes, newest first, of one rule or all.
pub fn history(m: &Model, q: &HistoryQuery) -> Result<AlertHistory, Failure> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=ALERT_HISTORY).contains(&limit) {
        return Err(Failure::bad_request(
            "invalid_query",
            format!("limit={limit}: expected 1 to {ALERT_HISTORY}"),
        )
        .field("limit"));
    }
    let transitions = m
        .alerts
        .history(ALERT_HISTORY)
        .into_iter()
        .filter(|t| q.rule.as_deref().is_none_or(|r| t.rule == r))
        .take(limit)
        .collect();
    Ok(AlertHistory { transitions })
}
