//! Server-side rendering of the dashboard with history behind it.
//!
//!     cargo bench -p server --bench dashboard
//!
//! A real server (in this process, SQLite log on, instant simulated agents)
//! runs 1,000 workflows (10 workflows × 100 runs, 4 steps each), then the
//! overview page and the workflows page are requested 300 times each over
//! loopback, as a browser asks for them.

use std::time::{Duration, Instant};

use server::config::Config;
use server::Server;

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

async fn time_page(http: &reqwest::Client, url: &str) -> (f64, f64, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..300 {
        let t = Instant::now();
        let body = http
            .get(url)
            .header("accept", "text/html")
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
    (times[times.len() / 2], times[times.len() * 99 / 100], bytes)
}

#[tokio::main]
async fn main() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::bind(Config::for_tests(data.path())).await.unwrap();
    let addr = server.local_addr().unwrap();
    let engine = server.state().engine.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let mut jobs = Vec::new();
    for w in 0..10 {
        let created: serde_json::Value = http
            .post(format!("{base}/api/jobs"))
            .json(&job(w))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jobs.push(
            created["job_id"]
                .as_str()
                .unwrap()
                .parse::<ulid::Ulid>()
                .unwrap(),
        );
    }
    for _ in 0..100 {
        for id in &jobs {
            engine.start_run(*id).unwrap();
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
        let (p50, p99, bytes) = time_page(&http, &format!("{base}{page}")).await;
        println!("GET {page} (server-rendered, {bytes} bytes): p50 {p50:.2} ms, p99 {p99:.2} ms over 300 requests");
    }
    let _ = stop.send(());
    let _ = task.await;
}
