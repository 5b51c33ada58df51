//! Old logs keep working: a log written by an earlier release, checked in
//! as its raw rows (`fixtures/log-v1.jsonl`, every event kind), replays
//! into the same API answers it gave then (`fixtures/log-v1-answers.json`).
//! A change to the stored event format that breaks old data fails here.
//!
//! The fixture was written by `write_the_v1_fixture` (ignored; run it only
//! to record a new version's fixture, never to overwrite an old one):
//! `cargo test -p server --test fixture -- --ignored --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{step, TestServer};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

/// The table as the first release created it (the fixture's rows fit it).
const V1_SCHEMA: &str = "CREATE TABLE events (
        seq    INTEGER PRIMARY KEY,
        at     TEXT NOT NULL,
        run_id TEXT,
        kind   TEXT NOT NULL,
        body   TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events (run_id, seq) WHERE run_id IS NOT NULL;";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Answers that depend on when they are asked, not on the log.
fn strip_volatile(path: &str, mut answer: Value) -> Value {
    fn strip(v: &mut Value, keys: &[&str]) {
        match v {
            Value::Object(map) => {
                for k in keys {
                    map.remove(*k);
                }
                map.values_mut().for_each(|v| strip(v, keys));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strip(v, keys)),
            _ => {}
        }
    }
    strip(&mut answer, &["last_updated", "next_fires"]);
    if path.starts_with("/api/metrics") {
        // Process-local series (HTTP, memory, the log's own counters) are
        // not the log's; the engine's are rebuilt from it.
        if let Some(kinds) = answer.as_object_mut() {
            for series in kinds.values_mut() {
                if let Some(list) = series.as_array_mut() {
                    list.retain(|s| {
                        let name = s["name"].as_str().unwrap_or_default();
                        ["workflow_", "step_", "errors_total"]
                            .iter()
                            .any(|p| name.starts_with(p))
                            && s["labels"]["kind"] != "server_error"
                    });
                }
            }
        }
    }
    answer
}

/// The paths whose answers the log decides, for the runs in it.
async fn paths(server: &TestServer) -> Vec<String> {
    let mut paths: Vec<String> = [
        "/api/jobs",
        "/api/runs?limit=500",
        "/api/analytics/workflows",
        "/api/analytics/steps",
        "/api/analytics/traces?limit=200",
        "/api/approvals",
        "/api/routines",
        "/api/alerts?state=all",
        "/api/alerts/history",
        "/api/alerts/rules",
        "/api/metrics",
    ]
    .map(String::from)
    .to_vec();
    let (_, runs) = server.get("/api/runs?limit=500").await;
    for run in runs["runs"].as_array().unwrap() {
        let id = run["run_id"].as_str().unwrap();
        paths.push(format!("/api/runs/{id}"));
        paths.push(format!("/api/analytics/traces/{id}"));
    }
    let (_, workflows) = server.get("/api/analytics/workflows").await;
    for w in workflows["workflows"].as_array().unwrap() {
        let id = w["workflow_id"].as_str().unwrap();
        paths.push(format!("/api/analytics/workflows/{id}"));
        paths.push(format!("/api/analytics/bottlenecks/{id}"));
    }
    paths
}

async fn answers(server: &TestServer) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for path in paths(server).await {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.insert(path.clone(), strip_volatile(&path, body));
    }
    out
}

/// A data folder holding the fixture's rows in a v1 table.
fn restore(rows: &str, data: &Path) {
    let conn = Connection::open(data.join("shiioo.db")).unwrap();
    conn.execute_batch(V1_SCHEMA).unwrap();
    let mut insert = conn
        .prepare("INSERT INTO events (seq, at, run_id, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)")
        .unwrap();
    for line in rows.lines().filter(|l| !l.trim().is_empty()) {
        let row: Value = serde_json::from_str(line).unwrap();
        insert
            .execute(params![
                row["seq"].as_i64().unwrap(),
                row["at"].as_str().unwrap(),
                row["run_id"].as_str(),
                row["kind"].as_str().unwrap(),
                row["body"].as_str().unwrap(),
            ])
            .unwrap();
    }
}

#[tokio::test]
async fn a_log_written_by_the_first_release_replays_into_the_same_answers() {
    let rows = std::fs::read_to_string(fixtures().join("log-v1.jsonl")).unwrap();
    let expected: BTreeMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("log-v1-answers.json")).unwrap(),
    )
    .unwrap();
    // Every kind of event is in it, so every kind's old form is read.
    let kinds: std::collections::BTreeSet<String> = rows
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.len(), 25, "{kinds:?}");

    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    restore(&rows, data.path());
    let server =
        TestServer::start_sqlite_with(server::config::Config::for_tests(data.path()), data).await;
    let got = answers(&server).await;
    for (path, want) in &expected {
        let answer = got
            .get(path)
            .unwrap_or_else(|| panic!("{path} not answered"));
        assert!(
            keeps(want, answer),
            "{path} answers differently:\n  now: {answer}\n  was: {want}"
        );
    }
    assert_eq!(got.len(), expected.len(), "the same paths");
}

/// Whether `now` says everything `was` said: the same values at the same
/// places, objects possibly with fields added since (the API only ever
/// gains fields).
fn keeps(was: &Value, now: &Value) -> bool {
    match (was, now) {
        (Value::Object(was), Value::Object(now)) => was
            .iter()
            .all(|(k, v)| now.get(k).is_some_and(|n| keeps(v, n))),
        (Value::Array(was), Value::Array(now)) => {
            was.len() == now.len() && was.iter().zip(now).all(|(w, n)| keeps(w, n))
        }
        (was, now) => was == now,
    }
}

/// Records the fixture: a server driven through every kind of event, its
/// log dumped as raw rows, and the answers of a server replaying it.
#[tokio::test]
#[ignore = "writes the fixture; run by hand for a new log version"]
async fn write_the_v1_fixture() {
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let config = server::config::Config::for_tests(data.path());
    let server = TestServer::start_sqlite_with(config.clone(), data.clone()).await;
    let instant = |ms: u64| json!({"simulation": {"latency_ms": [ms, ms]}});
    // Completed, with a retry.
    let (_, a) = server
        .post(
            "/api/jobs",
            json!({"name": "Fixture Report", "workflow": {"steps": [
            step("fetch", instant(5)),
            step("analyze", json!({"retry_policy": {"max_attempts": 2, "backoff_secs": 0},
                "simulation": {"latency_ms": [5, 5], "fail_first_attempts": 1}})),
            step("write", instant(5))
        ], "dependencies": {"analyze": ["fetch"], "write": ["analyze"]}}, "execute": true}),
        )
        .await;
    server.wait_for_run(a["run_id"].as_str().unwrap()).await;
    // Failed, its dependant skipped.
    let (_, b) = server
        .post(
            "/api/jobs",
            json!({"name": "Fixture Broken", "workflow": {"steps": [
            step("doomed", json!({"simulation": {"latency_ms": [5, 5], "failure_rate": 1.0}})),
            step("after", instant(5))
        ], "dependencies": {"after": ["doomed"]}}, "execute": true}),
        )
        .await;
    server.wait_for_run(b["run_id"].as_str().unwrap()).await;
    // Cancelled.
    let (_, c) = server
        .post(
            "/api/jobs",
            json!({"name": "Fixture Slow", "workflow": {"steps": [
            step("long", instant(60_000)), step("next", instant(5))
        ], "dependencies": {"next": ["long"]}}, "execute": true}),
        )
        .await;
    let c_run = c["run_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = server
        .post(&format!("/api/runs/{c_run}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202);
    server.wait_for_run(&c_run).await;
    // An alert rule changed, so that the approval below fires it.
    let (status, _) = server
        .put(
            "/api/alerts/rules/pending_approvals",
            json!({"threshold": 0, "for_secs": 0}),
        )
        .await;
    assert_eq!(status, 200);
    // Approvals: one approved, one rejected.
    let gate = json!({"name": "Fixture Gate", "workflow": {"steps": [
        {"id": "gate", "action": {"manual_approval": {"approvers": ["alice", "bob"], "quorum": "majority"}}}
    ]}, "execute": true});
    for decision in ["approve", "reject"] {
        let (_, g) = server.post("/api/jobs", gate.clone()).await;
        let run = g["run_id"].as_str().unwrap().to_string();
        let approval = loop {
            let (_, list) = server.get("/api/approvals?status=pending").await;
            if let Some(a) = list["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["run_id"] == run.as_str())
            {
                break a["approval_id"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        for voter in ["alice", "bob"] {
            let (status, body) = server
                .post(
                    &format!("/api/approvals/{approval}/vote"),
                    json!({"voter": voter, "decision": decision, "comment": format!("{voter} says {decision}")}),
                )
                .await;
            if status == 409 {
                break;
            }
            assert_eq!(status, 200, "{body}");
        }
        server.wait_for_run(&run).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // A routine: created, changed, disabled, enabled, fired, deleted.
    let job_id = a["job_id"].as_str().unwrap();
    let (status, r) = server
        .post(
            "/api/routines",
            json!({"name": "Fixture Tick", "cron": "0 0 1 1 *", "timezone": "UTC", "job_id": job_id}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let routine = r["routine_id"].as_str().unwrap().to_string();
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/routines/{routine}"),
            json!({"cron": "* * * * * *", "timezone": "Europe/Berlin"}),
        ),
        (
            "POST",
            format!("/api/routines/{routine}/disable"),
            json!({}),
        ),
        ("POST", format!("/api/routines/{routine}/enable"), json!({})),
    ] {
        let (status, body) = match method {
            "PATCH" => server.patch(&path, body).await,
            _ => server.post(&path, body).await,
        };
        assert!(status < 300, "{method} {path}: {body}");
    }
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, _) = server
        .patch(
            &format!("/api/routines/{routine}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second routine, kept, and one deleted.
    let (_, kept) = server
        .post(
            "/api/routines",
            json!({"name": "Fixture Kept", "cron": "0 3 * * *", "timezone": "Asia/Tokyo", "job_id": job_id, "enabled": false}),
        )
        .await;
    assert!(kept["routine_id"].is_string());
    let (status, _) = server.delete(&format!("/api/routines/{routine}")).await;
    assert!(status < 300);
    // Interrupted: in flight when the server stops.
    let (_, d) = server
        .post(
            "/api/jobs",
            json!({"name": "Fixture Interrupted", "workflow": {"steps": [
            step("forever", instant(600_000))
        ]}, "execute": true}),
        )
        .await;
    assert!(d["run_id"].is_string());
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown().await;

    // The raw rows, as the table holds them.
    let conn = Connection::open(config.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, at, run_id, kind, body FROM events ORDER BY seq")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |row| {
            Ok(json!({
                "seq": row.get::<_, i64>(0)?,
                "at": row.get::<_, String>(1)?,
                "run_id": row.get::<_, Option<String>>(2)?,
                "kind": row.get::<_, String>(3)?,
                "body": row.get::<_, String>(4)?,
            })
            .to_string())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let kinds: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.len(), 25, "every event kind: {kinds:?}");
    let dir = fixtures();
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = rows.join("\n") + "\n";
    std::fs::write(dir.join("log-v1.jsonl"), &jsonl).unwrap();

    // The answers a server replaying exactly those rows gives.
    let replay = std::sync::Arc::new(tempfile::tempdir().unwrap());
    restore(&jsonl, replay.path());
    let server =
        TestServer::start_sqlite_with(server::config::Config::for_tests(replay.path()), replay)
            .await;
    let answers = answers(&server).await;
    std::fs::write(
        dir.join("log-v1-answers.json"),
        serde_json::to_string_pretty(&answers).unwrap() + "\n",
    )
    .unwrap();
    eprintln!("wrote {} events and {} answers", rows.len(), answers.len());
}
