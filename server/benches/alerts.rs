//! Cost of one alert evaluation, which runs under the journal's lock (every
//! second, and after events that can move a rule).
//!
//!     cargo bench -p server --bench alerts
//!
//! A model with the default rules is fed finished runs spread over the last
//! hour (latency rules keep up to 10,000 samples per workflow), then
//! `alerts::evaluate` is timed: it computes the 5-minute success rate, the
//! counts, and each workflow's p99 over its window and its baseline.

use std::time::Instant;

use chrono::{Duration, Utc};
use server::alerts::{evaluate, rules};
use server::events::{Event, EventKind};
use server::model::Model;
use ulid::Ulid;

fn model(workflows: usize, runs_per_workflow: usize) -> Model {
    let mut model = Model::with_recent_runs(100).with_alert_rules(rules::defaults());
    let now = Utc::now();
    let mut seq = 0;
    let mut publish = |model: &mut Model, at, kind| {
        seq += 1;
        model.apply(&Event { seq, at, kind });
    };
    for r in 0..runs_per_workflow {
        // Oldest first, over the last hour.
        let at = now
            - Duration::milliseconds(
                3_600_000 * (runs_per_workflow - r) as i64 / runs_per_workflow as i64,
            );
        for w in 0..workflows {
            let run_id = Ulid::new();
            let workflow_id = format!("workflow_{w:04}");
            publish(
                &mut model,
                at,
                EventKind::RunCreated {
                    run_id,
                    job_id: Ulid::new(),
                    workflow_id: workflow_id.clone(),
                    job_name: workflow_id,
                    steps: vec![],
                    actor: None,
                    budget: None,
                    trace: None,
                    node: None,
                },
            );
            publish(&mut model, at, EventKind::RunStarted { run_id });
            let secs = 1.0 + (r % 17) as f64 / 10.0;
            publish(
                &mut model,
                at,
                EventKind::RunCompleted {
                    run_id,
                    duration_secs: secs,
                },
            );
        }
    }
    model
}

fn main() {
    println!("| workflows | runs each (last hour) | latency samples | evaluate, median of 50 | p99 of 50 |");
    println!("| --- | --- | --- | --- | --- |");
    for (workflows, runs) in [(10, 1_000), (100, 1_000), (1_000, 100)] {
        let model = model(workflows, runs);
        let mut times: Vec<f64> = (0..50)
            .map(|_| {
                let t0 = Instant::now();
                let changes = evaluate(std::hint::black_box(&model), Utc::now());
                std::hint::black_box(changes);
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "| {workflows} | {runs} | {} | {:.2} ms | {:.2} ms |",
            workflows * runs,
            times[25],
            times[49]
        );
    }
}
