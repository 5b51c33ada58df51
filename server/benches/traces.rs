//! The traces list when most runs are only on disk.
//!
//!     cargo bench -p server --bench traces [-- RUNS]
//!
//! A real server in this process (SQLite log, instant simulated agents,
//! `--recent-runs 100`) runs a 3-step workflow RUNS times (default
//! 100,000). Then `GET /api/analytics/traces?before=<an old run>` — a page
//! of 50 traces of runs long out of memory, each read back from the log —
//! is timed 200 times over loopback, beside the newest page (from memory).

mod support;

use std::time::Instant;

use server::config::Config;
use support::{create_job, time_gets, TestServer};

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.recent_runs = 100;
    let server = TestServer::start_with(config, data).await;
    let step = |id: &str| serde_json::json!({"id": id, "action": {"agent_task": {"prompt": id}}});
    let job = create_job(
        &server,
        serde_json::json!({"name": "Traced", "workflow": {
            "steps": [step("a"), step("b"), step("c")],
            "dependencies": {"b": ["a"], "c": ["b"]}
        }}),
    )
    .await;
    let t0 = Instant::now();
    let mut started = Vec::with_capacity(runs);
    // At most 256 in flight, through the engine as a client's requests would be.
    let mut batch = Vec::new();
    for _ in 0..runs {
        let engine = server.engine.clone();
        batch.push(tokio::spawn(async move {
            engine.start_run(job, "bench").await.unwrap()
        }));
        if batch.len() == 256 {
            for b in batch.drain(..) {
                started.push(b.await.unwrap().run_id.unwrap());
            }
        }
    }
    for b in batch {
        started.push(b.await.unwrap().run_id.unwrap());
    }
    let last = started.last().unwrap().to_string();
    server.wait_for_run(&last).await;
    server.engine.flush().await;
    println!("{runs} runs in {:.1} s", t0.elapsed().as_secs_f64());
    // A page of old runs: 50 runs before the one 1,000 from the start.
    let old = &started[1_000.min(runs - 1)];
    let (status, page) = server
        .get(&format!("/api/analytics/traces?before={old}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["traces"].as_array().unwrap().len(), 50);
    for (label, path) in [
        ("newest page (memory)", "/api/analytics/traces".to_string()),
        (
            "old page (50 read back from the log)",
            format!("/api/analytics/traces?before={old}"),
        ),
    ] {
        let t = time_gets(&server, &path, "application/json", 200).await;
        println!(
            "{label}: p50 {:.2} ms, p99 {:.2} ms, {} bytes",
            t.p50_ms, t.p99_ms, t.bytes
        );
    }
}
