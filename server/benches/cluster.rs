//! A cluster of server processes on one PostgreSQL, as its clients see it.
//!
//!     cargo bench -p server --bench cluster --locked [-- CLIENTS RUNS_EACH]
//!
//! Starts the release server binary as processes (simulated agents,
//! `--sim-latency-ms 0..0`, each node its own `--data-dir` and `--node-id`,
//! the default `--lease-secs`) on a throw-away PostgreSQL cluster of
//! Debian's (`scripts/postgres.sh`, the package's default settings, fsync on,
//! with `pg_stat_statements`), all on loopback. Three parts, one after the
//! other; the bench stops by itself.
//!
//! 1. Throughput and latency for 1, 2 and 3 nodes on one PostgreSQL (a
//!    fresh database each), beside one node on its SQLite file in the same
//!    run. CLIENTS (default 8) closed-loop clients in all, client i talking
//!    to node i % N over one HTTP connection and one WebSocket: each posts a
//!    3-step instant workflow, sends `SubscribeWorkflow` for the run it got,
//!    waits for its `WorkflowUpdate` `Completed`, unsubscribes and starts
//!    over, RUNS_EACH (default 300) times, after a warm-up of ~50 runs.
//!    Reported: workflows/s, p50/p90/p99 of submit → `Completed` (client's
//!    clock), the CPU seconds per 1,000 workflows of each node process and
//!    of PostgreSQL (all its processes), and the statements
//!    (`pg_stat_statements`) and commits (`pg_stat_database`) the database
//!    ran per workflow, the nodes' lease renewals and polls included, with
//!    the four statements run most. Then 2 nodes again with every client
//!    on the first: the second only follows, and its CPU is what following
//!    another node's work costs.
//! 2. Cross-node live updates, on the 3 nodes of part 1: a watcher on node
//!    B sends `SubscribeAll`; 300 runs are posted to node A one at a time,
//!    a few ms apart; for each, the time from A's answer (201 with its
//!    `run_id`) to the first message on B's socket with that `run_id`.
//! 3. Takeover after `kill -9`, on 3 fresh nodes and database: 30 runs
//!    posted to node C whose second step takes 60 s; once every one runs
//!    that step, C gets SIGKILL; a survivor's `GET /api/runs/{id}` is polled
//!    every 50 ms until each run's `node` is no longer C and its step has an
//!    attempt with error "node lost". Reported: the time from the kill to
//!    the first and to the last run taken over.
//!
//! The nodes, the database and the clients share this machine's cores: more
//! nodes here compete for the same CPU; the per-node CPU and the database's
//! work per workflow are what tell how the cluster scales on machines of
//! its own.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message;

/// The default `--lease-secs`, which the nodes run with.
const LEASE_SECS: f64 = 10.0;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server process of the bench.
struct Node {
    id: String,
    port: u16,
    pid: u32,
    child: Child,
    _data: tempfile::TempDir,
}

impl Node {
    /// Starts a node (on `database_url`'s PostgreSQL, or alone on its SQLite
    /// file) and waits until its health status answers.
    async fn start(database_url: Option<&str>, id: &str) -> Node {
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_shiioo"));
        command
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--sim-latency-ms", "0..0"])
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.args(["--database-url", url, "--node-id", id]);
        }
        let child = command.spawn().expect("start the server");
        let pid = child.id().unwrap();
        let health = format!("http://127.0.0.1:{port}/api/health/status");
        for _ in 0..600 {
            if reqwest::get(&health).await.is_ok() {
                return Node {
                    id: id.into(),
                    port,
                    pid,
                    child,
                    _data: data,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node {id} did not answer {health} within 30 s");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn job() -> Value {
    let step = |id: &str| json!({"id": id, "action": {"agent_task": {"prompt": id}}, "simulation": {"latency_ms": [0, 0]}});
    json!({"name": "Cluster Bench", "workflow": {
        "steps": [step("a"), step("b"), step("c")],
        "dependencies": {"b": ["a"], "c": ["b"]}
    }, "execute": true})
}

/// Posts a job to a node; the run's id and when the answer came.
async fn post(http: &reqwest::Client, node: &Node, body: &Value) -> (String, Instant) {
    let resp = http.post(node.url("/api/jobs")).json(body).send().await;
    let resp = resp.unwrap_or_else(|e| panic!("POST /api/jobs on {}: {e}", node.id));
    let answered = Instant::now();
    assert_eq!(resp.status(), 201, "POST /api/jobs on {}", node.id);
    let created: Value = resp.json().await.unwrap();
    (created["run_id"].as_str().unwrap().to_string(), answered)
}

/// One closed-loop client of a node: its round trips, submit → `Completed`
/// on its WebSocket, in milliseconds.
async fn client(port: u16, runs: usize) -> Vec<f64> {
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
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        ws.send(Message::Text(r#"{"action": "Unsubscribe"}"#.into()))
            .await
            .unwrap();
    }
    times
}

/// `clients` clients spread over the nodes, `runs` runs each; their times.
async fn load(nodes: &[Node], clients: usize, runs: usize) -> Vec<f64> {
    let tasks: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(client(nodes[i % nodes.len()].port, runs)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// p50, p90, p99 and max, in the unit given.
fn quantiles(mut v: Vec<f64>, unit: &str) -> String {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    format!(
        "p50 {:.2} {unit}, p90 {:.2} {unit}, p99 {:.2} {unit}, max {:.2} {unit}",
        at(0.50),
        at(0.90),
        at(0.99),
        v[v.len() - 1]
    )
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

/// A throw-away PostgreSQL for one run of the bench, a database in it for
/// each setup.
struct Postgres {
    dir: tempfile::TempDir,
    /// Connected to the `postgres` database, where `pg_stat_statements` is.
    admin: tokio_postgres::Client,
    server: String,
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
        admin
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
        Postgres { dir, admin, server }
    }

    /// A new, empty database; its URL.
    async fn database(&self, name: &str) -> String {
        self.admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        format!("{}/{name}", self.server)
    }

    fn postmaster(&self) -> u32 {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap();
        pid.lines().next().unwrap().trim().parse().unwrap()
    }

    /// Statements run in database `name`, and its commits, so far.
    async fn counts(&self, name: &str) -> (f64, f64) {
        let row = self
            .admin
            .query_one(
                "SELECT (SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements s \
                     JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1), \
                 (SELECT xact_commit::float8 FROM pg_stat_database WHERE datname = $1)",
                &[&name],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    /// Calls so far of each statement run in database `name`, by its text.
    async fn statements(&self, name: &str) -> HashMap<String, f64> {
        let rows = self
            .admin
            .query(
                "SELECT s.query, sum(s.calls)::float8 FROM pg_stat_statements s \
                     JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 GROUP BY s.query",
                &[&name],
            )
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }
}

/// The statements run most between two readings of
/// [`Postgres::statements`], per workflow, their text shortened.
fn top_statements(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    workflows: f64,
) -> String {
    let mut calls: Vec<(f64, String)> = after
        .iter()
        .map(|(q, n)| (n - before.get(q).copied().unwrap_or(0.0), q.clone()))
        .filter(|(n, _)| *n > 0.0)
        .collect();
    calls.sort_by(|a, b| b.0.total_cmp(&a.0));
    calls
        .iter()
        .take(4)
        .map(|(n, q)| {
            let q: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
            let q: String = q.chars().take(60).collect();
            format!("    {:.2}  {q}", n / workflows)
        })
        .collect::<Vec<_>>()
        .join("\n")
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

/// One line of the summary: a setup's figures.
struct Figures {
    setup: String,
    rate: f64,
    latency: String,
    node_cpu: Vec<f64>,
    pg: Option<(f64, f64, f64)>,
}

/// Part 1 for one setup: `n` nodes on PostgreSQL (database `db`), or one on
/// SQLite when `pg` is `None`. Returns the nodes, still running.
async fn throughput(
    pg: Option<&Postgres>,
    db: &str,
    n: usize,
    served: usize,
    clients: usize,
    runs_each: usize,
    summary: &mut Vec<Figures>,
) -> Vec<Node> {
    let setup = match pg {
        Some(_) if served < n => format!("PostgreSQL, {n} nodes, clients on {served} only"),
        Some(_) => format!("PostgreSQL, {n} node{}", if n == 1 { "" } else { "s" }),
        None => "SQLite, 1 node".to_string(),
    };
    println!("== {setup}: {clients} clients × {runs_each} runs");
    let url = match pg {
        Some(pg) => Some(pg.database(db).await),
        None => None,
    };
    let mut nodes = Vec::new();
    for i in 1..=n {
        nodes.push(Node::start(url.as_deref(), &format!("n{i}")).await);
    }
    // Warm-up: connections, caches, the workflow's statistics, ~50 runs.
    load(&nodes[..served], served, 50usize.div_ceil(served)).await;

    let cpu0: Vec<f64> = nodes.iter().map(|n| cpu_secs(n.pid)).collect();
    let pg0 = match pg {
        Some(pg) => Some((cluster_cpu_secs(pg.postmaster()), pg.counts(db).await)),
        None => None,
    };
    let statements0 = match pg {
        Some(pg) => pg.statements(db).await,
        None => HashMap::new(),
    };
    let t0 = Instant::now();
    let times = load(&nodes[..served], clients, runs_each).await;
    let wall = t0.elapsed().as_secs_f64();
    let node_cpu: Vec<f64> = nodes
        .iter()
        .zip(&cpu0)
        .map(|(n, c0)| cpu_secs(n.pid) - c0)
        .collect();
    let pg_figures = match (pg, pg0) {
        (Some(pg), Some((cpu, (statements, commits)))) => {
            let cpu1 = cluster_cpu_secs(pg.postmaster());
            let (statements1, commits1) = pg.counts(db).await;
            let top = top_statements(&statements0, &pg.statements(db).await, times.len() as f64);
            Some((
                cpu1 - cpu,
                statements1 - statements,
                commits1 - commits,
                top,
            ))
        }
        _ => None,
    };

    let workflows = times.len() as f64;
    let per_k = |secs: f64| secs / workflows * 1000.0;
    let latency = quantiles(times, "ms");
    let rate = workflows / wall;
    println!("  {workflows} runs in {wall:.2} s: {rate:.0} workflows/s");
    println!("  submit → Completed: {latency}");
    let cpus: Vec<String> = nodes
        .iter()
        .zip(&node_cpu)
        .map(|(n, c)| format!("{} {:.2} s", n.id, per_k(*c)))
        .collect();
    print!("  CPU per 1,000 workflows: {}", cpus.join(", "));
    if n > 1 {
        print!(" (nodes in all {:.2} s)", per_k(node_cpu.iter().sum()));
    }
    match pg_figures {
        Some((cpu, statements, commits, ref top)) => println!(
            ", PostgreSQL {:.2} s\n  per workflow: {:.2} statements, {:.2} commits; the most run:\n{top}",
            per_k(cpu),
            statements / workflows,
            commits / workflows
        ),
        None => println!(),
    }
    summary.push(Figures {
        setup,
        rate,
        latency,
        node_cpu: node_cpu.iter().map(|c| per_k(*c)).collect(),
        pg: pg_figures.map(|(c, s, k, _)| (per_k(c), s / workflows, k / workflows)),
    });
    nodes
}

/// Part 2: from node `a`'s answer to a POST until node `b`'s `SubscribeAll`
/// socket shows the run.
async fn cross_node(a: &Node, b: &Node, runs: usize) {
    println!(
        "== Cross-node live updates: {runs} runs posted to {}, watched on {}",
        a.id, b.id
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/api/ws", b.port))
        .await
        .expect("WebSocket handshake");
    ws.send(Message::Text(r#"{"action": "SubscribeAll"}"#.into()))
        .await
        .unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            continue;
        };
        let msg: Value = serde_json::from_str(&text).unwrap();
        if msg["type"] == "Subscribed" {
            break;
        }
    }
    // The watcher: when each run was first seen on B's socket.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        let mut seen = HashSet::new();
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(text) = frame else {
                continue;
            };
            let at = Instant::now();
            let msg: Value = serde_json::from_str(&text).unwrap();
            if let Some(run_id) = msg["run_id"].as_str() {
                if seen.insert(run_id.to_string())
                    && seen_tx.send((run_id.to_string(), at)).is_err()
                {
                    return;
                }
            }
        }
    });
    let http = reqwest::Client::new();
    let body = job();
    let mut answered = HashMap::new();
    for _ in 0..runs {
        let (run_id, at) = post(&http, a, &body).await;
        answered.insert(run_id, at);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut delays = Vec::with_capacity(runs);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while delays.len() < runs {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some((run_id, at))) => {
                if let Some(t) = answered.get(&run_id) {
                    // Signed: B may show a run before A's answer arrived.
                    let ms = if at >= *t {
                        (at - *t).as_secs_f64() * 1e3
                    } else {
                        -((*t - at).as_secs_f64() * 1e3)
                    };
                    delays.push(ms);
                }
            }
            _ => break,
        }
    }
    watcher.abort();
    if delays.len() < runs {
        println!(
            "  ONLY {} of {runs} runs appeared on {}'s socket within 30 s of the last POST",
            delays.len(),
            b.id
        );
    }
    if delays.is_empty() {
        return;
    }
    let early = delays.iter().filter(|d| **d < 0.0).count();
    let p99 = {
        let mut v = delays.clone();
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1]
    };
    println!(
        "  {}'s answer → first message on {}: {}",
        a.id,
        b.id,
        quantiles(delays, "ms")
    );
    if early > 0 {
        println!(
            "  ({early} runs were seen on {} before {}'s answer arrived: negative times)",
            b.id, a.id
        );
    }
    println!(
        "  goal p99 ≤ 200 ms: {}",
        if p99 <= 200.0 { "met" } else { "NOT met" }
    );
}

/// A job whose second step takes a minute and may be retried.
fn slow_job() -> Value {
    json!({"name": "Takeover Bench", "workflow": {
        "steps": [
            {"id": "a", "action": {"agent_task": {"prompt": "a"}}, "simulation": {"latency_ms": [0, 0]}},
            {"id": "slow", "action": {"agent_task": {"prompt": "slow"}},
             "simulation": {"latency_ms": [60000, 60000]},
             "retry_policy": {"max_attempts": 3, "backoff_secs": 0}},
            {"id": "c", "action": {"agent_task": {"prompt": "c"}}, "simulation": {"latency_ms": [0, 0]}}
        ],
        "dependencies": {"slow": ["a"], "c": ["slow"]}
    }, "execute": true})
}

async fn get(http: &reqwest::Client, url: String) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// Part 3: SIGKILL a node with runs in flight; how long until a survivor
/// took each over.
async fn takeover(pg: &Postgres, runs: usize) {
    println!("== Takeover after kill -9: 3 nodes, --lease-secs {LEASE_SECS}, {runs} runs on the killed node");
    let url = pg.database("takeover").await;
    let mut nodes = Vec::new();
    for id in ["a", "b", "c"] {
        nodes.push(Node::start(Some(&url), id).await);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let body = slow_job();
    let mut ids = Vec::with_capacity(runs);
    for _ in 0..runs {
        ids.push(post(&http, &nodes[2], &body).await.0);
    }
    // Until every run is in its slow step, on C.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = |run: &Option<Value>| {
        run.as_ref()
            .is_some_and(|r| r["steps"][1]["status"] == "Running")
    };
    loop {
        let views = futures::future::join_all(
            ids.iter()
                .map(|id| get(&http, nodes[2].url(&format!("/api/runs/{id}")))),
        )
        .await;
        let n = views.iter().filter(|r| running(r)).count();
        if n == runs {
            break;
        }
        if Instant::now() > deadline {
            println!("  ONLY {n} of {runs} runs reached their slow step within 30 s: stopping");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut killed = nodes.pop().unwrap();
    killed.child.start_kill().unwrap();
    let killed_at = Instant::now();
    killed.child.wait().await.unwrap();
    println!(
        "  {runs} runs in their slow step on {}; killed it",
        killed.id
    );

    // Poll a survivor every 50 ms until each run is taken over.
    let survivor = &nodes[0];
    let mut pending: Vec<String> = ids.clone();
    let mut taken: Vec<(f64, String)> = Vec::new();
    let limit = Duration::from_secs_f64(LEASE_SECS + 60.0);
    while !pending.is_empty() && killed_at.elapsed() < limit {
        let round = Instant::now();
        let views = futures::future::join_all(
            pending
                .iter()
                .map(|id| get(&http, survivor.url(&format!("/api/runs/{id}")))),
        )
        .await;
        let at = killed_at.elapsed().as_secs_f64();
        let mut still = Vec::new();
        for (id, view) in pending.into_iter().zip(views) {
            let lost = view.as_ref().is_some_and(|r| {
                r["node"].as_str().is_some_and(|n| n != killed.id)
                    && r["steps"][1]["attempts"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|a| a["error"] == "node lost"))
            });
            match (lost, view) {
                (true, Some(r)) => taken.push((at, r["node"].as_str().unwrap_or("?").to_string())),
                _ => still.push(id),
            }
        }
        pending = still;
        if let Some(rest) = Duration::from_millis(50).checked_sub(round.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    if !pending.is_empty() {
        println!(
            "  {} of {runs} runs NOT taken over {:.0} s after the kill, e.g. {}: {}",
            pending.len(),
            limit.as_secs_f64(),
            pending[0],
            get(&http, survivor.url(&format!("/api/runs/{}", pending[0])))
                .await
                .map_or("no answer".into(), |v| v.to_string())
        );
    }
    if taken.is_empty() {
        return;
    }
    let first = taken.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    let last = taken.iter().map(|t| t.0).fold(0.0, f64::max);
    let mut by: HashMap<&str, usize> = HashMap::new();
    for (_, node) in &taken {
        *by.entry(node.as_str()).or_default() += 1;
    }
    let mut by: Vec<String> = by.into_iter().map(|(n, c)| format!("{c} by {n}")).collect();
    by.sort();
    println!(
        "  kill → taken over (seen on {}, polled every 50 ms): first {first:.2} s, last {last:.2} s; {}",
        survivor.id,
        by.join(", ")
    );
    println!(
        "  goal ≤ lease + 2 s = {:.0} s: {}",
        LEASE_SECS + 2.0,
        if pending.is_empty() && last <= LEASE_SECS + 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(8);
    let runs_each = args.get(1).copied().unwrap_or(300);
    let mut summary = Vec::new();

    drop(throughput(None, "", 1, 1, clients, runs_each, &mut summary).await);
    let pg = Postgres::start().await;
    // (nodes, how many of them the clients talk to): 2 nodes with every
    // client on one is what following the other node's work costs.
    for (n, served) in [(1, 1), (2, 2), (2, 1), (3, 3)] {
        let nodes = throughput(
            Some(&pg),
            &format!("bench{n}_{served}"),
            n,
            served,
            clients,
            runs_each,
            &mut summary,
        )
        .await;
        if n == 3 {
            cross_node(&nodes[0], &nodes[1], 300).await;
        }
        for mut node in nodes {
            let _ = node.child.start_kill();
            let _ = node.child.wait().await;
        }
    }
    takeover(&pg, 30).await;

    println!("== Summary ({clients} clients × {runs_each} runs; CPU s per 1,000 workflows)");
    println!("| setup | workflows/s | submit → Completed | CPU per node | PostgreSQL CPU | statements / commits per workflow |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for f in &summary {
        let cpu: Vec<String> = f.node_cpu.iter().map(|c| format!("{c:.2}")).collect();
        let (pg_cpu, work) = match f.pg {
            Some((c, s, k)) => (format!("{c:.2} s"), format!("{s:.2} / {k:.2}")),
            None => ("—".into(), "—".into()),
        };
        println!(
            "| {} | {:.0} | {} | {} s | {pg_cpu} | {work} |",
            f.setup,
            f.rate,
            f.latency,
            cpu.join(" + ")
        );
    }
}
