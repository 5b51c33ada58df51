//! Debian's Prometheus against a live server, as an operator runs them: the
//! files in `deploy/prometheus/` pass `promtool` and load, `/metrics` passes
//! `promtool check metrics`, and every query of the Grafana dashboard
//! (`deploy/grafana/shiioo.json`) answers with data once Prometheus has
//! scraped a server doing work. `scripts/setup.sh` installs the packages.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{free_port, start_program, step, TestServer};
use serde_json::{json, Value};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// A program of Debian's `prometheus` package.
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} not found: scripts/setup.sh installs Debian's prometheus")
        })
}

/// Runs promtool; its success and everything it printed.
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(tool("promtool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// A Prometheus server on a free port, with `deploy/prometheus`'s files made
/// to scrape `target` every second (its only changes), and its data in a
/// folder of its own; stopped when dropped.
struct Prometheus {
    url: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = std::fs::read_to_string(deploy("prometheus/prometheus.yml")).unwrap();
        let mut local = config.clone();
        for (from, to) in [
            ("\"localhost:8080\"", format!("\"{target}\"")),
            ("scrape_interval: 15s", "scrape_interval: 1s".into()),
            ("evaluation_interval: 15s", "evaluation_interval: 1s".into()),
            // No Alertmanager of the machine's gets the test's alerts.
            (
                "\"localhost:9093\"",
                format!("\"127.0.0.1:{}\"", free_port()),
            ),
        ] {
            assert!(local.contains(from), "prometheus.yml no longer has {from}");
            local = local.replace(from, &to);
        }
        std::fs::write(dir.path().join("prometheus.yml"), local).unwrap();
        std::fs::copy(
            deploy("prometheus/shiioo-rules.yml"),
            dir.path().join("shiioo-rules.yml"),
        )
        .unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = start_program(
            &tool("prometheus"),
            &[
                format!(
                    "--config.file={}",
                    dir.path().join("prometheus.yml").display()
                ),
                format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
            ],
            dir.path(),
            &format!("{url}/-/ready"),
        )
        .await;
        Self {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _child: child,
            dir,
        }
    }

    /// Polls `ok` until it holds, for at most 60 s.
    async fn wait_for<'a, F, Fut>(&'a self, what: &str, ok: F)
    where
        F: Fn(&'a Self) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !ok(self).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus never got {what}; its log:\n{}",
                std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An instant query's result vector; the query itself must succeed.
    async fn query(&self, promql: &str) -> Vec<Value> {
        let answer: Value = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Whether some sample of an instant vector is a number (not NaN: a ratio
/// or quantile over a window without events).
fn has_number(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

/// Jobs whose runs exercise every series the dashboard shows: a three-step
/// DAG, a flaky step rescued by a retry, and a workflow that always fails.
fn jobs() -> Vec<Value> {
    let latency = json!({"simulation": {"latency_ms": [1, 15]}});
    vec![
        json!({"name": "Report", "workflow": {
            "steps": [step("fetch", latency.clone()), step("analyze", latency.clone()), step("write", latency.clone())],
            "dependencies": {"analyze": ["fetch"], "write": ["analyze"]}
        }}),
        json!({"name": "Flaky", "workflow": {"steps": [step("call", json!({
            "retry_policy": {"max_attempts": 2},
            "simulation": {"fail_first_attempts": 1, "latency_ms": [0, 2]}
        }))]}}),
        json!({"name": "Broken", "workflow": {"steps": [step("boom", json!({
            "simulation": {"failure_rate": 1.0}
        }))]}}),
    ]
}

/// Starts a run of every job every 100 ms, until the returned task is aborted.
async fn keep_busy(server: &TestServer) -> tokio::task::JoinHandle<()> {
    let mut ids = Vec::new();
    for job in jobs() {
        let (status, created) = server.post("/api/jobs", job).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["job_id"].as_str().unwrap().to_string());
    }
    let http = server.http.clone();
    let base = server.url("");
    tokio::spawn(async move {
        loop {
            for id in &ids {
                let answer = http.post(format!("{base}/api/jobs/{id}/runs")).send().await;
                assert!(answer.is_ok_and(|a| a.status().is_success()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test]
async fn the_deploy_files_pass_promtool_and_the_rules_are_the_servers() {
    for (what, file) in [
        ("config", "prometheus/prometheus.yml"),
        ("rules", "prometheus/shiioo-rules.yml"),
    ] {
        let (ok, out) = promtool(&["check", what, deploy(file).to_str().unwrap()], None);
        assert!(ok, "promtool check {what} {file}: {out}");
    }

    // The rules file is what the server generates for its default rules.
    let server = TestServer::start().await;
    let generated = server.text("/api/alerts/rules/prometheus").await;
    assert_eq!(
        std::fs::read_to_string(deploy("prometheus/shiioo-rules.yml")).unwrap(),
        generated,
        "deploy/prometheus/shiioo-rules.yml is stale: save GET /api/alerts/rules/prometheus there"
    );
}

#[tokio::test]
async fn promtool_finds_nothing_in_the_metrics_but_the_guides_own_name() {
    let server = TestServer::start().await;
    let load = keep_busy(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.abort();
    let text = server.text("/metrics").await;
    assert!(text.contains("step_retries_total{"), "the load ran");
    let (_, out) = promtool(&["check", "metrics"], Some(&text));
    let remarks: Vec<&str> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with("memory_usage_mb "))
        .collect();
    assert!(remarks.is_empty(), "promtool check metrics: {remarks:#?}");
}

/// Every panel of the dashboard, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// A panel's query as Grafana sends it, for the test's one-second scrapes
/// and every workflow and step selected.
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "20s")
        .replace("$__range", "1m")
        .replace("$job", "shiioo")
        .replace("$workflow", ".*")
        .replace("$step", ".*")
}

#[test]
fn the_dashboard_is_well_formed() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/shiioo.json")).unwrap())
            .expect("the dashboard is JSON");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "the data source is a variable"
    );
    let mut ids = std::collections::HashSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "id of {title} repeats"
        );
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}");
            assert!(t["refId"].is_string(), "{title}");
        }
    }
    // The guide's visualisations.
    let titles: Vec<&str> = panels(&dashboard)
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for want in [
        "Workflow execution rate",
        "Success and failure over time",
        "Step duration p50 / p95 / p99",
        "Active workflows",
        "Bottlenecks: share of run time per step",
    ] {
        assert!(titles.contains(&want), "no panel {want}: {titles:?}");
    }
    assert!(panels(&dashboard).iter().any(|p| p["type"] == "heatmap"));
}

#[tokio::test]
async fn prometheus_scrapes_the_server_and_every_dashboard_query_has_data() {
    // The simulated model priced, in this test only (the shipped table has
    // no price for it), so that the spend panel has dollars to show.
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let prices = data.path().join("prices.toml");
    std::fs::write(&prices, "[models.simulated]\ninput = 1.0\noutput = 2.0\n").unwrap();
    let mut config = server::config::Config::for_tests(data.path());
    config.prices = Some(prices);
    let server = TestServer::start_with(config, data).await;
    let load = keep_busy(&server).await;
    let prometheus = Prometheus::start(server.addr).await;

    // Scraped several times, and the rules evaluated without error.
    prometheus
        .wait_for("five scrapes of the server", |p| async move {
            let up = p
                .query(r#"count_over_time(up{job="shiioo"}[1m]) >= 5 and up{job="shiioo"} == 1"#)
                .await;
            !up.is_empty()
        })
        .await;
    prometheus
        .wait_for("the rules evaluated", |p| async move {
            let rules = p.get("/api/v1/rules").await;
            let rules: Vec<&Value> = rules["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            rules.len() == 5 && rules.iter().all(|r| r["health"] == "ok")
        })
        .await;

    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/shiioo.json")).unwrap())
            .unwrap();
    // Each variable's values: `label_values(metric, label)` is Grafana's.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(query) = variable["query"]["query"].as_str() else {
            continue;
        };
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable query {query}"));
        let (metric, label) = inner.rsplit_once(',').unwrap();
        let promql = as_grafana_sends(&format!("count by ({}) ({metric})", label.trim()));
        assert!(
            !prometheus.query(&promql).await.is_empty(),
            "{query}: no values"
        );
    }
    let mut checked = 0;
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let promql = as_grafana_sends(target["expr"].as_str().unwrap());
            prometheus
                .wait_for(&format!("data for {:?}: {promql}", panel["title"]), |p| {
                    let promql = promql.clone();
                    async move { has_number(&p.query(&promql).await) }
                })
                .await;
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} queries");
    load.abort();
}
