//! Duration statistics in bounded memory: exact count, sum, min and max; an
//! HDR histogram for percentiles; a short window of recent values.
//!
//! Recording is O(1) whatever came before. Percentiles are HDR estimates
//! with 2 significant digits (the value reported is within 1 % of the true
//! percentile of the recorded values), over 1 µs to 1 h; longer durations
//! are recorded as 1 h in the histogram only (sum, max and the window keep
//! the exact value). They are computed on read and cached until the next
//! record, so reading many series is cheap.

use std::cell::OnceCell;
use std::collections::VecDeque;

use hdrhistogram::Histogram;

/// Recent durations kept per series.
pub const WINDOW: usize = 50;

const MAX_MICROS: u64 = 3_600_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

#[derive(Debug)]
pub struct Durations {
    count: u64,
    total: f64,
    min: f64,
    max: f64,
    histogram: Histogram<u64>,
    /// The latest values by when they happened (microseconds; the value
    /// breaks a tie): in a cluster each node folds the others' events a
    /// little later than its own, and all must show the same window.
    window: VecDeque<(i64, f64)>,
    percentiles: OnceCell<Percentiles>,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            count: 0,
            total: 0.0,
            min: 0.0,
            max: 0.0,
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("valid HDR bounds"),
            window: VecDeque::with_capacity(WINDOW),
            percentiles: OnceCell::new(),
        }
    }
}

impl Durations {
    /// Records `secs`, which ended at `at` (microseconds since the epoch).
    pub fn record(&mut self, secs: f64, at: i64) {
        let secs = secs.max(0.0);
        if self.count == 0 || secs < self.min {
            self.min = secs;
        }
        if secs > self.max {
            self.max = secs;
        }
        self.count += 1;
        self.total += secs;
        let micros = ((secs * 1e6).round() as u64).clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
        // Nearly always the latest: found from the back in a step or two.
        let key = (at, secs);
        let later = self
            .window
            .iter()
            .rev()
            .take_while(|&&(t, v)| (t, v).partial_cmp(&key) == Some(std::cmp::Ordering::Greater))
            .count();
        if later < WINDOW {
            let place = self.window.len() - later;
            self.window.insert(place, key);
            if self.window.len() > WINDOW {
                self.window.pop_front();
            }
        }
        self.percentiles = OnceCell::new();
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn total(&self) -> f64 {
        self.total
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total / self.count as f64
        }
    }

    /// Recent values, oldest first.
    pub fn window(&self) -> Vec<f64> {
        self.window.iter().map(|&(_, v)| v).collect()
    }

    pub fn percentiles(&self) -> Percentiles {
        *self.percentiles.get_or_init(|| {
            if self.count == 0 {
                return Percentiles::default();
            }
            // Clamped to the exact extremes, which the histogram only approximates.
            let at = |q: f64| {
                (self.histogram.value_at_quantile(q) as f64 / 1e6).clamp(self.min, self.max)
            };
            Percentiles {
                p50: at(0.50),
                p95: at(0.95),
                p99: at(0.99),
            }
        })
    }
}

/// Rounds for display in the API: microsecond precision is what we measure.
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact percentile by nearest rank, for comparison.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_are_within_one_percent_of_exact() {
        let mut d = Durations::default();
        // A skewed, LLM-like latency distribution: 0.2 s to ~30 s.
        let mut values: Vec<f64> = (0..10_000)
            .map(|i| {
                let u = ((i * 7919) % 10_000) as f64 / 10_000.0;
                0.2 + 30.0 * u.powi(4)
            })
            .collect();
        for (i, v) in values.iter().enumerate() {
            d.record(*v, i as i64);
        }
        let last = *values.last().unwrap();
        values.sort_by(f64::total_cmp);
        let p = d.percentiles();
        for (q, got) in [(0.50, p.p50), (0.95, p.p95), (0.99, p.p99)] {
            let want = exact(&values, q);
            assert!(
                (got - want).abs() / want <= 0.01,
                "p{q}: {got} vs exact {want}"
            );
        }
        assert!(p.p50 <= p.p95 && p.p95 <= p.p99 && p.p99 <= d.max());
        assert_eq!(d.count(), 10_000);
        assert_eq!(d.window().len(), WINDOW);
        assert_eq!(*d.window().last().unwrap(), last);
    }

    #[test]
    fn the_window_holds_the_latest_by_time_whatever_order_they_come_in() {
        let (mut a, mut b) = (Durations::default(), Durations::default());
        let values: Vec<(i64, f64)> = (0..120).map(|i| (i / 2, (i % 7) as f64)).collect();
        for &(t, v) in &values {
            a.record(v, t);
        }
        // Folded in another order: each pair swapped, one late by a lot.
        let mut shuffled = values.clone();
        for pair in shuffled.chunks_mut(2) {
            pair.swap(0, 1);
        }
        shuffled.swap(100, 119);
        for &(t, v) in &shuffled {
            b.record(v, t);
        }
        assert_eq!(a.window(), b.window());
        assert_eq!(a.window().len(), WINDOW);
        let mut latest = values.clone();
        latest.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let want: Vec<f64> = latest[latest.len() - WINDOW..]
            .iter()
            .map(|p| p.1)
            .collect();
        assert_eq!(a.window(), want);
    }

    #[test]
    fn small_samples_and_extremes() {
        let mut d = Durations::default();
        assert_eq!(d.percentiles(), Percentiles::default());
        assert_eq!(d.avg(), 0.0);
        d.record(10.0, 0);
        d.record(20.0, 0);
        d.record(30.0, 0);
        assert_eq!(
            (d.min(), d.max(), d.avg(), d.total()),
            (10.0, 30.0, 20.0, 60.0)
        );
        let p = d.percentiles();
        assert!((p.p50 - 20.0).abs() <= 0.2, "{p:?}");
        assert!(p.p99 <= 30.0);
        d.record(7_200.0, 0);
        assert_eq!(
            d.max(),
            7_200.0,
            "beyond the histogram's range, max stays exact"
        );
        let p99 = d.percentiles().p99;
        assert!(
            (p99 - 3_600.0).abs() / 3_600.0 < 0.01,
            "the histogram saturates at 1 h: {p99}"
        );
    }
}
