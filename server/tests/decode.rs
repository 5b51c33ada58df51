//! The browser decodes the server's answers with `wire::decode`, not
//! serde. These tests hold the two together on real answers: for every
//! endpoint and message the dashboard reads, `Decode` must read exactly what
//! `Deserialize` reads.

mod common;

use std::fmt::Debug;

use common::{guide_job, step, TestServer};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use wire::decode::Decode;
use wire::*;

/// Decodes `body` both ways and requires the same value (compared as JSON,
/// which every wire type writes).
fn agree<T: Decode + DeserializeOwned + Serialize + Debug>(what: &str, body: &Value) -> T {
    let by_serde: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: serde cannot read {body}: {e}"));
    let decoded = T::decode(body).unwrap_or_else(|e| panic!("{what}: {e} in {body}"));
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::to_value(&by_serde).unwrap(),
        "{what}"
    );
    decoded
}

async fn get<T: Decode + DeserializeOwned + Serialize + Debug>(
    server: &TestServer,
    path: &str,
) -> T {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    agree(path, &body)
}

#[tokio::test]
async fn the_browsers_decoders_read_every_answer_as_serde_does() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    for action in ["SubscribeAll", "SubscribeHealth", "SubscribeMetrics"] {
        ws.send_json(json!({ "action": action })).await;
    }

    // History with every kind of detail: retries, a failure and the step it
    // skipped, an approval still waiting, a routine.
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let created: JobCreated = agree("POST /api/jobs", &created);
    let flaky = json!({"name": "Flaky", "workflow": {
        "steps": [
            step("flaky", json!({"retry_policy": {"max_attempts": 3, "backoff_secs": 0.01}, "simulation": {"fail_first_attempts": 2}})),
            step("doomed", json!({"simulation": {"fail_first_attempts": 5}})),
            step("skipped", json!({}))
        ],
        "dependencies": {"doomed": ["flaky"], "skipped": ["doomed"]}
    }, "execute": true});
    let (_, failing) = server.post("/api/jobs", flaky).await;
    let approval = json!({"name": "Release", "workflow": {"steps": [
        {"id": "sign_off", "action": {"manual_approval": {"approvers": ["alice", "bob"], "quorum": {"count": 1}}}}
    ]}, "execute": true});
    let (_, waiting) = server.post("/api/jobs", approval).await;
    let (status, routine) = server
        .post("/api/routines", json!({"name": "Nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "job_id": created.job_id}))
        .await;
    assert_eq!(status, 201, "{routine}");
    let _: RoutineView = agree("POST /api/routines", &routine);
    server
        .wait_for_run(created.run_id.as_deref().unwrap())
        .await;
    let failed_run = failing["run_id"].as_str().unwrap();
    server.wait_for_run(failed_run).await;

    let workflows: WorkflowStatsList = get(&server, "/api/analytics/workflows").await;
    assert!(workflows.workflows.len() >= 2, "{workflows:?}");
    let id = &workflows.workflows[0].workflow_id;
    let _: WorkflowStats = get(&server, &format!("/api/analytics/workflows/{id}")).await;
    let _: BottleneckReport = get(&server, &format!("/api/analytics/bottlenecks/{id}")).await;
    let steps: StepStatsList = get(&server, "/api/analytics/steps").await;
    assert!(steps.steps.iter().any(|s| s.retry_count > 0), "{steps:?}");
    let traces: TraceList = get(&server, "/api/analytics/traces").await;
    assert!(traces.traces.len() >= 3, "{traces:?}");
    let trace: Trace = get(&server, &format!("/api/analytics/traces/{failed_run}")).await;
    let attempts = trace.steps.iter().filter(|s| s.step_id == "flaky");
    assert_eq!(attempts.count(), 3, "{trace:?}");
    let _: Throughput = get(&server, "/api/analytics/throughput").await;
    let runs: RunList = get(&server, "/api/runs").await;
    assert_eq!(runs.runs.len(), 3);
    let _: RunView = get(&server, &format!("/api/runs/{failed_run}")).await;
    let _: JobList = get(&server, "/api/jobs").await;
    let metrics: MetricsSnapshot = get(&server, "/api/metrics").await;
    assert!(!metrics.histograms.is_empty(), "{metrics:?}");
    let _: HealthStatus = get(&server, "/api/health/status").await;
    let routines: RoutineList = get(&server, "/api/routines").await;
    assert_eq!(routines.routines.len(), 1);
    let approvals: ApprovalList = get(&server, "/api/approvals").await;
    assert!(
        approvals
            .approvals
            .iter()
            .any(|a| a.run_id == waiting["run_id"].as_str().unwrap()),
        "{approvals:?}"
    );
    let _: AlertList = get(&server, "/api/alerts").await;
    let rules: AlertRuleList = get(&server, "/api/alerts/rules").await;
    assert!(!rules.rules.is_empty());
    let _: AlertHistory = get(&server, "/api/alerts/history?limit=50").await;

    // Errors, and the filtered lists the pages ask for.
    let (status, missing) = server.get("/api/analytics/traces/nope").await;
    assert_eq!(status, 404);
    let _: ApiError = agree("a 404", &missing);
    let failed: TraceList = get(&server, "/api/analytics/traces?status=Failed").await;
    assert_eq!(failed.traces.len(), 1);

    // Every message the WebSocket pushed meanwhile.
    let wanted = [
        "Subscribed",
        "HealthUpdate",
        "MetricsUpdate",
        "WorkflowUpdate",
        "StepUpdate",
    ];
    let mut seen = std::collections::BTreeSet::new();
    while !wanted.iter().all(|kind| seen.contains(*kind)) {
        let message = ws.next_json().await;
        let _: ServerMessage = agree("a WebSocket message", &message);
        seen.insert(message["type"].as_str().unwrap().to_string());
    }
}
