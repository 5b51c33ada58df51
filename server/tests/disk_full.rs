//! A log that cannot be written, on a really full file system: a small
//! tmpfs mounted by the test (as root; skipped with a message elsewhere).
//! Changes are refused with a 503 naming the cause, nothing acknowledged is
//! lost, reads keep working, health and a counter say so, the server
//! recovers by itself when space returns, and a shutdown ends in bounded
//! time whatever the disk does.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{step, TestServer};
use serde_json::{json, Value};

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system but for about `leave` bytes.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let free = fs_free(dir);
    let size = free.saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    filler
}

fn fs_free(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

fn job(i: usize) -> Value {
    json!({"name": format!("Disk Test {}", i % 3), "workflow": {"steps": [
        step("a", json!({"action": {"agent_task": {"prompt": "p".repeat(400)}}})),
        step("b", json!({}))
    ], "dependencies": {"b": ["a"]}}, "execute": true})
}

#[tokio::test]
async fn a_full_disk_refuses_changes_loses_nothing_acknowledged_and_recovers() {
    if common::postgres::suite_server().is_some() {
        // The SQLite log's disk; PostgreSQL's outage is tests/postgres.rs.
        eprintln!("skipped: the suite runs on PostgreSQL, whose disk this test cannot fill");
        return;
    }
    let Some(fs) = Tmpfs::mount("4m") else {
        eprintln!(
            "skipped: cannot mount a tmpfs here (needs root); the disk-full test did not run"
        );
        return;
    };
    let data = fs.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let holder = Arc::new(tempfile::tempdir().unwrap());
    let mut config = server::config::Config::for_tests(&data);
    config.shutdown_timeout_secs = 2;
    let server = TestServer::start_with(config.clone(), holder.clone()).await;
    let filler = fill(fs.path(), 96 * 1024);

    // Submit until the log refuses: every 201 is a run that exists.
    let mut acknowledged: Vec<String> = Vec::new();
    let mut refusal = None;
    for i in 0..20_000 {
        let (status, body) = server.post("/api/jobs", job(i)).await;
        match status {
            201 => acknowledged.push(body["run_id"].as_str().unwrap().to_string()),
            503 => {
                refusal = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let refusal = refusal.expect("the disk filled up");
    assert_eq!(refusal["error"], "log_unavailable", "{refusal}");
    assert!(
        refusal["message"].as_str().unwrap().contains("full"),
        "the cause is named: {refusal}"
    );
    assert!(!acknowledged.is_empty());
    // Further changes are refused at once, of every kind.
    let (status, _) = server.post("/api/jobs", job(0)).await;
    assert_eq!(status, 503);
    let (status, _) = server
        .put(
            "/api/alerts/rules/pending_approvals",
            json!({"threshold": 7}),
        )
        .await;
    assert_eq!(status, 503);
    // Reads keep working; health and the counter say what is wrong.
    let (status, health) = server.get("/api/health/status").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "critical", "{health}");
    assert_eq!(health["event_log"]["status"], "failing", "{health}");
    assert!(health["event_log"]["error"]
        .as_str()
        .unwrap()
        .contains("full"));
    let (status, runs) = server.get("/api/runs?limit=5").await;
    assert_eq!(status, 200, "{runs}");
    let (_, metrics) = server
        .get("/api/metrics?name=event_log_write_errors_total")
        .await;
    assert!(
        metrics["counters"][0]["value"].as_u64().unwrap() > 0,
        "{metrics}"
    );

    // Space returns: the server recovers by itself.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, health) = server.get("/api/health/status").await;
        if health["event_log"]["status"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = server.post("/api/jobs", job(1)).await;
    assert_eq!(status, 201, "{body}");
    acknowledged.push(body["run_id"].as_str().unwrap().to_string());

    // Full again, then stop: the shutdown ends within its deadline even
    // though the last events cannot be written.
    let filler = fill(fs.path(), 16 * 1024);
    let mut refused = false;
    for i in 0..20_000 {
        let (status, body) = server.post("/api/jobs", job(i)).await;
        match status {
            201 => acknowledged.push(body["run_id"].as_str().unwrap().to_string()),
            _ => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the disk filled up again");
    let (_, health) = server.get("/api/health/status").await;
    assert!(
        health["event_log"]["backlog"].as_u64().unwrap() > 0,
        "{health}"
    );
    let stopping = Instant::now();
    server.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        stopping.elapsed()
    );

    // After a restart with room again, every acknowledged run is there.
    std::fs::remove_file(&filler).unwrap();
    let server = TestServer::start_with(config, holder).await;
    for run_id in &acknowledged {
        let (status, run) = server.get(&format!("/api/runs/{run_id}")).await;
        assert_eq!(status, 200, "acknowledged run {run_id} was lost: {run}");
    }
    server.shutdown().await;
    drop(fs);
}
