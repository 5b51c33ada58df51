//! Our metrics registry: labelled counters, gauges and fixed-bucket
//! histograms, each metric a [`Family`] with a cap on its series. Our own
//! call sites hold families (found once, by name and label names) and look
//! series up by label values without allocating; the `metrics` facade
//! (`counter!(…)`, for libraries and the odd sampler) lands in the same
//! families through the [`Recorder`] impl.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parking_lot::RwLock;

use super::cells::{Cell, CounterCell, FloatCounterCell, GaugeCell, HistogramCell, HistogramRead};
pub use super::family::{Family, OVERFLOW};

/// The guide's default histogram buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

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

/// One metric of any kind.
#[derive(Clone)]
pub enum Metric {
    Counter(Arc<Family<CounterCell>>),
    /// A counter of a fractional total (CPU seconds): `counter` in the
    /// Prometheus text like the others.
    FloatCounter(Arc<Family<FloatCounterCell>>),
    Gauge(Arc<Family<GaugeCell>>),
    Histogram(Arc<Family<HistogramCell>>),
}

impl Metric {
    pub fn kind(&self) -> Kind {
        match self {
            Metric::Counter(_) | Metric::FloatCounter(_) => Kind::Counter,
            Metric::Gauge(_) => Kind::Gauge,
            Metric::Histogram(_) => Kind::Histogram,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Metric::Counter(f) => f.name(),
            Metric::FloatCounter(f) => f.name(),
            Metric::Gauge(f) => f.name(),
            Metric::Histogram(f) => f.name(),
        }
    }

    pub fn label_names(&self) -> &[String] {
        match self {
            Metric::Counter(f) => f.label_names(),
            Metric::FloatCounter(f) => f.label_names(),
            Metric::Gauge(f) => f.label_names(),
            Metric::Histogram(f) => f.label_names(),
        }
    }
}

/// A kind of cell, as the registry files it.
pub trait Kinded: Cell + Sized {
    const KIND: Kind;
    fn wrap(family: Arc<Family<Self>>) -> Metric;
    fn unwrap(metric: &Metric) -> Option<&Arc<Family<Self>>>;
}

impl Kinded for CounterCell {
    const KIND: Kind = Kind::Counter;
    fn wrap(family: Arc<Family<Self>>) -> Metric {
        Metric::Counter(family)
    }
    fn unwrap(metric: &Metric) -> Option<&Arc<Family<Self>>> {
        match metric {
            Metric::Counter(f) => Some(f),
            _ => None,
        }
    }
}

impl Kinded for FloatCounterCell {
    const KIND: Kind = Kind::Counter;
    fn wrap(family: Arc<Family<Self>>) -> Metric {
        Metric::FloatCounter(family)
    }
    fn unwrap(metric: &Metric) -> Option<&Arc<Family<Self>>> {
        match metric {
            Metric::FloatCounter(f) => Some(f),
            _ => None,
        }
    }
}

impl Kinded for GaugeCell {
    const KIND: Kind = Kind::Gauge;
    fn wrap(family: Arc<Family<Self>>) -> Metric {
        Metric::Gauge(family)
    }
    fn unwrap(metric: &Metric) -> Option<&Arc<Family<Self>>> {
        match metric {
            Metric::Gauge(f) => Some(f),
            _ => None,
        }
    }
}

impl Kinded for HistogramCell {
    const KIND: Kind = Kind::Histogram;
    fn wrap(family: Arc<Family<Self>>) -> Metric {
        Metric::Histogram(family)
    }
    fn unwrap(metric: &Metric) -> Option<&Arc<Family<Self>>> {
        match metric {
            Metric::Histogram(f) => Some(f),
            _ => None,
        }
    }
}

/// One series as read, for the JSON snapshot and live updates.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Counter(u64),
    FloatCounter(f64),
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
    /// By name; a name may have several label-name sets (the facade allows
    /// it) and, wrongly but harmlessly, several kinds.
    metrics: RwLock<HashMap<String, Vec<Metric>>>,
    help: RwLock<HashMap<String, (Kind, String)>>,
    buckets: RwLock<HashMap<String, Arc<[f64]>>>,
    default_buckets: Arc<[f64]>,
    /// `metrics_series_overflow_total{metric}`.
    overflowed: Arc<Family<CounterCell>>,
    max_series_per_metric: usize,
}

impl Registry {
    pub fn new(max_series_per_metric: usize) -> Self {
        let overflowed = Arc::new(Family::new(
            OVERFLOW_COUNTER,
            &["metric"],
            (),
            max_series_per_metric,
            None,
        ));
        Self {
            metrics: RwLock::new(HashMap::from([(
                OVERFLOW_COUNTER.to_string(),
                vec![Metric::Counter(overflowed.clone())],
            )])),
            help: RwLock::new(HashMap::new()),
            buckets: RwLock::new(HashMap::new()),
            default_buckets: Arc::from(DEFAULT_BUCKETS.as_slice()),
            overflowed,
            max_series_per_metric: max_series_per_metric.max(1),
        }
    }

    pub fn counters(&self, name: &str, labels: &[&str]) -> Arc<Family<CounterCell>> {
        self.family(name, labels, |_| ())
    }

    pub fn float_counters(&self, name: &str, labels: &[&str]) -> Arc<Family<FloatCounterCell>> {
        self.family(name, labels, |_| ())
    }

    pub fn gauges(&self, name: &str, labels: &[&str]) -> Arc<Family<GaugeCell>> {
        self.family(name, labels, |_| ())
    }

    pub fn histograms(&self, name: &str, labels: &[&str]) -> Arc<Family<HistogramCell>> {
        self.family(name, labels, |r| {
            r.buckets
                .read()
                .get(name)
                .cloned()
                .unwrap_or_else(|| r.default_buckets.clone())
        })
    }

    /// The metric with this name, kind and label names, made on first use.
    fn family<C: Kinded>(
        &self,
        name: &str,
        labels: &[&str],
        spec: impl FnOnce(&Self) -> C::Spec,
    ) -> Arc<Family<C>> {
        let find = |metrics: &HashMap<String, Vec<Metric>>| {
            metrics.get(name)?.iter().find_map(|m| {
                C::unwrap(m)
                    .filter(|f| f.label_names().iter().eq(labels.iter()))
                    .cloned()
            })
        };
        if let Some(f) = find(&self.metrics.read()) {
            return f;
        }
        let spec = spec(self);
        let mut metrics = self.metrics.write();
        if let Some(f) = find(&metrics) {
            return f;
        }
        let marker = (!labels.is_empty()).then(|| self.overflowed.clone());
        let family = Arc::new(Family::new(
            name,
            labels,
            spec,
            self.max_series_per_metric,
            marker,
        ));
        metrics
            .entry(name.to_string())
            .or_default()
            .push(C::wrap(family.clone()));
        family
    }

    /// Declares a histogram's own bucket bounds (sorted ascending); call
    /// before its first observation.
    pub fn set_buckets(&self, name: &str, bounds: &[f64]) {
        let mut bounds = bounds.to_vec();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        self.buckets
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

    /// Every metric, by name (then kind and label names).
    pub fn metrics(&self) -> Vec<Metric> {
        let mut all: Vec<Metric> = self.metrics.read().values().flatten().cloned().collect();
        all.sort_by(|a, b| {
            (a.name(), a.kind(), a.label_names()).cmp(&(b.name(), b.kind(), b.label_names()))
        });
        all
    }

    /// Dates every series whose value changed since the last stamp: run
    /// each second, and before every read.
    pub fn stamp(&self) {
        let now = super::family::now_ms();
        for metric in self.metrics.read().values().flatten() {
            match metric {
                Metric::Counter(f) => f.stamp(now),
                Metric::FloatCounter(f) => f.stamp(now),
                Metric::Gauge(f) => f.stamp(now),
                Metric::Histogram(f) => f.stamp(now),
            }
        }
    }

    /// Every series, by name and labels.
    pub fn read_all(&self) -> Vec<SeriesRead> {
        self.stamp();
        let mut out = Vec::new();
        for metric in self.metrics() {
            let names = metric.label_names().to_vec();
            let mut push = |values: &[Box<str>], value: Value, updated_ms: i64| {
                out.push(SeriesRead {
                    name: metric.name().to_string(),
                    labels: names
                        .iter()
                        .cloned()
                        .zip(values.iter().map(|v| v.to_string()))
                        .collect(),
                    value,
                    updated_ms,
                });
            };
            match &metric {
                Metric::Counter(f) => f.visit(|values, c| {
                    let (value, updated_ms) = c.get();
                    push(values, Value::Counter(value), updated_ms)
                }),
                Metric::FloatCounter(f) => f.visit(|values, c| {
                    let (value, updated_ms) = c.get();
                    push(values, Value::FloatCounter(value), updated_ms)
                }),
                Metric::Gauge(f) => f.visit(|values, g| {
                    let (value, updated_ms) = g.get();
                    push(values, Value::Gauge(value), updated_ms)
                }),
                Metric::Histogram(f) => f.visit(|values, h| {
                    let read = h.read();
                    let updated_ms = read.updated_ms;
                    push(values, Value::Histogram(read), updated_ms)
                }),
            }
        }
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        out
    }

    /// A facade key's family and label values.
    fn facade<C: Kinded>(
        &self,
        key: &Key,
        family: impl FnOnce(&Self, &str, &[&str]) -> Arc<Family<C>>,
    ) -> Arc<C> {
        let names: Vec<&str> = key.labels().map(|l| l.key()).collect();
        let values: Vec<&str> = key.labels().map(|l| l.value()).collect();
        family(self, key.name(), &names).handle(&values)
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
        Counter::from_arc(self.facade(key, Self::counters))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.facade(key, Self::gauges))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.facade(key, Self::histograms))
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
