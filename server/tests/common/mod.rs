//! Starts a real Shiioo server on a free loopback port for contract tests, and
//! talks to it over HTTP and WebSocket like any client would.

#![allow(dead_code)] // each test file uses a different part of this

pub mod postgres;

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use server::config::Config;
use server::Server;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

/// A loopback port nothing listens on now (for a program the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it gives a value, for at most 30 s.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A program the test runs beside the server (Prometheus, Alertmanager),
/// its log in `dir/<name>.log`, killed when dropped; returned once
/// `ready_url` answers 2xx.
pub async fn start_program(
    program: &std::path::Path,
    args: &[String],
    dir: &std::path::Path,
    ready_url: &str,
) -> tokio::process::Child {
    let name = program.file_name().unwrap().to_string_lossy().into_owned();
    let log_path = dir.join(format!("{name}.log"));
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(ready_url).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never got ready; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The engine behind the API, for benchmarks that drive it directly.
    pub engine: server::engine::Engine,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The server's data folder; removed when the server is dropped.
    pub data: std::sync::Arc<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::start_with(Config::for_tests(data.path()), data).await
    }

    /// Starts a server with `config`; its log is in PostgreSQL when the
    /// suite runs there (`scripts/test.sh`), a database per data folder.
    pub async fn start_with(mut config: Config, data: std::sync::Arc<tempfile::TempDir>) -> Self {
        if let (None, Some(server)) = (&config.database_url, postgres::suite_server()) {
            config.database_url = Some(postgres::database_for(&server, &config.data_dir).await);
        }
        Self::start_sqlite_with(config, data).await
    }

    /// A server whose log is the SQLite file in its data folder whatever
    /// the suite runs on: for tests of that file itself (backups, fixtures
    /// of old releases' logs).
    pub async fn start_sqlite() -> Self {
        let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::start_sqlite_with(Config::for_tests(data.path()), data).await
    }

    /// `start_sqlite` with `config`.
    pub async fn start_sqlite_with(
        config: Config,
        data: std::sync::Arc<tempfile::TempDir>,
    ) -> Self {
        let server = Server::bind(config).await.expect("bind a free port");
        let addr = server.local_addr().unwrap();
        let engine = server.state().engine.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            engine,
            // A hung request fails the test instead of hanging the suite.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop: Some(stop),
            task: Some(task),
            data,
        }
    }

    /// Stops the server gracefully (its log flushed) and waits until it has.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task ends cleanly");
        }
    }

    /// A new server on the same data folder, as after a restart.
    pub async fn restart(self) -> Self {
        let data = self.data.clone();
        self.shutdown().await;
        Self::start_with(Config::for_tests(data.path()), data).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// A plain-text answer (Prometheus text, YAML), as a scraper asks for it.
    pub async fn text(&self, path: &str) -> String {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.text().await.expect("a text body")
    }

    /// A dashboard page as a browser asks for it (`/metrics` answers
    /// Prometheus otherwise): its status and HTML.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET a page");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("a page body"))
    }

    /// Any request, as `bearer` if given, with a JSON body if given: its
    /// status and JSON answer (`null` when it has none).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PATCH, path, None, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PUT, path, None, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, path, None, None)
            .await
    }

    /// Polls `GET /api/runs/{run_id}` until the run has finished; panics after 20 s.
    pub async fn wait_for_run(&self, run_id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, run) = self.get(&format!("/api/runs/{run_id}")).await;
            assert_eq!(status, 200, "{run}");
            if !matches!(run["status"].as_str(), Some("Pending" | "Running")) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id} did not finish: {run}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn ws(&self) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", self.addr))
            .await
            .expect("WebSocket handshake");
        Ws { stream }
    }
}

/// A simulated agent step `id` with `extra` fields (retry policy, simulation, …).
pub fn step(id: &str, extra: Value) -> Value {
    let mut s = serde_json::json!({"id": id, "name": id, "role": "worker", "action": {"agent_task": {"prompt": format!("do {id}")}}});
    s.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    s
}

/// The job of the guide's "Complete Observability Example", step 1.
pub fn guide_job() -> Value {
    serde_json::json!({
        "name": "Monthly Report Generation",
        "workflow": {
            "steps": [
                {"id": "fetch_data", "name": "Fetch Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Fetch monthly data"}}},
                {"id": "analyze_data", "name": "Analyze Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Analyze the data"}}},
                {"id": "generate_charts", "name": "Generate Charts", "role": "visualization_agent", "action": {"agent_task": {"prompt": "Create visualizations"}}},
                {"id": "create_report", "name": "Create Report", "role": "report_writer", "action": {"agent_task": {"prompt": "Write final report"}}}
            ],
            "dependencies": {
                "analyze_data": ["fetch_data"],
                "generate_charts": ["analyze_data"],
                "create_report": ["generate_charts"]
            }
        },
        "execute": true
    })
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next JSON message, skipping control frames; panics after 5 s.
    pub async fn next_json(&mut self) -> Value {
        let deadline = Duration::from_secs(5);
        loop {
            let frame = tokio::time::timeout(deadline, self.stream.next())
                .await
                .expect("a message within 5 s")
                .expect("the connection is open")
                .expect("a valid frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message of the given `type`, skipping others (e.g. heartbeats).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let msg = self.next_json().await;
            if msg["type"] == kind {
                return msg;
            }
        }
    }
}

/// Validates each `(JSON pointer of a schema in doc, instance)` with
/// `jsonschema_rs` (schemathesis's validator, in the test venv), the
/// schema's `$ref`s resolved in `doc`: the problems found, one a line.
pub fn schema_problems(doc: &Value, checks: &[(String, Value)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("checks.json");
    std::fs::write(
        &input,
        serde_json::json!({"doc": doc, "checks": checks}).to_string(),
    )
    .unwrap();
    let python = std::env::var("SHIIOO_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r##"
import json, sys, urllib.parse, jsonschema_rs
data = json.load(open(sys.argv[1]))
doc = data["doc"]
for pointer, instance in data["checks"]:
    schema = dict(doc, **{"$ref": "#" + urllib.parse.quote(pointer, safe="/~")})
    for error in jsonschema_rs.validator_for(schema).iter_errors(instance):
        print(f"{pointer} {json.dumps(instance)[:200]}: {str(error).splitlines()[0]}")
"##;
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}; scripts/setup.sh makes the venv"));
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}
