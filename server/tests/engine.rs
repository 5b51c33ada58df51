//! Contract tests of jobs and runs over real HTTP: the guide's example job,
//! retries, failures, cancellation, validation errors, listing.

mod common;

use common::{guide_job, step, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn the_guides_example_job_runs_to_completed() {
    let server = TestServer::start().await;
    let (status, created) = server.post("/api/jobs", guide_job()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["workflow_id"], "monthly_report_generation");
    let run_id = created["run_id"].as_str().unwrap();
    assert_eq!(run_id.len(), 26, "a ULID: {run_id}");
    assert_eq!(created["job_id"].as_str().unwrap().len(), 26);

    let run = server.wait_for_run(run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["progress"], 100.0);
    assert_eq!(run["workflow_id"], "monthly_report_generation");
    let steps = run["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "fetch_data",
            "analyze_data",
            "generate_charts",
            "create_report"
        ]
    );
    for s in steps {
        assert_eq!(s["status"], "Completed");
        assert_eq!(s["attempts"].as_array().unwrap().len(), 1);
        assert!(s["output"].as_str().unwrap().contains("(simulated)"));
    }
    // Each step started after the one it depends on completed. Compared as
    // times: RFC 3339 strings with fractions of varying length do not sort.
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).expect("an RFC 3339 time")
    };
    for pair in steps.windows(2) {
        assert!(at(&pair[1]["started_at"]) >= at(&pair[0]["completed_at"]));
    }
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["total_workflow_executions"], 1);
    assert_eq!(health["successful_executions"], 1);
}

#[tokio::test]
async fn a_flaky_step_retries_and_every_attempt_is_visible() {
    let server = TestServer::start().await;
    let flaky = json!({
        "retry_policy": {"max_attempts": 3, "backoff_secs": 0.01},
        "simulation": {"fail_first_attempts": 2}
    });
    let (status, created) = server
        .post("/api/jobs", json!({"name": "Flaky", "workflow": {"steps": [step("flaky", flaky)]}, "execute": true}))
        .await;
    assert_eq!(status, 201, "{created}");
    let run = server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "Completed");
    let attempts = run["steps"][0]["attempts"].as_array().unwrap();
    let summary: Vec<(u64, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(0, "Failed"), (1, "Failed"), (2, "Completed")]);
    assert!(attempts[0]["error"]
        .as_str()
        .unwrap()
        .contains("simulated failure"));
}

#[tokio::test]
async fn a_failing_step_fails_the_run_and_skips_its_dependants() {
    let server = TestServer::start().await;
    let job = json!({
        "name": "Doomed",
        "workflow": {
            "steps": [step("a", json!({"simulation": {"failure_rate": 1.0}})), step("b", json!({}))],
            "dependencies": {"b": ["a"]}
        },
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", job).await;
    let run = server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "Failed");
    assert!(
        run["error"].as_str().unwrap().contains("step a failed"),
        "{run}"
    );
    assert_eq!(run["steps"][0]["status"], "Failed");
    assert_eq!(run["steps"][1]["status"], "Skipped");
    assert!(run["steps"][1]["error"]
        .as_str()
        .unwrap()
        .contains("upstream step a failed"));
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["failed_executions"], 1);
    assert_eq!(health["success_rate"], 0.0);
    assert_eq!(health["status"], "critical");
}

#[tokio::test]
async fn a_cycle_is_refused_with_422_and_nothing_is_created() {
    let server = TestServer::start().await;
    let job = json!({
        "name": "Loop",
        "workflow": {"steps": [step("a", json!({})), step("b", json!({}))], "dependencies": {"a": ["b"], "b": ["a"]}},
        "execute": true
    });
    let (status, body) = server.post("/api/jobs", job).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "cycle");
    assert_eq!(body["field"], "workflow.dependencies");
    assert!(
        body["message"].as_str().unwrap().contains("a → b → a")
            || body["message"].as_str().unwrap().contains("b → a → b")
    );
    let (_, jobs) = server.get("/api/jobs").await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0);
    let (_, runs) = server.get("/api/runs").await;
    assert_eq!(runs["total"], 0);
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let server = TestServer::start().await;
    let raw = |body: &'static str, ct: &'static str| {
        server
            .http
            .post(server.url("/api/jobs"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let resp = raw("{\"name\": ", "application/json").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_json");

    let resp = raw(
        r#"{"name": 5, "workflow": {"steps": []}}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("invalid_field"), Some("name"))
    );

    let resp = raw(
        r#"{"name": "x", "workflow": {"steps": [{"id": "a", "action": {"teleport": {}}}]}}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["field"], "workflow.steps[0].action");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant `teleport`"),
        "{body}"
    );

    let resp = raw(r#"{"name": "x"}"#, "text/plain").await.unwrap();
    assert_eq!(resp.status(), 415);

    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let resp = server
        .http
        .post(server.url("/api/jobs"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );

    let (status, body) = server.get("/api/runs?status=Sleeping").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("status")));
    let (status, body) = server.get("/api/runs/not-a-run").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn stored_jobs_run_on_demand_and_runs_list_newest_first() {
    let server = TestServer::start().await;
    let mut job = guide_job();
    job["execute"] = json!(false);
    let (status, created) = server.post("/api/jobs", job).await;
    assert_eq!(status, 201);
    assert!(created["run_id"].is_null());
    let job_id = created["job_id"].as_str().unwrap();

    let (_, listed) = server.get("/api/jobs").await;
    assert_eq!(listed["jobs"][0]["job_id"], job_id);
    let (status, one) = server.get(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["workflow"]["steps"].as_array().unwrap().len(), 4);

    let mut run_ids = Vec::new();
    for _ in 0..3 {
        let (status, started) = server
            .post(&format!("/api/jobs/{job_id}/runs"), json!({}))
            .await;
        assert_eq!(status, 201, "{started}");
        run_ids.push(started["run_id"].as_str().unwrap().to_string());
    }
    for id in &run_ids {
        server.wait_for_run(id).await;
    }
    let (_, page) = server.get("/api/runs?limit=2").await;
    assert_eq!(page["total"], 3);
    let listed: Vec<&str> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [run_ids[2].as_str(), run_ids[1].as_str()]);
    let next = page["next_before"].as_str().unwrap();
    let (_, rest) = server
        .get(&format!("/api/runs?limit=2&before={next}"))
        .await;
    assert_eq!(rest["runs"][0]["run_id"], run_ids[0]);
    assert!(rest["next_before"].is_null());
    let (_, filtered) = server
        .get("/api/runs?status=Failed&workflow_id=monthly_report_generation")
        .await;
    assert_eq!(filtered["total"], 0);
    let (_, one) = server.get(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(one["run_count"], 3);

    let (status, _) = server
        .post("/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/runs", json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_run_can_be_cancelled_once() {
    let server = TestServer::start().await;
    let job = json!({
        "name": "Long",
        "workflow": {
            "steps": [step("long", json!({"simulation": {"latency_ms": [60000, 60000]}})), step("after", json!({}))],
            "dependencies": {"after": ["long"]}
        },
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", job).await;
    let run_id = created["run_id"].as_str().unwrap();
    // Wait until the long step is running.
    loop {
        let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
        if run["steps"][0]["status"] == "Running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, _) = server
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    let run = server.wait_for_run(run_id).await;
    assert_eq!(run["status"], "Cancelled");
    assert_eq!(run["steps"][0]["status"], "Cancelled");
    assert_eq!(run["steps"][0]["attempts"][0]["status"], "Cancelled");
    assert_eq!(run["steps"][1]["status"], "Cancelled");
    let (status, body) = server
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
}
