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
        let (_, page) = server.page(path).await;
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

#[tokio::test]
async fn a_graceful_stop_interrupts_runs_then_and_there_tells_watchers_and_says_goodbye() {
    let server = TestServer::start().await;
    let (_, created) = server
        .post(
            "/api/jobs",
            json!({"name": "Slow", "workflow": {"steps": [
                step("work", json!({"simulation": {"latency_ms": [60000, 60000]}})),
                step("after", json!({}))
            ], "dependencies": {"after": ["work"]}}, "execute": true}),
        )
        .await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeWorkflow", "run_id": run_id}))
        .await;
    assert_eq!(ws.next_json().await["type"], "Subscribed");
    loop {
        let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
        if run["steps"][0]["status"] == "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data = server.data.clone();
    let stop_requested = chrono::Utc::now();
    let stopped = tokio::spawn(server.shutdown());

    // The watcher hears how the run ended, then a 1001 close.
    let mut statuses = Vec::new();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next())
            .await
            .expect("the stop reaches the watcher within 5 s")
        {
            Some(Ok(Message::Text(text))) => {
                let msg: Value = serde_json::from_str(&text).unwrap();
                if msg["type"] == "WorkflowUpdate" {
                    statuses.push(msg["status"].as_str().unwrap().to_string());
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.expect("a close code"),
            Some(Ok(_)) => {}
            other => panic!("expected updates then a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("Interrupted"),
        "{statuses:?}"
    );
    stopped.await.unwrap();

    // Down for a while; the run's times end at the stop, not at the restart.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let server = TestServer::start_with(server::config::Config::for_tests(data.path()), data).await;
    let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "Interrupted", "{run}");
    let ended: chrono::DateTime<chrono::Utc> =
        run["completed_at"].as_str().unwrap().parse().unwrap();
    assert!(
        ended >= stop_requested && ended < stop_requested + chrono::Duration::milliseconds(1_000),
        "ended {ended}, stop requested {stop_requested}: {run}"
    );
    assert!(f(&run["duration_secs"]) < 1.3, "{run}");
    assert!(f(&run["steps"][0]["duration_secs"]) < 1.3, "{run}");
    assert_eq!(run["steps"][1]["status"], "Interrupted", "{run}");
    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    assert!(f(&trace["duration_secs"]) < 1.3, "{trace}");
    // An interrupted run is an execution without a duration: the figures
    // say so with null, not a false 0.
    let (_, stats) = server.get("/api/analytics/workflows/slow").await;
    assert_eq!(stats["execution_count"], 1, "{stats}");
    for figure in ["min", "max", "avg", "p50", "p95", "p99"] {
        assert!(
            stats[format!("{figure}_duration_secs")].is_null(),
            "{figure}: {stats}"
        );
    }
}

#[tokio::test]
async fn pages_about_unknown_things_answer_404() {
    let server = TestServer::start().await;
    let (_, created) = server
        .post(
            "/api/jobs",
            json!({"name": "Known", "workflow": {"steps": [step("a", json!({}))]}}),
        )
        .await;
    assert!(created["job_id"].is_string());
    for (path, status) in [
        ("/workflows/nope", 404),
        ("/traces/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404),
        ("/traces/not-even-an-id", 404),
        // A workflow whose job has not run yet exists.
        ("/workflows/known", 200),
    ] {
        let (got, page) = server.page(path).await;
        assert_eq!(got, status, "{path}");
        assert!(page.contains("</html>"), "{path}: a whole page");
    }
}

#[tokio::test]
async fn a_step_on_its_second_attempt_and_a_failing_run_say_where_they_are() {
    let server = TestServer::start().await;
    // `flaky` fails once, then takes its time; `doomed` fails for good
    // while `slow` still runs, so the run is failing but not over.
    let (_, created) = server
        .post(
            "/api/jobs",
            json!({"name": "Mixed", "workflow": {"steps": [
                step("flaky", json!({"retry_policy": {"max_attempts": 3, "backoff_secs": 0},
                    "simulation": {"fail_first_attempts": 1, "latency_ms": [1500, 1500]}})),
                step("doomed", json!({"simulation": {"failure_rate": 1.0, "latency_ms": [10, 10]}})),
                step("after_doomed", json!({})),
                step("slow", json!({"simulation": {"latency_ms": [1500, 1500]}}))
            ], "dependencies": {"after_doomed": ["doomed"]}}, "execute": true}),
        )
        .await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    // Wait until flaky runs its second attempt and doomed has failed.
    loop {
        let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
        let flaky = &run["steps"][0];
        if flaky["attempts"].as_array().unwrap().len() == 2
            && flaky["status"] == "Running"
            && run["steps"][1]["status"] == "Failed"
        {
            break;
        }
        assert_eq!(run["status"], "Running", "{run}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeWorkflow", "run_id": run_id}))
        .await;
    assert_eq!(ws.next_json().await["type"], "Subscribed");
    let workflow = ws.next_json().await;
    assert_eq!(workflow["type"], "WorkflowUpdate");
    let message = workflow["message"].as_str().unwrap();
    assert!(
        message.starts_with("Step doomed failed"),
        "a failing run does not say it is processing: {message}"
    );
    let mut steps = BTreeMap::new();
    for _ in 0..3 {
        let update = ws.next_of_type("StepUpdate").await;
        steps.insert(
            update["step_id"].as_str().unwrap().to_string(),
            update["message"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(steps["flaky"], "Attempt 2 started", "{steps:?}");
    assert!(
        steps["doomed"]
            .starts_with("Failed after 1 attempt: simulated failure of worker (attempt 1)"),
        "attempts are counted from 1 everywhere: {steps:?}"
    );
    assert!(steps["after_doomed"].starts_with("Skipped: upstream step doomed failed"));
}

#[tokio::test]
async fn an_alert_shows_what_its_rule_measures_now_and_quiet_counters_exist_at_zero() {
    let server = TestServer::start().await;
    let (status, rule) = server
        .put(
            "/api/alerts/rules/pending_approvals",
            json!({"threshold": 0, "for_secs": 0}),
        )
        .await;
    assert_eq!(status, 200, "{rule}");
    let gate = json!({"name": "Gate", "workflow": {"steps": [
        {"id": "gate", "action": {"manual_approval": {"approvers": ["a"], "quorum": "unanimous"}}}
    ]}, "execute": true});
    server.post("/api/jobs", gate.clone()).await;
    let firing = loop {
        let (_, list) = server.get("/api/alerts").await;
        if let Some(a) = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "pending_approvals" && a["state"] == "firing")
        {
            break a.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        firing["message"]
            .as_str()
            .unwrap()
            .starts_with("1 approval"),
        "{firing}"
    );
    for _ in 0..2 {
        server.post("/api/jobs", gate.clone()).await;
    }
    let mut message = String::new();
    for _ in 0..200 {
        let (_, list) = server.get("/api/alerts").await;
        let a = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "pending_approvals")
            .cloned()
            .unwrap();
        message = a["message"].as_str().unwrap().to_string();
        if a["value"] == 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(message.starts_with("3 approvals"), "{message}");
    let (_, health) = server.get("/api/health/status").await;
    let alert = health["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "pending_approvals")
        .cloned()
        .unwrap();
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .starts_with("3 approvals"),
        "{health}"
    );
    // The transition keeps the value it fired at.
    let (_, history) = server
        .get("/api/alerts/history?rule=pending_approvals")
        .await;
    assert!(history["transitions"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("1 approval"));

    // Counters that are still zero are there, at zero.
    let (_, metrics) = server
        .get("/api/metrics?name=websocket_messages_dropped_total,metrics_series_overflow_total,alert_notifications_total")
        .await;
    let counters = metrics["counters"].as_array().unwrap();
    let has = |name: &str, labels: Value| {
        counters
            .iter()
            .any(|c| c["name"] == name && c["value"] == 0 && c["labels"] == labels)
    };
    assert!(
        has("websocket_messages_dropped_total", json!({})),
        "{metrics}"
    );
    assert!(
        has(
            "metrics_series_overflow_total",
            json!({"metric": "http_requests_total"})
        ),
        "{metrics}"
    );
    assert!(
        has(
            "alert_notifications_total",
            json!({"rule": "success_rate", "outcome": "failed"})
        ),
        "{metrics}"
    );
    // Every label matcher takes several values.
    let (_, both) = server
        .get("/api/metrics?name=alert_notifications_total&outcome=delivered&outcome=failed")
        .await;
    let (_, listed) = server
        .get("/api/metrics?name=alert_notifications_total&outcome=delivered,failed")
        .await;
    let n = both["counters"].as_array().unwrap().len();
    assert!(n >= 10, "{both}");
    assert_eq!(listed["counters"].as_array().unwrap().len(), n);
}
