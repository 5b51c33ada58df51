//! Recording cost of our registry against the original Shiioo collector,
//! and the cost of rendering 10,000 series.
//!
//!     cargo bench -p server --bench metrics
//!
//! The baseline is the approach of the original implementation: one
//! `Mutex<HashMap<String, …>>`, a `name{labels}` key string formatted on every
//! call, and a timestamp taken on every call.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use metrics::{counter, histogram};
use server::telemetry::{self, render, Registry};

/// One series of the original collector: value, every sample, last update.
type BaselineSeries = (f64, Vec<f64>, DateTime<Utc>);

/// The original collector, reimplemented for comparison.
#[derive(Default)]
struct Baseline {
    series: Mutex<HashMap<String, BaselineSeries>>,
}

impl Baseline {
    fn key(name: &str, labels: &[(&str, &str)]) -> String {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{name}{{{}}}", labels.join(","))
    }

    fn increment(&self, name: &str, labels: &[(&str, &str)]) {
        let key = Self::key(name, labels);
        let now = Utc::now();
        let mut series = self.series.lock().unwrap();
        let entry = series.entry(key).or_insert((0.0, Vec::new(), now));
        entry.0 += 1.0;
        entry.2 = now;
    }

    fn observe(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        let key = Self::key(name, labels);
        let now = Utc::now();
        let mut series = self.series.lock().unwrap();
        let entry = series.entry(key).or_insert((0.0, Vec::new(), now));
        entry.1.push(value);
        entry.2 = now;
    }
}

const LABELS: [(&str, &str); 2] = [("method", "GET"), ("path", "/api/runs/{run_id}")];

fn ours_counter(r: &Registry) {
    metrics::with_local_recorder(r, || {
        counter!("http_requests_total", "method" => "GET", "path" => "/api/runs/{run_id}")
            .increment(1)
    });
}

fn ours_handles(r: &Registry) -> (metrics::Counter, metrics::Histogram) {
    metrics::with_local_recorder(r, || {
        (
            counter!("http_requests_total", "method" => "GET", "path" => "/api/runs/{run_id}"),
            histogram!("request_duration_seconds", "method" => "GET", "path" => "/api/runs/{run_id}"),
        )
    })
}

fn ours_histogram(r: &Registry) {
    metrics::with_local_recorder(r, || {
        histogram!("request_duration_seconds", "method" => "GET", "path" => "/api/runs/{run_id}")
            .record(0.003)
    });
}

/// Mean time per operation with `threads` threads each doing `iters / threads`.
fn per_op(threads: u64, iters: u64, op: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let per_thread = (iters / threads).max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let op = op.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    op();
                }
            });
        }
    });
    start.elapsed() / threads as u32
}

fn recording(c: &mut Criterion) {
    let ours = telemetry::registry(1_000);
    let baseline = Arc::new(Baseline::default());
    for threads in [1u64, 2] {
        let mut group = c.benchmark_group(format!("record/{threads}-thread"));
        {
            let r = ours.clone();
            group.bench_function("ours: labelled counter increment", |b| {
                b.iter_custom(|iters| {
                    per_op(threads, iters, {
                        let r = r.clone();
                        Arc::new(move || ours_counter(&r))
                    })
                })
            });
        }
        {
            let r = ours.clone();
            group.bench_function("ours: histogram observation", |b| {
                b.iter_custom(|iters| {
                    per_op(threads, iters, {
                        let r = r.clone();
                        Arc::new(move || ours_histogram(&r))
                    })
                })
            });
        }
        {
            let (c, _) = ours_handles(&ours);
            group.bench_function("ours: counter increment, handle registered once", |b| {
                b.iter_custom(|iters| {
                    per_op(threads, iters, {
                        let c = c.clone();
                        Arc::new(move || c.increment(1))
                    })
                })
            });
            let (_, h) = ours_handles(&ours);
            group.bench_function("ours: histogram observation, handle registered once", |b| {
                b.iter_custom(|iters| {
                    per_op(threads, iters, {
                        let h = h.clone();
                        Arc::new(move || h.record(black_box(0.003)))
                    })
                })
            });
        }
        {
            let base = baseline.clone();
            group.bench_function("baseline: labelled counter increment", |b| {
                b.iter_custom(|iters| {
                    per_op(threads, iters, {
                        let base = base.clone();
                        Arc::new(move || base.increment(black_box("http_requests_total"), &LABELS))
                    })
                })
            });
        }
        {
            // The original kept every sample; clear between batches so the
            // vector's growth does not dominate.
            let base = baseline.clone();
            group.bench_function("baseline: histogram observation", |b| {
                b.iter_custom(|iters| {
                    base.series.lock().unwrap().clear();
                    per_op(threads, iters, {
                        let base = base.clone();
                        Arc::new(move || {
                            base.observe(black_box("request_duration_seconds"), &LABELS, 0.003)
                        })
                    })
                })
            });
        }
        group.finish();
    }
}

fn rendering(c: &mut Criterion) {
    let r = telemetry::registry(100_000);
    metrics::with_local_recorder(&*r, || {
        // 10,000 series: 7,000 counters, 2,000 gauges, 1,000 histograms.
        for i in 0..7_000 {
            counter!("step_executions_total", "workflow_id" => format!("wf{}", i / 70), "step_id" => format!("s{}", i % 70), "status" => "success").increment(i);
        }
        for i in 0..2_000 {
            metrics::gauge!("queue_depth", "queue" => format!("q{i}")).set(i as f64);
        }
        for i in 0..1_000 {
            histogram!("step_duration_seconds", "workflow_id" => format!("wf{}", i / 10), "step_id" => format!("s{}", i % 10)).record(i as f64 / 100.0);
        }
    });
    let mut group = c.benchmark_group("render/10k-series");
    group.bench_function("GET /api/metrics (JSON)", |b| {
        b.iter(|| serde_json::to_vec(&render::snapshot(&r, &render::Selector::default())).unwrap())
    });
    group.bench_function("Prometheus text", |b| b.iter(|| render::prometheus(&r)));
    group.finish();
}

criterion_group!(benches, recording, rendering);
criterion_main!(benches);
