//! Analytics at scale.
//!
//!     cargo bench -p server --bench analytics
//!
//! 1. Cost of recording one step execution's duration with 10^3 and with
//!    10^6 prior samples in the series (the original implementation sorted
//!    every sample on each record).
//! 2. A real server (in this process, SQLite log on, instant simulated
//!    agents) runs 10 workflows of 100 independent steps 1,000 times each:
//!    10^6 step executions over 1,000 step series. Resident memory is read
//!    as it goes; then `GET /api/analytics/steps` is timed over loopback.

mod support;

use std::time::{Duration, Instant};

use server::analytics::durations::Durations;
use server::config::Config;
use server::telemetry::resident_memory_mb;
use support::{create_job, time_gets, TestServer};

fn record_cost(prior: usize) -> f64 {
    let mut d = Durations::default();
    for i in 0..prior {
        d.record((i % 1000) as f64 / 100.0);
    }
    let n = 1_000_000;
    let t0 = Instant::now();
    for i in 0..n {
        d.record(std::hint::black_box((i % 997) as f64 / 100.0));
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn job(w: usize) -> serde_json::Value {
    let steps: Vec<_> = (0..100)
        .map(|s| serde_json::json!({"id": format!("step_{s:03}"), "action": {"agent_task": {"prompt": "p"}}}))
        .collect();
    serde_json::json!({"name": format!("Wide Workflow {w}"), "workflow": {"steps": steps}, "execute": false})
}

async fn at_scale() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data.path());
    config.max_concurrent_steps = 512;
    let server = TestServer::start_with(config, std::sync::Arc::new(data)).await;
    let engine = server.engine.clone();
    let mut job_ids = Vec::new();
    for w in 0..10 {
        job_ids.push(create_job(&server, job(w)).await);
    }
    println!("memory before: {:.1} MiB", resident_memory_mb().unwrap());
    let t0 = Instant::now();
    for round in 0..1_000 {
        for id in &job_ids {
            engine.start_run(*id, "bench").await.unwrap();
        }
        while engine.running() > 64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if (round + 1) % 200 == 0 {
            while engine.running() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let executions: u64 = engine.journal().read(|m| {
                m.analytics
                    .steps(None)
                    .iter()
                    .map(|s| s.execution_count)
                    .sum()
            });
            println!(
                "  {executions:>9} step executions: resident memory {:.1} MiB ({:.0} s)",
                resident_memory_mb().unwrap(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    engine.flush().await;

    // Where the time goes, in process: reading the projection (under the
    // journal's lock) and serialising it.
    let (mut read, mut ser) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let t = Instant::now();
        let steps = engine.journal().read(|m| m.analytics.steps(None));
        read.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(serde_json::to_vec(&wire::StepStatsList { steps }).unwrap());
        ser.push(t.elapsed().as_secs_f64() * 1e3);
    }
    read.sort_by(f64::total_cmp);
    ser.sort_by(f64::total_cmp);
    println!(
        "  in process: read {:.2} ms, serialise {:.2} ms (medians)",
        read[50], ser[50]
    );

    let t = time_gets(&server, "/api/analytics/steps", "application/json", 300).await;
    let (_, steps) = server.get("/api/analytics/steps").await;
    let series = steps["steps"].as_array().unwrap().len();
    println!(
        "GET /api/analytics/steps ({series} series, {} bytes): p50 {:.2} ms, p99 {:.2} ms over {} requests",
        t.bytes, t.p50_ms, t.p99_ms, t.requests
    );
    server.shutdown().await;
}

fn main() {
    let small = record_cost(1_000);
    let large = record_cost(1_000_000);
    println!(
        "record a step duration: {small:.1} ns with 10^3 prior samples, {large:.1} ns with 10^6 (ratio {:.2})",
        large / small
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(at_scale());
}
