//! Contract tests of the foundation: health over HTTP, the WebSocket
//! handshake and actions, JSON errors for unknown API paths, and the
//! server-rendered dashboard.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn health_status_has_the_guides_shape_and_a_real_uptime() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/health/status").await;
    assert_eq!(status, 200);
    for field in [
        "status",
        "uptime_secs",
        "active_routines",
        "total_routines",
        "pending_approvals",
        "total_workflow_executions",
        "successful_executions",
        "failed_executions",
        "success_rate",
    ] {
        assert!(body.get(field).is_some(), "missing {field} in {body}");
    }
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["total_workflow_executions"], 0);
    let first = body["uptime_secs"].as_u64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, later) = server.get("/api/health/status").await;
    assert!(
        later["uptime_secs"].as_u64().unwrap() > first,
        "uptime does not advance: {first} then {}",
        later["uptime_secs"]
    );
}

#[tokio::test]
async fn health_names_the_server_and_where_its_log_is() {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = server::config::Config::for_tests(data.path());
    config.node_id = Some("node-a".into());
    let server = TestServer::start_with(config, data.clone()).await;
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["node_id"], "node-a", "{health}");
    let store = if common::postgres::suite_server().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(health["event_log"]["store"], store, "{health}");
    let (_, page) = server.page("/").await;
    assert!(page.contains("node-a"), "the header names the server");
    server.shutdown().await;

    // Unnamed, it is its host and process.
    let server = TestServer::start_with(server::config::Config::for_tests(data.path()), data).await;
    let (_, health) = server.get("/api/health/status").await;
    let id = health["node_id"].as_str().unwrap();
    assert!(
        id.ends_with(&format!("-{}", std::process::id())),
        "host-pid: {id}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_subscribe_health_is_answered_by_subscribed_then_health() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeHealth"})).await;
    let subscribed = ws.next_json().await;
    assert_eq!(subscribed["type"], "Subscribed");
    assert!(subscribed["subscription_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    let health = ws.next_json().await;
    assert_eq!(health["type"], "HealthUpdate");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["active_workflows"], 0);
}

#[tokio::test]
async fn websocket_answers_every_guide_action() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    for action in ["SubscribeAll", "SubscribeMetrics", "SubscribeHealth"] {
        ws.send_json(json!({ "action": action })).await;
        // Once subscribed to metrics, their pushes may come between a
        // request and its answer.
        let reply = loop {
            let msg = ws.next_json().await;
            if msg["type"] != "MetricsUpdate" {
                break msg;
            }
        };
        assert_eq!(reply["type"], "Subscribed", "{action}");
    }
    ws.send_json(json!({"action": "Unsubscribe"})).await;
    let dropped = ws.next_of_type("Unsubscribed").await;
    assert_eq!(dropped["subscription_ids"].as_array().unwrap().len(), 3);
    ws.send_json(json!({"action": "SubscribeWorkflow", "run_id": "01JH8XYZABC123"}))
        .await;
    let err = ws.next_json().await;
    assert_eq!(err["type"], "Error");
    assert!(err["message"].as_str().unwrap().contains("01JH8XYZABC123"));
}

#[tokio::test]
async fn malformed_websocket_input_gets_an_error_and_the_connection_lives_on() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    ws.send_text("this is not json").await;
    let err = ws.next_json().await;
    assert_eq!(err["type"], "Error");
    assert!(err["message"].as_str().unwrap().contains("invalid JSON"));
    ws.send_json(json!({"action": "Ping"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "Pong"}));
    ws.send_json(json!({"action": "SubscribeAll"})).await;
    assert_eq!(ws.next_json().await["type"], "Subscribed");
}

#[tokio::test]
async fn unknown_api_paths_answer_json_404() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/no/such/thing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("/api/no/such/thing"));
}

#[tokio::test]
async fn every_dashboard_route_is_server_rendered() {
    let server = TestServer::start().await;
    for (path, heading) in [
        ("/", "Overview"),
        ("/workflows", "Workflows"),
        ("/steps", "Steps"),
        ("/traces", "Traces"),
        ("/metrics", "Metrics"),
        ("/run", "Run a workflow"),
        ("/routines", "Routines"),
        ("/approvals", "Approvals"),
    ] {
        let (status, html) = server.page(path).await;
        assert_eq!(status, 200, "{path}");
        // `<!>` are hydration markers; the text between them is what counts.
        let html = html.replace("<!>", "");
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{path}: {html}"
        );
        assert!(
            html.contains("/pkg/shiioo.js"),
            "{path} lacks the hydration script"
        );
    }
    let resp = server
        .http
        .get(server.url("/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("Page not found"));
}
