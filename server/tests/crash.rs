//! Durability: the server binary is killed with SIGKILL in the middle of
//! 100 runs; after a restart on the same data folder every run that had
//! completed is intact and none is left running.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    for _ in 0..100 {
        let resp = http
            .post(format!("{}/api/jobs", first.base))
            .json(&job)
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
