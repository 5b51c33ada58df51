//! OpenTelemetry export: every finished run sent as a trace over OTLP/HTTP
//! (protobuf) to a collector (`--otlp-endpoint`, or the standard
//! `OTEL_EXPORTER_OTLP_*` variables).
//!
//! The exporter is a journal observer: when a run ends it turns the run into
//! spans ([`spans`]) and queues them. The queue is bounded in spans
//! (`OTEL_BSP_MAX_QUEUE_SIZE`, as the SDK's batch processor): when it is
//! full, new spans are dropped and counted (`otlp_spans_dropped_total`), so
//! a dead collector costs a counter, never memory, and the engine never
//! waits for it. A task sends the queue in batches, after their events are
//! durable (what is exported is what the log has), retrying what the OTLP
//! spec says to retry.

pub mod context;
mod send;
pub mod spans;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::events::{Event, EventKind};
use crate::journal::{Journal, Observer};
use crate::model::Model;
use crate::runs::RunState;
use crate::telemetry::cells::CounterCell;
use crate::telemetry::{names, Registry};

/// Where and how to export, from the command line and environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub url: String,
    /// Sent with every request (an API key, say); never logged.
    pub headers: Vec<(String, String)>,
    /// The resource's attributes: `service.name` first.
    pub resource: Vec<(String, String)>,
    pub max_queue_spans: usize,
    pub max_batch_spans: usize,
    pub schedule_delay: Duration,
    pub timeout: Duration,
}

impl Settings {
    /// From the configuration, or `None` when no endpoint is set.
    pub fn from_config(c: &crate::config::Config) -> Result<Option<Self>, String> {
        let url = match (&c.otlp_traces_endpoint, &c.otlp_endpoint) {
            // The signal's own variable is the URL as is; the base one has
            // the signal's path appended (OTLP exporter spec).
            (Some(url), _) if !url.trim().is_empty() => url.trim().to_string(),
            (_, Some(base)) if !base.trim().is_empty() => {
                format!("{}/v1/traces", base.trim().trim_end_matches('/'))
            }
            _ => return Ok(None),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--otlp-endpoint {url}: an http:// or https:// URL is needed"
            ));
        }
        let protocol = c.otlp_protocol.trim();
        if protocol != "http/protobuf" {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: Shiioo exports over http/protobuf only \
                 (every OpenTelemetry Collector receives it on :4318)"
            ));
        }
        let headers = pairs(&c.otlp_headers).map_err(|e| format!("--otlp-headers: {e}"))?;
        let mut resource = vec![("service.name".to_string(), c.otel_service_name.clone())];
        for (k, v) in pairs(&c.otel_resource_attributes)
            .map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: {e}"))?
        {
            // OTEL_SERVICE_NAME wins over a service.name among the attributes.
            if k != "service.name" {
                resource.push((k, v));
            }
        }
        resource.push(("service.version".into(), crate::VERSION.into()));
        Ok(Some(Self {
            url,
            headers,
            resource,
            max_queue_spans: c.otlp_max_queue_spans.max(1),
            max_batch_spans: c
                .otlp_max_batch_spans
                .clamp(1, c.otlp_max_queue_spans.max(1)),
            schedule_delay: Duration::from_millis(c.otlp_schedule_delay_ms),
            timeout: Duration::from_millis(c.otlp_timeout_ms.max(1)),
        }))
    }
}

/// `key1=value1,key2=value2` with percent-encoded values, the format of
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`.
fn pairs(list: &str) -> Result<Vec<(String, String)>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                format!(
                    "`{}…` is not key=value",
                    item.chars().take(20).collect::<String>()
                )
            })?;
            let v = percent_encoding::percent_decode_str(v.trim())
                .decode_utf8()
                .map_err(|_| format!("the value of {} is not UTF-8", k.trim()))?;
            Ok((k.trim().to_string(), v.into_owned()))
        })
        .collect()
}

/// Finished runs waiting to be sent, bounded by the spans they make, with
/// the seq of the last event they show.
struct Queue<T> {
    items: VecDeque<(T, usize)>,
    spans: usize,
    seq: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            items: VecDeque::new(),
            spans: 0,
            seq: 0,
        }
    }
}

impl<T> Queue<T> {
    fn has_room(&self, spans: usize, capacity: usize) -> bool {
        self.spans + spans <= capacity
    }

    fn push(&mut self, item: T, spans: usize, seq: u64) {
        self.items.push_back((item, spans));
        self.spans += spans;
        self.seq = seq;
    }

    /// Whole items of up to `batch` spans (one at least, however many it
    /// makes), and the seq they must be durable through.
    fn take(&mut self, batch: usize) -> Option<(Vec<T>, u64)> {
        let mut out = Vec::new();
        let mut spans = 0;
        while let Some((_, n)) = self.items.front() {
            if !out.is_empty() && spans + n > batch {
                break;
            }
            let (item, n) = self.items.pop_front().expect("just seen");
            spans += n;
            self.spans -= n;
            out.push(item);
        }
        (!out.is_empty()).then_some((out, self.seq))
    }
}

/// The journal's side of the export: keeps each run that ends, to be made
/// into spans by the sending task (not under the journal's lock, where the
/// engine would wait for it).
pub struct Exporter {
    queue: Mutex<Queue<RunState>>,
    capacity: usize,
    batch: usize,
    /// Set when a batch is full, so that the sender is woken outside the
    /// journal's lock.
    full: AtomicBool,
    wake: Notify,
    /// Off during replay: runs that ended before this start were exported
    /// (or not) by the process that ran them.
    armed: AtomicBool,
    dropped: Arc<CounterCell>,
    exported: Arc<CounterCell>,
}

impl Exporter {
    pub fn new(settings: &Settings, registry: &Registry) -> Arc<Self> {
        let counter = |name| registry.counters(name, &[]).handle(&[]);
        Arc::new(Self {
            queue: Mutex::new(Queue::default()),
            capacity: settings.max_queue_spans,
            batch: settings.max_batch_spans,
            full: AtomicBool::new(false),
            wake: Notify::new(),
            armed: AtomicBool::new(false),
            dropped: counter(names::OTLP_SPANS_DROPPED),
            exported: counter(names::OTLP_SPANS_EXPORTED),
        })
    }

    /// Starts exporting runs that end from now on.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Up to a batch of runs, with the seq they must be durable through.
    fn take(&self) -> Option<(Vec<RunState>, u64)> {
        self.queue.lock().take(self.batch)
    }

    /// Spans waiting to be sent.
    pub fn queued_spans(&self) -> usize {
        self.queue.lock().spans
    }

    /// Sends what is queued, batch by batch, until `stop`; then what is left.
    pub async fn run(
        self: Arc<Self>,
        settings: Settings,
        journal: Arc<Journal>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let sender = match send::Sender::new(&settings) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("OpenTelemetry export is off: {e}");
                return;
            }
        };
        tracing::info!(url = %settings.url, "exporting runs as OpenTelemetry traces");
        loop {
            let stopping = tokio::select! {
                _ = self.wake.notified() => false,
                _ = tokio::time::sleep(settings.schedule_delay) => false,
                _ = stop.cancelled() => true,
            };
            while let Some((runs, seq)) = self.take() {
                let mut batch = Vec::with_capacity(self.batch);
                for run in &runs {
                    spans::run_spans(run, &mut batch);
                }
                drop(runs);
                // Only what the log has is exported.
                if journal.durable(seq).await.is_err() {
                    self.dropped.increment(batch.len() as u64);
                    continue;
                }
                let n = batch.len() as u64;
                match sender.send(batch, !stopping).await {
                    Ok(rejected) => {
                        self.exported.increment(n - rejected.min(n));
                        self.dropped.increment(rejected.min(n));
                    }
                    Err(e) => {
                        self.dropped.increment(n);
                        tracing::warn!("OpenTelemetry export failed, {n} spans dropped: {e}");
                    }
                }
                if !stopping && self.queued_spans() < self.batch {
                    break;
                }
            }
            if stopping {
                return;
            }
        }
    }
}

impl Observer for Exporter {
    fn observe(&self, event: &Event, model: &Model) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let run_id = match &event.kind {
            EventKind::RunCompleted { run_id, .. }
            | EventKind::RunFailed { run_id, .. }
            | EventKind::RunCancelled { run_id, .. }
            | EventKind::RunInterrupted { run_id, .. } => run_id,
            _ => return,
        };
        let Some(run) = model.runs.get(run_id) else {
            return;
        };
        let n = spans::count(run);
        if n == 0 {
            return;
        }
        // All or none: a run's trace missing its root is worse than a run
        // not exported. Checked before the copy, which a full queue spares.
        let mut q = self.queue.lock();
        if !q.has_room(n, self.capacity) {
            drop(q);
            self.dropped.increment(n as u64);
            return;
        }
        q.push(run.clone(), n, event.seq);
        if q.spans >= self.batch {
            self.full.store(true, Ordering::Relaxed);
        }
    }

    fn unlocked(&self) {
        if self.full.swap(false, Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_holds_whole_runs_and_batches_them_by_their_spans() {
        let mut q = Queue::default();
        q.push("a", 3, 1);
        assert!(q.has_room(2, 5) && !q.has_room(3, 5), "bounded in spans");
        q.push("b", 1, 2);
        q.push("c", 1, 3);
        q.push("d", 1, 4);
        // A run bigger than a batch still goes, alone; the rest in twos.
        assert_eq!(q.take(2), Some((vec!["a"], 4)));
        assert_eq!(q.take(2), Some((vec!["b", "c"], 4)));
        assert_eq!(q.spans, 1);
        assert_eq!(q.take(2), Some((vec!["d"], 4)));
        assert_eq!(q.take(2), None);
        assert_eq!(q.spans, 0);
    }

    fn config(args: &[&str]) -> crate::config::Config {
        use clap::Parser;
        crate::config::Config::parse_from(std::iter::once("shiioo").chain(args.iter().copied()))
    }

    #[test]
    fn settings_follow_the_otlp_exporter_spec() {
        assert!(Settings::from_config(&config(&[])).unwrap().is_none());
        let s = Settings::from_config(&config(&[
            "--otlp-endpoint",
            "http://collector:4318/",
            "--otlp-headers",
            "api-key=secret%20value, x-team = ops",
            "--otel-service-name",
            "agents",
            "--otel-resource-attributes",
            "deployment.environment=prod,service.name=ignored",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "http://collector:4318/v1/traces");
        assert_eq!(
            s.headers,
            vec![
                ("api-key".into(), "secret value".into()),
                ("x-team".into(), "ops".into())
            ]
        );
        assert_eq!(s.resource[0], ("service.name".into(), "agents".into()));
        assert!(s
            .resource
            .contains(&("deployment.environment".into(), "prod".into())));
        assert_eq!(
            s.resource
                .iter()
                .filter(|(k, _)| k == "service.name")
                .count(),
            1
        );
        // The signal's own endpoint is taken as it is.
        let s = Settings::from_config(&config(&[
            "--otlp-endpoint",
            "http://a:4318",
            "--otlp-traces-endpoint",
            "http://b:4318/custom",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "http://b:4318/custom");
        for bad in [
            &["--otlp-endpoint", "collector:4318"][..],
            &[
                "--otlp-endpoint",
                "http://c:4318",
                "--otlp-protocol",
                "grpc",
            ],
            &[
                "--otlp-endpoint",
                "http://c:4318",
                "--otlp-headers",
                "novalue",
            ],
        ] {
            assert!(Settings::from_config(&config(bad)).is_err(), "{bad:?}");
        }
    }
}
