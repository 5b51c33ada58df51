//! What the in-process HTTP benchmarks share: the contract tests' server
//! harness (a real server on a free loopback port), jobs created through its
//! API, and timed GETs.

#![allow(dead_code)] // each bench uses a different part of this

#[path = "../../tests/common/mod.rs"]
pub mod common;

use std::time::Instant;

pub use common::TestServer;

/// `POST /api/jobs` with `body`; the new job's id.
pub async fn create_job(server: &TestServer, body: serde_json::Value) -> ulid::Ulid {
    let (status, created) = server.post("/api/jobs", body).await;
    assert!(status < 300, "POST /api/jobs answered {status}: {created}");
    created["job_id"].as_str().unwrap().parse().unwrap()
}

/// Latencies of `n` sequential GETs of `url` (ms) and the body size.
pub struct Timing {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub bytes: usize,
    pub requests: usize,
}

pub async fn time_gets(server: &TestServer, path: &str, accept: &str, n: usize) -> Timing {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let body = server
            .http
            .get(server.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = body.len();
    }
    times.sort_by(f64::total_cmp);
    Timing {
        p50_ms: times[n / 2],
        p99_ms: times[n * 99 / 100],
        bytes,
        requests: n,
    }
}
