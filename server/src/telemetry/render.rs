//! Rendering the registry: the guide's JSON (`GET /api/metrics`) and the
//! Prometheus text exposition format 0.0.4 (`GET /api/metrics/prometheus`).

use std::collections::BTreeMap;
use std::fmt::Write;

use wire::{CounterSample, GaugeSample, HistogramSample, MetricsSnapshot};

use super::registry::{Metric, Registry, SeriesRead, Value};

pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which series to show: by name (any of), and by label values (all of).
#[derive(Clone, Debug, Default)]
pub struct Selector {
    pub names: Vec<String>,
    /// Per label, the values any of which matches.
    pub labels: BTreeMap<String, Vec<String>>,
}

impl Selector {
    /// Reads a query string: `name` picks metrics, any other parameter a
    /// label; each may repeat (`?status=a&status=b`) or list values with
    /// commas (`?status=a,b`), and matches any of them.
    pub fn from_query(query: &str) -> Self {
        let mut selector = Self::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let values = v.split(',').filter(|n| !n.is_empty()).map(str::to_string);
            if k == "name" {
                selector.names.extend(values);
            } else {
                selector
                    .labels
                    .entry(k.into_owned())
                    .or_default()
                    .extend(values);
            }
        }
        selector
    }

    fn matches(&self, s: &SeriesRead) -> bool {
        (self.names.is_empty() || self.names.contains(&s.name))
            && self
                .labels
                .iter()
                .all(|(k, want)| s.labels.get(k).is_some_and(|v| want.contains(v)))
    }
}

fn to_datetime(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn snapshot(registry: &Registry, selector: &Selector) -> MetricsSnapshot {
    snapshot_of(registry.read_all(), selector)
}

/// [`snapshot`] of series read already (see [`super::MetricsView`]).
pub fn snapshot_of(
    series: Vec<super::registry::SeriesRead>,
    selector: &Selector,
) -> MetricsSnapshot {
    let mut out = MetricsSnapshot::default();
    for s in series.into_iter().filter(|s| selector.matches(s)) {
        let last_updated = to_datetime(s.updated_ms);
        match s.value {
            Value::Counter(value) => out.counters.push(CounterSample {
                name: s.name,
                value,
                labels: s.labels,
                last_updated,
            }),
            // The guide's JSON counters are whole numbers; a fractional
            // total (CPU seconds) is for Prometheus, where it is standard.
            Value::FloatCounter(_) => {}
            Value::Gauge(value) => out.gauges.push(GaugeSample {
                name: s.name,
                value,
                labels: s.labels,
                last_updated,
            }),
            Value::Histogram(h) => out.histograms.push(HistogramSample {
                name: s.name,
                buckets: h.bounds,
                counts: h.cumulative,
                sum: h.sum,
                count: h.count,
                labels: s.labels,
                last_updated,
            }),
        }
    }
    out
}

/// The text exposition, written straight from the families (no series is
/// copied out first): each metric's series in the order they were created.
pub fn prometheus(registry: &Registry) -> String {
    let metrics = registry.metrics();
    let mut out = String::with_capacity(1 << 16);
    let mut described: Option<&str> = None;
    // `{k="v",…` of the series being written, without the closing brace.
    let mut labels = String::new();
    for metric in &metrics {
        let names: Vec<String> = metric.label_names().iter().map(|k| label_name(k)).collect();
        let mut header = |out: &mut String| {
            if described != Some(metric.name()) {
                described = Some(metric.name());
                let help = registry
                    .help(metric.name())
                    .map(|(_, h)| h)
                    .unwrap_or_else(|| metric.name().replace('_', " "));
                let _ = writeln!(out, "# HELP {} {}", metric.name(), escape_help(&help));
                let _ = writeln!(out, "# TYPE {} {}", metric.name(), metric.kind().as_str());
            }
        };
        let name = metric.name();
        match metric {
            Metric::Counter(f) => f.visit(|values, c| {
                header(&mut out);
                label_pairs(&mut labels, &names, values);
                sample(&mut out, name, "", &labels, None);
                let _ = writeln!(out, " {}", c.get().0);
            }),
            Metric::FloatCounter(f) => f.visit(|values, c| {
                header(&mut out);
                label_pairs(&mut labels, &names, values);
                sample(&mut out, name, "", &labels, None);
                let _ = writeln!(out, " {}", number(c.get().0));
            }),
            Metric::Gauge(f) => f.visit(|values, g| {
                header(&mut out);
                label_pairs(&mut labels, &names, values);
                sample(&mut out, name, "", &labels, None);
                let _ = writeln!(out, " {}", number(g.get().0));
            }),
            Metric::Histogram(f) => {
                let mut bounds: Vec<String> = Vec::new();
                f.visit(|values, h| {
                    let h = h.read();
                    header(&mut out);
                    if bounds.len() != h.bounds.len() {
                        bounds = h.bounds.iter().map(|b| number(*b)).collect();
                    }
                    label_pairs(&mut labels, &names, values);
                    for (bound, count) in bounds.iter().zip(&h.cumulative) {
                        sample(&mut out, name, "_bucket", &labels, Some(bound));
                        let _ = writeln!(out, " {count}");
                    }
                    sample(&mut out, name, "_bucket", &labels, Some("+Inf"));
                    let _ = writeln!(out, " {}", h.count);
                    sample(&mut out, name, "_sum", &labels, None);
                    let _ = writeln!(out, " {}", number(h.sum));
                    sample(&mut out, name, "_count", &labels, None);
                    let _ = writeln!(out, " {}", h.count);
                })
            }
        }
    }
    out
}

/// `{k="v",k2="v2"` (empty without labels) into `out`, replacing it.
fn label_pairs(out: &mut String, names: &[String], values: &[Box<str>]) {
    out.clear();
    for (i, (k, v)) in names.iter().zip(values).enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        out.push_str(k);
        out.push_str("=\"");
        escape_label_value(out, v);
        out.push('"');
    }
}

/// `name_suffix{labels,le="…"}` without the value.
fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
    out.push_str(name);
    out.push_str(suffix);
    match (labels.is_empty(), le) {
        (true, None) => {}
        (false, None) => {
            out.push_str(labels);
            out.push('}');
        }
        (empty, Some(le)) => {
            out.push_str(if empty { "{" } else { labels });
            if !empty {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push_str("\"}");
        }
    }
}

/// Label names must match `[a-zA-Z_][a-zA-Z0-9_]*`.
fn label_name(k: &str) -> String {
    let mut name: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

fn escape_label_value(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Floats as Prometheus writes them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_help_type_buckets_and_escaped_labels() {
        let r = Registry::new(100);
        metrics::with_local_recorder(&r, || {
            metrics::describe_counter!("jobs_total", "Jobs by status.\nSecond line");
            metrics::counter!("jobs_total", "status" => "o\"k\\\n").increment(2);
            metrics::histogram!("wait_seconds").record(0.2);
            metrics::gauge!("temp").set(-1.5);
        });
        let text = prometheus(&r);
        assert!(
            text.contains("# HELP jobs_total Jobs by status.\\nSecond line\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE jobs_total counter\n"));
        assert!(
            text.contains("jobs_total{status=\"o\\\"k\\\\\\n\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE wait_seconds histogram\n"));
        assert!(text.contains("wait_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(text.contains("wait_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("wait_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("wait_seconds_sum 0.2\n"));
        assert!(text.contains("wait_seconds_count 1\n"));
        assert!(text.contains("temp -1.5\n"));
    }

    #[test]
    fn snapshots_filter_by_name_and_labels() {
        let r = Registry::new(100);
        metrics::with_local_recorder(&r, || {
            metrics::counter!("a_total", "status" => "success").increment(1);
            metrics::counter!("a_total", "status" => "failure").increment(1);
            metrics::counter!("b_total").increment(1);
        });
        let sel = Selector {
            names: vec!["a_total".into()],
            labels: [("status".to_string(), vec!["success".to_string()])].into(),
        };
        let snap = snapshot(&r, &sel);
        assert_eq!(snap.counters.len(), 1);
        assert_eq!(snap.counters[0].labels["status"], "success");
        assert_eq!(snapshot(&r, &Selector::default()).counters.len(), 3);
        // Every label matcher takes several values, repeated or listed.
        for query in [
            "status=success&status=failure",
            "status=success,failure",
            "name=a_total&status=failure,success",
        ] {
            let snap = snapshot(&r, &Selector::from_query(query));
            assert_eq!(snap.counters.len(), 2, "{query}");
        }
        let snap = snapshot(&r, &Selector::from_query("name=a_total,b_total"));
        assert_eq!(snap.counters.len(), 3);
        assert!(snapshot(&r, &Selector::from_query("status=nope"))
            .counters
            .is_empty());
    }
}
