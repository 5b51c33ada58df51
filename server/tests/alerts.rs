//! Contract tests of alerting: drive failures through the simulated backend
//! until the success-rate rule fires, watch it over WebSocket, at a webhook
//! receiver and in health; recover and watch it resolve.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::{eventually, TestServer, Ws};
use parking_lot::Mutex;
use serde_json::{json, Value};
use server::config::Config;

/// A webhook receiver that refuses its first delivery (to prove retries)
/// and records the rest.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<u32>>,
}

async fn receiver() -> Receiver {
    type Shared = (Arc<Mutex<Vec<Value>>>, Arc<Mutex<u32>>);
    async fn hook(
        State((received, refused)): State<Shared>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let mut refused = refused.lock();
        if *refused == 0 {
            *refused += 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        received.lock().push(body);
        StatusCode::OK
    }
    let received = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0));
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state((received.clone(), refused.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        url: format!("http://{addr}/hook"),
        received,
        refused,
    }
}

fn job(fail: bool) -> Value {
    json!({
        "name": if fail { "Always fails" } else { "Always works" },
        "workflow": {"steps": [{
            "id": "only",
            "action": {"agent_task": {"prompt": "p"}},
            "retry_policy": {"max_attempts": 1},
            "simulation": {"failure_rate": if fail { 1.0 } else { 0.0 }}
        }]},
        "execute": true
    })
}

async fn run_jobs(server: &TestServer, fail: bool, n: usize) {
    for _ in 0..n {
        let (status, created) = server.post("/api/jobs", job(fail)).await;
        assert_eq!(status, 201, "{created}");
        server
            .wait_for_run(created["run_id"].as_str().unwrap())
            .await;
    }
}

/// The next `AlertUpdate` of `rule`, skipping everything else.
async fn alert_update(ws: &mut Ws, rule: &str) -> Value {
    loop {
        let msg = ws.next_of_type("AlertUpdate").await;
        if msg["rule"] == rule {
            return msg;
        }
    }
}

#[tokio::test]
async fn the_success_rate_rule_fires_notifies_degrades_health_and_resolves() {
    let hook = receiver().await;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let rules = data.path().join("alerts.toml");
    std::fs::write(
        &rules,
        format!(
            "[rules.success_rate]\nwindow_secs = 600\nfor_secs = 1\nmin_executions = 3\nwebhook_url = {:?}\n",
            hook.url
        ),
    )
    .unwrap();
    let mut config = Config::for_tests(data.path());
    config.alert_rules = Some(rules);
    config.alert_eval_ms = 50;
    config.webhook_retry_ms = 20;
    // Health's own success-rate verdict is switched off, so only alerts move it.
    config.health_degraded_below = 0.0;
    config.health_critical_below = 0.0;
    let server = TestServer::start_with(config, data).await;

    let (_, rule) = server.get("/api/alerts/rules/success_rate").await;
    assert_eq!(
        (rule["threshold"].as_f64(), rule["for_secs"].as_u64()),
        (Some(95.0), Some(1))
    );
    assert_eq!(rule["webhook_url"], hook.url.as_str());

    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeAlerts"})).await;
    ws.next_of_type("Subscribed").await;
    let mut health_ws = server.ws().await;
    health_ws
        .send_json(json!({"action": "SubscribeHealth"}))
        .await;
    health_ws.next_of_type("Subscribed").await;

    // Two failures are fewer than min_executions: nothing is judged yet.
    run_jobs(&server, true, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, active) = server.get("/api/alerts").await;
    assert_eq!(active["alerts"], json!([]), "{active}");

    // The third is enough: pending at once, firing after `for` (1 s).
    run_jobs(&server, true, 1).await;
    let pending = alert_update(&mut ws, "success_rate").await;
    assert_eq!(pending["state"], "pending", "{pending}");
    assert_eq!(pending["value"], 0.0);
    assert_eq!(pending["threshold"], 95.0);
    assert_eq!(pending["severity"], "warning");
    let firing = alert_update(&mut ws, "success_rate").await;
    assert_eq!(firing["state"], "firing", "{firing}");
    let since =
        |m: &Value| chrono::DateTime::parse_from_rfc3339(m["at"].as_str().unwrap()).unwrap();
    assert!(since(&firing) - since(&pending) >= chrono::Duration::seconds(1));

    // A client subscribing now is told at once what fires.
    let mut late = server.ws().await;
    late.send_json(json!({"action": "SubscribeAlerts"})).await;
    late.next_of_type("Subscribed").await;
    let snapshot = alert_update(&mut late, "success_rate").await;
    assert_eq!(snapshot["state"], "firing", "{snapshot}");
    assert_eq!(snapshot["at"], firing["at"]);

    // Health subscribers hear it too, and health is degraded.
    let heard = alert_update(&mut health_ws, "success_rate").await;
    assert_eq!(heard["state"], "pending");
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["alerts"][0]["rule"], "success_rate");
    let (_, active) = server.get("/api/alerts").await;
    let a = &active["alerts"][0];
    assert_eq!(
        (a["rule"].as_str(), a["state"].as_str()),
        (Some("success_rate"), Some("firing"))
    );
    assert!(
        a["fired_at"].is_string() && a["active_since"].is_string(),
        "{a}"
    );

    // The webhook got Alertmanager's payload after one refused attempt.
    let delivered = eventually("the firing webhook", async || {
        hook.received.lock().first().cloned()
    })
    .await;
    assert_eq!(
        *hook.refused.lock(),
        1,
        "the first attempt was refused and retried"
    );
    assert_eq!(delivered["version"], "4");
    assert_eq!(delivered["status"], "firing");
    let alert = &delivered["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "success_rate");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(alert["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("below 95%"));

    // Recover: 57 successes of 60 executions make 95 %; 60 of 63 are 95.2 %.
    run_jobs(&server, false, 60).await;
    let resolved = alert_update(&mut ws, "success_rate").await;
    assert_eq!(resolved["state"], "resolved", "{resolved}");
    assert!(resolved["value"].as_f64().unwrap() >= 95.0, "{resolved}");
    let notified = eventually("the resolved webhook", async || {
        hook.received.lock().get(1).cloned()
    })
    .await;
    assert_eq!(notified["status"], "resolved");
    assert_ne!(notified["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(server.get("/api/alerts").await.1["alerts"], json!([]));

    // History, newest first, and the delivery counter.
    let (_, history) = server.get("/api/alerts/history?rule=success_rate").await;
    let states: Vec<(&str, &str)> = history["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("firing", "resolved"),
            ("pending", "firing"),
            ("inactive", "pending")
        ]
    );
    let (_, metrics) = server
        .get("/api/metrics?name=alert_notifications_total")
        .await;
    let delivered: Vec<&Value> = metrics["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["labels"]["outcome"] == "delivered" && c["labels"]["rule"] == "success_rate")
        .collect();
    assert_eq!(delivered[0]["value"], 2, "{metrics}");

    // The state and history survive a restart.
    let server = server.restart().await;
    // (success_rate_critical may have gone pending while successes came in.)
    let (_, history) = server.get("/api/alerts/history?rule=success_rate").await;
    assert_eq!(
        history["transitions"].as_array().unwrap().len(),
        3,
        "{history}"
    );
    let (_, all) = server.get("/api/alerts?state=resolved").await;
    assert!(
        all["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "success_rate"),
        "{all}"
    );
}

#[tokio::test]
async fn rules_change_through_the_api_and_last_across_a_restart() {
    let server = TestServer::start().await;
    let (status, rules) = server.get("/api/alerts/rules").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for name in [
        "success_rate",
        "latency_regression",
        "pending_approvals",
        "active_workflows",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }

    let (status, changed) = server
        .put(
            "/api/alerts/rules/pending_approvals",
            json!({"threshold": 5, "for_secs": 30}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["threshold"].as_f64(), changed["for_secs"].as_u64()),
        (Some(5.0), Some(30))
    );
    assert_eq!(changed["expression"], "pending approvals > 5");

    let (status, created) = server
        .put(
            "/api/alerts/rules/busy",
            json!({"kind": "active_workflows", "threshold": 0, "severity": "critical"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["for_secs"], 0);

    // Bad changes: 4xx naming the field, and nothing changes.
    for (path, body, code, field) in [
        (
            "/api/alerts/rules/pending_approvals",
            json!({"threshold": -1}),
            422,
            "threshold",
        ),
        (
            "/api/alerts/rules/success_rate",
            json!({"threshold": 101}),
            422,
            "threshold",
        ),
        (
            "/api/alerts/rules/success_rate",
            json!({"kind": "pending_approvals"}),
            422,
            "kind",
        ),
        (
            "/api/alerts/rules/success_rate",
            json!({"webhook_url": "not a url"}),
            422,
            "webhook_url",
        ),
        (
            "/api/alerts/rules/success_rate",
            json!({"treshold": 1}),
            422,
            "",
        ),
        (
            "/api/alerts/rules/success_rate",
            json!({"for_secs": "soon"}),
            422,
            "for_secs",
        ),
        (
            "/api/alerts/rules/new_one",
            json!({"threshold": 1}),
            422,
            "kind",
        ),
        // The rules file's path, not a rule: refused, as JSON.
        (
            "/api/alerts/rules/prometheus",
            json!({"kind": "active_workflows", "threshold": 1}),
            405,
            "",
        ),
    ] {
        let (status, err) = server.put(path, body.clone()).await;
        assert_eq!(status, code, "{path} {body}: {err}");
        assert!(err["message"].is_string(), "{err}");
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{path} {body}: {err}");
        }
    }
    let (status, err) = server.get("/api/alerts/rules/nope").await;
    assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));
    let (status, err) = server.get("/api/alerts?state=sleepy").await;
    assert_eq!((status, err["field"].as_str()), (400, Some("state")));
    let (status, _) = server.get("/api/alerts/history?limit=0").await;
    assert_eq!(status, 400);

    // The new rule fires at once (no `for`) while a run is in flight, and
    // resolves when it ends.
    let slow = json!({
        "name": "Slow",
        "workflow": {"steps": [{"id": "wait", "action": {"agent_task": {"prompt": "p"}}, "simulation": {"latency_ms": [400, 400]}}]},
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", slow).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let _ = server.wait_for_run(&run_id).await;
    let history = eventually("busy to resolve", async || {
        let (_, h) = server.get("/api/alerts/history?rule=busy").await;
        (h["transitions"].as_array().unwrap().len() == 2).then_some(h)
    })
    .await;
    let moves: Vec<(&str, &str)> = history["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, [("firing", "resolved"), ("inactive", "firing")]);

    let server = server.restart().await;
    let (_, rule) = server.get("/api/alerts/rules/pending_approvals").await;
    assert_eq!(
        rule["threshold"], 5.0,
        "API changes are kept in the event log"
    );
    let (_, rule) = server.get("/api/alerts/rules/busy").await;
    assert_eq!(rule["severity"], "critical");
}

#[tokio::test]
async fn the_prometheus_rules_file_is_valid_yaml_with_every_enabled_rule() {
    let server = TestServer::start().await;
    server
        .put(
            "/api/alerts/rules/active_workflows",
            json!({"enabled": false}),
        )
        .await;
    let resp = server
        .http
        .get(server.url("/api/alerts/rules/prometheus"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    let text = resp.text().await.unwrap();
    // Parsed by PyYAML, as Prometheus's own loader would read YAML.
    let python = std::env::var("SHIIOO_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e} (scripts/setup.sh installs the venv)")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = parsed["groups"][0]["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"success_rate") && !names.contains(&"active_workflows"),
        "{names:?}"
    );
    let sr = rules.iter().find(|r| r["alert"] == "success_rate").unwrap();
    assert_eq!(sr["for"], "5m");
    assert_eq!(sr["labels"]["severity"], "warning");
    assert!(
        sr["expr"]
            .as_str()
            .unwrap()
            .contains("workflow_executions_total"),
        "{sr}"
    );
}

/// Notifications come from the journal in order, not from a live feed that
/// a burst can overrun: 10,000 transitions published faster than anything
/// else can run (more than the live feeds hold) are all delivered.
#[tokio::test]
async fn a_burst_of_transitions_is_notified_in_full() {
    use server::events::{AlertState, EventKind, Severity};
    let hook = receiver().await;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.webhook_retry_ms = 20;
    let server = TestServer::start_with(config, data).await;
    let (status, _) = server
        .put(
            "/api/alerts/rules/flapping",
            json!({"kind": "active_workflows", "threshold": 1000000, "webhook_url": hook.url}),
        )
        .await;
    assert_eq!(status, 201);
    const N: usize = 10_000;
    let journal = server.engine.journal();
    // On the test's only runtime thread: nothing else runs until it is done.
    for i in 0..N {
        let (from, to) = if i % 2 == 0 {
            (AlertState::Pending, AlertState::Firing)
        } else {
            (AlertState::Firing, AlertState::Resolved)
        };
        journal.publish(EventKind::AlertChanged {
            rule: "flapping".into(),
            labels: [("n".to_string(), (i / 2).to_string())].into(),
            from,
            to,
            severity: Severity::Warning,
            value: i as f64,
            threshold: 0.0,
            message: format!("transition {i}"),
        });
    }
    let received = eventually("every notification", async || {
        let got = hook.received.lock().len();
        (got == N).then_some(got)
    })
    .await;
    assert_eq!(received, N);
    let mut summaries: Vec<String> = hook
        .received
        .lock()
        .iter()
        .map(|p| {
            p["alerts"][0]["annotations"]["summary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    summaries.sort();
    summaries.dedup();
    assert_eq!(summaries.len(), N, "each transition once");
}
