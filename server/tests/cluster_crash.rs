//! A cluster of three server binaries on one PostgreSQL, one of them killed
//! with SIGKILL while 300 runs with slow and flaky steps are in flight:
//! every run reaches a final state on the survivors, no step attempt ever
//! ran on two nodes at once (read from the log), and the survivors'
//! analytics equal each other's and those of a fresh node's fold of the log.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::free_port;
use common::postgres::Postgres;
use serde_json::{json, Value};
use server::events::EventKind;
use tokio::process::Child;

struct Node {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

const LEASE_SECS: u64 = 3;

async fn start(url: &str, id: &str) -> Node {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = [
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--sim-latency-ms",
        "10..60",
        "--node-id",
        id,
        "--lease-secs",
        &LEASE_SECS.to_string(),
        "--database-url",
        url,
        "--data-dir",
        data.path().to_str().unwrap(),
    ]
    .map(String::from)
    .into();
    let child = common::start_program(
        std::path::Path::new(env!("CARGO_BIN_EXE_shiioo")),
        &args,
        data.path(),
        &format!("{base}/api/health/status"),
    )
    .await;
    Node {
        child,
        base,
        _data: data,
    }
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

fn job(i: usize) -> Value {
    let (slow, flaky) = (i.is_multiple_of(2), i.is_multiple_of(5));
    // Every step may be retried: an attempt the kill cuts short is.
    let retry = json!({"max_attempts": 2, "backoff_secs": 0});
    let mut work = json!({
        "id": "work", "action": {"agent_task": {"prompt": "work"}},
        "retry_policy": {"max_attempts": 4, "backoff_secs": 0}
    });
    if slow {
        work["simulation"] = json!({"latency_ms": [1_500, 4_000]});
    }
    if flaky {
        work["simulation"]["fail_first_attempts"] = json!(1);
    }
    json!({
        "name": format!("Cluster {}", i % 5),
        "workflow": {
            "steps": [
                {"id": "plan", "action": {"agent_task": {"prompt": "plan"}}, "retry_policy": retry},
                work,
                {"id": "report", "action": {"agent_task": {"prompt": "report"}}, "retry_policy": retry}
            ],
            "dependencies": {"work": ["plan"], "report": ["work"]}
        },
        "execute": true
    })
}

/// What the analytics and health of one node say of the cluster.
async fn view(http: &reqwest::Client, base: &str) -> Value {
    let health = get(http, format!("{base}/api/health/status")).await;
    json!({
        "workflows": get(http, format!("{base}/api/analytics/workflows")).await,
        "steps": get(http, format!("{base}/api/analytics/steps")).await,
        "executions": [
            health["total_workflow_executions"],
            health["successful_executions"],
            health["failed_executions"],
            health["active_workflows"]
        ],
    })
}

#[tokio::test]
async fn a_node_killed_mid_flight_is_taken_over_and_every_run_ends_once() {
    let pg = Postgres::start();
    let url = pg.database("cluster_crash").await;
    let mut nodes = vec![
        start(&url, "n1").await,
        start(&url, "n2").await,
        start(&url, "n3").await,
    ];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for i in 0..300 {
        let base = &nodes[i % 3].base;
        let resp = http
            .post(format!("{base}/api/jobs"))
            .json(&job(i))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let created: Value = resp.json().await.unwrap();
        runs.push(created["run_id"].as_str().unwrap().to_string());
    }
    // Kill n2 while its slow steps run.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut killed = nodes.remove(1);
    killed.child.start_kill().unwrap();
    killed.child.wait().await.unwrap();
    let killed_at = std::time::Instant::now();

    // Every run ends, on the survivors.
    let survivors: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let deadline = killed_at + Duration::from_secs(120);
    loop {
        let page = get(&http, format!("{}/api/runs?limit=500", survivors[0])).await;
        let open: Vec<&Value> = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| matches!(r["status"].as_str(), Some("Pending" | "Running")))
            .collect();
        if page["total"] == 300 && open.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} runs still open 120 s after the kill: {:?}",
            open.len(),
            open.first()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut taken_over = 0;
    let mut taken_by: HashMap<String, usize> = HashMap::new();
    for run_id in &runs {
        let run = get(&http, format!("{}/api/runs/{run_id}", survivors[1])).await;
        assert_eq!(
            run["status"], "Completed",
            "run {run_id} on {}",
            run["node"]
        );
        let lost = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["attempts"].as_array().unwrap().iter())
            .filter(|a| a["error"] == "node lost")
            .count();
        if lost > 0 {
            taken_over += 1;
            *taken_by
                .entry(run["node"].as_str().unwrap_or_default().to_string())
                .or_insert(0) += 1;
            assert!(
                run["node"] == "n1" || run["node"] == "n3",
                "a run taken over ends on a survivor: {run}"
            );
        }
    }
    assert!(taken_over > 0, "the kill landed on runs in flight");
    // Shared out by free slots, which both survivors have plenty of.
    assert!(
        taken_over < 2 || taken_by.len() == 2,
        "both survivors took a share: {taken_by:?}"
    );

    // From the log: no step attempt ran on two nodes at once.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query("SELECT v, body, node FROM events ORDER BY seq", &[])
        .await
        .unwrap();
    // The node an attempt of each step runs on, while it runs.
    let mut running: HashMap<(String, String), String> = HashMap::new();
    let mut started: HashMap<(String, String, u32), usize> = HashMap::new();
    for row in &rows {
        let (v, body, node): (i32, &str, Option<String>) = (row.get(0), row.get(1), row.get(2));
        let node = node.unwrap_or_default();
        let kind = server::store::format::decode(v as u32, body).unwrap();
        match kind {
            EventKind::StepStarted {
                run_id,
                step_id,
                attempt,
                ..
            } => {
                let key = (run_id.to_string(), step_id.clone());
                if let Some(other) = running.insert(key.clone(), node.clone()) {
                    panic!("{key:?} attempt {attempt} started on {node} while {other} ran one");
                }
                *started
                    .entry((run_id.to_string(), step_id, attempt))
                    .or_default() += 1;
            }
            EventKind::StepRetrying {
                run_id, step_id, ..
            }
            | EventKind::StepCompleted {
                run_id, step_id, ..
            }
            | EventKind::StepFailed {
                run_id, step_id, ..
            } => {
                running.remove(&(run_id.to_string(), step_id));
            }
            _ => {}
        }
    }
    for (attempt, n) in &started {
        assert_eq!(*n, 1, "{attempt:?} started {n} times");
    }

    // The survivors agree with each other and with the log's fold.
    let fresh = start(&url, "n4").await;
    let want = view(&http, &fresh.base).await;
    for base in &survivors {
        let got = view(&http, base).await;
        if got != want {
            let dump = std::env::temp_dir().join("cluster_views.json");
            std::fs::write(&dump, json!({"got": got, "want": want}).to_string()).unwrap();
            panic!("{base} disagrees with the fold of the log (both in {dump:?})");
        }
    }
    eprintln!(
        "{taken_over} runs taken over from the killed node ({taken_by:?}); {} events in the log",
        rows.len()
    );
}
