//! The PostgreSQL event log, on a real PostgreSQL (Debian's, started by the
//! test in a folder of its own): events and the index as SQLite keeps them,
//! migrations that nodes starting together run once, and a database that
//! goes away under load and comes back.

mod common;

use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use common::postgres::Postgres;
use common::{step, TestServer};
use serde_json::{json, Value};
use server::events::{Event, EventKind};
use server::store::{EventLog, PostgresLog};
use ulid::Ulid;

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        at: Utc::now().trunc_subsecs(6),
        kind,
    }
}

/// Runs `f` off the async runtime, as the server's callers of the store do.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn events_go_in_and_come_back_as_they_were_and_servers_appending_at_once_are_numbered_in_commit_order(
) {
    let pg = Postgres::start();
    let url = pg.database("log").await;
    let run_id = Ulid::new();
    let events = vec![
        event(1, EventKind::RunStarted { run_id }),
        event(
            2,
            EventKind::RunCompleted {
                run_id,
                duration_secs: 1.5,
            },
        ),
    ];
    let (seen, count, of_run, one) = blocking({
        let (url, events) = (url.clone(), events.clone());
        move || {
            let mut log = PostgresLog::connect(&url).unwrap();
            log.append(&events.iter().collect::<Vec<_>>()).unwrap();
            // Reconnected, as after a restart.
            let mut log = PostgresLog::connect(&url).unwrap();
            let mut seen = Vec::new();
            let count = log.replay(&mut |e| seen.push(e)).unwrap();
            let of_run = log.run_events(&run_id.to_string()).unwrap();
            let one = log.event(2).unwrap();
            (seen, count, of_run, one)
        }
    })
    .await;
    assert_eq!(count, 2);
    assert_eq!(seen, events);
    assert_eq!(of_run, events);
    assert_eq!(one.as_ref(), Some(&events[1]));

    // Two servers append at once, each numbering its events its own way:
    // the log numbers them in commit order, one batch after another.
    let (a_first, b_first, stored) = blocking(move || {
        let mut a = PostgresLog::connect_as(&url, "node-a").unwrap();
        let mut b = PostgresLog::connect_as(&url, "node-b").unwrap();
        let started = |seq| event(seq, EventKind::RunStarted { run_id });
        let a_first = a.append(&[&started(3), &started(4)]).unwrap();
        let b_first = b.append(&[&started(3)]).unwrap();
        let mut stored = Vec::new();
        a.replay(&mut |e| stored.push(e.seq)).unwrap();
        (a_first, b_first, stored)
    })
    .await;
    assert_eq!((a_first, b_first), (3, 5));
    assert_eq!(stored, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn each_event_says_which_server_wrote_it_and_followers_read_in_commit_order() {
    let pg = Postgres::start();
    let url = pg.database("follow").await;
    let run_id = Ulid::new();
    let read = blocking(move || {
        let mut a = PostgresLog::connect_as(&url, "node-a").unwrap();
        let mut b = PostgresLog::connect_as(&url, "node-b").unwrap();
        let started = |seq| event(seq, EventKind::RunStarted { run_id });
        let (e1, e2, e3) = (started(1), started(2), started(3));
        a.append(&[&e1, &e2]).unwrap();
        b.append(&[&e3]).unwrap();
        let all = a.read_after(0, 10).unwrap();
        let tail = b.read_after(2, 10).unwrap();
        let page = b.read_after(0, 2).unwrap();
        (all, tail, page)
    })
    .await;
    let (all, tail, page) = read;
    let seen = |v: &[(Event, Option<String>)]| {
        v.iter()
            .map(|(e, node)| (e.seq, node.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen(&all),
        [
            (1, "node-a".into()),
            (2, "node-a".into()),
            (3, "node-b".into())
        ]
    );
    assert_eq!(seen(&tail), [(3, "node-b".to_string())]);
    assert_eq!(seen(&page).len(), 2, "at most the limit");
}

#[tokio::test]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let pg = Postgres::start();
    let url = pg.database("together").await;
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresLog::connect(&url).map(|_| ()))
        })
        .collect();
    for node in nodes {
        node.join().unwrap().expect("every node starts");
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query("SELECT version FROM shiioo_schema ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4], "each migration once");
    client
        .execute("INSERT INTO shiioo_schema (version) VALUES (99)", &[])
        .await
        .unwrap();
    let refused = blocking(move || PostgresLog::connect(&url).err())
        .await
        .expect("a newer schema is refused");
    assert!(refused.0.contains("newer Shiioo"), "{refused}");
}

#[tokio::test]
async fn a_second_server_under_the_same_node_id_is_refused_plainly() {
    let pg = Postgres::start();
    let url = pg.database("one_id").await;
    let config = |dir: &std::path::Path| {
        let mut config = server::config::Config::for_tests(dir);
        config.database_url = Some(url.clone());
        config.node_id = Some("twin".into());
        config
    };
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let first = TestServer::start_with(config(data.path()), data.clone()).await;
    let other = tempfile::tempdir().unwrap();
    let refused = server::Server::bind(config(other.path()))
        .await
        .err()
        .expect("the second server does not start");
    assert!(
        refused
            .to_string()
            .contains("another Shiioo server runs as node \"twin\""),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("backend pid"),
        "it names the holder: {refused}"
    );
    // The first goes on.
    let (status, body) = first.post("/api/jobs", job(0)).await;
    assert_eq!(status, 201, "{body}");
    first.shutdown().await;
}

fn job(i: usize) -> Value {
    json!({"name": format!("Outage {}", i % 3), "workflow": {"steps": [
        step("a", json!({})),
        step("b", json!({}))
    ], "dependencies": {"b": ["a"]}}, "execute": true})
}

/// Waits until health's event log says `status`; the health then.
async fn log_status(server: &TestServer, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = server.get("/api/health/status").await;
        if health["event_log"]["status"] == status {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "event log never {status}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_database_that_goes_away_under_load_refuses_changes_loses_nothing_and_is_caught_up_with()
{
    let pg = Postgres::start();
    let data = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut config = server::config::Config::for_tests(data.path());
    config.database_url = Some(pg.database("outage").await);
    let server = TestServer::start_with(config.clone(), data.clone()).await;
    let mut ws = server.ws().await;
    ws.send_json(json!({"action": "SubscribeHealth"})).await;
    assert_eq!(ws.next_of_type("Subscribed").await["type"], "Subscribed");

    // Clients submit all along; every 201 is a run that must exist.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, url, stop) = (server.http.clone(), server.url("/api/jobs"), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
            let mut i = c;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 4;
                let Ok(resp) = http.post(&url).json(&job(i)).send().await else {
                    continue;
                };
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                match status {
                    201 => acknowledged.push(body["run_id"].as_str().unwrap().to_string()),
                    503 => {
                        refused.push(body);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("{other}: {body}"),
                }
            }
            (acknowledged, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.kill();

    let health = log_status(&server, "failing").await;
    assert_eq!(health["status"], "critical", "{health}");
    assert!(
        health["event_log"]["error"].as_str().unwrap().len() > 10,
        "{health}"
    );
    // WebSocket clients are told (after the updates of the runs before).
    let mut told = false;
    for _ in 0..10_000 {
        if ws.next_of_type("HealthUpdate").await["status"] == "critical" {
            told = true;
            break;
        }
    }
    assert!(told, "health's subscribers hear of the outage");
    // Reads serve the last state.
    let (status, runs) = server.get("/api/runs?limit=5").await;
    assert_eq!(status, 200, "{runs}");
    let (status, refusal) = server.post("/api/jobs", job(0)).await;
    assert_eq!(status, 503, "{refusal}");
    assert_eq!(refusal["error"], "log_unavailable", "{refusal}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    pg.start_again();
    log_status(&server, "ok").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    for c in clients {
        let (a, r) = c.await.unwrap();
        acknowledged.extend(a);
        refused.extend(r);
    }
    assert!(!refused.is_empty(), "some submissions met the outage");
    for r in &refused {
        assert_eq!(r["error"], "log_unavailable", "{r}");
    }
    let (status, body) = server.post("/api/jobs", job(1)).await;
    assert_eq!(status, 201, "changes are taken again: {body}");
    acknowledged.push(body["run_id"].as_str().unwrap().to_string());

    // The server took its node's lock again with its new connections: a
    // second one under its node id is still refused.
    let other = tempfile::tempdir().unwrap();
    let mut second = server::config::Config::for_tests(other.path());
    second.database_url = config.database_url.clone();
    let second = server::Server::bind(second)
        .await
        .err()
        .expect("a second server is refused");
    assert!(
        second
            .to_string()
            .contains("another Shiioo server runs as node"),
        "{second}"
    );

    // Everything acknowledged is in the database: a new process reads it.
    server.shutdown().await;
    let server = TestServer::start_with(config, data).await;
    for run_id in &acknowledged {
        let (status, run) = server.get(&format!("/api/runs/{run_id}")).await;
        assert_eq!(status, 200, "acknowledged run {run_id} was lost: {run}");
    }
    eprintln!(
        "{} runs acknowledged, {} submissions refused during the outage",
        acknowledged.len(),
        refused.len()
    );
    server.shutdown().await;
}
