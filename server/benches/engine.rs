//! Engine throughput and latency with the durable log on, and log replay.
//!
//!     cargo bench -p server --bench engine [-- RUNS]
//!
//! 1. Throughput: RUNS (default 50,000) submissions of a 3-step sequential
//!    workflow with instant simulated steps, at most 512 in flight, through
//!    `Engine::create_job` (validation included) with the SQLite log on;
//!    finished when every run's events are committed.
//! 2. Latency: 2,000 submissions one at a time. Submit-to-complete latency
//!    is read from the events themselves (`RunCreated` to `RunCompleted`).
//! 3. Replay: a log of 1,000,008 events (111,112 runs of 9 events) is
//!    written, then `Journal::open_sqlite` rebuilds the model from it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use server::engine::Engine;
use server::events::{Event, EventKind, PlannedStep};
use server::journal::Journal;
use server::model::Model;
use server::runs::RunFilter;
use server::store::{Durability, EventLog, SqliteLog};
use ulid::Ulid;
use wire::RunStatus;

#[path = "shared/instant.rs"]
mod instant;
use instant::job;

fn engine(dir: &std::path::Path) -> Engine {
    let (journal, _) = Journal::open_sqlite(
        &dir.join("bench.db"),
        Durability::Normal,
        Model::with_recent_runs(2_000),
        vec![],
    )
    .unwrap();
    instant::engine(Arc::new(journal))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Submit-to-complete latencies (ms) of every run, from the run's events.
fn latencies_ms(engine: &Engine) -> Vec<f64> {
    let ids: Vec<Ulid> = engine.journal().read(|m| {
        let plan = m.runs.plan_page(&RunFilter::default(), None, usize::MAX);
        plan.from_memory.iter().map(|r| r.run_id).collect()
    });
    let mut out: Vec<f64> = engine.journal().read(|m| {
        ids.iter()
            .filter_map(|id| m.runs.get(id))
            .filter(|r| r.status == RunStatus::Completed)
            .map(|r| {
                (r.completed_at.unwrap() - r.created_at)
                    .num_microseconds()
                    .unwrap() as f64
                    / 1e3
            })
            .collect()
    });
    out.sort_by(f64::total_cmp);
    out
}

async fn throughput(runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let window = 512;
    let t0 = Instant::now();
    let mut submitted = 0;
    while submitted < runs {
        while submitted < runs && engine.running() < window {
            engine.create_job(job(), "bench").await.unwrap();
            submitted += 1;
        }
        tokio::task::yield_now().await;
    }
    while engine.running() > 0 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    engine.flush().await;
    let elapsed = t0.elapsed();
    let completed = engine.journal().read(|m| m.executions.completed);
    assert_eq!(completed as usize, runs);
    let stats = &engine.journal().writer().stats;
    let appended = stats.appended.load(std::sync::atomic::Ordering::Relaxed);
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "throughput: {runs} runs in {:.2} s = {:.0} workflows/s ({appended} events committed in {batches} transactions)",
        elapsed.as_secs_f64(),
        runs as f64 / elapsed.as_secs_f64()
    );
    let lat = latencies_ms(&engine);
    println!(
        "  latency under that load (last {} runs held in memory): p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
}

async fn latency(runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    for _ in 0..runs {
        engine.create_job(job(), "bench").await.unwrap();
        while engine.running() > 0 {
            tokio::task::yield_now().await;
        }
    }
    engine.flush().await;
    let lat = latencies_ms(&engine);
    println!(
        "latency, one run at a time ({} runs): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

fn replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.db");
    let mut log = SqliteLog::open(&path, Durability::Normal).unwrap();
    let runs = 111_112;
    let job_id = Ulid::new();
    let mut seq = 0u64;
    let mut batch: Vec<Event> = Vec::with_capacity(9 * 1_000);
    let steps: Vec<PlannedStep> = ["a", "b", "c"]
        .iter()
        .map(|id| PlannedStep {
            id: id.to_string(),
            name: id.to_string(),
            role: "agent".into(),
            depends_on: vec![],
        })
        .collect();
    let t_write = Instant::now();
    for i in 0..runs {
        let run_id = Ulid::new();
        let mut push = |kind: EventKind| {
            seq += 1;
            batch.push(Event {
                seq,
                at: Utc::now().trunc_subsecs(6),
                kind,
            });
        };
        push(EventKind::RunCreated {
            run_id,
            job_id,
            workflow_id: "bench_flow".into(),
            job_name: "Bench Flow".into(),
            steps: steps.clone(),
            actor: None,
            budget: None,
            trace: None,
            node: None,
        });
        push(EventKind::RunStarted { run_id });
        for s in ["a", "b", "c"] {
            push(EventKind::StepStarted {
                run_id,
                step_id: s.into(),
                attempt: 0,
                queued_secs: None,
            });
            push(EventKind::StepCompleted {
                run_id,
                step_id: s.into(),
                attempt: 0,
                duration_secs: 0.001,
                output: "ok".into(),
                output_truncated: false,
                usage: None,
            });
        }
        push(EventKind::RunCompleted {
            run_id,
            duration_secs: 0.004,
        });
        if batch.len() >= 9_000 || i + 1 == runs {
            log.append(&batch.iter().collect::<Vec<_>>()).unwrap();
            batch.clear();
        }
    }
    drop(log);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "replay: wrote {seq} events ({:.0} MB) in {:.2} s",
        size as f64 / 1e6,
        t_write.elapsed().as_secs_f64()
    );
    let t0 = Instant::now();
    let (journal, replayed) = Journal::open_sqlite(
        &path,
        Durability::Normal,
        Model::with_recent_runs(2_000),
        vec![],
    )
    .unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(replayed.events, seq);
    assert_eq!(journal.read(|m| m.executions.completed), runs as u64);
    println!(
        "  replayed {} events into the model in {:.2} s ({:.0} events/s)",
        replayed.events,
        elapsed.as_secs_f64(),
        replayed.events as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(throughput(runs));
    rt.block_on(latency(2_000));
    replay();
}
