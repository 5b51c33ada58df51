//! WebSocket fan-out under load.
//!
//!     cargo bench -p server --bench websocket [-- CLIENTS SECONDS RUNS_PER_SEC]
//!
//! Starts the release server binary as its own process (simulated agents,
//! 5–20 ms per step), opens CLIENTS (default 1,000) WebSocket clients on
//! loopback subscribed to everything, and starts RUNS_PER_SEC (default 90)
//! runs of the guide's 4-step job per second for SECONDS (default 20): about
//! 1,000 engine events per second, each run pushing 15 messages to every
//! client. Event-to-client latency is the time a client received a run's
//! final `WorkflowUpdate` minus the `completed_at` the server recorded for
//! that run (same machine, same clock). Server CPU comes from
//! /proc/PID/stat. A second phase keeps 10 clients that never read
//! connected under the same load and samples the server's resident memory.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// (run id, when a client received its final update), over all clients.
type Deliveries = Vec<(String, DateTime<Utc>)>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn proc_stat(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    (ticks / 100.0, rss_kb / 1024.0)
}

/// Starts `per_sec` runs a second for `seconds`, each request on its own
/// task so that a slow answer does not slow the rate.
async fn load(
    http: &reqwest::Client,
    base: &str,
    job_id: &str,
    seconds: u64,
    per_sec: u64,
) -> Vec<String> {
    let mut pending = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..seconds * per_sec {
        tick.tick().await;
        let (http, url) = (http.clone(), format!("{base}/api/jobs/{job_id}/runs"));
        pending.push(tokio::spawn(async move {
            let started: Value = http.post(url).send().await.unwrap().json().await.unwrap();
            started["run_id"].as_str().unwrap().to_string()
        }));
    }
    let mut runs = Vec::new();
    for p in pending {
        runs.push(p.await.unwrap());
    }
    runs
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = *args.first().unwrap_or(&1_000) as usize;
    let seconds = *args.get(1).unwrap_or(&20);
    let per_sec = *args.get(2).unwrap_or(&90);

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_shiioo"))
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--sim-latency-ms",
            "5..20",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    while http
        .get(format!("{base}/api/health/status"))
        .send()
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let steps: Vec<Value> = [
        "fetch_data",
        "analyze_data",
        "generate_charts",
        "create_report",
    ]
    .iter()
    .map(|id| json!({"id": id, "action": {"agent_task": {"prompt": id}}}))
    .collect();
    let job = json!({
        "name": "Monthly Report Generation",
        "workflow": {
            "steps": steps,
            "dependencies": {"analyze_data": ["fetch_data"], "generate_charts": ["analyze_data"], "create_report": ["generate_charts"]}
        }
    });
    let created: Value = http
        .post(format!("{base}/api/jobs"))
        .json(&job)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = created["job_id"].as_str().unwrap().to_string();

    // Phase 1: readers.
    let received: Arc<Mutex<Deliveries>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/ws"))
            .await
            .unwrap();
        ws.send(Message::Text(r#"{"action":"SubscribeAll"}"#.into()))
            .await
            .unwrap();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                // Cheap pre-filter; parse only the final updates.
                if text.contains("\"status\":\"Completed\"") && text.contains("WorkflowUpdate") {
                    let at = Utc::now();
                    let v: Value = serde_json::from_str(&text).unwrap();
                    received
                        .lock()
                        .push((v["run_id"].as_str().unwrap().to_string(), at));
                }
                if text.contains("lagged") {
                    eprintln!("a reading client lagged: {text}");
                }
            }
        }));
    }
    println!("{clients} clients connected and subscribed");
    let (cpu0, rss0) = proc_stat(pid);
    let t0 = Instant::now();
    let runs = load(&http, &base, &job_id, seconds, per_sec).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss1) = proc_stat(pid);
    let delivery: Value = http
        .get(format!("{base}/api/metrics?name=websocket_messages_sent_total,websocket_messages_dropped_total"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut completed_at = std::collections::HashMap::new();
    for id in &runs {
        let run: Value = http
            .get(format!("{base}/api/runs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(at) = run["completed_at"].as_str() {
            completed_at.insert(id.clone(), at.parse::<DateTime<Utc>>().unwrap());
        }
    }
    for t in &tasks {
        t.abort();
    }
    let mut latencies: Vec<f64> = Vec::new();
    for (run, at) in received.lock().iter() {
        if let Some(done) = completed_at.get(run) {
            latencies.push((*at - *done).num_microseconds().unwrap() as f64 / 1e3);
        }
    }
    println!(
        "phase 1: {} runs in {seconds} s, {:.0} engine events/s",
        runs.len(),
        runs.len() as f64 * 11.0 / seconds as f64
    );
    if latencies.is_empty() {
        println!("  no latency samples were collected");
    } else {
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        println!(
            "  event-to-client latency over {} deliveries: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            latencies.len(),
            pct(0.5),
            pct(0.99),
            latencies[latencies.len() - 1]
        );
    }
    println!(
        "  server CPU {:.0}% of one core ({:.1} s CPU over {:.1} s), resident memory {:.1} -> {:.1} MiB",
        (cpu1 - cpu0) / wall * 100.0,
        cpu1 - cpu0,
        wall,
        rss0,
        rss1
    );
    for c in delivery["counters"].as_array().unwrap() {
        println!("  {} = {}", c["name"].as_str().unwrap(), c["value"]);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Phase 2: 10 clients that never read.
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/ws"))
            .await
            .unwrap();
        ws.send(Message::Text(r#"{"action":"SubscribeAll"}"#.into()))
            .await
            .unwrap();
        stalled.push(ws);
    }
    println!(
        "phase 2: 10 clients that never read, same load for {} s",
        seconds * 2
    );
    let sampler = tokio::spawn(async move {
        for i in 0..=(seconds * 2 / 5) {
            let (_, rss) = proc_stat(pid);
            println!("  t={:>3} s: server resident memory {rss:.1} MiB", i * 5);
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    load(&http, &base, &job_id, seconds * 2, per_sec).await;
    sampler.await.unwrap();
    let dropped: Value = http
        .get(format!(
            "{base}/api/metrics?name=websocket_messages_dropped_total,websocket_connections"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("  {dropped}");
    drop(stalled);
    let _ = server.kill().await;
}
