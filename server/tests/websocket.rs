//! Contract tests of the live updates over a real WebSocket: the guide's
//! actions and messages, pushed as the engine moves.

mod common;

use std::time::Duration;

use common::{guide_job, TestServer, Ws};
use serde_json::{json, Value};

async fn subscribe(ws: &mut Ws, action: Value) -> String {
    ws.send_json(action).await;
    let msg = ws.next_of_type("Subscribed").await;
    msg["subscription_id"].as_str().unwrap().to_string()
}

/// Messages about `run_id` until its WorkflowUpdate with a final status.
async fn until_finished(ws: &mut Ws, run_id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let msg = ws.next_json().await;
        if msg["run_id"] != run_id {
            continue;
        }
        let done = msg["type"] == "WorkflowUpdate"
            && matches!(
                msg["status"].as_str(),
                Some("Completed" | "Failed" | "Cancelled" | "Interrupted")
            );
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

fn line(msg: &Value) -> String {
    match msg["type"].as_str().unwrap() {
        "WorkflowUpdate" => format!(
            "workflow {} {}",
            msg["status"].as_str().unwrap(),
            msg["progress"]
        ),
        "StepUpdate" => format!(
            "step {} {}",
            msg["step_id"].as_str().unwrap(),
            msg["status"].as_str().unwrap()
        ),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn subscribe_all_sees_the_guides_job_step_by_step_to_completed() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    subscribe(&mut ws, json!({"action": "SubscribeAll"})).await;
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let run_id = created["run_id"].as_str().unwrap();
    let messages = until_finished(&mut ws, run_id).await;
    let lines: Vec<String> = messages.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            "workflow Pending 0.0",
            "workflow Running 0.0",
            "step fetch_data Running",
            "step fetch_data Completed",
            "workflow Running 25.0",
            "step analyze_data Running",
            "step analyze_data Completed",
            "workflow Running 50.0",
            "step generate_charts Running",
            "step generate_charts Completed",
            "workflow Running 75.0",
            "step create_report Running",
            "step create_report Completed",
            "workflow Running 100.0",
            "workflow Completed 100.0",
        ]
    );
    assert_eq!(messages[1]["message"], "Processing step 1 of 4");
    assert_eq!(messages[7]["message"], "Processing step 3 of 4");
    assert!(messages[3]["message"]
        .as_str()
        .unwrap()
        .starts_with("Completed in "));
}

#[tokio::test]
async fn retries_and_failures_are_pushed_too() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    subscribe(&mut ws, json!({"action": "SubscribeAll"})).await;
    let job = json!({
        "name": "Doomed",
        "workflow": {
            "steps": [
                {"id": "a", "action": {"agent_task": {"prompt": "p"}}, "retry_policy": {"max_attempts": 2}, "simulation": {"failure_rate": 1.0}},
                {"id": "b", "action": {"agent_task": {"prompt": "p"}}}
            ],
            "dependencies": {"b": ["a"]}
        },
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", job).await;
    let messages = until_finished(&mut ws, created["run_id"].as_str().unwrap()).await;
    let lines: Vec<String> = messages.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            "workflow Pending 0.0",
            "workflow Running 0.0",
            "step a Running",
            "step a Retrying",
            "step a Running",
            "step a Failed",
            "workflow Running 50.0",
            "step b Skipped",
            "workflow Running 100.0",
            "workflow Failed 100.0",
        ]
    );
    assert!(messages[5]["message"]
        .as_str()
        .unwrap()
        .starts_with("Failed after 2 attempts"));
}

#[tokio::test]
async fn subscribe_workflow_gets_the_current_state_then_only_its_run() {
    let server = TestServer::start().await;
    // A finished run answers with its final state.
    let (_, done) = server.post("/api/jobs", guide_job()).await;
    let done_id = done["run_id"].as_str().unwrap().to_string();
    server.wait_for_run(&done_id).await;
    let mut ws = server.ws().await;
    subscribe(
        &mut ws,
        json!({"action": "SubscribeWorkflow", "run_id": done_id}),
    )
    .await;
    let current = ws.next_json().await;
    assert_eq!(
        (
            current["type"].as_str(),
            current["status"].as_str(),
            current["progress"].as_f64()
        ),
        (Some("WorkflowUpdate"), Some("Completed"), Some(100.0))
    );
    for _ in 0..4 {
        let step = ws.next_json().await;
        assert_eq!(
            (step["type"].as_str(), step["status"].as_str()),
            (Some("StepUpdate"), Some("Completed"))
        );
    }

    // A live run: its updates, and none of another run's.
    let mut slow = guide_job();
    slow["execute"] = json!(false);
    for i in 0..4 {
        slow["workflow"]["steps"][i]["simulation"] = json!({"latency_ms": [30, 30]});
    }
    let (_, job) = server.post("/api/jobs", slow).await;
    let job_id = job["job_id"].as_str().unwrap();
    let (_, mine) = server
        .post(&format!("/api/jobs/{job_id}/runs"), json!({}))
        .await;
    let (_, other) = server
        .post(&format!("/api/jobs/{job_id}/runs"), json!({}))
        .await;
    let mine = mine["run_id"].as_str().unwrap();
    let other = other["run_id"].as_str().unwrap();
    let mut ws = server.ws().await;
    subscribe(
        &mut ws,
        json!({"action": "SubscribeWorkflow", "run_id": mine}),
    )
    .await;
    let mut statuses = Vec::new();
    loop {
        let msg = ws.next_json().await;
        assert_ne!(msg["run_id"], other, "an update of another run: {msg}");
        assert_eq!(msg["run_id"], mine, "{msg}");
        if msg["type"] == "WorkflowUpdate" {
            statuses.push(msg["progress"].as_f64().unwrap());
            if msg["status"] == "Completed" {
                break;
            }
        }
    }
    assert!(
        statuses.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {statuses:?}"
    );
    server.wait_for_run(other).await;
    // Nothing of the other run arrives afterwards either.
    ws.send_json(json!({"action": "Ping"})).await;
    assert_eq!(ws.next_json().await["type"], "Pong");
}

#[tokio::test]
async fn health_is_pushed_at_once_and_when_runs_start_and_finish() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    subscribe(&mut ws, json!({"action": "SubscribeHealth"})).await;
    let first = ws.next_json().await;
    assert_eq!(first["type"], "HealthUpdate");
    assert_eq!(first["active_workflows"], 0);
    let mut job = guide_job();
    job["workflow"]["steps"][0]["simulation"] = json!({"latency_ms": [100, 100]});
    let (_, created) = server.post("/api/jobs", job).await;
    let started = ws.next_of_type("HealthUpdate").await;
    assert_eq!(started["active_workflows"], 1, "{started}");
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    let finished = ws.next_of_type("HealthUpdate").await;
    assert_eq!(finished["active_workflows"], 0);
    assert_eq!(finished["status"], "healthy");
}

#[tokio::test]
async fn metrics_updates_show_executions_going_up() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    subscribe(&mut ws, json!({"action": "SubscribeMetrics"})).await;
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msg = ws.next_json().await;
        assert_eq!(msg["type"], "MetricsUpdate", "{msg}");
        // The series exists at 0 from the start: it may be pushed at 0
        // first, then at 1 once the run has finished.
        if msg["name"] == "workflow_executions_total" && msg["labels"]["status"] == "success" {
            assert_eq!(msg["metric_type"], "counter");
            let value = msg["value"].as_f64().unwrap();
            assert!(value == 0.0 || value == 1.0, "{msg}");
            if value == 1.0 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline);
    }
}

#[tokio::test]
async fn unsubscribe_stops_pushes_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    let id = subscribe(&mut ws, json!({"action": "SubscribeAll"})).await;
    ws.send_json(json!({"action": "Unsubscribe", "subscription_id": id}))
        .await;
    let msg = ws.next_json().await;
    assert_eq!(
        msg,
        json!({"type": "Unsubscribed", "subscription_ids": [id]})
    );
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    ws.send_json(json!({"action": "Ping"})).await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "Pong"}),
        "nothing was pushed in between"
    );
    ws.send_json(json!({"action": "Unsubscribe", "subscription_id": "nope"}))
        .await;
    assert_eq!(ws.next_json().await["type"], "Error");
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_delay_another() {
    let server = TestServer::start().await;
    // The stalled client: subscribed to everything, reading nothing.
    let mut stalled = server.ws().await;
    subscribe(&mut stalled, json!({"action": "SubscribeAll"})).await;
    let mut reader = server.ws().await;
    subscribe(&mut reader, json!({"action": "SubscribeAll"})).await;

    let mut job = guide_job();
    job["execute"] = json!(false);
    let (_, created) = server.post("/api/jobs", job).await;
    let job_id = created["job_id"].as_str().unwrap().to_string();
    let runs = 2_000;
    let started = tokio::time::Instant::now();
    let submit = {
        let http = server.http.clone();
        let url = server.url(&format!("/api/jobs/{job_id}/runs"));
        tokio::spawn(async move {
            for _ in 0..runs {
                http.post(&url).send().await.unwrap();
            }
        })
    };
    let mut completed = 0;
    while completed < runs {
        let msg = tokio::time::timeout(Duration::from_secs(10), reader.next_json())
            .await
            .expect("the reading client keeps getting updates");
        if msg["type"] == "Error" {
            panic!("the reading client lagged: {msg}");
        }
        if msg["type"] == "WorkflowUpdate" && msg["status"] == "Completed" {
            completed += 1;
        }
    }
    submit.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(stalled);
}
