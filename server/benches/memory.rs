//! Memory the model keeps per run, and whether it stays flat.
//!
//!     cargo bench -p server --bench memory [-- RUNS]
//!
//! Folds RUNS (default 2,000,000) runs of the 3-step workflow into a
//! `Model` (the default `--recent-runs 2000`), each with a job of its own as
//! a client posting `POST /api/jobs` in a loop makes, and prints the bytes
//! the model holds (a counting allocator: live heap bytes, not RSS) at
//! doublings of the run count, then what each part holds at the end. The
//! index rows the fold makes are dropped as the journal hands them on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use server::events::{Event, EventKind, PlannedStep, Workflow};
use server::model::Model;
use ulid::Ulid;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The events of one run of the guide's 3-step workflow, with its own job.
fn run_events(
    seq: &mut u64,
    at: DateTime<Utc>,
    workflow: &Workflow,
    steps: &[PlannedStep],
) -> Vec<Event> {
    let job_id = Ulid::new();
    let run_id = Ulid::new();
    let mut out = Vec::with_capacity(10);
    let mut push = |ms: i64, kind: EventKind| {
        *seq += 1;
        out.push(Event {
            seq: *seq,
            at: at + Duration::milliseconds(ms),
            kind,
        });
    };
    push(
        0,
        EventKind::JobCreated {
            job_id,
            name: "Bench Flow".into(),
            workflow_id: "bench_flow".into(),
            description: None,
            workflow: workflow.clone(),
            actor: None,
            budget: None,
        },
    );
    push(
        0,
        EventKind::RunCreated {
            run_id,
            job_id,
            workflow_id: "bench_flow".into(),
            job_name: "Bench Flow".into(),
            steps: steps.to_vec(),
            actor: None,
            budget: None,
            trace: None,
            node: None,
        },
    );
    push(0, EventKind::RunStarted { run_id });
    for (i, s) in ["a", "b", "c"].into_iter().enumerate() {
        let i = i as i64;
        push(
            i,
            EventKind::StepStarted {
                run_id,
                step_id: s.into(),
                attempt: 0,
                queued_secs: None,
            },
        );
        push(
            i + 1,
            EventKind::StepCompleted {
                run_id,
                step_id: s.into(),
                attempt: 0,
                duration_secs: 0.001,
                output: "ok".into(),
                output_truncated: false,
                usage: None,
            },
        );
    }
    push(
        3,
        EventKind::RunCompleted {
            run_id,
            duration_secs: 0.003,
        },
    );
    out
}

fn main() {
    let runs: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let workflow: Workflow = serde_json::from_value(serde_json::json!({
        "steps": [
            {"id": "a", "action": {"agent_task": {"prompt": "one"}}},
            {"id": "b", "action": {"agent_task": {"prompt": "two"}}},
            {"id": "c", "action": {"agent_task": {"prompt": "three"}}}
        ],
        "dependencies": {"b": ["a"], "c": ["b"]}
    }))
    .unwrap();
    let steps: Vec<PlannedStep> = ["a", "b", "c"]
        .iter()
        .map(|id| PlannedStep {
            id: id.to_string(),
            name: id.to_string(),
            role: "agent".into(),
            depends_on: vec![],
        })
        .collect();

    let before = live();
    let mut model = Model::with_recent_runs(2_000);
    let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut seq = 0;
    let mut rows = Vec::new();
    let mut next_report = 62_500;
    println!("{:>10}  {:>12}  {:>10}", "runs", "model bytes", "bytes/run");
    for i in 1..=runs {
        let at = start + Duration::milliseconds(i as i64 * 5);
        for event in run_events(&mut seq, at, &workflow, &steps) {
            model.apply(&event);
            // What the journal hands the writer with each event.
            model.drain_index(&mut rows);
            rows.clear();
        }
        if i == next_report || i == runs {
            let held = live() - before;
            println!("{i:>10}  {held:>12}  {:>10.0}", held as f64 / i as f64);
            next_report *= 2;
        }
    }
    println!("what each part holds after {runs} runs:");
    let Model {
        jobs,
        runs: run_fold,
        executions: _,
        analytics,
        routines,
        approvals,
        alerts,
        audit,
    } = model;
    for (name, part) in [
        ("jobs", Box::new(jobs) as Box<dyn std::any::Any>),
        ("runs", Box::new(run_fold)),
        ("analytics", Box::new(analytics)),
        ("routines", Box::new(routines)),
        ("approvals", Box::new(approvals)),
        ("alerts", Box::new(alerts)),
        ("audit", Box::new(audit)),
    ] {
        let held = live();
        drop(part);
        let freed = held - live();
        println!(
            "  {name:<10} {freed:>12} bytes  {:>8.1} bytes/run",
            freed as f64 / runs as f64
        );
    }
}
