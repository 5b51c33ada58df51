//! Recording cost of Shiioo's metrics registry beside three peers, and the
//! cost of rendering 10,000 series beside `prometheus-client`'s encoder.
//!
//!     cargo bench -p server --bench metrics
//!
//! One workload for every library: a counter and a histogram labelled
//! `workflow_id` × `status` (10 × 3 = 30 series), the histogram's values
//! spread over the guide's buckets, each operation on the next series. Four
//! variants: the series looked up on every call (Shiioo's
//! `Family::with(&[…], …)`, what the engine and the HTTP layer use;
//! `get_or_create`; `with_label_values`; `counter!(…)` with its labels for
//! the exporter, and for Shiioo as an extra row), or a handle per series
//! held; each at 1 and 2 threads. At 2 threads both threads run at once
//! (they start together at a barrier), each doing the measured number of
//! operations: the figure is nanoseconds per operation per thread.
//!
//! The peers: `prometheus-client` (the official Rust client), tikv's
//! `prometheus`, and `metrics-exporter-prometheus` (metrics-rs's recorder,
//! driven through the same `metrics` macros as ours).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use metrics::{counter, histogram};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use server::telemetry::registry::DEFAULT_BUCKETS;
use server::telemetry::{self, render};

const WORKFLOWS: [&str; 10] = [
    "wf0", "wf1", "wf2", "wf3", "wf4", "wf5", "wf6", "wf7", "wf8", "wf9",
];
const STATUSES: [&str; 3] = ["success", "failure", "cancelled"];
const SERIES: usize = WORKFLOWS.len() * STATUSES.len();
/// Durations across every bucket of the guide's histogram, and past it.
const VALUES: [f64; 16] = [
    0.005, 0.05, 0.3, 0.7, 3.0, 7.0, 20.0, 45.0, 90.0, 200.0, 400.0, 0.02, 0.2, 2.0, 15.0, 100.0,
];

fn labels(i: usize) -> (&'static str, &'static str) {
    let s = i % SERIES;
    (
        WORKFLOWS[s % WORKFLOWS.len()],
        STATUSES[s / WORKFLOWS.len()],
    )
}

fn value(i: usize) -> f64 {
    VALUES[i % VALUES.len()]
}

/// Runs `op(i)` for `iters` values of `i` on each of `threads` threads at
/// once; returns the mean time a thread took, which criterion divides by
/// `iters`: nanoseconds per operation per thread.
fn per_thread<F: Fn(usize) + Sync>(threads: usize, iters: u64, op: &F) -> Duration {
    let start = Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    for i in 0..iters as usize {
                        op(black_box(i + t));
                    }
                    began.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total / threads as u32
}

fn bench<F: Fn(usize) + Sync>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    threads: usize,
    name: &str,
    op: F,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| per_thread(threads, iters, &op))
    });
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    workflow_id: &'static str,
    status: &'static str,
}

impl Labels {
    fn of(i: usize) -> Self {
        let (workflow_id, status) = labels(i);
        Self {
            workflow_id,
            status,
        }
    }
}

type PcHistograms = Family<Labels, prometheus_client::metrics::histogram::Histogram>;

fn pc_histograms() -> PcHistograms {
    Family::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS)
    })
}

fn recording(c: &mut Criterion) {
    let ours = telemetry::registry(1_000);
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_BUCKETS)
        .unwrap()
        .build_recorder();
    let pc_counters: Family<Labels, prometheus_client::metrics::counter::Counter> =
        Family::default();
    let pc_hist = pc_histograms();
    let tikv_counters = prometheus::IntCounterVec::new(
        prometheus::Opts::new("step_executions_total", "steps"),
        &["workflow_id", "status"],
    )
    .unwrap();
    let tikv_hist = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("step_duration_seconds", "steps")
            .buckets(DEFAULT_BUCKETS.to_vec()),
        &["workflow_id", "status"],
    )
    .unwrap();

    // Shiioo's own call sites hold the family and look series up by
    // borrowed label values; handles are `Arc`s of the cells.
    let ours_counter_family = ours.counters("step_executions_total", &["workflow_id", "status"]);
    let ours_hist_family = ours.histograms("step_duration_seconds", &["workflow_id", "status"]);
    let ours_counters: Vec<_> = (0..SERIES)
        .map(|i| {
            let (w, s) = labels(i);
            ours_counter_family.handle(&[w, s])
        })
        .collect();
    let ours_hist: Vec<_> = (0..SERIES)
        .map(|i| {
            let (w, s) = labels(i);
            ours_hist_family.handle(&[w, s])
        })
        .collect();
    let exp_counters: Vec<metrics::Counter> = metrics::with_local_recorder(&exporter, || {
        (0..SERIES)
            .map(|i| {
                let (w, s) = labels(i);
                counter!("step_executions_total", "workflow_id" => w, "status" => s)
            })
            .collect()
    });
    let exp_hist: Vec<metrics::Histogram> = metrics::with_local_recorder(&exporter, || {
        (0..SERIES)
            .map(|i| {
                let (w, s) = labels(i);
                histogram!("step_duration_seconds", "workflow_id" => w, "status" => s)
            })
            .collect()
    });
    let pc_counter_handles: Vec<_> = (0..SERIES)
        .map(|i| pc_counters.get_or_create(&Labels::of(i)).clone())
        .collect();
    let pc_hist_handles: Vec<_> = (0..SERIES)
        .map(|i| pc_hist.get_or_create(&Labels::of(i)).clone())
        .collect();
    let tikv_counter_handles: Vec<_> = (0..SERIES)
        .map(|i| {
            let (w, s) = labels(i);
            tikv_counters.with_label_values(&[w, s])
        })
        .collect();
    let tikv_hist_handles: Vec<_> = (0..SERIES)
        .map(|i| {
            let (w, s) = labels(i);
            tikv_hist.with_label_values(&[w, s])
        })
        .collect();

    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("record/{threads}-thread"));
        g.measurement_time(Duration::from_secs(3));
        g.warm_up_time(Duration::from_secs(1));

        bench(&mut g, threads, "counter, looked up/shiioo", |i| {
            let (w, s) = labels(i);
            ours_counter_family.with(&[w, s], |c| c.increment(1))
        });
        bench(
            &mut g,
            threads,
            "counter, looked up/shiioo (metrics facade)",
            |i| {
                let (w, s) = labels(i);
                metrics::with_local_recorder(&*ours, || {
                    counter!("step_executions_total", "workflow_id" => w, "status" => s)
                        .increment(1)
                })
            },
        );
        bench(
            &mut g,
            threads,
            "counter, looked up/prometheus-client",
            |i| {
                pc_counters.get_or_create(&Labels::of(i)).inc();
            },
        );
        bench(&mut g, threads, "counter, looked up/prometheus", |i| {
            let (w, s) = labels(i);
            tikv_counters.with_label_values(&[w, s]).inc();
        });
        bench(&mut g, threads, "counter, looked up/exporter", |i| {
            let (w, s) = labels(i);
            metrics::with_local_recorder(&exporter, || {
                counter!("step_executions_total", "workflow_id" => w, "status" => s).increment(1)
            })
        });

        bench(&mut g, threads, "histogram, looked up/shiioo", |i| {
            let (w, s) = labels(i);
            ours_hist_family.with(&[w, s], |h| h.record(value(i)))
        });
        bench(
            &mut g,
            threads,
            "histogram, looked up/shiioo (metrics facade)",
            |i| {
                let (w, s) = labels(i);
                metrics::with_local_recorder(&*ours, || {
                    histogram!("step_duration_seconds", "workflow_id" => w, "status" => s)
                        .record(value(i))
                })
            },
        );
        bench(
            &mut g,
            threads,
            "histogram, looked up/prometheus-client",
            |i| {
                pc_hist.get_or_create(&Labels::of(i)).observe(value(i));
            },
        );
        bench(&mut g, threads, "histogram, looked up/prometheus", |i| {
            let (w, s) = labels(i);
            tikv_hist.with_label_values(&[w, s]).observe(value(i));
        });
        bench(&mut g, threads, "histogram, looked up/exporter", |i| {
            let (w, s) = labels(i);
            metrics::with_local_recorder(&exporter, || {
                histogram!("step_duration_seconds", "workflow_id" => w, "status" => s)
                    .record(value(i))
            })
        });

        bench(&mut g, threads, "counter, held handle/shiioo", |i| {
            ours_counters[i % SERIES].increment(1)
        });
        bench(
            &mut g,
            threads,
            "counter, held handle/prometheus-client",
            |i| {
                pc_counter_handles[i % SERIES].inc();
            },
        );
        bench(&mut g, threads, "counter, held handle/prometheus", |i| {
            tikv_counter_handles[i % SERIES].inc()
        });
        bench(&mut g, threads, "counter, held handle/exporter", |i| {
            exp_counters[i % SERIES].increment(1)
        });

        bench(&mut g, threads, "histogram, held handle/shiioo", |i| {
            ours_hist[i % SERIES].record(value(i))
        });
        bench(
            &mut g,
            threads,
            "histogram, held handle/prometheus-client",
            |i| pc_hist_handles[i % SERIES].observe(value(i)),
        );
        bench(&mut g, threads, "histogram, held handle/prometheus", |i| {
            tikv_hist_handles[i % SERIES].observe(value(i))
        });
        bench(&mut g, threads, "histogram, held handle/exporter", |i| {
            exp_hist[i % SERIES].record(value(i))
        });
        g.finish();
    }
}

/// 10,000 series: 7,000 counters, 2,000 gauges, 1,000 histograms.
fn rendering(c: &mut Criterion) {
    let r = telemetry::registry(100_000);
    metrics::with_local_recorder(&*r, || {
        for i in 0..7_000u64 {
            counter!("step_executions_total", "workflow_id" => format!("wf{}", i / 70), "step_id" => format!("s{}", i % 70), "status" => "success").increment(i);
        }
        for i in 0..2_000 {
            metrics::gauge!("queue_depth", "queue" => format!("q{i}")).set(i as f64);
        }
        for i in 0..1_000 {
            histogram!("step_duration_seconds", "workflow_id" => format!("wf{}", i / 10), "step_id" => format!("s{}", i % 10)).record(i as f64 / 100.0);
        }
    });

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Step {
        workflow_id: String,
        step_id: String,
        status: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Queue {
        queue: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct StepOnly {
        workflow_id: String,
        step_id: String,
    }
    use prometheus_client::metrics::{counter::Counter, gauge::Gauge, histogram::Histogram};
    let mut pc = prometheus_client::registry::Registry::default();
    let steps: Family<Step, Counter> = Family::default();
    let queues: Family<Queue, Gauge<f64, std::sync::atomic::AtomicU64>> = Family::default();
    let durations: Family<StepOnly, Histogram> =
        Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS));
    for i in 0..7_000u64 {
        let l = Step {
            workflow_id: format!("wf{}", i / 70),
            step_id: format!("s{}", i % 70),
            status: "success",
        };
        steps.get_or_create(&l).inc_by(i);
    }
    for i in 0..2_000 {
        queues
            .get_or_create(&Queue {
                queue: format!("q{i}"),
            })
            .set(i as f64);
    }
    for i in 0..1_000 {
        durations
            .get_or_create(&StepOnly {
                workflow_id: format!("wf{}", i / 10),
                step_id: format!("s{}", i % 10),
            })
            .observe(i as f64 / 100.0);
    }
    pc.register("step_executions", "steps", steps);
    pc.register("queue_depth", "queues", queues);
    pc.register("step_duration_seconds", "steps", durations);

    let mut group = c.benchmark_group("render/10k-series");
    group.bench_function("GET /api/metrics (JSON)/shiioo", |b| {
        b.iter(|| serde_json::to_vec(&render::snapshot(&r, &render::Selector::default())).unwrap())
    });
    group.bench_function("Prometheus text/shiioo", |b| {
        b.iter(|| render::prometheus(&r))
    });
    group.bench_function("Prometheus text/prometheus-client", |b| {
        b.iter(|| {
            let mut out = String::with_capacity(1 << 20);
            prometheus_client::encoding::text::encode(&mut out, &pc).unwrap();
            out
        })
    });
    group.finish();
}

criterion_group!(benches, recording, rendering);
criterion_main!(benches);
