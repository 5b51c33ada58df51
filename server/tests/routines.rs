//! Contract tests of routines over real HTTP.

mod common;

use std::time::Duration;

use common::{guide_job, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn a_routine_fires_on_schedule_and_disabling_stops_it() {
    let server = TestServer::start().await;
    let mut job = guide_job();
    job["execute"] = json!(false);
    let (_, created) = server.post("/api/jobs", job).await;
    let job_id = created["job_id"].as_str().unwrap();

    let (status, body) = server
        .post(
            "/api/routines",
            json!({"name": "Every second", "cron": "61 * * * * *", "job_id": job_id}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("cron")),
        "{body}"
    );
    let (status, body) = server
        .post("/api/routines", json!({"name": "x", "cron": "* * * * *", "timezone": "Nowhere/Atlantis", "job_id": job_id}))
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("timezone")));

    let (status, routine) = server
        .post("/api/routines", json!({"name": "Every second", "cron": "* * * * * *", "timezone": "Europe/Berlin", "job_id": job_id}))
        .await;
    assert_eq!(status, 201, "{routine}");
    let id = routine["routine_id"].as_str().unwrap().to_string();
    assert_eq!(routine["next_fires"].as_array().unwrap().len(), 5);
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(
        (
            health["active_routines"].as_u64(),
            health["total_routines"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // It fires, and its runs show in the analytics.
    let mut fired = Value::Null;
    for _ in 0..100 {
        let (_, r) = server.get(&format!("/api/routines/{id}")).await;
        if r["history"].as_array().unwrap().len() >= 2 {
            fired = r;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history = fired["history"]
        .as_array()
        .expect("the routine fired twice within 10 s");
    let first_run = history.last().unwrap()["run_id"].as_str().unwrap();
    server.wait_for_run(first_run).await;
    let (_, wf) = server
        .get("/api/analytics/workflows/monthly_report_generation")
        .await;
    assert!(wf["execution_count"].as_u64().unwrap() >= 1, "{wf}");

    let (status, r) = server
        .post(&format!("/api/routines/{id}/disable"), json!({}))
        .await;
    assert_eq!((status, r["enabled"].as_bool()), (200, Some(false)));
    assert!(r["next_fires"].as_array().unwrap().is_empty());
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["active_routines"], 0);
    let count = r["history"].as_array().unwrap().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, later) = server.get(&format!("/api/routines/{id}")).await;
    assert_eq!(
        later["history"].as_array().unwrap().len(),
        count,
        "a disabled routine does not fire"
    );

    let (status, patched) = server
        .patch(
            &format!("/api/routines/{id}"),
            json!({"cron": "0 0 * * *", "name": "Nightly"}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["name"].as_str(), patched["cron"].as_str()),
        (Some("Nightly"), Some("0 0 * * *"))
    );
    let (status, _) = server.delete(&format!("/api/routines/{id}")).await;
    assert_eq!(status, 204);
    let (status, _) = server.get(&format!("/api/routines/{id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn routines_persist_across_a_restart() {
    let server = TestServer::start().await;
    let (status, routine) = server
        .post(
            "/api/routines",
            json!({"name": "Nightly Report", "cron": "0 3 * * *", "timezone": "America/New_York", "workflow": guide_job()["workflow"], "enabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{routine}");
    let id = routine["routine_id"].as_str().unwrap().to_string();
    let server = server.restart().await;
    let (status, after) = server.get(&format!("/api/routines/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(after["next_fires"], routine["next_fires"]);
    assert_eq!(after["workflow_id"], "nightly_report");
}
