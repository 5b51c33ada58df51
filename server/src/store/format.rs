//! How an event is written in the log: its JSON body (its `type` and its
//! fields, records included; see `events::records`), with its kind and the
//! body's format version in columns of their own. The version names the
//! shape of the body. A change to an event's shape is a new version, and a
//! reader upgrades every older version to the current one here, so that any
//! log ever written replays (`tests/fixture.rs` holds a log of the first
//! version, which must keep giving the same answers).

use crate::events::EventKind;

/// The version new events are written with.
pub const VERSION: u32 = 1;

/// The event's body, as written now.
pub fn encode(kind: &EventKind, body: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    serde_json::to_writer(body, kind)
}

/// An event of any version, as the current type.
pub fn decode(version: u32, body: &str) -> Result<EventKind, String> {
    match version {
        // The first version is the current one.
        1 => serde_json::from_str(body).map_err(|e| e.to_string()),
        v => Err(format!(
            "event format version {v}, but this release reads versions up to {VERSION}: \
             the log was written by a newer Shiioo"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::records::{AlertRule, Quorum, RuleKind, Severity, Workflow};
    use ulid::Ulid;

    #[test]
    fn every_kind_round_trips_and_a_newer_version_is_refused_plainly() {
        let id = Ulid::new();
        let workflow: Workflow = serde_json::from_value(serde_json::json!({
            "steps": [{"id": "a", "action": {"agent_task": {"prompt": "p"}}}]
        }))
        .unwrap();
        let kinds = [
            EventKind::JobCreated {
                job_id: id,
                name: "n".into(),
                workflow_id: "n".into(),
                description: None,
                workflow,
                actor: None,
                budget: None,
            },
            EventKind::RunCancelled {
                run_id: id,
                duration_secs: 1.5,
                stopped_at: Some(chrono::Utc::now()),
            },
            EventKind::ApprovalRequested {
                approval_id: id,
                run_id: id,
                step_id: "g".into(),
                approvers: vec!["a".into()],
                quorum: Quorum::Count(1),
                expires_at: None,
                reason: Some("budget".into()),
            },
            EventKind::AlertRuleSet {
                rule: AlertRule {
                    name: "r".into(),
                    kind: RuleKind::ActiveWorkflows,
                    description: String::new(),
                    severity: Severity::Critical,
                    threshold: 1e308,
                    for_secs: 0,
                    window_secs: 1,
                    baseline_secs: 1,
                    min_executions: 1,
                    enabled: true,
                    webhook_url: None,
                    expression: String::new(),
                },
                actor: None,
            },
        ];
        for kind in kinds {
            let mut body = Vec::new();
            encode(&kind, &mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            assert_eq!(decode(VERSION, &body).unwrap(), kind, "{body}");
        }
        let e = decode(VERSION + 1, "{}").unwrap_err();
        assert!(e.contains("newer Shiioo"), "{e}");
    }
}
