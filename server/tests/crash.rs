//! Durability: the server binary is killed with SIGKILL in the middle of
//! 100 runs; after a restart on the same data folder every run that had
//! completed is intact and none is left running.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::free_port;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

struct Proc {
    child: Child,
    base: String,
}

async fn start(data: &std::path::Path) -> Proc {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_shiioo"))
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--sim-latency-ms",
            "20..150",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/api/health/status"))
            .send()
            .await
            .is_ok()
        {
            return Proc { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn completed_runs_survive_kill_9_and_nothing_is_left_running() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut first = start(data.path()).await;

    let job = json!({
        "name": "Crash Test",
        "workflow": {
            "steps": [
                {"id": "a", "action": {"agent_task": {"prompt": "one"}}},
                {"id": "b", "action": {"agent_task": {"prompt": "two"}}},
                {"id": "c", "action": {"agent_task": {"prompt": "three"}}}
            ],
            "dependencies": {"b": ["a"], "c": ["b"]}
        },
        "execute": true
    });
    // A tenth of the runs wait a minute in their last step, so that the kill
    // lands on runs in flight however fast the machine gets through the rest.
    let mut slow = job.clone();
    slow["name"] = json!("Crash Test Slow");
    slow["workflow"]["steps"][2]["simulation"] = json!({"latency_ms": [60_000, 60_000]});
    for i in 0..100 {
        let resp = http
            .post(format!("{}/api/jobs", first.base))
            .json(if i % 10 == 9 { &slow } else { &job })
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    // Let some finish, not all (each run takes 60–450 ms).
    let completed_before = loop {
        let page = get(
            &http,
            format!("{}/api/runs?status=Completed&limit=500", first.base),
        )
        .await;
        if page["total"].as_u64().unwrap() >= 20 {
            break page["runs"].as_array().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut details = Vec::new();
    for run in &completed_before {
        let id = run["run_id"].as_str().unwrap();
        details.push(get(&http, format!("{}/api/runs/{id}", first.base)).await);
    }
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let killed_at = chrono::Utc::now();
    // Some downtime, which must not count in the interrupted runs' times.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let second = start(data.path()).await;
    for before in &details {
        let id = before["run_id"].as_str().unwrap();
        let after = get(&http, format!("{}/api/runs/{id}", second.base)).await;
        assert_eq!(after["status"], "Completed", "{after}");
        assert_eq!(
            after["steps"], before["steps"],
            "run {id} changed across the crash"
        );
    }
    let all = get(&http, format!("{}/api/runs?limit=500", second.base)).await;
    assert_eq!(all["total"], 100);
    for run in all["runs"].as_array().unwrap() {
        let status = run["status"].as_str().unwrap();
        assert!(matches!(status, "Completed" | "Interrupted"), "{run}");
        if status == "Interrupted" {
            let full = get(
                &http,
                format!(
                    "{}/api/runs/{}",
                    second.base,
                    run["run_id"].as_str().unwrap()
                ),
            )
            .await;
            let ended: chrono::DateTime<chrono::Utc> =
                full["completed_at"].as_str().unwrap().parse().unwrap();
            assert!(
                ended <= killed_at,
                "an interrupted run ends when its process died, not at the restart: {full}"
            );
            for step in full["steps"].as_array().unwrap() {
                assert!(
                    !matches!(
                        step["status"].as_str(),
                        Some("Running" | "Pending" | "Retrying")
                    ),
                    "{full}"
                );
            }
        }
    }
    let interrupted = get(
        &http,
        format!("{}/api/runs?status=Interrupted&limit=500", second.base),
    )
    .await;
    assert!(
        interrupted["total"].as_u64().unwrap() > 0,
        "the kill landed after every run finished"
    );
}

/// A run whose step was in flight when its server was killed goes on after
/// the restart: the attempt is recorded failed with "node lost" and retried
/// under the step's policy, and what had completed stays as it was.
#[tokio::test]
async fn a_run_killed_mid_step_goes_on_after_the_restart() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut first = start(data.path()).await;
    let job = json!({"name": "Resumed", "workflow": {"steps": [
        {"id": "a", "action": {"agent_task": {"prompt": "a"}}, "simulation": {"latency_ms": [0, 0]}},
        {"id": "b", "action": {"agent_task": {"prompt": "b"}}, "simulation": {"latency_ms": [2000, 2000]},
         "retry_policy": {"max_attempts": 3}}
    ], "dependencies": {"b": ["a"]}}, "execute": true});
    let created: Value = http
        .post(format!("{}/api/jobs", first.base))
        .json(&job)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let run_url = |base: &str| format!("{base}/api/runs/{run_id}");
    let before = common::eventually("b running", async || {
        let run = get(&http, run_url(&first.base)).await;
        (run["steps"][1]["status"] == "Running").then_some(run)
    })
    .await;
    // The engine's own events are not acknowledged: give the writer a
    // moment to commit b's start (its attempt lasts 2 s).
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = start(data.path()).await;
    let after = common::eventually("the run's end", async || {
        let run = get(&http, run_url(&second.base)).await;
        (run["status"] != "Running").then_some(run)
    })
    .await;
    assert_eq!(after["status"], "Completed", "{after}");
    assert_eq!(
        after["steps"][0], before["steps"][0],
        "a stays as it completed"
    );
    let attempts = after["steps"][1]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{after}");
    assert_eq!(attempts[0]["attempt"], 0);
    assert_eq!(attempts[0]["status"], "Failed");
    assert_eq!(attempts[0]["error"], "node lost");
    assert!(
        attempts[0]["duration_secs"].as_f64().unwrap() > 0.0,
        "the lost attempt lasted until it was found lost: {after}"
    );
    assert_eq!(attempts[1]["attempt"], 1);
    assert_eq!(attempts[1]["status"], "Completed");
    assert_eq!(after["steps"][1]["status"], "Completed");
}

/// What the clients were told was done before the kill.
#[derive(Default)]
struct Acknowledged {
    runs: Vec<String>,
    /// The last threshold the rule change answered for, and the highest sent.
    threshold: Option<(u64, u64)>,
    votes: Vec<(String, String)>,
}

/// A pseudo-random delay in `[lo, hi)` ms, different every round.
fn random_ms(lo: u64, hi: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    lo + nanos.wrapping_mul(6364136223846793005) % (hi - lo)
}

async fn approvals_pending(http: &reqwest::Client, base: &str, want: usize) -> Vec<Value> {
    for _ in 0..500 {
        let list = get(http, format!("{base}/api/approvals?status=pending")).await;
        let pending = list["approvals"].as_array().unwrap().clone();
        if pending.len() >= want {
            return pending;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("approvals did not come up");
}

/// Clients submit jobs, change a rule and vote while the server is killed
/// with SIGKILL after a random delay; after a restart every change they
/// were answered for is there. Three rounds, on one data folder.
#[tokio::test]
async fn every_acknowledged_change_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let instant = json!({"name": "Acked", "workflow": {"steps": [
        {"id": "a", "action": {"agent_task": {"prompt": "a"}}, "simulation": {"latency_ms": [0, 0]}},
        {"id": "b", "action": {"agent_task": {"prompt": "b"}}, "simulation": {"latency_ms": [0, 0]}},
        {"id": "c", "action": {"agent_task": {"prompt": "c"}}, "simulation": {"latency_ms": [0, 0]}}
    ], "dependencies": {"b": ["a"], "c": ["b"]}}, "execute": true});
    let voters: Vec<String> = (0..8).map(|i| format!("voter{i}")).collect();
    let gate = json!({"name": "Gate", "workflow": {"steps": [
        {"id": "gate", "action": {"manual_approval": {"approvers": voters, "quorum": "unanimous"}}}
    ]}, "execute": true});
    for round in 0..3 {
        let mut server = start(data.path()).await;
        let base = server.base.clone();
        // Approvals to vote on, waiting for all eight voters.
        for _ in 0..4 {
            let resp = http
                .post(format!("{base}/api/jobs"))
                .json(&gate)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
        }
        let approvals: Vec<String> = approvals_pending(&http, &base, 4)
            .await
            .iter()
            .map(|a| a["approval_id"].as_str().unwrap().to_string())
            .collect();

        let acked = std::sync::Arc::new(parking_lot::Mutex::new(Acknowledged::default()));
        let mut clients = Vec::new();
        for client in 0..8 {
            let (http, base, acked) = (http.clone(), base.clone(), acked.clone());
            let (instant, approvals) = (instant.clone(), approvals.clone());
            clients.push(tokio::spawn(async move {
                let mut n: u64 = 0;
                loop {
                    n += 1;
                    let ok = match client {
                        // Rule changes, one after another, each threshold higher.
                        0 => {
                            let threshold = round * 100_000 + n;
                            let r = http
                                .put(format!("{base}/api/alerts/rules/pending_approvals"))
                                .json(&json!({"threshold": threshold}))
                                .send()
                                .await;
                            match r {
                                Ok(r) if r.status() == 200 => {
                                    acked.lock().threshold = Some((threshold, threshold));
                                    true
                                }
                                _ => {
                                    // Sent, perhaps stored, not acknowledged.
                                    let mut acked = acked.lock();
                                    if let Some((last, _)) = acked.threshold {
                                        acked.threshold = Some((last, threshold));
                                    }
                                    false
                                }
                            }
                        }
                        // Votes: each voter once on each approval.
                        1 => {
                            let i = (n as usize - 1) % (approvals.len() * 8);
                            if n as usize > approvals.len() * 8 {
                                // Every vote cast: this client is done.
                                false
                            } else {
                                let (approval, voter) =
                                    (&approvals[i / 8], format!("voter{}", i % 8));
                                let r = http
                                    .post(format!("{base}/api/approvals/{approval}/vote"))
                                    .json(&json!({"voter": voter, "decision": "approve"}))
                                    .send()
                                    .await;
                                match r {
                                    Ok(r) if r.status() == 200 => {
                                        acked.lock().votes.push((approval.clone(), voter));
                                        true
                                    }
                                    _ => false,
                                }
                            }
                        }
                        _ => {
                            let r = http
                                .post(format!("{base}/api/jobs"))
                                .json(&instant)
                                .send()
                                .await;
                            match r {
                                Ok(r) if r.status() == 201 => {
                                    let body: Value = r.json().await.unwrap_or(Value::Null);
                                    match body["run_id"].as_str() {
                                        Some(id) => {
                                            acked.lock().runs.push(id.to_string());
                                            true
                                        }
                                        None => false,
                                    }
                                }
                                _ => false,
                            }
                        }
                    };
                    if !ok {
                        return;
                    }
                }
            }));
        }
        let delay = random_ms(500, 1_500);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.child.start_kill().unwrap();
        server.child.wait().await.unwrap();
        for c in clients {
            c.await.unwrap();
        }

        let server = start(data.path()).await;
        let acked = std::mem::take(&mut *acked.lock());
        assert!(
            acked.runs.len() > 50,
            "round {round}: only {} runs acknowledged in {delay} ms",
            acked.runs.len()
        );
        for run_id in &acked.runs {
            let resp = http
                .get(format!("{}/api/runs/{run_id}", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                200,
                "round {round}: run {run_id} was acknowledged, then lost to kill -9 after {delay} ms"
            );
        }
        if let Some((last, sent)) = acked.threshold {
            let rule = get(
                &http,
                format!("{}/api/alerts/rules/pending_approvals", server.base),
            )
            .await;
            let now = rule["threshold"].as_f64().unwrap() as u64;
            assert!(
                (last..=sent).contains(&now),
                "round {round}: the rule says {now}, acknowledged {last} (sent up to {sent})"
            );
        }
        for (approval, voter) in &acked.votes {
            let a = get(&http, format!("{}/api/approvals/{approval}", server.base)).await;
            assert!(
                a["votes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["voter"] == voter.as_str()),
                "round {round}: {voter}'s acknowledged vote on {approval} was lost: {a}"
            );
        }
        eprintln!(
            "round {round}: killed after {delay} ms; {} runs, {} votes, rule {:?} acknowledged, all there",
            acked.runs.len(),
            acked.votes.len(),
            acked.threshold
        );
        drop(server);
    }
}
