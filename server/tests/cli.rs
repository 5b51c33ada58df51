//! The command-line client (`shiioo submit|runs|trace|tail|backup`), the
//! real binary against a real server: through a pseudo-terminal (util-linux's
//! `script`) as a person sees it, and with `--json` as a script reads it.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{eventually, guide_job, step, TestServer};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_shiioo");

fn job_file(dir: &Path, name: &str, job: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, job.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

/// The client run to its end, off the test's runtime.
async fn shiioo(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("SHIIOO_URL")
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text without terminal escape sequences (colours, cursor moves).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// A job whose steps take long enough for live progress to show.
fn slow_guide_job() -> Value {
    let mut job = guide_job();
    for s in job["workflow"]["steps"].as_array_mut().unwrap() {
        s["simulation"] = json!({"latency_ms": [150, 250]});
    }
    job
}

#[tokio::test]
async fn submit_watch_draws_live_progress_and_the_waterfall_in_a_terminal() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = job_file(dir.path(), "job.json", &slow_guide_job());
    let command = format!(
        "stty cols 120 rows 40; exec {BIN} submit {file} --watch --url {}",
        server.url("")
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux) runs")
    })
    .await
    .unwrap();
    let raw = stdout(&out);
    assert!(out.status.success(), "exit {:?}: {raw}", out.status);
    // Colour and redraws: it was drawn for a terminal.
    assert!(raw.contains("\x1b["), "no escape sequences: {raw}");
    let text = strip_escapes(&raw);
    // The bars, live: the run's bar at 100 %, each step ticked off.
    assert!(text.contains("Monthly Report Generation ["), "{text}");
    assert!(text.contains("100%  Completed 4 of 4 steps"), "{text}");
    for step in [
        "fetch_data",
        "analyze_data",
        "generate_charts",
        "create_report",
    ] {
        assert!(
            text.contains(&format!("✓ {step}")),
            "{step} never ticked: {text}"
        );
    }
    assert!(text.contains("running"), "no step was seen running: {text}");
    // Then the waterfall, one bar per step, in order.
    let waterfall: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("Completed in"))
        .collect();
    assert!(waterfall.len() >= 6, "{text}");
    for (line, step) in waterfall[1..5].iter().zip([
        "fetch_data",
        "analyze_data",
        "generate_charts",
        "create_report",
    ]) {
        assert!(
            line.starts_with(step) && line.contains('█') && line.ends_with("Completed"),
            "{line}"
        );
    }
    assert!(
        text.contains("critical path: fetch_data → analyze_data → generate_charts → create_report")
    );
}

#[tokio::test]
async fn exit_status_and_json_tell_the_runs_outcome() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let failing = json!({"name": "Doomed", "workflow": {"steps": [
        step("boom", json!({"simulation": {"failure_rate": 1.0}}))
    ]}});
    let file = job_file(dir.path(), "failing.json", &failing);
    let out = shiioo(vec![
        "submit".into(),
        file,
        "--watch".into(),
        "--json".into(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&out.stdout).expect("--json prints the run");
    assert_eq!(run["status"], "Failed");
    assert_eq!(run["steps"][0]["status"], "Failed");
    let (_, stored) = server
        .get(&format!("/api/runs/{}", run["run_id"].as_str().unwrap()))
        .await;
    assert_eq!(stored["status"], "Failed");

    let ok = job_file(dir.path(), "ok.json", &guide_job());
    let out = shiioo(vec![
        "submit".into(),
        ok,
        "--watch".into(),
        "--json".into(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "Completed");
    let run_id = run["run_id"].as_str().unwrap().to_string();

    // runs and trace answer what the API answers.
    let out = shiioo(vec![
        "runs".into(),
        "--json".into(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, api) = server.get("/api/runs?limit=20").await;
    assert_eq!(list, api);
    let out = shiioo(vec!["runs".into(), "--url".into(), server.url("")]).await;
    let table = stdout(&out);
    assert!(table.starts_with("RUN "), "{table}");
    assert!(table.contains(&run_id) && table.contains("Completed") && table.contains("Failed"));
    let out = shiioo(vec![
        "runs".into(),
        "--status".into(),
        "Failed".into(),
        "--json".into(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["total"], 1);

    let out = shiioo(vec![
        "trace".into(),
        run_id.clone(),
        "--json".into(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    let trace: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, api) = server.get(&format!("/api/analytics/traces/{run_id}")).await;
    assert_eq!(trace, api);
    let out = shiioo(vec![
        "trace".into(),
        run_id.clone(),
        "--url".into(),
        server.url(""),
    ])
    .await;
    let text = stdout(&out);
    assert!(text.starts_with("Monthly Report Generation"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains('│')).count(),
        4,
        "{text}"
    );
}

#[tokio::test]
async fn mistakes_get_a_clear_error_and_status_2() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            vec![
                "trace".into(),
                "nope".into(),
                "--url".into(),
                server.url(""),
            ],
            "404",
        ),
        (
            vec![
                "submit".into(),
                job_file(dir.path(), "bad.json", &json!({"name": "x"})),
                "--url".into(),
                server.url(""),
            ],
            "422",
        ),
        (
            vec![
                "submit".into(),
                dir.path().join("missing.json").to_string_lossy().into(),
                "--url".into(),
                server.url(""),
            ],
            "missing.json",
        ),
        (
            vec![
                "runs".into(),
                "--url".into(),
                format!("http://127.0.0.1:{}", common::free_port()),
            ],
            "cannot reach",
        ),
        (
            vec!["runs".into(), "--url".into(), "ftp://x".into()],
            "http",
        ),
    ];
    for (args, says) in cases {
        let out = shiioo(args.clone()).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test]
async fn tail_prints_every_update_as_it_happens() {
    let server = TestServer::start().await;
    let mut tail = tokio::process::Command::new(BIN)
        .args(["tail", "--json", "--url", &server.url("")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    // Subscribed (twice: runs and alerts) before anything is submitted.
    for _ in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let message: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["type"], "Subscribed", "{line}");
    }
    let (_, created) = server.post("/api/jobs", guide_job()).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let mut steps_done = 0;
    eventually("the run's last update in the tail", async || {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a line within 10 s")
            .unwrap()?;
        let message: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["run_id"], run_id.as_str(), "{line}");
        if message["type"] == "StepUpdate" && message["status"] == "Completed" {
            steps_done += 1;
        }
        (message["type"] == "WorkflowUpdate" && message["status"] == "Completed").then_some(())
    })
    .await;
    assert_eq!(steps_done, 4);
}

#[tokio::test]
async fn backup_copies_the_log_while_runs_go_on_and_the_copy_restores() {
    // `shiioo backup` copies the SQLite log (PostgreSQL has its own tools).
    let server = TestServer::start_sqlite().await;
    for _ in 0..20 {
        let (_, created) = server.post("/api/jobs", guide_job()).await;
        server
            .wait_for_run(created["run_id"].as_str().unwrap())
            .await;
    }
    // Runs keep being written while the backup is taken.
    let (_, created) = server
        .post("/api/jobs", json!({"name": "Busy", "execute": false, "workflow": {"steps": [step("s", json!({}))]}}))
        .await;
    let job_id = created["job_id"].as_str().unwrap().to_string();
    let http = server.http.clone();
    let start_runs = server.url(&format!("/api/jobs/{job_id}/runs"));
    let load = tokio::spawn(async move {
        loop {
            let _ = http.post(&start_runs).send().await;
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("shiioo.db");
    let out = shiioo(vec![
        "backup".into(),
        copy.to_string_lossy().into(),
        "--data-dir".into(),
        server.data.path().to_string_lossy().into(),
    ])
    .await;
    load.abort();
    let said = stdout(&out);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("backed up "), "{said}");
    let events: u64 = said.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(events > 20 * 10, "{said}");

    // Never over an existing file.
    let again = shiioo(vec![
        "backup".into(),
        copy.to_string_lossy().into(),
        "--data-dir".into(),
        server.data.path().to_string_lossy().into(),
    ])
    .await;
    assert_eq!(again.status.code(), Some(2));

    // The copy is a log a server starts from, with every run of before.
    let restored_data = std::sync::Arc::new(copy_dir);
    let restored = TestServer::start_sqlite_with(
        server::config::Config::for_tests(restored_data.path()),
        restored_data.clone(),
    )
    .await;
    let (_, runs) = restored
        .get("/api/runs?workflow_id=monthly_report_generation&status=Completed")
        .await;
    assert_eq!(runs["total"], 20, "{runs}");
}
