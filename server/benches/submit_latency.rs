//! Submit → `Completed` on the WebSocket, as a client sees it.
//!
//!     cargo bench -p server --bench submit_latency [-- CLIENTS RUNS_EACH]
//!
//! Starts the release server binary as its own process (simulated agents,
//! instant steps). Each of CLIENTS (default 8) clients keeps one HTTP
//! connection and one WebSocket: it posts a 3-step instant workflow,
//! subscribes to the run it got (`SubscribeWorkflow`: the snapshot says
//! where the run already is, then updates follow), waits for its
//! `WorkflowUpdate` with status `Completed`, unsubscribes, and starts over,
//! RUNS_EACH (default 500) times. The time is from just before the POST to
//! the arrival of that update, on the client's clock. The same is then
//! measured with one client, for comparison. `SHIIOO_BIN=path` measures
//! that binary instead of this build's.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn job() -> Value {
    let step = |id: &str| json!({"id": id, "action": {"agent_task": {"prompt": id}}, "simulation": {"latency_ms": [0, 0]}});
    json!({"name": "Latency Bench", "workflow": {
        "steps": [step("a"), step("b"), step("c")],
        "dependencies": {"b": ["a"], "c": ["b"]}
    }, "execute": true})
}

/// One client's round trips, in milliseconds: the whole, and the part
/// until the POST was answered (the acknowledgement, which waits for the
/// commit).
async fn client(port: u16, runs: usize) -> Vec<(f64, f64)> {
    let http = reqwest::Client::new();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/ws"))
        .await
        .expect("WebSocket handshake");
    let url = format!("http://127.0.0.1:{port}/api/jobs");
    let body = job();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let created: Value = http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let acked = t0.elapsed();
        let run_id = created["run_id"].as_str().unwrap().to_string();
        let subscribe = json!({"action": "SubscribeWorkflow", "run_id": run_id});
        ws.send(Message::Text(subscribe.to_string().into()))
            .await
            .unwrap();
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                continue;
            };
            let msg: Value = serde_json::from_str(&text).unwrap();
            if msg["type"] == "WorkflowUpdate"
                && msg["run_id"] == run_id.as_str()
                && msg["status"] == "Completed"
            {
                break;
            }
        }
        times.push((t0.elapsed().as_secs_f64() * 1e3, acked.as_secs_f64() * 1e3));
        ws.send(Message::Text(r#"{"action": "Unsubscribe"}"#.into()))
            .await
            .unwrap();
    }
    times
}

fn report(label: &str, times: Vec<(f64, f64)>, wall: Duration) {
    let quantiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            at(0.50),
            at(0.90),
            at(0.99),
            v[v.len() - 1]
        )
    };
    let (whole, acked): (Vec<f64>, Vec<f64>) = times.into_iter().unzip();
    println!(
        "{label}: {} runs in {:.1} s, {}\n  of which until the POST was answered: {}",
        whole.len(),
        wall.as_secs_f64(),
        quantiles(whole),
        quantiles(acked)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let runs_each = args.get(1).copied().unwrap_or(500);
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    // SHIIOO_BIN measures another build (an older release, say) the same way.
    let bin = std::env::var("SHIIOO_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_shiioo").into());
    let mut server = tokio::process::Command::new(bin)
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--sim-latency-ms",
            "0..0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let health = format!("http://127.0.0.1:{port}/api/health/status");
    for _ in 0..100 {
        if reqwest::get(&health).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Warm-up: connections, caches, the workflow's statistics.
    client(port, 50).await;
    for n in [clients, 1] {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(client(port, runs_each)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        report(&format!("{n} concurrent clients"), all, t0.elapsed());
    }
    let _ = server.start_kill();
    let _ = server.wait().await;
}
