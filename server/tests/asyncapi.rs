//! The AsyncAPI document of `/api/ws` against what the server really sends:
//! every action of the guide is one of the document's messages, and every
//! message a live server pushes (subscriptions, run and step updates,
//! health, metrics, alerts, pongs, errors) validates against the payload
//! schema of the message its `type` names.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{step, TestServer};
use serde_json::{json, Value};

/// Problems of each `(message name, JSON)` against the payload schema of
/// `#/components/messages/{name}` in `doc`.
fn problems(doc: &Value, messages: &[(String, Value)]) -> Vec<String> {
    let checks: Vec<(String, Value)> = messages
        .iter()
        .map(|(name, m)| (format!("/components/messages/{name}/payload"), m.clone()))
        .collect();
    common::schema_problems(doc, &checks)
}

#[tokio::test]
async fn the_websocket_sends_what_its_asyncapi_document_says() {
    let server = TestServer::start().await;
    let (status, doc) = server.get("/api/asyncapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["live"]["address"], "/api/ws");

    // An alert that fires as soon as anything runs, for AlertUpdate.
    let (status, _) = server
        .put(
            "/api/alerts/rules/busy",
            json!({"kind": "active_workflows", "threshold": 0, "for_secs": 0}),
        )
        .await;
    assert_eq!(status, 201);

    let mut ws = server.ws().await;
    let slow = json!({"name": "Slow", "execute": true, "workflow": {"steps": [
        step("wait", json!({"simulation": {"latency_ms": [1500, 1500]}})),
        step("after", json!({"simulation": {"latency_ms": [5, 5]}}))
    ], "dependencies": {"after": ["wait"]}}});
    let (_, created) = server.post("/api/jobs", slow).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let actions = [
        json!({"action": "SubscribeAll"}),
        json!({"action": "SubscribeWorkflow", "run_id": run_id}),
        json!({"action": "SubscribeMetrics"}),
        json!({"action": "SubscribeHealth"}),
        json!({"action": "SubscribeAlerts"}),
        json!({"action": "Ping"}),
    ];
    let mut checked: Vec<(String, Value)> = Vec::new();
    for action in &actions {
        checked.push((action["action"].as_str().unwrap().into(), action.clone()));
        ws.send_json(action.clone()).await;
    }
    ws.send_text("{not json").await;

    let wanted: BTreeSet<&str> = [
        "Subscribed",
        "WorkflowUpdate",
        "StepUpdate",
        "HealthUpdate",
        "MetricsUpdate",
        "AlertUpdate",
        "Pong",
        "Error",
    ]
    .into();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !wanted.iter().all(|t| seen.contains(*t)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {:?}",
            wanted
                .iter()
                .filter(|t| !seen.contains(**t))
                .collect::<Vec<_>>()
        );
        let message = ws.next_json().await;
        let kind = message["type"].as_str().expect("a type").to_string();
        checked.push((kind.clone(), message));
        seen.insert(kind);
    }
    let unsubscribe = json!({"action": "Unsubscribe"});
    checked.push(("Unsubscribe".into(), unsubscribe.clone()));
    ws.send_json(unsubscribe).await;
    checked.push(("Unsubscribed".into(), ws.next_of_type("Unsubscribed").await));
    // The guide's examples, shown in the document, are its messages too.
    for message in doc["components"]["messages"].as_object().unwrap().values() {
        for example in message["examples"].as_array().into_iter().flatten() {
            let name = message["name"].as_str().unwrap().to_string();
            checked.push((name, example["payload"].clone()));
        }
    }
    let found = problems(&doc, &checked);
    assert!(found.is_empty(), "{found:#?}");
    println!("{} messages held to their schemas", checked.len());

    // The schemas do refuse what the document does not describe.
    let wrong = [
        (
            "WorkflowUpdate".to_string(),
            json!({"type": "WorkflowUpdate", "run_id": 1}),
        ),
        ("Pong".to_string(), json!({"type": "Ping"})),
    ];
    let found = problems(&doc, &wrong);
    for (name, _) in &wrong {
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(&format!("/components/messages/{name}/"))),
            "{name} passed: {found:?}"
        );
    }
}
