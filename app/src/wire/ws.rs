//! The WebSocket protocol of `/api/ws`: actions a client sends (tagged by
//! `action`) and messages the server pushes (tagged by `type`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{AlertState, HealthState, Severity};

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
/// Each payload is a type of its own so that a client can read the tag and
/// decode just that payload ([`ServerMessage::from_payload`]), instead of
/// going through serde's buffering of internally tagged enums, which was 4 %
/// of the browser client's size on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub subscription_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unsubscribed {
    /// The subscriptions that were dropped.
    pub subscription_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowUpdate {
    pub run_id: String,
    pub status: String,
    pub progress: f64,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepUpdate {
    pub run_id: String,
    pub step_id: String,
    pub status: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthUpdate {
    pub status: HealthState,
    pub active_workflows: u64,
    pub active_routines: u64,
    pub pending_approvals: u64,
    /// Beyond the guide: lets a client show a live uptime without polling.
    pub uptime_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsUpdate {
    pub metric_type: String,
    pub name: String,
    pub value: f64,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub message: String,
}

/// A message's fields, still to be decoded into its payload type: the value
/// `JSON.parse` made in the browser, a `serde_json::Value` in the tests.
pub trait Payload {
    type Error;
    fn decode<T: serde::de::DeserializeOwned>(self) -> Result<T, Self::Error>;
}

impl ServerMessage {
    /// An `Error` message telling the client what was wrong.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error(ErrorMessage {
            message: message.into(),
        })
    }

    /// The message a `type` tag and its fields make; `None` for a tag this
    /// version does not know. Reads exactly what the derived `Deserialize`
    /// reads (a test holds them together); the extra `type` field is ignored
    /// by each payload type.
    pub fn from_payload<P: Payload>(tag: &str, fields: P) -> Option<Result<Self, P::Error>> {
        Some(match tag {
            "Subscribed" => fields.decode().map(Self::Subscribed),
            "Unsubscribed" => fields.decode().map(Self::Unsubscribed),
            "WorkflowUpdate" => fields.decode().map(Self::WorkflowUpdate),
            "StepUpdate" => fields.decode().map(Self::StepUpdate),
            "HealthUpdate" => fields.decode().map(Self::HealthUpdate),
            "MetricsUpdate" => fields.decode().map(Self::MetricsUpdate),
            "AlertUpdate" => fields.decode().map(Self::AlertUpdate),
            "Pong" => Ok(Self::Pong),
            "Error" => fields.decode().map(Self::Error),
            _ => return None,
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

    impl Payload for serde_json::Value {
        type Error = serde_json::Error;
        fn decode<T: serde::de::DeserializeOwned>(self) -> Result<T, Self::Error> {
            serde_json::from_value(self)
        }
    }

    #[test]
    fn decoding_by_tag_reads_what_the_derived_deserialize_reads() {
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
            let tag = value["type"].as_str().unwrap().to_string();
            let derived: ServerMessage = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(derived, msg, "{tag}");
            let by_tag = ServerMessage::from_payload(&tag, value).expect("a known tag");
            assert_eq!(by_tag.unwrap(), msg, "{tag}");
        }
        assert!(ServerMessage::from_payload("Gossip", serde_json::json!({})).is_none());
    }
}
