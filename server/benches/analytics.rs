//! Analytics at scale.
//!
//!     cargo bench -p server --bench analytics
//!
//! 1. Cost of recording one step execution's duration with 10^3 and with
//!    10^6 prior samples in the series (the original implementation sorted
//!    every sample on each record).
//! 2. A real server (in this process, SQLite log on, instant simulated
//!    agents) runs 10 workflows of 100 independent steps 1,000 times each:
//!    10^6 step executions over 1,000 step series. Resident memory is read
//!    as it goes; then `GET /api/analytics/steps` is timed over loopback,
//!    and with `?since=24h`.
//! 3. Time ranges at scale, on the per-series tallies themselves: 1,000
//!    series with 30 days of hourly and a day of per-minute tallies (10^6
//!    executions in the last 24 h, 40 an hour before): their memory, and
//!    the time to tally all 1,000 over the last 24 h (what
//!    `GET /api/analytics/steps?since=24h` does under the journal's lock).
//! 4. The same request over HTTP on a day of spread-out data: an event log
//!    written with 10^4 runs of 10 workflows of 100 steps (10^6 step
//!    executions, 1,000 series) spread evenly over the last 24 h, opened
//!    by a real server (replayed at start-up), then
//!    `GET /api/analytics/steps?since=24h`, `…/bottlenecks/{id}?since=24h`
//!    and `…/heatmap/{id}` timed over loopback.

mod support;

use std::time::{Duration, Instant};

use server::analytics::durations::Durations;
use server::config::Config;
use server::telemetry::resident_memory_mb;
use support::{create_job, time_gets, TestServer};

fn record_cost(prior: usize) -> f64 {
    let mut d = Durations::default();
    for i in 0..prior {
        d.record((i % 1000) as f64 / 100.0, i as i64);
    }
    let n = 1_000_000;
    let t0 = Instant::now();
    for i in 0..n {
        let at = (prior + i) as i64;
        d.record(std::hint::black_box((i % 997) as f64 / 100.0), at);
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn job(w: usize) -> serde_json::Value {
    let steps: Vec<_> = (0..100)
        .map(|s| serde_json::json!({"id": format!("step_{s:03}"), "action": {"agent_task": {"prompt": "p"}}}))
        .collect();
    serde_json::json!({"name": format!("Wide Workflow {w}"), "workflow": {"steps": steps}, "execute": false})
}

async fn at_scale() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data.path());
    config.max_concurrent_steps = 512;
    let server = TestServer::start_with(config, std::sync::Arc::new(data)).await;
    let engine = server.engine.clone();
    let mut job_ids = Vec::new();
    for w in 0..10 {
        job_ids.push(create_job(&server, job(w)).await);
    }
    println!("memory before: {:.1} MiB", resident_memory_mb().unwrap());
    let t0 = Instant::now();
    for round in 0..1_000 {
        for id in &job_ids {
            engine.start_run(*id, "bench").await.unwrap();
        }
        while engine.running() > 64 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if (round + 1) % 200 == 0 {
            while engine.running() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let executions: u64 = engine.journal().read(|m| {
                m.analytics
                    .steps(None)
                    .iter()
                    .map(|s| s.execution_count)
                    .sum()
            });
            println!(
                "  {executions:>9} step executions: resident memory {:.1} MiB ({:.0} s)",
                resident_memory_mb().unwrap(),
                t0.elapsed().as_secs_f64()
            );
        }
    }
    engine.flush().await;

    // Where the time goes, in process: reading the projection (under the
    // journal's lock) and serialising it.
    let (mut read, mut ser) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let t = Instant::now();
        let steps = engine.journal().read(|m| m.analytics.steps(None));
        read.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(serde_json::to_vec(&wire::StepStatsList { steps }).unwrap());
        ser.push(t.elapsed().as_secs_f64() * 1e3);
    }
    read.sort_by(f64::total_cmp);
    ser.sort_by(f64::total_cmp);
    println!(
        "  in process: read {:.2} ms, serialise {:.2} ms (medians)",
        read[50], ser[50]
    );

    let t = time_gets(&server, "/api/analytics/steps", "application/json", 300).await;
    let (_, steps) = server.get("/api/analytics/steps").await;
    let series = steps["steps"].as_array().unwrap().len();
    println!(
        "GET /api/analytics/steps ({series} series, {} bytes): p50 {:.2} ms, p99 {:.2} ms over {} requests",
        t.bytes, t.p50_ms, t.p99_ms, t.requests
    );
    let t = time_gets(
        &server,
        "/api/analytics/steps?since=24h",
        "application/json",
        300,
    )
    .await;
    println!(
        "GET /api/analytics/steps?since=24h ({series} series, {} bytes): p50 {:.2} ms, p99 {:.2} ms over {} requests",
        t.bytes, t.p50_ms, t.p99_ms, t.requests
    );
    server.shutdown().await;
}

/// Part 3: 1,000 series of tallies spread over 30 days, then 24 h queries.
fn ranges_at_scale() {
    use chrono::{DateTime, Duration as Span, Utc};
    use server::analytics::periods::{Periods, Range};
    let now: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut series: Vec<Periods> = (0..1_000).map(|_| Periods::default()).collect();
    let t0 = Instant::now();
    let mut recorded = 0u64;
    for (i, p) in series.iter_mut().enumerate() {
        // 29 days before the last one: 40 executions an hour.
        for hour in (24..30 * 24).rev() {
            for _ in 0..40 {
                let at = now - Span::hours(hour) + Span::seconds((next() % 3600) as i64);
                let secs = (1.0 + (i % 50) as f64) * (0.5 + (next() % 1000) as f64 / 1000.0);
                p.record(at, |t| t.execution(true, Some(secs), Some(0.001)));
                recorded += 1;
            }
        }
        // The last day: 1,000 executions a series, 10^6 in all, in time order.
        let mut times: Vec<i64> = (0..1_000).map(|_| (next() % 86_400) as i64).collect();
        times.sort_unstable();
        for s in times {
            let at = now - Span::seconds(86_400 - s);
            let secs = (1.0 + (i % 50) as f64) * (0.5 + (next() % 1000) as f64 / 1000.0);
            let success = next() % 20 != 0;
            p.record(at, |t| t.execution(success, Some(secs), Some(0.002)));
            recorded += 1;
        }
    }
    let (minutes, hours) = series
        .iter()
        .map(Periods::heap_bytes)
        .fold((0, 0), |(m, h), (a, b)| (m + a, h + b));
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "ranges: {recorded} executions recorded into 1,000 series in {:.1} s; hourly tallies (30 days) hold {:.1} MiB, minute tallies (a day) {:.1} MiB",
        t0.elapsed().as_secs_f64(),
        mib(hours),
        mib(minutes)
    );
    let day = Range {
        since: now - Span::hours(24),
        until: now,
    };
    let mut times = Vec::new();
    let mut executions = 0;
    for _ in 0..200 {
        let t = Instant::now();
        executions = series
            .iter()
            .map(|p| std::hint::black_box(p.tally(day)).executions())
            .sum::<u64>();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "ranges: tally the last 24 h of 1,000 series ({executions} executions): p50 {:.2} ms, p99 {:.2} ms over 200 rounds",
        times[100], times[198]
    );
}

fn main() {
    let small = record_cost(1_000);
    let large = record_cost(1_000_000);
    println!(
        "record a step duration: {small:.1} ns with 10^3 prior samples, {large:.1} ns with 10^6 (ratio {:.2})",
        large / small
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(at_scale());
    // Last: its 30 days of tallies would sit in the resident memory part 2 reads.
    ranges_at_scale();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(spread_over_a_day());
}

/// Part 4: a log of a day's runs, written straight to the store with the
/// times they would have had, then served.
async fn spread_over_a_day() {
    use chrono::{Duration as Span, Utc};
    use server::events::{Event, EventKind, PlannedStep};
    use server::store::{Durability, EventLog, SqliteLog};
    use ulid::Ulid;

    const WORKFLOWS: usize = 10;
    const STEPS: usize = 100;
    const RUNS: usize = 10_000;
    let data = tempfile::tempdir().unwrap();
    let config = Config::for_tests(data.path());
    let now = Utc::now();
    let t0 = Instant::now();
    {
        let mut log = SqliteLog::open(&config.db_path(), Durability::Normal).unwrap();
        let planned: Vec<PlannedStep> = (0..STEPS)
            .map(|s| PlannedStep {
                id: format!("step_{s:03}"),
                name: format!("step_{s:03}"),
                role: "agent".into(),
                depends_on: Vec::new(),
            })
            .collect();
        let jobs: Vec<Ulid> = (0..WORKFLOWS).map(|_| Ulid::new()).collect();
        let mut written = 0u64;
        let mut batch: Vec<Event> = Vec::with_capacity(64 * (STEPS * 2 + 3));
        // Numbered when written.
        let push = |batch: &mut Vec<Event>, at, kind| batch.push(Event { seq: 0, at, kind });
        for r in 0..RUNS {
            // Evenly over the day before the last minute, one run at a time.
            let start =
                now - Span::hours(24) + Span::milliseconds((r as i64) * 86_340_000 / RUNS as i64);
            let (w, run_id) = (r % WORKFLOWS, Ulid::new());
            push(
                &mut batch,
                start,
                EventKind::RunCreated {
                    run_id,
                    job_id: jobs[w],
                    workflow_id: format!("spread_{w}"),
                    job_name: format!("Spread {w}"),
                    steps: planned.clone(),
                    actor: None,
                    budget: None,
                    trace: None,
                    node: None,
                },
            );
            push(&mut batch, start, EventKind::RunStarted { run_id });
            for (s, step) in planned.iter().enumerate() {
                let secs = 0.001 * (1 + (r * 7 + s * 13) % 50) as f64;
                push(
                    &mut batch,
                    start,
                    EventKind::StepStarted {
                        run_id,
                        step_id: step.id.clone(),
                        attempt: 0,
                        queued_secs: Some(0.0005),
                    },
                );
                push(
                    &mut batch,
                    start + Span::microseconds((secs * 1e6) as i64),
                    EventKind::StepCompleted {
                        run_id,
                        step_id: step.id.clone(),
                        attempt: 0,
                        duration_secs: secs,
                        output: String::new(),
                        output_truncated: false,
                        usage: None,
                    },
                );
            }
            push(
                &mut batch,
                start + Span::milliseconds(60),
                EventKind::RunCompleted {
                    run_id,
                    duration_secs: 0.06,
                },
            );
            if batch.len() >= 60 * (STEPS * 2 + 3) || r + 1 == RUNS {
                // Within a run, times are not quite in the order pushed:
                // in time order (stable), numbered as the writer would.
                batch.sort_by_key(|e| e.at);
                for e in batch.iter_mut() {
                    written += 1;
                    e.seq = written;
                }
                let refs: Vec<&Event> = batch.iter().collect();
                log.append(&refs).unwrap();
                batch.clear();
            }
        }
        println!(
            "spread: wrote {written} events ({RUNS} runs, {} step executions) over the last 24 h in {:.1} s",
            RUNS * STEPS,
            t0.elapsed().as_secs_f64()
        );
    }
    let t0 = Instant::now();
    let server = TestServer::start_with(config, std::sync::Arc::new(data)).await;
    println!(
        "spread: server up (log replayed) in {:.1} s, resident memory {:.1} MiB",
        t0.elapsed().as_secs_f64(),
        resident_memory_mb().unwrap()
    );
    let (_, steps) = server.get("/api/analytics/steps?since=24h").await;
    let list = steps["steps"].as_array().unwrap();
    let executions: u64 = list
        .iter()
        .map(|s| s["execution_count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        executions,
        (RUNS * STEPS) as u64,
        "every execution is in the range"
    );
    for path in [
        "/api/analytics/steps?since=24h",
        "/api/analytics/bottlenecks/spread_0?since=24h",
        "/api/analytics/heatmap/spread_0",
        "/api/analytics/throughput?since=24h",
        "/api/analytics/timeline?since=15m",
    ] {
        let t = time_gets(&server, path, "application/json", 200).await;
        println!(
            "spread: GET {path} ({} series, {executions} executions in the range; {} bytes): p50 {:.2} ms, p99 {:.2} ms over {} requests",
            list.len(),
            t.bytes,
            t.p50_ms,
            t.p99_ms,
            t.requests
        );
    }
    server.shutdown().await;
}
