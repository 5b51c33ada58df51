//! Several servers on one PostgreSQL log are one cluster: each shows the
//! whole of it, a cancel or a vote may arrive at any node, and a node that
//! stops hands its runs to another. (The `kill -9` of a node under load is
//! `cluster_crash.rs`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::postgres::Postgres;
use common::{eventually, step, TestServer};
use serde_json::{json, Value};

async fn node(url: &str, id: &str) -> TestServer {
    node_with(url, id, |_, _| {}).await
}

/// A node of the cluster on `url`, its configuration changed by `f` (given
/// the node's data folder too).
async fn node_with(
    url: &str,
    id: &str,
    f: impl FnOnce(&mut server::config::Config, &std::path::Path),
) -> TestServer {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = server::config::Config::for_tests(data.path());
    config.database_url = Some(url.to_string());
    config.node_id = Some(id.to_string());
    config.lease_secs = 2;
    f(&mut config, data.path());
    TestServer::start_with(config, data).await
}

async fn status_on(server: &TestServer, run_id: &str) -> Option<String> {
    let (status, run) = server.get(&format!("/api/runs/{run_id}")).await;
    (status == 200).then(|| run["status"].as_str().unwrap_or_default().to_string())
}

/// Waits until `server` shows the run `run_id` as `want`.
async fn shows(server: &TestServer, run_id: &str, want: &str) -> Value {
    eventually(&format!("run {run_id} {want}"), async || {
        let (status, run) = server.get(&format!("/api/runs/{run_id}")).await;
        (status == 200 && run["status"] == want).then_some(run)
    })
    .await
}

fn slow_job(name: &str, ms: u64) -> Value {
    json!({
        "name": name,
        "workflow": {
            "steps": [
                step("first", json!({})),
                step("slow", json!({
                    "simulation": {"latency_ms": [ms, ms]},
                    "retry_policy": {"max_attempts": 3, "backoff_secs": 0}
                })),
            ],
            "dependencies": {"slow": ["first"]}
        },
        "execute": true
    })
}

#[tokio::test]
async fn three_nodes_on_one_log_each_show_the_whole_cluster_and_take_requests_for_any_run() {
    let pg = Postgres::start();
    let url = pg.database("cluster").await;
    let a = node(&url, "node-a").await;
    let b = node(&url, "node-b").await;
    let c = node(&url, "node-c").await;
    for (server, id) in [(&a, "node-a"), (&b, "node-b"), (&c, "node-c")] {
        let (_, health) = server.get("/api/health/status").await;
        assert_eq!(health["node_id"], id, "{health}");
        assert_eq!(health["event_log"]["store"], "postgres", "{health}");
    }
    // Health lists the nodes, their leases and the leader, from any node.
    let cluster = eventually("c sees three nodes alive", async || {
        let (_, health) = c.get("/api/health/status").await;
        let nodes = health["cluster"]["nodes"].as_array()?.clone();
        (nodes.len() == 3 && nodes.iter().all(|n| n["alive"] == true))
            .then_some(health["cluster"].clone())
    })
    .await;
    let leader = cluster["leader"].as_str().unwrap_or_default();
    assert!(
        ["node-a", "node-b", "node-c"].contains(&leader),
        "{cluster}"
    );

    // A run submitted to one node shows, live, on the others.
    let mut ws = c.ws().await;
    ws.send_json(json!({"action": "SubscribeAll"})).await;
    ws.next_of_type("Subscribed").await;
    let (status, created) = a.post("/api/jobs", common::guide_job()).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    loop {
        let msg = ws.next_json().await;
        if msg["type"] == "WorkflowUpdate"
            && msg["run_id"] == run_id
            && msg["status"] == "Completed"
        {
            break;
        }
    }
    let on_a = shows(&a, &run_id, "Completed").await;
    let on_b = shows(&b, &run_id, "Completed").await;
    assert_eq!(on_a["steps"], on_b["steps"], "one run, one history");
    assert_eq!(on_a["node"], "node-a", "the run says where it ran: {on_a}");

    // A cancel asked of another node stops the run where it runs.
    let (_, created) = a.post("/api/jobs", slow_job("Slow", 60_000)).await;
    let slow = created["run_id"].as_str().unwrap().to_string();
    eventually("the slow step runs", async || {
        let (_, run) = b.get(&format!("/api/runs/{slow}")).await;
        (run["steps"][1]["status"] == "Running").then_some(())
    })
    .await;
    let (status, body) = b.post(&format!("/api/runs/{slow}/cancel"), json!({})).await;
    assert!(status == 200 || status == 202, "{status}: {body}");
    shows(&a, &slow, "Cancelled").await;
    shows(&c, &slow, "Cancelled").await;

    // A vote cast at a node that does not run the run counts, once, and its
    // answer is the approval's resolution.
    let (_, created) = a
        .post(
            "/api/jobs",
            json!({
                "name": "Sign-off",
                "workflow": {
                    "steps": [{"id": "sign_off", "action": {"manual_approval": {"approvers": ["alice", "bob"], "quorum": "unanimous"}}}],
                    "dependencies": {}
                },
                "execute": true
            }),
        )
        .await;
    let signed = created["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();
    let approval = eventually("the approval is pending on c", async || {
        let (_, list) = c.get("/api/approvals?status=pending").await;
        list["approvals"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .find(|a| a["run_id"] == signed.as_str())
            .cloned()
    })
    .await;
    let id = approval["approval_id"].as_str().unwrap();
    let vote = |voter: &str| json!({"voter": voter, "decision": "approve"});
    let (status, body) = b
        .post(&format!("/api/approvals/{id}/vote"), vote("alice"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("pending")),
        "{body}"
    );
    // The vote is in c's model before c is asked again.
    eventually("alice's vote shows on c", async || {
        let (_, a) = c.get(&format!("/api/approvals/{id}")).await;
        (a["votes"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    let (status, again) = c
        .post(&format!("/api/approvals/{id}/vote"), vote("alice"))
        .await;
    assert_eq!(status, 409, "one vote per voter, wherever cast: {again}");
    let (status, body) = c
        .post(&format!("/api/approvals/{id}/vote"), vote("bob"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    shows(&a, &signed, "Completed").await;
    shows(&b, &signed, "Completed").await;

    // Every node answers the same for the cluster.
    let totals = |h: &Value| {
        json!([
            h["total_workflow_executions"],
            h["successful_executions"],
            h["active_workflows"],
            h["pending_approvals"]
        ])
    };
    let views = [
        (&a, "/api/analytics/workflows"),
        (&a, "/api/analytics/steps"),
    ];
    for (_, path) in views {
        let want = a.get(path).await.1;
        for other in [&b, &c] {
            let got = eventually(&format!("{path} agrees"), async || {
                let got = other.get(path).await.1;
                (got == want).then_some(got)
            })
            .await;
            assert_eq!(got, want);
        }
    }
    let want = totals(&a.get("/api/health/status").await.1);
    // Two runs finished (the cancelled one counts apart), none is left.
    assert_eq!(want, json!([2, 2, 0, 0]));
    for other in [&b, &c] {
        assert_eq!(totals(&other.get("/api/health/status").await.1), want);
    }

    // The JSON metrics are the cluster's on any node; what Prometheus
    // scrapes is each node's own work, so that summing the nodes is right.
    let successes = |m: &Value| {
        m["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["labels"]["status"] == "success")
            .map(|c| c["value"].clone())
    };
    for server in [&a, &b, &c] {
        let (_, m) = server
            .get("/api/metrics?name=workflow_executions_total")
            .await;
        assert_eq!(successes(&m), Some(json!(2)), "{m}");
    }
    let scraped = |text: String| {
        text.lines()
            .find(|l| l.starts_with("workflow_executions_total{status=\"success\"}"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(scraped(a.text("/metrics").await).as_deref(), Some("2"));
    assert_eq!(scraped(b.text("/metrics").await).as_deref(), Some("0"));
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn a_node_that_stops_hands_its_runs_to_another_which_finishes_them() {
    let pg = Postgres::start();
    let url = pg.database("handover").await;
    let a = node(&url, "node-a").await;
    let b = node(&url, "node-b").await;
    let mut runs = Vec::new();
    for i in 0..10 {
        let (status, created) = a
            .post("/api/jobs", slow_job(&format!("Slow {i}"), 1_500))
            .await;
        assert_eq!(status, 201, "{created}");
        runs.push(created["run_id"].as_str().unwrap().to_string());
    }
    eventually("a's slow steps run", async || {
        let (_, run) = a.get(&format!("/api/runs/{}", runs[9])).await;
        (run["steps"][1]["status"] == "Running").then_some(())
    })
    .await;
    a.shutdown().await;
    // b takes them over at once (a's lease is given up at its stop) and
    // runs them to the end: the attempt a stopped is retried.
    for run_id in &runs {
        let run = tokio::time::timeout(Duration::from_secs(20), shows(&b, run_id, "Completed"))
            .await
            .unwrap_or_else(|_| panic!("run {run_id} on b: {:?}", ()));
        assert_eq!(run["node"], "node-b", "{run}");
        let attempts = run["steps"][1]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{run}");
        assert_eq!(attempts[0]["error"], "node stopped", "{run}");
    }
    assert_eq!(status_on(&b, &runs[0]).await.as_deref(), Some("Completed"));
    b.shutdown().await;
}

#[tokio::test]
async fn an_outage_of_the_database_longer_than_the_lease_takes_no_node_over() {
    let pg = Postgres::start();
    let url = pg.database("outage").await;
    let a = node(&url, "node-a").await;
    let b = node(&url, "node-b").await;
    eventually("both nodes renew their leases", async || {
        let (_, health) = a.get("/api/health/status").await;
        let nodes = health["cluster"]["nodes"].as_array()?.clone();
        (nodes.len() == 2).then_some(())
    })
    .await;
    // Twice the lease (2 s) without the database: every lease lapses.
    pg.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.start_again();
    // Back, each renews its own before any may take another's over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for server in [&a, &b] {
        let health = eventually("health is ok again", async || {
            let (_, health) = server.get("/api/health/status").await;
            (health["event_log"]["status"] == "ok").then_some(health)
        })
        .await;
        let nodes = health["cluster"]["nodes"].as_array().unwrap();
        assert!(
            nodes
                .iter()
                .all(|n| n["alive"] == true && n["taken_by"].is_null()),
            "{health}"
        );
        let (status, created) = server.post("/api/jobs", common::guide_job()).await;
        assert_eq!(status, 201, "{created}");
        shows(server, created["run_id"].as_str().unwrap(), "Completed").await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_node_with_no_free_slot_has_another_run_its_new_runs() {
    let pg = Postgres::start();
    let url = pg.database("placement").await;
    let busy = node_with(&url, "busy", |config, _| config.max_concurrent_steps = 1).await;
    let idle = node(&url, "idle").await;
    eventually("busy knows idle's free slots", async || {
        let (_, health) = busy.get("/api/health/status").await;
        let nodes = health["cluster"]["nodes"].as_array()?.clone();
        nodes
            .iter()
            .any(|n| n["node_id"] == "idle" && n["free_slots"].as_u64() > Some(0))
            .then_some(())
    })
    .await;
    let (_, first) = busy.post("/api/jobs", slow_job("Hog", 30_000)).await;
    let hog = first["run_id"].as_str().unwrap().to_string();
    eventually("busy's one slot is taken", async || {
        let (_, run) = busy.get(&format!("/api/runs/{hog}")).await;
        (run["steps"][1]["status"] == "Running").then_some(())
    })
    .await;
    // Busy has no slot left: the next run goes to idle, which runs it.
    let (status, next) = busy.post("/api/jobs", common::guide_job()).await;
    assert_eq!(status, 201, "{next}");
    let run_id = next["run_id"].as_str().unwrap();
    let run = shows(&idle, run_id, "Completed").await;
    assert_eq!(run["node"], "idle", "{run}");
    let seen = shows(&busy, run_id, "Completed").await;
    assert_eq!(seen["steps"], run["steps"]);
    busy.shutdown().await;
    idle.shutdown().await;
}

#[tokio::test]
async fn a_routine_fires_once_per_scheduled_time_across_the_cluster() {
    let pg = Postgres::start();
    let url = pg.database("routines").await;
    let a = node(&url, "node-a").await;
    let b = node(&url, "node-b").await;
    let mut job = common::guide_job();
    job["execute"] = json!(false);
    let (_, created) = a.post("/api/jobs", job).await;
    let job_id = created["job_id"].as_str().unwrap();
    let (status, routine) = b
        .post(
            "/api/routines",
            json!({"name": "Every second", "cron": "* * * * * *", "job_id": job_id}),
        )
        .await;
    assert_eq!(status, 201, "{routine}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let id = routine["routine_id"].as_str().unwrap();
    let (status, _) = a
        .post(&format!("/api/routines/{id}/disable"), json!({}))
        .await;
    assert!(status < 300, "{status}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT v, body, node FROM events WHERE kind = 'RoutineFired' ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let mut times = Vec::new();
    let mut nodes = std::collections::HashSet::new();
    for row in &rows {
        let (v, body, node): (i32, &str, Option<String>) = (row.get(0), row.get(1), row.get(2));
        if let server::events::EventKind::RoutineFired { scheduled_for, .. } =
            server::store::format::decode(v as u32, body).unwrap()
        {
            times.push(scheduled_for);
        }
        nodes.insert(node.unwrap_or_default());
    }
    assert!(times.len() >= 2, "it fired: {times:?}");
    let mut once = times.clone();
    once.dedup();
    assert_eq!(once, times, "each scheduled time fired once");
    assert_eq!(nodes.len(), 1, "by the leader alone: {nodes:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn alert_rules_are_judged_by_one_node_and_every_node_shows_the_alert() {
    let pg = Postgres::start();
    let url = pg.database("alerts").await;
    let start = async |id: &str| {
        node_with(&url, id, |config, dir| {
            let rules = dir.join("alerts.toml");
            std::fs::write(
                &rules,
                "[rules.success_rate]\nwindow_secs = 600\nfor_secs = 1\nmin_executions = 3\n",
            )
            .unwrap();
            config.alert_rules = Some(rules);
            config.alert_eval_ms = 50;
        })
        .await
    };
    let a = start("node-a").await;
    let b = start("node-b").await;
    let failing = json!({
        "name": "Doomed",
        "workflow": {"steps": [step("x", json!({"simulation": {"failure_rate": 1.0}}))], "dependencies": {}},
        "execute": true
    });
    for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (status, created) = server.post("/api/jobs", failing.clone()).await;
        assert_eq!(status, 201, "{i}: {created}");
        shows(server, created["run_id"].as_str().unwrap(), "Failed").await;
    }
    for server in [&a, &b] {
        eventually("the alert fires, seen on each node", async || {
            let (_, active) = server.get("/api/alerts").await;
            (active["alerts"][0]["state"] == "firing").then_some(())
        })
        .await;
    }
    // Evaluated on both for a while: one node wrote each transition, once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT node, count(*) FROM events WHERE kind = 'AlertChanged' GROUP BY node",
            &[],
        )
        .await
        .unwrap();
    let by: Vec<(Option<String>, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(by.len(), 1, "one node judges: {by:?}");
    assert_eq!(by[0].1, 2, "pending, then firing, once each: {by:?}");
    a.shutdown().await;
    b.shutdown().await;
}
