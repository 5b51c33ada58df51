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
//!
//! Each store in turn (`SHIIOO_BENCH_STORES`, default `sqlite,postgres`):
//! the SQLite file, then PostgreSQL, a throw-away cluster of Debian's
//! (`scripts/postgres.sh`, its settings the package's defaults, fsync on)
//! with `pg_stat_statements`. For the concurrent phase it also says what
//! each workflow cost: the server's CPU and, for PostgreSQL, the
//! database's (all its processes), per 1,000 workflows, and the statements
//! and commits the database ran per workflow.

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

/// CPU seconds a process has used (user + system), from `/proc`.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command's closing parenthesis: state is the
    // first, utime and stime the 12th and 13th.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    // SAFETY: sysconf reads a constant of the system.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// The CPU of a PostgreSQL cluster: its postmaster and every process it
/// started (backends, writer, checkpointer), those alive now.
fn cluster_cpu_secs(postmaster: u32) -> f64 {
    let mut total = cpu_secs(postmaster);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if rest.split_whitespace().nth(1) == Some(&postmaster.to_string()) {
            total += cpu_secs(pid);
        }
    }
    total
}

const PG_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");

/// A throw-away PostgreSQL for one run of the bench.
struct Postgres {
    dir: tempfile::TempDir,
    db: tokio_postgres::Client,
    url: String,
}

impl Postgres {
    async fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("bash")
            .arg(PG_SCRIPT)
            .args(["start", dir.path().to_str().unwrap()])
            .env(
                "SHIIOO_PG_OPTIONS",
                "-c shared_preload_libraries=pg_stat_statements",
            )
            .output()
            .expect("scripts/postgres.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let admin = connect(&format!("{server}/postgres")).await;
        admin.batch_execute("CREATE DATABASE bench").await.unwrap();
        let url = format!("{server}/bench");
        let db = connect(&url).await;
        db.batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
        Postgres { dir, db, url }
    }

    fn postmaster(&self) -> u32 {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap();
        pid.lines().next().unwrap().trim().parse().unwrap()
    }

    /// Statements run in the bench's database, and its commits, so far.
    async fn counts(&self) -> (f64, f64) {
        let row = self
            .db
            .query_one(
                "SELECT (SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements s \
                     JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench'), \
                 (SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = 'bench')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(PG_SCRIPT)
            .args(["stop", self.dir.path().to_str().unwrap()])
            .output();
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

async fn bench(store: &str, clients: usize, runs_each: usize) {
    println!("== {store}");
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let postgres = match store {
        "postgres" => Some(Postgres::start().await),
        _ => None,
    };
    // SHIIOO_BIN measures another build (an older release, say) the same way.
    let bin = std::env::var("SHIIOO_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_shiioo").into());
    let mut command = tokio::process::Command::new(bin);
    command
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--sim-latency-ms",
            "0..0",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    if let Some(pg) = &postgres {
        command.args(["--database-url", &pg.url]);
    }
    let mut server = command.spawn().expect("start the server");
    let pid = server.id().unwrap();
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
        let cpu0 = cpu_secs(pid);
        let pg0 = match &postgres {
            Some(pg) => Some((cluster_cpu_secs(pg.postmaster()), pg.counts().await)),
            None => None,
        };
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(client(port, runs_each)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let wall = t0.elapsed();
        let workflows = all.len() as f64;
        report(&format!("{n} concurrent clients"), all, wall);
        if n == 1 {
            continue;
        }
        let per_k = |secs: f64| secs / workflows * 1000.0;
        print!(
            "  {:.0} workflows/s; CPU per 1,000 workflows: server {:.2} s",
            workflows / wall.as_secs_f64(),
            per_k(cpu_secs(pid) - cpu0)
        );
        match (&postgres, pg0) {
            (Some(pg), Some((cpu, (statements, commits)))) => {
                let (statements1, commits1) = pg.counts().await;
                println!(
                    ", PostgreSQL {:.2} s; per workflow: {:.2} statements, {:.2} commits",
                    per_k(cluster_cpu_secs(pg.postmaster()) - cpu),
                    (statements1 - statements) / workflows,
                    (commits1 - commits) / workflows
                );
            }
            _ => println!(),
        }
    }
    let _ = server.start_kill();
    let _ = server.wait().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let runs_each = args.get(1).copied().unwrap_or(500);
    let stores = std::env::var("SHIIOO_BENCH_STORES").unwrap_or_else(|_| "sqlite,postgres".into());
    for store in stores.split(',').map(str::trim) {
        bench(store, clients, runs_each).await;
    }
}
