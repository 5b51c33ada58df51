//! The WebSocket protocol of `/api/ws`: actions a client sends (tagged by
//! `action`) and messages the server pushes (tagged by `type`).

use std::collections::BTreeMap;

use super::decode::Decode;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{AlertState, HealthState, Severity};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum ClientAction {
    SubscribeAll,
    SubscribeWorkflow {
        run_id: String,
    },
    SubscribeMetrics,
    SubscribeHealth,
    /// Alert state changes (`AlertUpdate`), starting with every active alert.
    SubscribeAlerts,
    /// Drops one subscription, or all of them when `subscription_id` is absent.
    Unsubscribe {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscription_id: Option<String>,
    },
    /// Application-level heartbeat for clients that cannot send ping frames
    /// (browsers); answered by `Pong`.
    Ping,
}

/// What the server pushes, tagged by `type` with the payload's fields beside
/// the tag (`{"type": "WorkflowUpdate", "run_id": …}`).
///
/// Each payload is a type of its own, so the browser's decoder
/// ([`super::decode::Decode`]) reads the tag and then just that payload.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Subscribed(Subscribed),
    Unsubscribed(Unsubscribed),
    WorkflowUpdate(WorkflowUpdate),
    StepUpdate(StepUpdate),
    HealthUpdate(HealthUpdate),
    MetricsUpdate(MetricsUpdate),
    /// An alert changed state; also sent to `SubscribeHealth` subscribers.
    AlertUpdate(AlertUpdate),
    Pong,
    Error(ErrorMessage),
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Subscribed {
    pub subscription_id: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct Unsubscribed {
    /// The subscriptions that were dropped.
    pub subscription_ids: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct WorkflowUpdate {
    pub run_id: String,
    pub status: String,
    pub progress: f64,
    pub message: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct StepUpdate {
    pub run_id: String,
    pub step_id: String,
    pub status: String,
    pub message: String,
    /// When a step completes: what its last attempt's agent call used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<super::Usage>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct HealthUpdate {
    pub status: HealthState,
    pub active_workflows: u64,
    pub active_routines: u64,
    pub pending_approvals: u64,
    /// Beyond the guide: lets a client show a live uptime without polling.
    pub uptime_secs: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct MetricsUpdate {
    pub metric_type: String,
    pub name: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct AlertUpdate {
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    pub severity: Severity,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct ErrorMessage {
    pub message: String,
}

impl ServerMessage {
    /// An `Error` message telling the client what was wrong.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error(ErrorMessage {
            message: message.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_exactly_as_the_guide_writes_them() {
        let cases = [
            (r#"{"action": "SubscribeAll"}"#, ClientAction::SubscribeAll),
            (
                r#"{"action": "SubscribeWorkflow", "run_id": "01JH8XYZABC123"}"#,
                ClientAction::SubscribeWorkflow {
                    run_id: "01JH8XYZABC123".into(),
                },
            ),
            (
                r#"{"action": "SubscribeMetrics"}"#,
                ClientAction::SubscribeMetrics,
            ),
            (
                r#"{"action": "SubscribeHealth"}"#,
                ClientAction::SubscribeHealth,
            ),
            (
                r#"{"action": "Unsubscribe"}"#,
                ClientAction::Unsubscribe {
                    subscription_id: None,
                },
            ),
        ];
        for (text, want) in cases {
            let got: ClientAction = serde_json::from_str(text).unwrap();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn messages_serialise_with_the_guides_type_tag_and_fields() {
        let msg = ServerMessage::WorkflowUpdate(WorkflowUpdate {
            run_id: "01JH8XYZABC123".into(),
            status: "Running".into(),
            progress: 45.5,
            message: "Processing step 2 of 4".into(),
        });
        let value = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "type": "WorkflowUpdate",
                "run_id": "01JH8XYZABC123",
                "status": "Running",
                "progress": 45.5,
                "message": "Processing step 2 of 4"
            })
        );
        let health = ServerMessage::HealthUpdate(HealthUpdate {
            status: HealthState::Healthy,
            active_workflows: 12,
            active_routines: 8,
            pending_approvals: 3,
            uptime_secs: 5,
        });
        let value = serde_json::to_value(&health).unwrap();
        assert_eq!(value["type"], "HealthUpdate");
        assert_eq!(value["status"], "healthy");
        assert_eq!(value["active_workflows"], 12);
    }

    #[test]
    fn the_browsers_decoder_reads_what_deserialize_reads() {
        let labels: BTreeMap<String, String> = [("job".to_string(), "daily".to_string())].into();
        let every_kind = [
            ServerMessage::Subscribed(Subscribed {
                subscription_id: "01JH8XYZABC123".into(),
            }),
            ServerMessage::Unsubscribed(Unsubscribed {
                subscription_ids: vec!["a".into(), "b".into()],
            }),
            ServerMessage::WorkflowUpdate(WorkflowUpdate {
                run_id: "r".into(),
                status: "Running".into(),
                progress: 50.0,
                message: "Step 1 of 2".into(),
            }),
            ServerMessage::StepUpdate(StepUpdate {
                run_id: "r".into(),
                step_id: "fetch".into(),
                status: "Completed".into(),
                message: "done".into(),
                usage: Some(crate::Usage {
                    provider: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    input_tokens: Some(12),
                    output_tokens: Some(40),
                    cached_input_tokens: None,
                    cost_usd: Some(0.0000258),
                    time_to_first_token_secs: Some(0.21),
                }),
            }),
            ServerMessage::HealthUpdate(HealthUpdate {
                status: HealthState::Degraded,
                active_workflows: 1,
                active_routines: 2,
                pending_approvals: 3,
                uptime_secs: 4,
            }),
            ServerMessage::MetricsUpdate(MetricsUpdate {
                metric_type: "counter".into(),
                name: "workflow_executions_total".into(),
                value: 7.0,
                labels: labels.clone(),
            }),
            ServerMessage::AlertUpdate(AlertUpdate {
                rule: "high_failure_rate".into(),
                labels,
                state: AlertState::Firing,
                severity: Severity::Critical,
                value: 0.5,
                threshold: 0.1,
                message: "failure rate 50 %".into(),
                at: DateTime::from_timestamp(1_764_369_065, 0).unwrap(),
            }),
            ServerMessage::Pong,
            ServerMessage::error("unknown action"),
        ];
        for msg in every_kind {
            let value = serde_json::to_value(&msg).unwrap();
            let derived: ServerMessage = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(derived, msg);
            assert_eq!(ServerMessage::decode(&value), Ok(msg));
        }
        let unknown = ServerMessage::decode(&serde_json::json!({"type": "Gossip"}));
        assert_eq!(
            unknown.unwrap_err().to_string(),
            "unknown ServerMessage `Gossip`"
        );
    }
}
