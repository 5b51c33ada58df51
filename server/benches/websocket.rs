//! WebSocket fan-out under load.
//!
//!     cargo bench -p server --bench websocket [-- CLIENTS SECONDS RUNS_PER_SEC]
//!
//! Starts the release server binary as its own process (simulated agents,
//! 5–20 ms per step), opens CLIENTS (default 1,000) WebSocket clients on
//! loopback subscribed to everything (lean ones: they walk frames in the
//! bytes each read returns and parse only the runs' final updates, so the
//! load tool does not starve the server of its share of the 2 cores), and starts RUNS_PER_SEC (default 90)
//! runs of the guide's 4-step job per second for SECONDS (default 20): about
//! 1,000 engine events per second, each run pushing 15 messages to every
//! client. Event-to-client latency is the time a client received a run's
//! final `WorkflowUpdate` minus the `completed_at` the server recorded for
//! that run (same machine, same clock). Server CPU comes from
//! /proc/PID/stat. A second phase keeps 10 clients that never read
//! connected under the same load and samples the server's resident memory.
//! `SHIIOO_BIN=path` measures that binary instead of this build's.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::SinkExt;
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

/// A reading client that costs little, so that the load tool measures the
/// server rather than itself: it does the WebSocket handshake, sends one
/// masked text frame, then walks the frames in whatever the socket returned,
/// parsing only the messages it looks for and answering pings.
async fn raw_reader(port: u16, received: Arc<Mutex<Deliveries>>) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(
            format!(
                "GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::with_capacity(64 * 1024);
    let header_end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
    };
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    buf.drain(..header_end);
    stream
        .write_all(&masked(0x1, br#"{"action":"SubscribeAll"}"#))
        .await
        .unwrap();
    tokio::spawn(async move {
        let done = memchr::memmem::Finder::new(br#""status":"Completed""#);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            // Frames already buffered first, then read more.
            let mut at = 0;
            while let Some((opcode, start, end)) = frame(&buf[at..]) {
                let payload = &buf[at + start..at + end];
                if opcode == 0x1
                    && payload.starts_with(br#"{"type":"WorkflowUpdate""#)
                    && done.find(payload).is_some()
                {
                    let now = Utc::now();
                    let v: Value = serde_json::from_slice(payload).unwrap();
                    received
                        .lock()
                        .push((v["run_id"].as_str().unwrap().to_string(), now));
                } else if opcode == 0x9 {
                    let pong = masked(0xA, payload);
                    if stream.write_all(&pong).await.is_err() {
                        return;
                    }
                }
                at += end;
            }
            buf.drain(..at);
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// The next whole frame in `b`: (opcode, payload start, payload end).
fn frame(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let (opcode, len7) = (b[0] & 0x0f, (b[1] & 0x7f) as usize);
    let (len, start) = match len7 {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n, 2),
    };
    (b.len() >= start + len).then_some((opcode, start, start + len))
}

/// A client frame (clients must mask), for short payloads.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
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
    // SHIIOO_BIN measures another build (an older release, say) the same way.
    let bin = std::env::var("SHIIOO_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_shiioo").into());
    let mut server = tokio::process::Command::new(bin)
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
        tasks.push(raw_reader(port, received.clone()).await);
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
