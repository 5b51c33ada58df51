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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Subscribed {
        subscription_id: String,
    },
    Unsubscribed {
        /// The subscriptions that were dropped.
        subscription_ids: Vec<String>,
    },
    WorkflowUpdate {
        run_id: String,
        status: String,
        progress: f64,
        message: String,
    },
    StepUpdate {
        run_id: String,
        step_id: String,
        status: String,
        message: String,
    },
    HealthUpdate {
        status: HealthState,
        active_workflows: u64,
        active_routines: u64,
        pending_approvals: u64,
        /// Beyond the guide: lets a client show a live uptime without polling.
        uptime_secs: u64,
    },
    MetricsUpdate {
        metric_type: String,
        name: String,
        value: f64,
        labels: BTreeMap<String, String>,
    },
    /// An alert changed state; also sent to `SubscribeHealth` subscribers.
    AlertUpdate {
        rule: String,
        labels: BTreeMap<String, String>,
        state: AlertState,
        severity: Severity,
        value: f64,
        threshold: f64,
        message: String,
        at: DateTime<Utc>,
    },
    Pong,
    Error {
        message: String,
    },
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
        let msg = ServerMessage::WorkflowUpdate {
            run_id: "01JH8XYZABC123".into(),
            status: "Running".into(),
            progress: 45.5,
            message: "Processing step 2 of 4".into(),
        };
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
        let health = ServerMessage::HealthUpdate {
            status: HealthState::Healthy,
            active_workflows: 12,
            active_routines: 8,
            pending_approvals: 3,
            uptime_secs: 5,
        };
        let value = serde_json::to_value(&health).unwrap();
        assert_eq!(value["type"], "HealthUpdate");
        assert_eq!(value["status"], "healthy");
        assert_eq!(value["active_workflows"], 12);
    }
}
