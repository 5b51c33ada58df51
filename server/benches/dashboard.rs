//! Server-side rendering of the dashboard with history behind it.
//!
//!     cargo bench -p server --bench dashboard
//!
//! A real server (in this process, SQLite log on, instant simulated agents)
//! runs 1,000 workflows (10 workflows × 100 runs, 4 steps each), then the
//! overview page and the workflows page are requested 300 times each over
//! loopback, as a browser asks for them.

mod support;

use std::time::Duration;

use support::{create_job, time_gets, TestServer};

fn job(w: usize) -> serde_json::Value {
    let ids = [
        "fetch_data",
        "analyze_data",
        "generate_charts",
        "create_report",
    ];
    let steps: Vec<_> = ids
        .iter()
        .map(|id| serde_json::json!({"id": id, "action": {"agent_task": {"prompt": id}}}))
        .collect();
    serde_json::json!({
        "name": format!("Report {w}"),
        "workflow": {"steps": steps, "dependencies": {"analyze_data": ["fetch_data"], "generate_charts": ["analyze_data"], "create_report": ["generate_charts"]}},
        "execute": false
    })
}

#[tokio::main]
async fn main() {
    let server = TestServer::start().await;
    let engine = server.engine.clone();
    let mut jobs = Vec::new();
    for w in 0..10 {
        jobs.push(create_job(&server, job(w)).await);
    }
    for _ in 0..100 {
        for id in &jobs {
            engine.start_run(*id, "bench").await.unwrap();
        }
    }
    while engine.running() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "history: {} finished runs",
        engine.journal().read(|m| m.executions.completed)
    );
    for page in ["/", "/workflows"] {
        let t = time_gets(&server, page, "text/html", 300).await;
        println!(
            "GET {page} (server-rendered, {} bytes): p50 {:.2} ms, p99 {:.2} ms over {} requests",
            t.bytes, t.p50_ms, t.p99_ms, t.requests
        );
    }
    server.shutdown().await;
}
