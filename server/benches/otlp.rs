//! What OpenTelemetry export costs the engine, and what a dead collector
//! costs in memory.
//!
//!     cargo bench -p server --bench otlp [-- RUNS [DOWN_RUNS]]
//!
//! 1. Throughput: the engine benchmark's workload (RUNS, default 30,000,
//!    submissions of a 3-step sequential workflow with instant simulated
//!    steps — usage drawn and priced on every call — at most 512 in flight,
//!    the SQLite log on), three times without export and three times with
//!    every run exported to a collector on loopback (an OTLP/HTTP receiver
//!    in this bench), alternating: once while the collector only counts
//!    the requests (a collector elsewhere spends its own CPU decoding), once
//!    while it decodes each with the official protobuf types and counts the
//!    spans (its decoding then takes the engine's cores). Medians compared.
//! 2. Collector down: DOWN_RUNS (default 100,000) runs exported to a port
//!    nobody listens on; resident memory is sampled every 10,000 runs, the
//!    queue's spans and the dropped count with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use server::engine::Engine;
use server::journal::{Journal, Observer};
use server::model::Model;
use server::otlp::{Exporter, Settings};
use server::store::Durability;
use server::telemetry::{self, names};
use tokio_util::sync::CancellationToken;

#[path = "shared/instant.rs"]
mod instant;
use instant::job;

fn settings(url: String) -> Settings {
    // The SDK's batch processor defaults, as the server's flags have them.
    Settings {
        url,
        headers: vec![],
        resource: vec![("service.name".into(), "shiioo-bench".into())],
        max_queue_spans: 2048,
        max_batch_spans: 512,
        schedule_delay: Duration::from_millis(5000),
        timeout: Duration::from_millis(10_000),
    }
}

/// The engine, exporting to `url` if given; the exporter's task with it.
struct Bench {
    engine: Engine,
    registry: Arc<telemetry::Registry>,
    export: Option<(Arc<Exporter>, tokio::task::JoinHandle<()>)>,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new(url: Option<String>) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let registry = telemetry::registry(1000);
        let exporter = url
            .as_ref()
            .map(|u| Exporter::new(&settings(u.clone()), &registry));
        let observers: Vec<Arc<dyn Observer>> = exporter
            .iter()
            .map(|e| e.clone() as Arc<dyn Observer>)
            .collect();
        let (journal, _) = Journal::open_sqlite(
            &dir.path().join("bench.db"),
            Durability::Normal,
            Model::with_recent_runs(2_000),
            observers,
        )
        .unwrap();
        let journal = Arc::new(journal);
        let stop = CancellationToken::new();
        let export = exporter.map(|e| {
            e.arm();
            let task = tokio::spawn(e.clone().run(
                settings(url.unwrap()),
                journal.clone(),
                stop.clone(),
            ));
            (e, task)
        });
        let engine = instant::engine(journal);
        Bench {
            engine,
            registry,
            export,
            stop,
            _dir: dir,
        }
    }

    /// Submits `runs` with at most 512 in flight; returns when all are
    /// committed, calling `every` after each 10,000.
    async fn submit(&self, runs: usize, mut every: impl FnMut(usize)) {
        let mut submitted = 0;
        while submitted < runs {
            while submitted < runs && self.engine.running() < 512 {
                self.engine.create_job(job(), "bench").await.unwrap();
                submitted += 1;
                if submitted % 10_000 == 0 {
                    every(submitted);
                }
            }
            tokio::task::yield_now().await;
        }
        while self.engine.running() > 0 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        self.engine.flush().await;
    }

    fn counter(&self, name: &str) -> u64 {
        self.registry.counters(name, &[]).with(&[], |c| c.get().0)
    }

    /// Stops the exporter, letting it send what is queued.
    async fn finish(mut self) -> (u64, u64) {
        self.stop.cancel();
        if let Some((_, task)) = self.export.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        (
            self.counter(names::OTLP_SPANS_EXPORTED),
            self.counter(names::OTLP_SPANS_DROPPED),
        )
    }
}

/// What the collector got: spans decoded, and requests whose spans it did
/// not decode (when it only counts).
#[derive(Default)]
struct Got {
    spans: AtomicU64,
    undecoded: AtomicU64,
    decode: std::sync::atomic::AtomicBool,
}

async fn receive(State(got): State<Arc<Got>>, body: Bytes) -> Vec<u8> {
    // A collector elsewhere would spend its own CPU on decoding; in this
    // process it takes the engine's. The light mode checks the first bytes
    // are a request (a length-delimited `resource_spans`, field 1) and
    // counts it.
    if !got.decode.load(Ordering::Relaxed) {
        assert_eq!(body.first(), Some(&0x0a), "an ExportTraceServiceRequest");
        got.undecoded.fetch_add(1, Ordering::Relaxed);
        return ExportTraceServiceResponse::default().encode_to_vec();
    }
    let request = ExportTraceServiceRequest::decode(body).expect("a valid OTLP request");
    let n: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    got.spans.fetch_add(n as u64, Ordering::Relaxed);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// A collector on loopback; its traces URL and what it got.
async fn collector() -> (String, Arc<Got>) {
    let got = Arc::new(Got::default());
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn throughput(runs: usize) {
    let (url, got) = collector().await;
    let modes = [
        "export off",
        "export on, collector counts",
        "export on, collector decodes",
    ];
    let mut rates: [Vec<f64>; 3] = Default::default();
    for trial in 0..9 {
        let mode = trial % 3;
        got.decode.store(mode == 2, Ordering::Relaxed);
        let bench = Bench::new((mode > 0).then(|| url.clone()));
        let (spans, requests) = (
            got.spans.load(Ordering::Relaxed),
            got.undecoded.load(Ordering::Relaxed),
        );
        let t0 = Instant::now();
        bench.submit(runs, |_| {}).await;
        let rate = runs as f64 / t0.elapsed().as_secs_f64();
        let (exported, dropped) = bench.finish().await;
        let decoded = got.spans.load(Ordering::Relaxed) - spans;
        let counted = got.undecoded.load(Ordering::Relaxed) - requests;
        println!(
            "  {}: {rate:.0} workflows/s; {exported} spans exported, {dropped} dropped; the collector decoded {decoded} spans, counted {counted} requests undecoded",
            modes[mode]
        );
        rates[mode].push(rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let off = median(&mut rates[0]);
    println!("throughput, {runs} runs a trial, median of 3: {off:.0} workflows/s without export");
    for mode in 1..3 {
        let on = median(&mut rates[mode]);
        println!(
            "  {}: {on:.0} workflows/s = {:.1} %",
            modes[mode],
            on / off * 100.0
        );
    }
}

async fn collector_down(runs: usize) {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bench = Bench::new(Some(format!("http://127.0.0.1:{port}/v1/traces")));
    let rss = || telemetry::resident_memory_mb().unwrap_or(f64::NAN);
    println!(
        "collector down, {runs} runs: resident memory {:.1} MiB at the start",
        rss()
    );
    let exporter = bench.export.as_ref().unwrap().0.clone();
    let t0 = Instant::now();
    bench
        .submit(runs, |n| {
            println!(
                "  {n:>7} runs: {:.1} MiB resident, {} spans queued",
                rss(),
                exporter.queued_spans()
            );
        })
        .await;
    let elapsed = t0.elapsed().as_secs_f64();
    let dropped = bench.counter(names::OTLP_SPANS_DROPPED);
    println!(
        "  done in {elapsed:.1} s ({:.0} workflows/s); {dropped} spans dropped and counted",
        runs as f64 / elapsed
    );
    bench.stop.cancel();
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let runs = args.next().unwrap_or(30_000);
    let down = args.next().unwrap_or(100_000);
    throughput(runs).await;
    collector_down(down).await;
}
