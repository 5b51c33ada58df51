//! `GET /api/metrics`: every series of the registry, in the guide's shape.

use std::collections::BTreeMap;

use super::decode::Decode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type Labels = BTreeMap<String, String>;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Decode)]
pub struct MetricsSnapshot {
    pub counters: Vec<CounterSample>,
    pub gauges: Vec<GaugeSample>,
    pub histograms: Vec<HistogramSample>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct CounterSample {
    pub name: String,
    pub value: u64,
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub labels: Labels,
    pub last_updated: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct GaugeSample {
    pub name: String,
    pub value: f64,
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub labels: Labels,
    pub last_updated: DateTime<Utc>,
}

/// Buckets are upper bounds; `counts[i]` is the cumulative number of
/// observations `≤ buckets[i]` (Prometheus semantics). Observations above the
/// last bound appear only in `count`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Decode)]
pub struct HistogramSample {
    pub name: String,
    pub buckets: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub labels: Labels,
    pub last_updated: DateTime<Utc>,
}

impl HistogramSample {
    /// Estimated quantile (`q` in [0, 1]) by linear interpolation inside the
    /// bucket, as Prometheus's `histogram_quantile` does.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut lower_bound = 0.0;
        let mut lower_count = 0u64;
        for (bound, &count) in self.buckets.iter().zip(&self.counts) {
            if count as f64 >= rank {
                let in_bucket = (count - lower_count) as f64;
                let frac = if in_bucket > 0.0 {
                    (rank - lower_count as f64) / in_bucket
                } else {
                    0.0
                };
                return Some(lower_bound + (bound - lower_bound) * frac);
            }
            lower_bound = *bound;
            lower_count = count;
        }
        self.buckets.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let h = HistogramSample {
            name: "x".into(),
            buckets: vec![1.0, 2.0, 4.0],
            counts: vec![0, 50, 100],
            sum: 0.0,
            count: 100,
            labels: Labels::new(),
            last_updated: Utc::now(),
        };
        assert_eq!(h.quantile(0.5), Some(2.0));
        assert_eq!(h.quantile(0.25), Some(1.5));
        assert_eq!(h.quantile(0.75), Some(3.0));
    }
}
