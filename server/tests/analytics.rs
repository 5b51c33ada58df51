//! Contract tests of the analytics: the guide's job run several times with
//! chosen latencies and failures; exact counts, ordered percentiles, the
//! right bottleneck, agreement between traces, runs and statistics, and all
//! of it unchanged after a restart.

mod common;

use common::{guide_job, step, TestServer};
use serde_json::{json, Value};

const WF: &str = "monthly_report_generation";

/// The guide's job with fixed latencies: generate_charts is the slow step
/// (by a margin that scheduling delays on a busy machine cannot close).
fn timed_job(fail_report: bool) -> Value {
    let mut job = guide_job();
    let latency = [
        ("fetch_data", 20),
        ("analyze_data", 20),
        ("generate_charts", 150),
        ("create_report", 20),
    ];
    for (i, (id, ms)) in latency.iter().enumerate() {
        let step = &mut job["workflow"]["steps"][i];
        assert_eq!(step["id"], *id);
        step["simulation"] = json!({"latency_ms": [ms, ms]});
        if fail_report && *id == "create_report" {
            step["simulation"]["failure_rate"] = json!(1.0);
        }
    }
    job
}

async fn run_jobs(server: &TestServer) -> Vec<String> {
    let mut run_ids = Vec::new();
    for fail in [false, false, true, false, false, true, false] {
        let (status, created) = server.post("/api/jobs", timed_job(fail)).await;
        assert_eq!(status, 201, "{created}");
        let run_id = created["run_id"].as_str().unwrap().to_string();
        server.wait_for_run(&run_id).await;
        run_ids.push(run_id);
    }
    run_ids
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Everything the analytics answer, for before/after comparisons.
async fn snapshot(server: &TestServer, run_ids: &[String]) -> Value {
    let mut traces = Vec::new();
    for id in run_ids {
        traces.push(server.get(&format!("/api/analytics/traces/{id}")).await.1);
    }
    let health = server.get("/api/health/status").await.1;
    json!({
        "workflows": server.get("/api/analytics/workflows").await.1,
        "workflow": server.get(&format!("/api/analytics/workflows/{WF}")).await.1,
        "steps": server.get("/api/analytics/steps").await.1,
        "bottlenecks": server.get(&format!("/api/analytics/bottlenecks/{WF}")).await.1,
        "traces": traces,
        "executions": [health["total_workflow_executions"], health["successful_executions"], health["failed_executions"], health["success_rate"]],
    })
}

#[tokio::test]
async fn statistics_traces_and_bottlenecks_are_exact_and_survive_a_restart() {
    let server = TestServer::start().await;
    let run_ids = run_jobs(&server).await;

    // Workflow statistics.
    let (status, wf) = server.get(&format!("/api/analytics/workflows/{WF}")).await;
    assert_eq!(status, 200);
    assert_eq!(wf["execution_count"], 7);
    assert_eq!(wf["success_count"], 5);
    assert_eq!(wf["failure_count"], 2);
    let (min, max, avg) = (
        f(&wf["min_duration_secs"]),
        f(&wf["max_duration_secs"]),
        f(&wf["avg_duration_secs"]),
    );
    let (p50, p95, p99) = (
        f(&wf["p50_duration_secs"]),
        f(&wf["p95_duration_secs"]),
        f(&wf["p99_duration_secs"]),
    );
    assert!(min <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{wf}");
    assert!(min <= avg && avg <= max);
    assert!((f(&wf["total_duration_secs"]) / 7.0 - avg).abs() < 1e-5);
    assert!(
        min >= 0.21,
        "each run takes at least 20+20+150+20 ms: {min}"
    );
    let recent: Vec<&str> = wf["recent_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        recent,
        [
            "Completed",
            "Failed",
            "Completed",
            "Completed",
            "Failed",
            "Completed",
            "Completed"
        ]
    );
    assert_eq!(wf["recent_runs"][0]["run_id"], run_ids[6]);
    assert_eq!(wf["durations"].as_array().unwrap().len(), 7);

    let (_, all) = server.get("/api/analytics/workflows").await;
    assert_eq!(all["workflows"][0]["workflow_id"], WF);
    let (status, _) = server.get("/api/analytics/workflows/nope").await;
    assert_eq!(status, 404);

    // Step statistics.
    let (_, steps) = server
        .get(&format!("/api/analytics/steps?workflow_id={WF}"))
        .await;
    let steps = steps["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    for s in steps {
        let (exec, ok, bad) = (
            s["execution_count"].as_u64().unwrap(),
            s["success_count"].as_u64().unwrap(),
            s["failure_count"].as_u64().unwrap(),
        );
        assert_eq!(ok + bad, exec, "{s}");
        assert_eq!(s["retry_count"], 0);
        let (min, p50, p95, p99, max) = (
            f(&s["min_duration_secs"]),
            f(&s["p50_duration_secs"]),
            f(&s["p95_duration_secs"]),
            f(&s["p99_duration_secs"]),
            f(&s["max_duration_secs"]),
        );
        assert!(min <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{s}");
        assert_eq!(s["durations"].as_array().unwrap().len() as u64, exec);
        let expected = match s["step_id"].as_str().unwrap() {
            "create_report" => (7, 5, 2),
            _ => (7, 7, 0),
        };
        assert_eq!((exec, ok, bad), expected, "{s}");
    }
    let charts = steps
        .iter()
        .find(|s| s["step_id"] == "generate_charts")
        .unwrap();
    assert!(f(&charts["min_duration_secs"]) >= 0.15);

    // Bottlenecks: generate_charts takes 150 of 210 ms of summed step time.
    let (_, b) = server
        .get(&format!("/api/analytics/bottlenecks/{WF}"))
        .await;
    assert_eq!(b["total_executions"], 7);
    let shares: Vec<f64> = b["bottlenecks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| f(&s["percentage_of_workflow"]))
        .collect();
    assert!(
        shares.windows(2).all(|w| w[0] >= w[1]),
        "sorted: {shares:?}"
    );
    assert!((shares.iter().sum::<f64>() - 100.0).abs() < 0.05);
    assert_eq!(b["bottlenecks"][0]["step_id"], "generate_charts");
    let share = shares[0];
    assert!(
        (60.0..76.0).contains(&share),
        "generate_charts share {share}"
    );
    let path: Vec<&str> = b["critical_path"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "fetch_data",
            "analyze_data",
            "generate_charts",
            "create_report"
        ]
    );
    assert_eq!(b["critical_path"]["runs"], 5);
    assert_eq!(b["critical_path"]["percentage_of_runs"], 100.0);

    // Traces agree with the runs API.
    let (_, listed) = server
        .get(&format!("/api/analytics/traces?workflow_id={WF}"))
        .await;
    let traces = listed["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 7);
    assert_eq!(traces[0]["run_id"], run_ids[6], "newest first");
    for t in traces {
        let (_, run) = server
            .get(&format!("/api/runs/{}", t["run_id"].as_str().unwrap()))
            .await;
        assert_eq!(t["status"], run["status"]);
        assert_eq!(t["duration_secs"], run["duration_secs"]);
        for s in t["steps"].as_array().unwrap() {
            let rs = run["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["step_id"] == s["step_id"])
                .unwrap();
            assert_eq!(s["step_status"], rs["status"]);
        }
        let bottleneck = &t["bottleneck"];
        if t["status"] == "Completed" {
            assert_eq!(bottleneck["step_id"], "generate_charts", "{t}");
            assert!(f(&bottleneck["percentage_of_total"]) > 30.0);
        }
    }
    let (_, failed) = server.get("/api/analytics/traces?status=Failed").await;
    assert_eq!(failed["traces"].as_array().unwrap().len(), 2);
    let failed_trace = &failed["traces"][0];
    let report = failed_trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step_id"] == "create_report")
        .unwrap();
    assert_eq!(report["status"], "Failed");
    assert_eq!(report["attempt"], 0);
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("simulated failure"));

    // Health counts what the statistics count.
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["total_workflow_executions"], 7);
    assert_eq!(health["successful_executions"], 5);
    assert_eq!(health["failed_executions"], 2);
    assert_eq!(health["success_rate"], 71.43);
    assert_eq!(health["status"], "critical", "5 of the last 7 succeeded");

    // All of it, the same after a restart.
    let before = snapshot(&server, &run_ids).await;
    let server = server.restart().await;
    let after = snapshot(&server, &run_ids).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn retries_count_as_retries_not_failures_and_every_attempt_is_traced() {
    let server = TestServer::start().await;
    let job = json!({
        "name": "Retry Once",
        "workflow": {"steps": [{
            "id": "flaky", "action": {"agent_task": {"prompt": "p"}},
            "retry_policy": {"max_attempts": 3, "backoff_secs": 0.01},
            "simulation": {"fail_first_attempts": 1}
        }]},
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", job).await;
    let run_id = created["run_id"].as_str().unwrap();
    server.wait_for_run(run_id).await;
    let (_, steps) = server
        .get("/api/analytics/steps?workflow_id=retry_once")
        .await;
    let s = &steps["steps"][0];
    assert_eq!(
        (
            s["execution_count"].as_u64(),
            s["success_count"].as_u64(),
            s["failure_count"].as_u64(),
            s["retry_count"].as_u64()
        ),
        (Some(1), Some(1), Some(0), Some(1))
    );
    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    let attempts: Vec<(u64, &str)> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["attempt"].as_u64().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, [(0, "Failed"), (1, "Completed")]);
}

#[tokio::test]
async fn a_trace_is_available_while_its_run_is_in_progress() {
    let server = TestServer::start().await;
    let mut job = guide_job();
    job["workflow"]["steps"][1]["simulation"] = json!({"latency_ms": [60000, 60000]});
    let (_, created) = server.post("/api/jobs", job).await;
    let run_id = created["run_id"].as_str().unwrap();
    let trace = loop {
        let (status, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
        assert_eq!(status, 200);
        if trace["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step_id"] == "analyze_data" && s["status"] == "Running")
        {
            break trace;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(trace["status"], "Running");
    assert_eq!(trace["progress"], 25.0);
    assert!(
        trace["duration_secs"].as_f64().unwrap() >= 0.0,
        "elapsed so far"
    );
    assert_eq!(
        trace["bottleneck"]["step_id"], "fetch_data",
        "the only finished step so far"
    );
    let (_, listed) = server.get("/api/analytics/traces?status=Running").await;
    assert_eq!(listed["traces"][0]["run_id"], run_id);
    let (status, _) = server
        .post(&format!("/api/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn time_waiting_for_a_slot_is_measured_apart_and_named_starved() {
    // One slot for three parallel 200 ms steps: one runs at once, one waits
    // about 200 ms, the last about 400 ms, twice as long as it runs.
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = server::config::Config::for_tests(data.path());
    config.max_concurrent_steps = 1;
    let server = TestServer::start_with(config, data).await;
    let latency = json!({"simulation": {"latency_ms": [200, 200]}});
    let job = json!({"name": "Crowded", "execute": true, "workflow": {"steps": [
        step("a", latency.clone()), step("b", latency.clone()), step("c", latency)
    ]}});
    let (status, created) = server.post("/api/jobs", job).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap();
    server.wait_for_run(run_id).await;

    let (_, trace) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    let mut queued: Vec<f64> = trace["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["queued_secs"].as_f64().expect("every attempt says"))
        .collect();
    queued.sort_by(f64::total_cmp);
    assert!(queued[0] < 0.1, "{queued:?}");
    assert!((0.15..0.35).contains(&queued[1]), "{queued:?}");
    assert!(queued[2] >= 0.35, "{queued:?}");
    // Apart from the run time: each attempt still lasted its 200 ms.
    for s in trace["steps"].as_array().unwrap() {
        let d = s["duration_secs"].as_f64().unwrap();
        assert!((0.19..0.3).contains(&d), "{s}");
    }

    let (_, report) = server.get("/api/analytics/bottlenecks/crowded").await;
    let shares = report["bottlenecks"].as_array().unwrap();
    let starved = shares
        .iter()
        .max_by(|a, b| {
            a["avg_queued_secs"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["avg_queued_secs"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(starved["diagnosis"], "starved", "{report}");
    let first = shares
        .iter()
        .min_by(|a, b| {
            a["avg_queued_secs"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["avg_queued_secs"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(first["diagnosis"], "slow", "{report}");
    let (_, steps) = server.get("/api/analytics/steps?workflow_id=crowded").await;
    let waited: f64 = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["avg_queued_secs"].as_f64().unwrap())
        .sum();
    assert!((0.5..0.8).contains(&waited), "{steps}");

    // The run's own view has it per attempt, and it survives a restart.
    let (_, run) = server.get(&format!("/api/runs/{run_id}")).await;
    assert!(
        run["steps"][0]["attempts"][0]["queued_secs"].is_number(),
        "{run}"
    );
    let restarted = server.restart().await;
    let (_, again) = restarted
        .get(&format!("/api/analytics/traces/{run_id}"))
        .await;
    assert_eq!(again["steps"], trace["steps"]);
}

#[tokio::test]
async fn a_time_range_counts_what_happened_in_it() {
    let server = TestServer::start().await;
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    run_jobs(&server).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let after = chrono::Utc::now();
    let all = server
        .get(&format!("/api/analytics/workflows/{WF}"))
        .await
        .1;
    assert_eq!(all["execution_count"], 7);

    // The last hour holds everything, to the count and the duration.
    let (status, hour) = server
        .get(&format!("/api/analytics/workflows/{WF}?since=1h"))
        .await;
    assert_eq!(status, 200, "{hour}");
    for field in [
        "execution_count",
        "success_count",
        "failure_count",
        "min_duration_secs",
        "max_duration_secs",
    ] {
        assert_eq!(hour[field], all[field], "{field}: {hour}");
    }
    let (p95_all, p95_hour) = (f(&all["p95_duration_secs"]), f(&hour["p95_duration_secs"]));
    assert!(
        (p95_hour - p95_all).abs() <= 0.02 * p95_all,
        "{p95_hour} vs {p95_all}"
    );
    let (_, steps_all) = server.get("/api/analytics/steps").await;
    let (_, steps_hour) = server.get("/api/analytics/steps?since=24h").await;
    let counts = |v: &Value| -> Vec<(Value, Value, Value)> {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step_id"].clone(),
                    s["execution_count"].clone(),
                    s["retry_count"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(counts(&steps_hour), counts(&steps_all));

    // Before the runs, or after them: nothing. (Ranges resolve to the
    // minute, so "before" ends at the start of the runs' first minute.)
    let before =
        chrono::DurationRound::duration_trunc(before, chrono::Duration::minutes(1)).unwrap();
    let stamp = |t: chrono::DateTime<chrono::Utc>| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            .replace('+', "%2B")
    };
    let (_, empty) = server
        .get(&format!("/api/analytics/steps?until={}", stamp(before)))
        .await;
    assert_eq!(empty["steps"], json!([]), "{empty}");
    let (status, none) = server
        .get(&format!(
            "/api/analytics/workflows/{WF}?since={}&until={}",
            stamp(after + chrono::Duration::minutes(2)),
            stamp(after + chrono::Duration::minutes(3))
        ))
        .await;
    assert_eq!(
        (status, &none["execution_count"]),
        (200, &json!(0)),
        "{none}"
    );
    let (_, list) = server
        .get(&format!(
            "/api/analytics/workflows?since={}&until={}",
            stamp(after + chrono::Duration::minutes(2)),
            stamp(after + chrono::Duration::minutes(3))
        ))
        .await;
    assert_eq!(list["workflows"], json!([]));

    // Nonsense is a 400 naming the field; nothing is guessed.
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-40", "until"),
        ("since=1h&until=2h", "since"),
    ] {
        let (status, body) = server.get(&format!("/api/analytics/steps?{query}")).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }

    // Rebuilt from the log's own times after a restart.
    let restarted = server.restart().await;
    let (_, again) = restarted
        .get(&format!("/api/analytics/workflows/{WF}?since=1h"))
        .await;
    assert_eq!(again["execution_count"], 7);
    assert_eq!(again["p95_duration_secs"], hour["p95_duration_secs"]);
}

#[tokio::test]
async fn bottlenecks_throughput_heatmap_traces_and_the_timeline_take_ranges() {
    let server = TestServer::start().await;
    let run_ids = run_jobs(&server).await;
    let later = (chrono::Utc::now() + chrono::Duration::minutes(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let far = (chrono::Utc::now() + chrono::Duration::minutes(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let after = format!("since={later}&until={far}");

    // Bottlenecks over the last hour: the same runs, the same answer.
    let (_, all) = server
        .get(&format!("/api/analytics/bottlenecks/{WF}"))
        .await;
    let (status, hour) = server
        .get(&format!("/api/analytics/bottlenecks/{WF}?since=1h"))
        .await;
    assert_eq!(status, 200, "{hour}");
    assert_eq!(hour["total_executions"], all["total_executions"]);
    let order = |r: &Value| -> Vec<(Value, Value)> {
        r["bottlenecks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["step_id"].clone(), b["execution_count"].clone()))
            .collect()
    };
    assert_eq!(order(&hour), order(&all));
    assert_eq!(hour["bottlenecks"][0]["step_id"], "generate_charts");
    assert_eq!(hour["critical_path"]["runs"], all["critical_path"]["runs"]);
    assert_eq!(
        hour["critical_path"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step_id"].clone())
            .collect::<Vec<_>>(),
        all["critical_path"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step_id"].clone())
            .collect::<Vec<_>>()
    );
    // A range after the runs: the workflow is known, nothing is in it.
    let (status, empty) = server
        .get(&format!("/api/analytics/bottlenecks/{WF}?{after}"))
        .await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(
        (
            &empty["total_executions"],
            &empty["bottlenecks"],
            &empty["critical_path"]
        ),
        (&json!(0), &json!([]), &Value::Null)
    );

    // Throughput: by the minute for an hour, by the hour for a week; the
    // same seven executions either way.
    let sum = |t: &Value, key: &str| -> u64 {
        t["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[key].as_u64().unwrap())
            .sum()
    };
    let (_, plain) = server.get("/api/analytics/throughput").await;
    assert_eq!(
        (
            plain["bucket_secs"].as_u64(),
            plain["points"].as_array().unwrap().len()
        ),
        (Some(60), 60)
    );
    for (query, bucket) in [("since=1h", 60), ("since=24h", 900), ("since=7d", 3_600)] {
        let (status, t) = server
            .get(&format!("/api/analytics/throughput?{query}"))
            .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["bucket_secs"], bucket, "{query}");
        assert!(t["points"].as_array().unwrap().len() <= 181, "{query}");
        assert_eq!((sum(&t, "completed"), sum(&t, "failed")), (5, 2), "{query}");
    }

    // The heatmap: every step, the slow one first, a cell per period that
    // adds up to the step's executions.
    let (status, map) = server.get(&format!("/api/analytics/heatmap/{WF}")).await;
    assert_eq!(status, 200, "{map}");
    let buckets = map["buckets"].as_array().unwrap().len();
    assert!(buckets > 0 && buckets <= 60, "{buckets}");
    let rows = map["steps"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{map}");
    assert_eq!(rows[0]["step_id"], "generate_charts");
    for row in rows {
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells.len(), buckets);
        let executions: u64 = cells
            .iter()
            .map(|c| c["executions"].as_u64().unwrap())
            .sum();
        assert_eq!(executions, 7, "{row}");
    }
    let (status, _) = server.get("/api/analytics/heatmap/no_such_workflow").await;
    assert_eq!(status, 404);
    let (status, body) = server
        .get(&format!("/api/analytics/heatmap/{WF}?since=soon"))
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("since")));

    // Traces and runs: those active in the range.
    let (_, traces) = server.get("/api/analytics/traces?since=1h").await;
    assert_eq!(traces["traces"].as_array().unwrap().len(), run_ids.len());
    let (_, none) = server.get(&format!("/api/analytics/traces?{after}")).await;
    assert_eq!(none["traces"], json!([]), "{none}");
    let (_, runs) = server.get(&format!("/api/runs?{after}")).await;
    assert_eq!(
        (&runs["runs"], &runs["total"]),
        (&json!([]), &json!(0)),
        "{runs}"
    );
    let (_, runs) = server.get("/api/runs?since=15m&limit=2").await;
    assert_eq!(runs["total"], 7, "counted over every page: {runs}");

    // The timeline: the last hour unless told, on the server's clock.
    let (status, t) = server.get("/api/analytics/timeline").await;
    assert_eq!(status, 200, "{t}");
    let span = chrono::DateTime::parse_from_rfc3339(t["until"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(t["since"].as_str().unwrap()).unwrap();
    assert_eq!(span, chrono::Duration::hours(1));
    let mut ids: Vec<&str> = t["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = run_ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!((ids, &t["total"]), (want, &json!(7)));
    let (_, other) = server
        .get("/api/analytics/timeline?workflow_id=other&since=24h")
        .await;
    assert_eq!(other["runs"], json!([]));
    let (status, body) = server.get("/api/analytics/timeline?limit=0").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("limit")));

    // All of it rebuilt from the log after a restart.
    let restarted = server.restart().await;
    let (_, again) = restarted
        .get(&format!("/api/analytics/bottlenecks/{WF}?since=1h"))
        .await;
    assert_eq!(again, hour);
    let (_, again) = restarted.get("/api/analytics/throughput?since=1h").await;
    assert_eq!((sum(&again, "completed"), sum(&again, "failed")), (5, 2));
}
