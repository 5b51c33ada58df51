//! Contract tests of what agent calls use: tokens, model, cost and time to
//! first token on every completed attempt, from the simulated backend
//! (which says it is simulated) and from an OpenAI-compatible server in
//! this test that streams its answers as OpenAI does.

mod common;

use std::time::Duration;

use common::{guide_job, TestServer};
use serde_json::{json, Value};
use server::config::{AgentBackendKind, Config};

fn attempts(run: &Value) -> Vec<Value> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["attempts"].as_array().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn simulated_usage_is_drawn_said_to_be_simulated_and_kept() {
    let server = TestServer::start().await;
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let run = server.wait_for_run(&run_id).await;
    for a in attempts(&run) {
        let u = &a["usage"];
        assert_eq!(
            (&u["provider"], &u["model"]),
            (&json!("simulated"), &json!("simulated")),
            "{a}"
        );
        assert!(u["input_tokens"].as_u64().unwrap() > 0, "{a}");
        assert!(u["output_tokens"].as_u64().unwrap() > 0, "{a}");
        // No price for a simulated model: unknown, not zero.
        assert_eq!(u["cost_usd"], Value::Null, "{a}");
    }
    // The trace says the same, attempt by attempt, and so does the log
    // after a restart.
    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    let traced: Vec<Value> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["usage"].clone())
        .collect();
    let mut from_run: Vec<Value> = attempts(&run).iter().map(|a| a["usage"].clone()).collect();
    let mut traced_sorted = traced.clone();
    from_run.sort_by_key(|v| v.to_string());
    traced_sorted.sort_by_key(|v| v.to_string());
    assert_eq!(traced_sorted, from_run);
    let restarted = server.restart().await;
    let (_, again) = restarted.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(attempts(&again), attempts(&run));
}

/// An OpenAI-compatible server streaming each answer in three chunks,
/// 30 ms apart, then its usage.
async fn streaming_llm() -> String {
    use axum::routing::post;
    use futures::StreamExt;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|axum::Json(body): axum::Json<Value>| async move {
            assert_eq!(body["stream"], true);
            let prompt = body["messages"][1]["content"].as_str().unwrap_or("").to_string();
            let model = "gpt-4o-mini-2024-07-18";
            let chunk = |content: &str| {
                format!("data: {}\n\n", json!({"model": model, "choices": [{"index": 0, "delta": {"content": content}}]}))
            };
            let chunks = vec![
                chunk("Done: "),
                chunk(&prompt),
                format!(
                    "data: {}\n\ndata: [DONE]\n\n",
                    json!({"model": model, "choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 400}}})
                ),
            ];
            let body = futures::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<_, std::convert::Infallible>(c)
            });
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                axum::body::Body::from_stream(body),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_openai_compatible_server_s_usage_is_priced_from_the_table() {
    let base = streaming_llm().await;
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let prices = data.path().join("prices.toml");
    std::fs::write(
        &prices,
        "[models.\"gpt-4o-mini-2024-07-18\"]\ninput = 1.0\ncached_input = 0.5\noutput = 10.0\n",
    )
    .unwrap();
    let mut config = Config::for_tests(data.path());
    config.agent_backend = AgentBackendKind::Openai;
    config.openai_base_url = base;
    config.openai_model = "gpt-4o-mini".into();
    config.prices = Some(prices);
    let server = TestServer::start_with(config, data).await;
    let (status, created) = server.post("/api/jobs", guide_job()).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    assert!(
        run["steps"][0]["output"]
            .as_str()
            .unwrap()
            .starts_with("Done: "),
        "{run}"
    );
    for a in attempts(&run) {
        let u = &a["usage"];
        assert_eq!(u["provider"], "openai");
        assert_eq!(
            u["model"], "gpt-4o-mini-2024-07-18",
            "the model that answered"
        );
        assert_eq!(
            (
                &u["input_tokens"],
                &u["output_tokens"],
                &u["cached_input_tokens"]
            ),
            (&json!(1000), &json!(200), &json!(400))
        );
        // 600 plain input at $1/M, 400 cached at $0.5/M, 200 out at $10/M.
        let cost = u["cost_usd"].as_f64().unwrap();
        assert!(
            (cost - (600.0 + 200.0 + 2000.0) / 1e6).abs() < 1e-9,
            "{cost}"
        );
        // The first token came with the first chunk, 30 ms in; the answer
        // ended about 90 ms in.
        let first = u["time_to_first_token_secs"].as_f64().unwrap();
        let duration = a["duration_secs"].as_f64().unwrap();
        assert!(first >= 0.025 && first < duration, "{first} of {duration}");
    }
}

#[tokio::test]
async fn spend_adds_up_per_step_workflow_and_model_and_is_pushed_live() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeAll"})).await;
    ws.next_of_type("Subscribed").await;
    // The guide's job, with one step that fails its first two attempts.
    let mut job = guide_job();
    job["workflow"]["steps"][1]["simulation"] =
        json!({"latency_ms": [5, 5], "fail_first_attempts": 2});
    job["workflow"]["steps"][1]["retry_policy"] = json!({"max_attempts": 3, "backoff_secs": 0.0});
    let (status, created) = server.post("/api/jobs", job).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    let calls = attempts(&run);
    let tokens = |key: &str| -> u64 { calls.iter().filter_map(|a| a["usage"][key].as_u64()).sum() };
    let (input, output) = (tokens("input_tokens"), tokens("output_tokens"));
    assert!(input > 0 && output > 0);

    // A completed step's live update carries its usage.
    let update = loop {
        let msg = ws.next_of_type("StepUpdate").await;
        if msg["run_id"] == run_id.as_str() && msg["status"] == "Completed" {
            break msg;
        }
    };
    assert_eq!(update["usage"]["provider"], "simulated", "{update}");

    // The workflow's figures are the sum of its attempts' usage.
    let wf = created["workflow_id"].as_str().unwrap();
    let (_, stats) = server.get(&format!("/api/analytics/workflows/{wf}")).await;
    assert_eq!(
        (
            stats["total_input_tokens"].as_u64(),
            stats["total_output_tokens"].as_u64()
        ),
        (Some(input), Some(output)),
        "{stats}"
    );
    assert_eq!(
        stats["total_cost_usd"],
        Value::Null,
        "no simulated price: unknown"
    );
    assert_eq!(
        stats["p95_tokens"].as_u64().map(|p| p > 0),
        Some(true),
        "{stats}"
    );
    let (_, ranged) = server
        .get(&format!("/api/analytics/workflows/{wf}?since=1h"))
        .await;
    assert_eq!(ranged["total_input_tokens"], stats["total_input_tokens"]);
    assert_eq!(ranged["p95_tokens"], Value::Null, "sums only by period");
    let (_, steps) = server
        .get(&format!("/api/analytics/steps?workflow_id={wf}"))
        .await;
    let step_sum: u64 = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total_input_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(step_sum, input);

    // By model: every call, the two failed ones included.
    let (status, models) = server.get("/api/analytics/models").await;
    assert_eq!(status, 200, "{models}");
    let list = models["models"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{models}");
    let m = &list[0];
    assert_eq!(
        (&m["provider"], &m["model"]),
        (&json!("simulated"), &json!("simulated"))
    );
    assert_eq!(
        (m["calls"].as_u64(), m["failures"].as_u64()),
        (Some(calls.len() as u64), Some(2)),
        "{m}"
    );
    assert!((m["error_rate"].as_f64().unwrap() - 2.0 / calls.len() as f64 * 100.0).abs() < 0.01);
    assert_eq!(m["total_input_tokens"].as_u64(), Some(input));
    assert!(
        m["p95_duration_secs"].is_number() && m["p50_time_to_first_token_secs"].is_number(),
        "{m}"
    );
    let (_, later) = server
        .get("/api/analytics/models?since=2099-01-01T00:00:00Z&until=2099-01-02T00:00:00Z")
        .await;
    assert_eq!(later["models"], json!([]));
    let (status, body) = server.get("/api/analytics/models?since=soon").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("since")));

    // All of it is folded back from the log after a restart.
    let restarted = server.restart().await;
    let (_, again) = restarted.get("/api/analytics/models").await;
    assert_eq!(again, models);
}

/// The value of the first sample of `name` whose labels include all of
/// `labels` (`k="v"` pieces), in Prometheus's text format.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn agent_calls_are_in_the_genai_metrics_and_spend_per_workflow() {
    let base = streaming_llm().await;
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.agent_backend = AgentBackendKind::Openai;
    config.openai_base_url = base;
    let server = TestServer::start_with(config, data).await;
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    server.wait_for_run(&run_id).await;
    let text = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let model = "gen_ai_request_model=\"gpt-4o-mini-2024-07-18\"";
    let provider = "gen_ai_provider_name=\"openai\"";
    // Four calls of 1,000 input tokens: in the 1,024 bucket, not the 256.
    let input = "gen_ai_token_type=\"input\"";
    assert_eq!(
        sample(
            &text,
            "gen_ai_client_token_usage_bucket",
            &[input, model, provider, "le=\"1024\""]
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "gen_ai_client_token_usage_bucket",
            &[input, model, provider, "le=\"256\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "gen_ai_client_token_usage_sum",
            &["gen_ai_token_type=\"output\"", model]
        ),
        Some(800.0)
    );
    assert_eq!(
        sample(
            &text,
            "gen_ai_client_operation_duration_seconds_count",
            &[model, provider]
        ),
        Some(4.0)
    );
    // Priced from the shipped table: 600 plain input at $0.15/M, 400
    // cached at $0.075/M, 200 output at $0.60/M, four times.
    let cost = sample(
        &text,
        "llm_cost_usd_total",
        &[
            "workflow_id=\"monthly_report_generation\"",
            "model=\"gpt-4o-mini-2024-07-18\"",
        ],
    )
    .unwrap();
    assert!(
        (cost - 4.0 * (90.0 + 30.0 + 120.0) / 1e6).abs() < 1e-9,
        "{cost}"
    );
    assert_eq!(
        sample(
            &text,
            "llm_tokens_total",
            &[
                "workflow_id=\"monthly_report_generation\"",
                "step_id=\"fetch_data\"",
                "type=\"input\""
            ]
        ),
        Some(1000.0)
    );
}

/// A job of four steps in a chain, each call of which costs $0.40 (the
/// command reports it), with a budget.
fn budgeted(budget: Value) -> Value {
    let steps: Vec<Value> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| json!({"id": id, "action": {"agent_task": {"prompt": id}}}))
        .collect();
    json!({
        "name": "Budgeted",
        "workflow": {"steps": steps, "dependencies": {"b": ["a"], "c": ["b"], "d": ["c"]}},
        "budget": budget,
        "execute": true,
    })
}

/// A server whose agent is a command reporting $0.40 a call.
async fn priced_command_server() -> TestServer {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.agent_backend = AgentBackendKind::Command;
    config.agent_command = Some(
        r#"cat >/dev/null; echo done; echo 'shiioo-usage: {"model": "m", "input_tokens": 10, "output_tokens": 10, "cost_usd": 0.4}'"#.into(),
    );
    TestServer::start_with(config, data).await
}

#[tokio::test]
async fn a_spent_budget_starts_no_further_agent_step_and_fails_the_run_saying_so() {
    let server = priced_command_server().await;

    // Nonsense budgets are refused, naming the field.
    for (budget, field) in [
        (json!({"max_cost_usd": 0}), "budget.max_cost_usd"),
        (json!({"max_cost_usd": -1.5}), "budget.max_cost_usd"),
        (
            json!({"max_cost_usd": 1, "on_exceed": "ignore"}),
            "budget.on_exceed",
        ),
        (json!({"max_cost_usd": 1, "extra": true}), "budget"),
    ] {
        let (status, body) = server.post("/api/jobs", budgeted(budget.clone())).await;
        assert_eq!(status, 422, "{budget}: {body}");
        assert!(
            body["field"].as_str().is_some_and(|f| f.starts_with(field)),
            "{budget}: {body}"
        );
    }

    let (status, created) = server
        .post("/api/jobs", budgeted(json!({"max_cost_usd": 1.0})))
        .await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("budget exceeded"),
        "{run}"
    );
    let statuses: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    // $0.40, $0.80, $1.20 spent: the fourth call would start over budget.
    assert_eq!(
        statuses,
        ["Completed", "Completed", "Completed", "Skipped"],
        "{run}"
    );
    assert!(run["steps"][3]["error"]
        .as_str()
        .unwrap()
        .contains("budget exceeded"));
    assert!(
        run["steps"][3]["attempts"].as_array().unwrap().is_empty(),
        "it never started"
    );
    assert_eq!(
        run["budget"],
        json!({"max_cost_usd": 1.0, "on_exceed": "fail"})
    );
    assert!(
        (run["cost_usd"].as_f64().unwrap() - 1.2).abs() < 1e-9,
        "{run}"
    );
    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    assert_eq!(
        (&trace["budget"], &trace["cost_usd"]),
        (&run["budget"], &run["cost_usd"])
    );

    // The job keeps its budget for every run, after a restart too. (The
    // restarted server's agents are the simulated ones, whose calls have
    // no price: they spend nothing against the budget.)
    let job_id = created["job_id"].as_str().unwrap().to_string();
    let server = server.restart().await;
    let (_, job) = server.get(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(
        job["budget"],
        json!({"max_cost_usd": 1.0, "on_exceed": "fail"}),
        "{job}"
    );
    let (_, old) = server.get(&format!("/api/runs/{run_id}")).await;
    assert!(
        (old["cost_usd"].as_f64().unwrap() - 1.2).abs() < 1e-9,
        "{old}"
    );
    let (status, again) = server
        .post(&format!("/api/jobs/{job_id}/runs"), json!({}))
        .await;
    assert!(status < 300, "{again}");
    let run = server.wait_for_run(again["run_id"].as_str().unwrap()).await;
    assert_eq!(
        (
            &run["status"],
            &run["budget"]["max_cost_usd"],
            &run["cost_usd"]
        ),
        (&json!("Completed"), &json!(1.0), &Value::Null),
        "{run}"
    );

    // Without a budget, the same job spends what it spends.
    let mut free = budgeted(Value::Null);
    free.as_object_mut().unwrap().remove("budget");
    let (_, created) = server.post("/api/jobs", free).await;
    let run = server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (&run["status"], &run["budget"]),
        (&json!("Completed"), &Value::Null),
        "{run}"
    );
}

/// The pending approval `run_id`'s spent budget asked for.
async fn budget_question(server: &TestServer, run_id: &str) -> Value {
    common::eventually("the budget's approval", async || {
        let (_, list) = server.get("/api/approvals?status=pending").await;
        list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["run_id"] == run_id)
            .cloned()
    })
    .await
}

#[tokio::test]
async fn a_spent_budget_with_on_exceed_approval_waits_for_people_to_let_it_spend_more() {
    let server = priced_command_server().await;
    let asking = |approval: Value| json!({"max_cost_usd": 1.0, "on_exceed": "approval", "approval": approval});

    for (budget, field) in [
        (
            json!({"max_cost_usd": 1, "on_exceed": "approval"}),
            "budget.approval",
        ),
        (
            json!({"max_cost_usd": 1, "approval": {"approvers": ["ana"]}}),
            "budget.approval",
        ),
        (
            asking(json!({"approvers": []})),
            "budget.approval.approvers",
        ),
        (
            asking(json!({"approvers": ["ana", " ana "]})),
            "budget.approval.approvers[1]",
        ),
        (
            asking(json!({"approvers": ["ana"], "quorum": {"count": 2}})),
            "budget.approval.quorum.count",
        ),
        (
            asking(json!({"approvers": ["ana"], "timeout_secs": 0})),
            "budget.approval.timeout_secs",
        ),
        (
            asking(json!({"approvers": ["ana"], "who": 1})),
            "budget.approval.who",
        ),
    ] {
        let (status, body) = server.post("/api/jobs", budgeted(budget.clone())).await;
        assert_eq!(status, 422, "{budget}: {body}");
        assert_eq!(body["field"], field, "{budget}: {body}");
    }

    // $1.20 spent after three calls: the fourth waits for ana.
    let budget = asking(json!({"approvers": [" ana "], "quorum": "majority"}));
    let (status, created) = server.post("/api/jobs", budgeted(budget)).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let question = budget_question(&server, &run_id).await;
    assert_eq!(question["step_id"], "d", "{question}");
    assert_eq!(question["approvers"], json!(["ana"]), "stored trimmed");
    let reason = question["reason"].as_str().unwrap();
    assert!(
        reason.contains("budget exceeded") && reason.contains("$1.000000 more"),
        "{reason}"
    );
    let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(run["status"], "Running", "{run}");
    assert_eq!(run["steps"][3]["status"], "Pending", "held back: {run}");
    assert_eq!(
        run["steps"][3]["kind"], "agent_task",
        "still an agent step: {run}"
    );
    // A client subscribing now hears why the step waits.
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeWorkflow", "run_id": run_id}))
        .await;
    ws.next_of_type("Subscribed").await;
    let held = loop {
        let msg = ws.next_of_type("StepUpdate").await;
        if msg["step_id"] == "d" {
            break msg;
        }
    };
    assert_eq!(held["status"], "Pending", "{held}");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .starts_with("Waiting for approval to spend more: 1 of ana"),
        "{held}"
    );

    let (status, voted) = server
        .post(
            &format!(
                "/api/approvals/{}/vote",
                question["approval_id"].as_str().unwrap()
            ),
            json!({"voter": "ana", "decision": "approve"}),
        )
        .await;
    assert!(status < 300, "{voted}");
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    assert!(
        (run["cost_usd"].as_f64().unwrap() - 1.6).abs() < 1e-9,
        "the approval let it spend another $1: {run}"
    );
    assert_eq!(run["budget"]["on_exceed"], "approval");
    assert_eq!(run["budget"]["approval"]["approvers"], json!(["ana"]));

    // A rejection ends it as a spent budget would, saying who said no.
    let job_id = created["job_id"].as_str().unwrap();
    let (_, again) = server
        .post(&format!("/api/jobs/{job_id}/runs"), json!({}))
        .await;
    let run_id = again["run_id"].as_str().unwrap().to_string();
    let question = budget_question(&server, &run_id).await;
    let (status, _) = server
        .post(
            &format!(
                "/api/approvals/{}/vote",
                question["approval_id"].as_str().unwrap()
            ),
            json!({"voter": "ana", "decision": "reject", "comment": "too dear"}),
        )
        .await;
    assert!(status < 300);
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("budget exceeded") && error.contains("rejected by ana (too dear)"),
        "{error}"
    );
    assert_eq!(run["steps"][3]["status"], "Skipped", "{run}");
    assert!(run["steps"][3]["attempts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn cost_rules_fire_on_spend_in_total_and_per_workflow() {
    let server = priced_command_server().await;
    for (name, kind, threshold) in [
        ("spend", "cost", 1.0),
        ("workflow_spend", "workflow_cost", 1.0),
        ("calm", "cost", 100.0),
    ] {
        let (status, created) = server
            .put(&format!("/api/alerts/rules/{name}"), json!({"kind": kind, "threshold": threshold, "window_secs": 3600, "severity": "warning"}))
            .await;
        assert_eq!(status, 201, "{created}");
        assert!(
            created["expression"].as_str().unwrap().contains("cost >"),
            "{created}"
        );
    }
    // Four calls of $0.40: $1.60 in the hour.
    let mut job = budgeted(Value::Null);
    job.as_object_mut().unwrap().remove("budget");
    let (_, created) = server.post("/api/jobs", job).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    let firing = common::eventually("the cost rules fire", async || {
        let (_, active) = server.get("/api/alerts").await;
        let alerts = active["alerts"].as_array()?.clone();
        let names: Vec<String> = alerts
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["rule"].as_str().unwrap_or("").to_string())
            .collect();
        (names.contains(&"spend".to_string()) && names.contains(&"workflow_spend".to_string()))
            .then_some(alerts)
    })
    .await;
    let per_workflow = firing
        .iter()
        .find(|a| a["rule"] == "workflow_spend")
        .unwrap();
    assert_eq!(
        per_workflow["labels"]["workflow_id"], "budgeted",
        "{per_workflow}"
    );
    assert!(
        per_workflow["message"].as_str().unwrap().contains("$1.60"),
        "{per_workflow}"
    );
    assert!(!firing
        .iter()
        .any(|a| a["rule"] == "calm" && a["state"] == "firing"));
}

#[tokio::test]
async fn each_step_may_choose_its_backend_and_model_over_its_role_and_the_server() {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    // Simulated by default; a command that reports the model it was asked for.
    config.agent_command = Some(
        r#"cat >/dev/null; echo "done by ${SHIIOO_MODEL:-its own}"; echo "shiioo-usage: {\"model\": \"${SHIIOO_MODEL:-own}\", \"input_tokens\": 1, \"output_tokens\": 1}""#.into(),
    );
    config.role_agents = vec![(
        "reviewer".into(),
        server::engine::agents::RoleAgent {
            backend: wire::BackendKind::Command,
            model: Some("careful-1".into()),
        },
    )];
    let server = TestServer::start_with(config, data).await;
    let step = |id: &str, role: &str, agent: Value| {
        let mut s = json!({"id": id, "role": role, "action": {"agent_task": {"prompt": id}}});
        if !agent.is_null() {
            s["agent"] = agent;
        }
        s
    };
    let job = json!({
        "name": "Mixed models",
        "workflow": {"steps": [
            step("plain", "writer", Value::Null),
            step("stand_in", "writer", json!({"model": "gpt-4o"})),
            step("review", "reviewer", Value::Null),
            step("quick_review", "reviewer", json!({"model": "quick-2"})),
            step("own_model", "writer", json!({"backend": "command"})),
        ]},
        "execute": true,
    });
    let (status, created) = server.post("/api/jobs", job.clone()).await;
    assert_eq!(status, 201, "{created}");
    let run = server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "Completed", "{run}");
    let used: Vec<(String, String)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let u = &s["attempts"][0]["usage"];
            (
                u["provider"].as_str().unwrap().to_string(),
                u["model"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pair = |p: &str, m: &str| (p.to_string(), m.to_string());
    assert_eq!(
        used,
        [
            pair("simulated", "simulated"),
            // Still simulated: said so, and never priced as the real one.
            pair("simulated", "gpt-4o"),
            pair("command", "careful-1"),
            pair("command", "quick-2"),
            pair("command", "own"),
        ],
        "{run}"
    );
    assert_eq!(
        run["steps"][1]["attempts"][0]["usage"]["cost_usd"],
        Value::Null
    );
    assert_eq!(
        run["steps"][2]["output"].as_str().unwrap().trim(),
        "done by careful-1"
    );

    // The job keeps the choices as given.
    let (_, stored) = server
        .get(&format!(
            "/api/jobs/{}?include_workflow=true",
            created["job_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        stored["workflow"]["steps"][1]["agent"],
        json!({"model": "gpt-4o"}),
        "{stored}"
    );

    // Nonsense is refused, naming the field.
    for (agent, field) in [
        (json!({"backend": "gpt"}), "workflow.steps[0].agent.backend"),
        (
            json!({"model": " spaced "}),
            "workflow.steps[0].agent.model",
        ),
        (json!({"model": ""}), "workflow.steps[0].agent.model"),
        (
            json!({"temperature": 1}),
            "workflow.steps[0].agent.temperature",
        ),
    ] {
        let job =
            json!({"name": "bad", "workflow": {"steps": [step("a", "writer", agent.clone())]}});
        let (status, body) = server.post("/api/jobs", job).await;
        assert_eq!(status, 422, "{agent}: {body}");
        assert_eq!(body["field"], field, "{agent}: {body}");
    }
    let approval = json!({"name": "bad", "workflow": {"steps": [{"id": "g", "agent": {"model": "m"}, "action": {"manual_approval": {"approvers": ["ana"], "quorum": "unanimous"}}}]}});
    let (status, body) = server.post("/api/jobs", approval).await;
    assert_eq!(
        (status, &body["field"]),
        (422, &json!("workflow.steps[0].agent")),
        "{body}"
    );

    // A server without a command refuses a step that needs one, at once.
    let server = {
        let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
        TestServer::start_with(Config::for_tests(data.path()), data).await
    };
    let (status, body) = server.post("/api/jobs", job).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "workflow.steps[4].agent.backend", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--agent-command"),
        "{body}"
    );
}
