//! Contract tests of the metrics surface: the guide's JSON, true values after
//! the guide's example job, route templates as labels, and Prometheus text
//! that the official `prometheus_client` parser reads back with the same values.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{guide_job, TestServer};
use serde_json::Value;

fn series<'a>(
    snapshot: &'a Value,
    kind: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a Value> {
    snapshot[kind]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
}

fn counter(snapshot: &Value, name: &str, labels: &[(&str, &str)]) -> u64 {
    series(snapshot, "counters", name, labels).map_or(0, |s| s["value"].as_u64().unwrap())
}

#[tokio::test]
async fn the_guides_job_moves_the_guides_metrics() {
    let server = TestServer::start().await;
    let (status, before) = server.get("/api/metrics").await;
    assert_eq!(status, 200);
    for key in ["counters", "gauges", "histograms"] {
        assert!(before[key].is_array(), "{before}");
    }
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let run_id = created["run_id"].as_str().unwrap();
    server.wait_for_run(run_id).await;
    let trace_path = format!("/api/runs/{run_id}");
    server.get(&trace_path).await;
    server.get("/api/nope/nothing").await;

    let (_, after) = server.get("/api/metrics").await;
    let ok = [("status", "success")];
    assert_eq!(
        counter(&after, "workflow_executions_total", &ok),
        counter(&before, "workflow_executions_total", &ok) + 1
    );
    let c = series(&after, "counters", "workflow_executions_total", &ok).unwrap();
    assert!(c["last_updated"].as_str().unwrap().ends_with('Z'), "{c}");

    let steps: u64 = after["histograms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["name"] == "step_duration_seconds"
                && h["labels"]["workflow_id"] == "monthly_report_generation"
        })
        .map(|h| h["count"].as_u64().unwrap())
        .sum();
    assert_eq!(steps, 4, "one observation per step of the guide's job");
    let wf = series(
        &after,
        "histograms",
        "workflow_duration_seconds",
        &[("workflow_id", "monthly_report_generation")],
    )
    .unwrap();
    assert_eq!(wf["count"], 1);
    assert_eq!(
        wf["buckets"].as_array().unwrap().len(),
        10,
        "the guide's default buckets"
    );
    let counts: Vec<u64> = wf["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );

    // HTTP requests are labelled by route template, never the raw path.
    let http = |method: &str, path: &str| {
        counter(
            &after,
            "http_requests_total",
            &[("method", method), ("path", path)],
        )
    };
    assert_eq!(http("POST", "/api/jobs"), 1);
    assert!(
        http("GET", "/api/runs/{run_id}") >= 2,
        "wait_for_run polls plus one GET"
    );
    assert_eq!(
        http("GET", "/api/metrics"),
        1,
        "the first GET /api/metrics; this one is counted after it answers"
    );
    assert!(http("GET", "unmatched") >= 1);
    let raw_paths: Vec<&Value> = after["counters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["name"] == "http_requests_total"
                && s["labels"]["path"].as_str().unwrap().contains(run_id)
        })
        .collect();
    assert!(raw_paths.is_empty(), "{raw_paths:?}");
    assert!(series(
        &after,
        "histograms",
        "request_duration_seconds",
        &[("path", "/api/jobs")]
    )
    .is_some());

    for gauge in [
        "active_workflows",
        "active_routines",
        "pending_approvals",
        "memory_usage_mb",
    ] {
        assert!(
            series(&after, "gauges", gauge, &[]).is_some(),
            "{gauge} missing"
        );
    }
    assert_eq!(
        series(&after, "gauges", "active_workflows", &[]).unwrap()["value"],
        0.0
    );
    let rss = series(&after, "gauges", "memory_usage_mb", &[]).unwrap()["value"]
        .as_f64()
        .unwrap();
    assert!(rss > 1.0 && rss < 4096.0, "resident memory {rss} MiB");

    let (_, only) = server
        .get("/api/metrics?name=workflow_executions_total&status=success")
        .await;
    assert_eq!(only["counters"].as_array().unwrap().len(), 1);
    assert!(only["gauges"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn failures_and_retries_are_counted() {
    let server = TestServer::start().await;
    let job = serde_json::json!({
        "name": "Shaky",
        "workflow": {"steps": [{
            "id": "s", "action": {"agent_task": {"prompt": "p"}},
            "retry_policy": {"max_attempts": 2},
            "simulation": {"failure_rate": 1.0}
        }]},
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", job).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    let (_, m) = server.get("/api/metrics").await;
    assert_eq!(
        counter(&m, "workflow_executions_total", &[("status", "failure")]),
        1
    );
    assert_eq!(
        counter(
            &m,
            "step_retries_total",
            &[("workflow_id", "shaky"), ("step_id", "s")]
        ),
        1
    );
    assert_eq!(
        counter(&m, "errors_total", &[("kind", "step_attempt_failed")]),
        1
    );
    assert_eq!(counter(&m, "errors_total", &[("kind", "step_failed")]), 1);
    assert_eq!(counter(&m, "errors_total", &[("kind", "run_failed")]), 1);
}

/// Runs the official Python client's parser over `text`.
fn parse_with_prometheus_client(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let python = std::env::var("SHIIOO_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/parse_prometheus.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e} (scripts/setup.sh installs the venv)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse our output (with {python}; scripts/setup.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<(String, BTreeMap<String, String>, Value)> =
        serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|(n, l, v)| (n, l, v.as_f64().unwrap_or(f64::INFINITY)))
        .collect()
}

/// Prometheus's standard process metrics, as any client library exports
/// them, read back from the server's own process.
#[tokio::test]
async fn the_standard_process_metrics_describe_the_server_process() {
    let server = TestServer::start().await;
    let (_, json) = server.get("/api/metrics").await;
    let gauge = |name: &str| {
        series(&json, "gauges", name, &[]).unwrap_or_else(|| panic!("{name} missing from {json}"))
            ["value"]
            .as_f64()
            .unwrap()
    };
    let resident = gauge("process_resident_memory_bytes");
    assert!(resident > 1e6, "{resident}");
    assert!(gauge("process_virtual_memory_bytes") >= resident);
    let open = gauge("process_open_fds");
    assert!(open >= 3.0 && open <= gauge("process_max_fds"), "{open}");
    let now = chrono::Utc::now().timestamp() as f64;
    let started = gauge("process_start_time_seconds");
    assert!(
        started > now - 600.0 && started <= now + 1.0,
        "{started} vs {now}"
    );

    let text = server.text("/api/metrics/prometheus").await;
    for name in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
    }
    assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
    let samples = parse_with_prometheus_client(&text);
    let cpu = samples
        .iter()
        .find(|(n, _, _)| n == "process_cpu_seconds_total")
        .map(|s| s.2)
        .expect("process_cpu_seconds_total parsed");
    assert!(cpu > 0.0 && cpu.is_finite(), "{cpu}");

    // Which build this is: the release and the commit it was built from.
    let build = series(
        &json,
        "gauges",
        "shiioo_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", server::COMMIT),
        ],
    )
    .unwrap_or_else(|| panic!("shiioo_build_info missing from {json}"));
    assert_eq!(build["value"], 1.0);
    assert!(!server::COMMIT.is_empty());
}

#[tokio::test]
async fn prometheus_text_parses_with_the_official_client_and_matches_the_json() {
    let server = TestServer::start().await;
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;
    // Label values carry user content: non-ASCII must survive the round trip.
    let weird = serde_json::json!({
        "name": "Café Crème ✓",
        "workflow": {"steps": [{"id": "x", "action": {"agent_task": {"prompt": "p"}}}]},
        "execute": true
    });
    let (_, created) = server.post("/api/jobs", weird).await;
    server
        .wait_for_run(created["run_id"].as_str().unwrap())
        .await;

    let (_, json) = server.get("/api/metrics").await;
    let resp = server
        .http
        .get(server.url("/api/metrics/prometheus"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("# TYPE workflow_executions_total counter"));
    assert!(text.contains("_bucket{") && text.contains("le=\"+Inf\"}"));
    let samples = parse_with_prometheus_client(&text);
    let value = |name: &str, labels: &BTreeMap<String, String>| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|(_, _, v)| *v)
    };
    let labels_of = |s: &Value| -> BTreeMap<String, String> {
        s["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    // Scraping changes a few series between the two requests: the JSON
    // request is counted once it has answered, and memory is resampled.
    let scrape_moved = |s: &Value| {
        s["name"] == "memory_usage_mb"
            || s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("process_"))
            || s["labels"]["path"] == "/api/metrics"
    };
    let mut checked = 0;
    for c in json["counters"].as_array().unwrap() {
        let labels = labels_of(c);
        let got = value(c["name"].as_str().unwrap(), &labels)
            .unwrap_or_else(|| panic!("{c} missing from the text"));
        let want = c["value"].as_f64().unwrap();
        if scrape_moved(c) {
            assert_eq!(got, want + 1.0, "{c}");
        } else if c["name"] == "event_log_events_total" {
            // The log's writer commits on its own thread, between the scrapes too.
            assert!(got >= want, "{c}");
        } else {
            assert_eq!(got, want, "{c}");
        }
        checked += 1;
    }
    for g in json["gauges"].as_array().unwrap() {
        let got = value(g["name"].as_str().unwrap(), &labels_of(g))
            .unwrap_or_else(|| panic!("{g} missing"));
        if !scrape_moved(g) && g["name"] != "event_log_backlog_events" {
            assert_eq!(got, g["value"].as_f64().unwrap(), "{g}");
        }
        checked += 1;
    }
    for h in json["histograms"].as_array().unwrap() {
        let name = h["name"].as_str().unwrap();
        let labels = labels_of(h);
        let moved = if scrape_moved(h) { 1.0 } else { 0.0 };
        let count = value(&format!("{name}_count"), &labels)
            .unwrap_or_else(|| panic!("{h} _count missing"));
        assert_eq!(count, h["count"].as_f64().unwrap() + moved, "{h}");
        if moved == 0.0 {
            let sum = value(&format!("{name}_sum"), &labels).unwrap();
            assert!((sum - h["sum"].as_f64().unwrap()).abs() < 1e-9, "{h}");
            for (bound, cum) in h["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .zip(h["counts"].as_array().unwrap())
            {
                let bucket = samples
                    .iter()
                    .find(|(n, l, _)| {
                        *n == format!("{name}_bucket")
                            && l.get("le").and_then(|le| le.parse::<f64>().ok()) == bound.as_f64()
                            && l.iter().filter(|(k, _)| *k != "le").eq(labels.iter())
                    })
                    .unwrap_or_else(|| panic!("{name} bucket {bound} missing"));
                assert_eq!(bucket.2, cum.as_f64().unwrap(), "{name} le={bound}");
            }
            let inf = samples.iter().find(|(n, l, _)| {
                *n == format!("{name}_bucket")
                    && l.get("le").map(String::as_str) == Some("+Inf")
                    && l.iter().filter(|(k, _)| *k != "le").eq(labels.iter())
            });
            assert_eq!(inf.unwrap().2, h["count"].as_f64().unwrap());
        }
        checked += 1;
    }
    assert!(checked > 10, "only {checked} series");
    let escaped = samples.iter().any(|(n, l, _)| {
        n == "workflow_duration_seconds_count"
            && l.get("workflow_id").map(String::as_str) == Some("café_crème")
    });
    assert!(escaped);

    let conventional = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(conventional.status(), 200);
    parse_with_prometheus_client(&conventional.text().await.unwrap());
}
