//! Contract tests of awkward but ordinary use, found by trying things as a
//! new user would: short and instant steps, wide workflows, routines due
//! together, names with spaces, bytes that are not UTF-8, oversized
//! messages, many stored jobs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{step, TestServer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn approvers_with_spaces_around_their_names_are_one_person_and_can_vote() {
    let server = TestServer::start().await;
    let gate = |approvers: Value| {
        json!({"name": "Gate", "workflow": {"steps": [
            {"id": "gate", "action": {"manual_approval": {"approvers": approvers, "quorum": "unanimous"}}}
        ]}, "execute": true})
    };
    // Listed twice once trimmed: refused, naming the entry.
    let (status, e) = server
        .post("/api/jobs", gate(json!([" ops-lead ", "ops-lead"])))
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(
        e["field"],
        "workflow.steps[0].action.manual_approval.approvers[1]"
    );
    // Spaces around a name: the approver is the trimmed name, who can vote
    // and pass the gate.
    let (status, created) = server
        .post("/api/jobs", gate(json!([" ops-lead ", "dba"])))
        .await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let approval = loop {
        let (_, list) = server.get("/api/approvals?status=pending").await;
        if let Some(a) = list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["run_id"] == run_id.as_str())
        {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(approval["approvers"], json!(["ops-lead", "dba"]));
    let id = approval["approval_id"].as_str().unwrap();
    for voter in [" ops-lead", "dba "] {
        let (status, body) = server
            .post(
                &format!("/api/approvals/{id}/vote"),
                json!({"voter": voter, "decision": "approve"}),
            )
            .await;
        assert_eq!(status, 200, "{voter:?}: {body}");
    }
    assert_eq!(server.wait_for_run(&run_id).await["status"], "Completed");
}

#[tokio::test]
async fn bottlenecks_are_ordered_by_time_not_by_rounded_share() {
    let server = TestServer::start().await;
    // 300 parallel steps of 1–3 ms: their shares round to the same
    // hundredth while their times differ.
    let steps: Vec<Value> = (0..300)
        .map(|i| {
            step(
                &format!("s{i:03}"),
                json!({"simulation": {"latency_ms": [1, 3]}}),
            )
        })
        .collect();
    let (status, created) = server
        .post(
            "/api/jobs",
            json!({"name": "Wide", "workflow": {"steps": steps}, "execute": true}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    let (_, report) = server.get("/api/analytics/bottlenecks/wide").await;
    let times: Vec<f64> = report["bottlenecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| f(&b["avg_duration_secs"]))
        .collect();
    assert_eq!(times.len(), 300);
    let inversions = times.windows(2).filter(|w| w[0] < w[1]).count();
    assert_eq!(inversions, 0, "{times:?}");
}

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_is_a_json_error_naming_it() {
    let server = TestServer::start().await;
    for (method, path, param) in [
        ("GET", "/api/runs/%FF", "run_id"),
        ("GET", "/api/analytics/workflows/%FF", "workflow_id"),
        ("GET", "/api/analytics/bottlenecks/%FF", "workflow_id"),
        ("GET", "/api/analytics/traces/%FF", "run_id"),
        ("GET", "/api/routines/%FF", "routine_id"),
        ("GET", "/api/jobs/%FF", "job_id"),
        ("POST", "/api/runs/%FF/cancel", "run_id"),
        ("POST", "/api/approvals/%C3%28/vote", "approval_id"),
    ] {
        let request = match method {
            "GET" => server.http.get(server.url(path)),
            _ => server.http.post(server.url(path)).json(&json!({})),
        };
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 400, "{method} {path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_path", "{method} {path}: {body}");
        assert_eq!(body["field"], param, "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn an_oversized_websocket_message_is_refused_and_a_huge_one_closes_with_1009() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    // Over the 16 KiB an action may have: an Error, and the link lives on.
    let big = format!(r#"{{"action": "Ping", "pad": "{}"}}"#, "x".repeat(20_000));
    ws.send_text(&big).await;
    let error = ws.next_of_type("Error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("over the limit"),
        "{error}"
    );
    ws.send_json(json!({"action": "Ping"})).await;
    assert_eq!(ws.next_json().await["type"], "Pong");
    // Over what is read at all: closed with 1009 and a reason, not dropped.
    ws.stream
        .send(Message::Text("x".repeat(2 * 1024 * 1024).into()))
        .await
        .unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("an answer within 5 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let close = close.expect("a close frame with a code");
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("too big"), "{}", close.reason);
}

#[tokio::test]
async fn a_workflow_page_does_not_carry_every_stored_job() {
    let server = TestServer::start().await;
    let prompt = "p".repeat(2_000);
    for i in 0..40 {
        let (status, _) = server
            .post(
                "/api/jobs",
                json!({"name": format!("job {i}"), "workflow": {"steps": [
                    {"id": "a", "action": {"agent_task": {"prompt": prompt}}}
                ]}}),
            )
            .await;
        assert_eq!(status, 201);
    }
    for path in ["/workflows/job_7", "/workflows/nope", "/run"] {
        let page = server
            .http
            .get(server.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // 40 jobs × 2 KB of prompt would be 80 KB.
        assert!(
            !page.contains(&prompt),
            "{path} embeds job definitions ({} bytes)",
            page.len()
        );
    }
    // The API filters, limits and leaves definitions out on request.
    let (status, list) = server
        .get("/api/jobs?workflow_id=job_7&include_workflow=false")
        .await;
    assert_eq!(status, 200);
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["workflow_id"], "job_7");
    assert!(jobs[0].get("workflow").is_none(), "{}", jobs[0]);
    let (_, list) = server.get("/api/jobs?limit=3").await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 3);
    assert!(list["jobs"][0]["workflow"]["steps"].is_array());
    let (_, list) = server.get("/api/jobs").await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 40);
    let (status, e) = server.get("/api/jobs?limit=0").await;
    assert_eq!((status, e["field"].as_str()), (400, Some("limit")));
}

#[tokio::test]
async fn routines_due_at_the_same_instants_all_fire_once_each() {
    let server = TestServer::start().await;
    let (_, job) = server
        .post(
            "/api/jobs",
            json!({"name": "Tick", "workflow": {"steps": [step("t", json!({}))]}}),
        )
        .await;
    let job_id = job["job_id"].as_str().unwrap();
    let specs = [
        ("* * * * * *", "UTC"),
        ("* * * * * *", "UTC"),
        ("* * * * * *", "Asia/Kathmandu"),
        ("* * * * * *", "America/New_York"),
        ("*/2 * * * * *", "UTC"),
        ("*/3 * * * * *", "Europe/Berlin"),
    ];
    let mut ids = Vec::new();
    for (i, (cron, tz)) in specs.iter().enumerate() {
        let (status, r) = server
            .post(
                "/api/routines",
                json!({"name": format!("r{i}"), "cron": cron, "timezone": tz, "job_id": job_id}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        ids.push(r["routine_id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let mut fired: HashMap<String, Vec<String>> = HashMap::new();
    for id in &ids {
        let (_, r) = server
            .patch(&format!("/api/routines/{id}"), json!({"enabled": false}))
            .await;
        let history = r["history"].as_array().unwrap();
        fired.insert(
            id.clone(),
            history
                .iter()
                .map(|h| h["scheduled_for"].as_str().unwrap().to_string())
                .collect(),
        );
    }
    // Every routine fired, each scheduled second once.
    for ((cron, tz), id) in specs.iter().zip(&ids) {
        let times = &fired[id];
        let distinct: std::collections::BTreeSet<&String> = times.iter().collect();
        assert_eq!(distinct.len(), times.len(), "{cron} {tz}: {times:?}");
        let least = match *cron {
            "* * * * * *" => 3,
            "*/2 * * * * *" => 1,
            _ => 1,
        };
        assert!(times.len() >= least, "{cron} {tz} fired {times:?}");
    }
    // Routines of the same cron fired at the same seconds.
    let same: Vec<&Vec<String>> = ids[..4].iter().map(|id| &fired[id]).collect();
    let mut seconds: BTreeMap<&String, usize> = BTreeMap::new();
    for times in &same {
        for t in *times {
            *seconds.entry(t).or_default() += 1;
        }
    }
    let shared = seconds.values().filter(|&&n| n == 4).count();
    assert!(
        shared >= 3,
        "every-second routines fire together: {seconds:?}"
    );
}
