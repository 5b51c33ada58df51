//! Our `metrics` recorder: labelled counters, gauges and fixed-bucket
//! histograms in a sharded, lock-free-on-the-hot-path registry
//! (`metrics_util::registry`), with a cap on series per metric.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{Registry as Series, Storage};
use parking_lot::{Mutex, RwLock};

use super::cells::{CounterCell, GaugeCell, HistogramCell, HistogramRead};

/// The guide's default histogram buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Label value of the series that absorbs everything past the cap.
pub const OVERFLOW: &str = "__overflow__";

/// The counter that says how many new series were folded into overflow.
pub const OVERFLOW_COUNTER: &str = "metrics_series_overflow_total";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Creates the cells; knows which histograms declared their own buckets.
pub struct Cells {
    buckets: RwLock<HashMap<String, Arc<[f64]>>>,
    default_buckets: Arc<[f64]>,
}

impl Storage<Key> for Cells {
    type Counter = Arc<CounterCell>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<HistogramCell>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::default()
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::default()
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        let bounds = self
            .buckets
            .read()
            .get(key.name())
            .cloned()
            .unwrap_or_else(|| self.default_buckets.clone());
        Arc::new(HistogramCell::new(bounds))
    }
}

/// One series as read, for rendering.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(HistogramRead),
}

#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRead {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: Value,
    pub updated_ms: i64,
}

pub struct Registry {
    series: Series<Key, Cells>,
    help: RwLock<HashMap<String, (Kind, String)>>,
    /// Distinct series per (kind, name), to enforce the cap.
    counts: Mutex<HashMap<(Kind, String), usize>>,
    max_series_per_metric: usize,
}

impl Registry {
    pub fn new(max_series_per_metric: usize) -> Self {
        Self {
            series: Series::new(Cells {
                buckets: RwLock::new(HashMap::new()),
                default_buckets: Arc::from(DEFAULT_BUCKETS.as_slice()),
            }),
            help: RwLock::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            max_series_per_metric: max_series_per_metric.max(1),
        }
    }

    /// Declares a histogram's own bucket bounds (sorted ascending); call
    /// before its first observation.
    pub fn set_buckets(&self, name: &str, bounds: &[f64]) {
        let mut bounds = bounds.to_vec();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        self.series
            .storage()
            .buckets
            .write()
            .insert(name.to_string(), Arc::from(bounds));
    }

    pub fn help(&self, name: &str) -> Option<(Kind, String)> {
        self.help.read().get(name).cloned()
    }

    fn describe(&self, kind: Kind, name: KeyName, description: SharedString) {
        self.help
            .write()
            .insert(name.as_str().to_string(), (kind, description.to_string()));
    }

    /// The key to store under: itself, or the metric's overflow series once
    /// the metric has as many series as the cap allows.
    fn admit(&self, kind: Kind, key: &Key, exists: bool) -> Key {
        if exists || key.labels().len() == 0 {
            return key.clone();
        }
        let mut counts = self.counts.lock();
        let count = counts.entry((kind, key.name().to_string())).or_default();
        if *count < self.max_series_per_metric {
            *count += 1;
            return key.clone();
        }
        drop(counts);
        let overflow_labels: Vec<Label> = key
            .labels()
            .map(|l| Label::new(l.key().to_string(), OVERFLOW))
            .collect();
        let overflow_key = Key::from_parts(key.name().to_string(), overflow_labels);
        let marker = Key::from_parts(
            OVERFLOW_COUNTER,
            vec![Label::new("metric", key.name().to_string())],
        );
        self.series
            .get_or_create_counter(&marker, |c| metrics::CounterFn::increment(&**c, 1));
        overflow_key
    }

    /// Every series that has been written at least once.
    pub fn read_all(&self) -> Vec<SeriesRead> {
        let mut out = Vec::new();
        let labels = |key: &Key| -> BTreeMap<String, String> {
            key.labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect()
        };
        self.series.visit_counters(|key, cell| {
            let (value, updated_ms) = cell.get();
            if updated_ms != 0 {
                out.push(SeriesRead {
                    name: key.name().to_string(),
                    labels: labels(key),
                    value: Value::Counter(value),
                    updated_ms,
                });
            }
        });
        self.series.visit_gauges(|key, cell| {
            let (value, updated_ms) = cell.get();
            if updated_ms != 0 {
                out.push(SeriesRead {
                    name: key.name().to_string(),
                    labels: labels(key),
                    value: Value::Gauge(value),
                    updated_ms,
                });
            }
        });
        self.series.visit_histograms(|key, cell| {
            let read = cell.read();
            if read.updated_ms != 0 {
                out.push(SeriesRead {
                    name: key.name().to_string(),
                    labels: labels(key),
                    updated_ms: read.updated_ms,
                    value: Value::Histogram(read),
                });
            }
        });
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        out
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(Kind::Counter, key, description)
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(Kind::Gauge, key, description)
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(Kind::Histogram, key, description)
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if let Some(cell) = self.series.get_counter(key) {
            return Counter::from_arc(cell);
        }
        let key = self.admit(Kind::Counter, key, false);
        self.series
            .get_or_create_counter(&key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        if let Some(cell) = self.series.get_gauge(key) {
            return Gauge::from_arc(cell);
        }
        let key = self.admit(Kind::Gauge, key, false);
        self.series
            .get_or_create_gauge(&key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if let Some(cell) = self.series.get_histogram(key) {
            return Histogram::from_arc(cell);
        }
        let key = self.admit(Kind::Histogram, key, false);
        self.series
            .get_or_create_histogram(&key, |h| Histogram::from_arc(h.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(r: &Registry, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(r, f)
    }

    #[test]
    fn counters_gauges_and_histograms_record_through_the_facade() {
        let r = Registry::new(100);
        r.set_buckets("latency", &[1.0, 0.1]);
        with(&r, || {
            metrics::counter!("jobs_total", "status" => "ok").increment(2);
            metrics::counter!("jobs_total", "status" => "ok").increment(1);
            metrics::counter!("jobs_total", "status" => "bad").increment(1);
            metrics::gauge!("queue").set(4.0);
            metrics::histogram!("latency").record(0.05);
            metrics::histogram!("latency").record(0.5);
            metrics::histogram!("other").record(7.0);
        });
        let all = r.read_all();
        let find = |name: &str, label: Option<(&str, &str)>| {
            all.iter()
                .find(|s| {
                    s.name == name
                        && label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v))
                })
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(
            find("jobs_total", Some(("status", "ok"))),
            Value::Counter(3)
        );
        assert_eq!(
            find("jobs_total", Some(("status", "bad"))),
            Value::Counter(1)
        );
        assert_eq!(find("queue", None), Value::Gauge(4.0));
        match find("latency", None) {
            Value::Histogram(h) => {
                assert_eq!(h.bounds, [0.1, 1.0], "declared buckets, sorted");
                assert_eq!(h.cumulative, [1, 2]);
            }
            other => panic!("{other:?}"),
        }
        match find("other", None) {
            Value::Histogram(h) => assert_eq!(h.bounds, DEFAULT_BUCKETS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn series_past_the_cap_fold_into_overflow_and_are_counted() {
        let r = Registry::new(3);
        with(&r, || {
            for i in 0..10 {
                metrics::counter!("per_step_total", "step" => format!("s{i}")).increment(1);
            }
            // An existing series keeps working past the cap.
            metrics::counter!("per_step_total", "step" => "s0").increment(1);
        });
        let all = r.read_all();
        let steps: Vec<(String, Value)> = all
            .iter()
            .filter(|s| s.name == "per_step_total")
            .map(|s| (s.labels["step"].clone(), s.value.clone()))
            .collect();
        assert_eq!(
            steps,
            [
                (OVERFLOW.to_string(), Value::Counter(7)),
                ("s0".to_string(), Value::Counter(2)),
                ("s1".to_string(), Value::Counter(1)),
                ("s2".to_string(), Value::Counter(1)),
            ]
        );
        let marker = all.iter().find(|s| s.name == OVERFLOW_COUNTER).unwrap();
        assert_eq!(marker.labels["metric"], "per_step_total");
        assert_eq!(marker.value, Value::Counter(7));
    }
}
