//! Contract tests of approvals over real HTTP and WebSocket.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{json, Value};

fn approval_job(quorum: Value) -> Value {
    json!({
        "name": "Release Train",
        "workflow": {
            "steps": [
                {"id": "build", "action": {"agent_task": {"prompt": "build"}}},
                {"id": "sign_off", "action": {"manual_approval": {"approvers": ["alice", "bob", "carol"], "quorum": quorum}}},
                {"id": "ship", "action": {"agent_task": {"prompt": "ship"}}}
            ],
            "dependencies": {"sign_off": ["build"], "ship": ["sign_off"]}
        },
        "execute": true
    })
}

async fn pending_approval(server: &TestServer, run_id: &str) -> Value {
    for _ in 0..500 {
        let (_, list) = server.get("/api/approvals?status=pending").await;
        if let Some(a) = list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["run_id"] == run_id)
        {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pending approval for run {run_id}");
}

#[tokio::test]
async fn an_approval_waits_for_its_quorum_and_resumes_the_run() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeHealth"})).await;
    assert_eq!(
        ws.next_of_type("HealthUpdate").await["pending_approvals"],
        0
    );

    let (_, created) = server
        .post("/api/jobs", approval_job(json!("majority")))
        .await;
    let run_id = created["run_id"].as_str().unwrap();
    let approval = pending_approval(&server, run_id).await;
    assert_eq!(approval["step_id"], "sign_off");
    assert_eq!(approval["needed"], 2);
    let id = approval["approval_id"].as_str().unwrap();

    // The wait shows everywhere: the run, health, the metrics, the WebSocket.
    let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(
        (run["status"].as_str(), run["steps"][1]["status"].as_str()),
        (Some("Running"), Some("Running"))
    );
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["pending_approvals"], 1);
    let (_, metrics) = server.get("/api/metrics?name=pending_approvals").await;
    assert_eq!(metrics["gauges"][0]["value"], 1.0);
    loop {
        let h = ws.next_of_type("HealthUpdate").await;
        if h["pending_approvals"] == 1 {
            break;
        }
    }

    // Only listed approvers vote, once each.
    let vote = |voter: &str, decision: &str| json!({"voter": voter, "decision": decision, "comment": "looks fine"});
    let (status, body) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            vote("mallory", "approve"),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, body) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            vote("alice", "approve"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    let (status, _) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            vote("alice", "approve"),
        )
        .await;
    assert_eq!(status, 409);
    let (status, body) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            json!({"voter": "bob", "decision": "maybe"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("decision")));
    let (_, body) = server
        .post(&format!("/api/approvals/{id}/vote"), vote("bob", "approve"))
        .await;
    assert_eq!(body["status"], "approved");
    let votes: Vec<&str> = body["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["voter"].as_str().unwrap())
        .collect();
    assert_eq!(votes, ["alice", "bob"]);

    let run = server.wait_for_run(run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["steps"][1]["output"], "approved by alice, bob");

    // The wait for people is told apart from the work, everywhere.
    let kinds: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["agent_task", "manual_approval", "agent_task"]);
    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    let wait = trace["approval_wait_secs"].as_f64().expect("a wait");
    let sign_off = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_id"] == "sign_off")
        .unwrap();
    assert_eq!(sign_off["kind"], "manual_approval");
    assert!(
        (wait - sign_off["duration_secs"].as_f64().unwrap()).abs() < 1e-6,
        "{trace}"
    );
    let (_, steps) = server.get("/api/analytics/steps").await;
    let stat = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_id"] == "sign_off")
        .unwrap();
    assert_eq!(stat["kind"], "manual_approval", "{stat}");
    let (_, report) = server.get("/api/analytics/bottlenecks/release_train").await;
    let share = report["bottlenecks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_id"] == "sign_off")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(share["diagnosis"], "awaiting_approval", "{share}");
    // The same after a restart, folded back from the log.
    let restarted = server.restart().await;
    let (_, again) = restarted
        .get(&format!("/api/analytics/traces/{run_id}"))
        .await;
    assert_eq!(again["approval_wait_secs"], trace["approval_wait_secs"]);
    let server = restarted;
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["pending_approvals"], 0);
    let (status, _) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            vote("carol", "reject"),
        )
        .await;
    assert_eq!(status, 409, "too late: already approved");
}

#[tokio::test]
async fn a_rejection_fails_the_step_and_skips_the_rest() {
    let server = TestServer::start().await;
    let (_, created) = server
        .post("/api/jobs", approval_job(json!("unanimous")))
        .await;
    let run_id = created["run_id"].as_str().unwrap();
    let id = pending_approval(&server, run_id).await["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = server
        .post(
            &format!("/api/approvals/{id}/vote"),
            json!({"voter": "carol", "decision": "reject", "comment": "not today"}),
        )
        .await;
    assert_eq!(body["status"], "rejected");
    let run = server.wait_for_run(run_id).await;
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["steps"][1]["error"], "rejected by carol (not today)");
    assert_eq!(run["steps"][2]["status"], "Skipped");
}

#[tokio::test]
async fn approvals_time_out_and_cancelled_runs_cancel_them() {
    let server = TestServer::start().await;
    let mut job = approval_job(json!({"count": 1}));
    job["workflow"]["steps"][1]["timeout_secs"] = json!(0.2);
    let (_, created) = server.post("/api/jobs", job).await;
    let run = server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "Failed");
    assert!(run["steps"][1]["error"]
        .as_str()
        .unwrap()
        .contains("approval timed out"));
    let (_, list) = server.get("/api/approvals?status=expired").await;
    assert_eq!(list["approvals"].as_array().unwrap().len(), 1);

    let (_, created) = server
        .post("/api/jobs", approval_job(json!("majority")))
        .await;
    let run_id = created["run_id"].as_str().unwrap();
    let id = pending_approval(&server, run_id).await["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    server.wait_for_run(run_id).await;
    let (_, a) = server.get(&format!("/api/approvals/{id}")).await;
    assert_eq!(a["status"], "cancelled");
}

#[tokio::test]
async fn bad_approval_definitions_are_refused() {
    let server = TestServer::start().await;
    let mut job = approval_job(json!({"count": 5}));
    let (status, body) = server.post("/api/jobs", job.clone()).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (
            422,
            Some("workflow.steps[1].action.manual_approval.quorum.count")
        )
    );
    job["workflow"]["steps"][1]["action"]["manual_approval"]["approvers"] = json!([]);
    job["workflow"]["steps"][1]["action"]["manual_approval"]["quorum"] = json!("majority");
    let (status, _) = server.post("/api/jobs", job).await;
    assert_eq!(status, 422);
}
