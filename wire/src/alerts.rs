//! Alerting: rules, the state of each alert, its history, and the payload
//! of webhook notifications (Alertmanager's webhook format, so receivers
//! written for Alertmanager accept ours).

use std::collections::BTreeMap;

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// What a rule measures. The comparison is implied by the kind: a success
/// rate fires *below* its threshold, everything else *above* it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Percentage of executions finished within `window_secs` that
    /// succeeded, below `threshold`; judged only once `min_executions`
    /// finished in the window.
    SuccessRate,
    /// Per workflow: p99 duration of executions finished within
    /// `window_secs`, above `threshold` times its baseline (the p99 over the
    /// `baseline_secs` before that window).
    LatencyRegression,
    /// Approvals waiting for votes, above `threshold`.
    PendingApprovals,
    /// Runs in progress, above `threshold` (the capacity limit).
    ActiveWorkflows,
    /// Dollars spent on priced agent calls by runs finished within
    /// `window_secs`, over all workflows, above `threshold`.
    Cost,
    /// The same, per workflow.
    WorkflowCost,
}

impl RuleKind {
    pub const ALL: [RuleKind; 6] = [
        RuleKind::SuccessRate,
        RuleKind::LatencyRegression,
        RuleKind::PendingApprovals,
        RuleKind::ActiveWorkflows,
        RuleKind::Cost,
        RuleKind::WorkflowCost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::SuccessRate => "success_rate",
            RuleKind::LatencyRegression => "latency_regression",
            RuleKind::PendingApprovals => "pending_approvals",
            RuleKind::ActiveWorkflows => "active_workflows",
            RuleKind::Cost => "cost",
            RuleKind::WorkflowCost => "workflow_cost",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where one alert (a rule and a label set) stands, as in Prometheus:
/// `pending` while its condition holds for less than the rule's `for`,
/// `firing` after, `resolved` once it stopped holding; `inactive` when a
/// pending condition cleared before it fired.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Decode)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// Pending or firing.
    pub fn is_active(self) -> bool {
        matches!(self, AlertState::Pending | AlertState::Firing)
    }
}

/// An alert rule. `GET /api/alerts/rules`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertRule {
    /// Stable name, unique; the `alertname` label in notifications.
    pub name: String,
    pub kind: RuleKind,
    pub description: String,
    pub severity: Severity,
    pub threshold: f64,
    /// How long the condition must hold before the alert fires.
    pub for_secs: u64,
    /// The window the measured value covers (success rate, latency).
    pub window_secs: u64,
    /// Latency regression: the trailing window before `window_secs` whose
    /// p99 is the baseline.
    pub baseline_secs: u64,
    /// Success rate and latency: fewest executions in a window (each of
    /// them, for latency) before the rule judges at all.
    pub min_executions: u64,
    pub enabled: bool,
    /// Alertmanager-compatible webhook POSTed on firing and on resolve.
    pub webhook_url: Option<String>,
    /// The condition in words, e.g. `success rate < 95% over 5m (≥ 10 executions)`.
    #[serde(default)]
    pub expression: String,
    /// The rule's last change through the API or a rules file, and who made
    /// it; `null` for the built-in rules as shipped (and changes older than
    /// the audit trail).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// `PUT /api/alerts/rules/{name}`: the fields to change. Creating a rule
/// needs at least `kind` and `threshold`; the rest have defaults.
/// `"webhook_url": null` removes the webhook.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuleKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_executions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub webhook_url: Option<Option<String>>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertRuleList {
    pub rules: Vec<AlertRule>,
}

/// One alert: a rule for one label set (latency alerts are per workflow).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertView {
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    pub severity: Severity,
    /// The measured value at the last transition.
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    /// When the condition started holding (entered `pending`).
    pub active_since: Option<DateTime<Utc>>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// `GET /api/alerts`: alerts pending or firing, firing first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// One state change of one alert.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertTransition {
    pub at: DateTime<Utc>,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub from: AlertState,
    pub to: AlertState,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

/// `GET /api/alerts/history`: transitions, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertHistory {
    pub transitions: Vec<AlertTransition>,
}

/// The body POSTed to a rule's webhook: Alertmanager's webhook payload
/// (version 4), one alert per notification.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub version: String,
    pub group_key: String,
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: String,
    pub receiver: String,
    pub group_labels: BTreeMap<String, String>,
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// Alertmanager's zero time (`0001-01-01T00:00:00Z`) while firing.
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// One alert as Alertmanager's API v2 takes it (`POST /api/v2/alerts`,
/// its `postableAlert`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// While firing, a few resends ahead (Alertmanager resolves the alert
    /// by itself if no resend comes); once resolved, when it resolved.
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_tells_null_from_absent() {
        let u: AlertRuleUpdate = serde_json::from_str(r#"{"webhook_url": null}"#).unwrap();
        assert_eq!(u.webhook_url, Some(None));
        let u: AlertRuleUpdate = serde_json::from_str(r#"{"threshold": 90}"#).unwrap();
        assert_eq!((u.webhook_url, u.threshold), (None, Some(90.0)));
        let err = serde_json::from_str::<AlertRuleUpdate>(r#"{"treshold": 90}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `treshold`"),
            "{err}"
        );
    }

    #[test]
    fn webhook_payload_uses_alertmanagers_field_names() {
        let p = WebhookPayload {
            version: "4".into(),
            group_key: "{}:{alertname=\"x\"}".into(),
            truncated_alerts: 0,
            status: "firing".into(),
            receiver: "shiioo".into(),
            group_labels: BTreeMap::new(),
            common_labels: BTreeMap::new(),
            common_annotations: BTreeMap::new(),
            external_url: "http://localhost:8080".into(),
            alerts: vec![],
        };
        let v = serde_json::to_value(&p).unwrap();
        for key in ["groupKey", "truncatedAlerts", "externalURL", "commonLabels"] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }
}
