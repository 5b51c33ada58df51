//! The storage behind each series: atomics only, so recording is lock-free.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};

use super::clock;

#[derive(Debug, Default)]
pub struct CounterCell {
    value: AtomicU64,
    updated_ms: AtomicI64,
}

impl CounterCell {
    pub fn get(&self) -> (u64, i64) {
        (
            self.value.load(Ordering::Relaxed),
            self.updated_ms.load(Ordering::Relaxed),
        )
    }
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        touch(&self.updated_ms);
    }

    fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
        self.updated_ms.store(clock::now_ms(), Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct GaugeCell {
    bits: AtomicU64,
    updated_ms: AtomicI64,
}

impl GaugeCell {
    pub fn get(&self) -> (f64, i64) {
        (
            f64::from_bits(self.bits.load(Ordering::Relaxed)),
            self.updated_ms.load(Ordering::Relaxed),
        )
    }

    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(f(f64::from_bits(b)).to_bits())
            });
        self.updated_ms.store(clock::now_ms(), Ordering::Relaxed);
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value)
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value)
    }

    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
        self.updated_ms.store(clock::now_ms(), Ordering::Relaxed);
    }
}

/// Fixed upper bounds; one atomic per bucket (not cumulative: cumulated when
/// read), plus the overflow past the last bound. The total count is the sum
/// of the buckets, so an observation costs two atomic updates, not three.
#[derive(Debug)]
pub struct HistogramCell {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
    updated_ms: AtomicI64,
}

/// Stores `now` unless it is already there: a read is cheaper than a write
/// to a cache line other threads are reading.
#[inline]
fn touch(updated: &AtomicI64) {
    let now = clock::now_ms();
    if updated.load(Ordering::Relaxed) != now {
        updated.store(now, Ordering::Relaxed);
    }
}

/// A histogram as read: cumulative counts per bound.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramRead {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    pub updated_ms: i64,
}

impl HistogramCell {
    pub fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum_bits: AtomicU64::new(0f64.to_bits()),
            updated_ms: AtomicI64::new(0),
        }
    }

    pub fn read(&self) -> HistogramRead {
        let mut running = 0;
        let cumulative = self.counts[..self.bounds.len()]
            .iter()
            .map(|c| {
                running += c.load(Ordering::Relaxed);
                running
            })
            .collect();
        let count = running + self.counts[self.bounds.len()].load(Ordering::Relaxed);
        HistogramRead {
            bounds: self.bounds.to_vec(),
            cumulative,
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count,
            updated_ms: self.updated_ms.load(Ordering::Relaxed),
        }
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        // `≤ bound` goes in that bucket, as Prometheus's `le` says.
        let slot = self.bounds.partition_point(|&b| b < value);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + value).to_bits())
            });
        touch(&self.updated_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_cumulate_and_bounds_are_inclusive() {
        let h = HistogramCell::new(Arc::from([0.1, 1.0, 10.0].as_slice()));
        for v in [0.05, 0.1, 0.5, 1.0, 3.0, 50.0] {
            h.record(v);
        }
        let r = h.read();
        assert_eq!(r.cumulative, [2, 4, 5]);
        assert_eq!(r.count, 6);
        assert!((r.sum - 54.65).abs() < 1e-9);
    }

    #[test]
    fn counters_and_gauges_keep_value_and_time() {
        let c = CounterCell::default();
        clock::at(
            chrono::DateTime::from_timestamp_millis(1_000).unwrap(),
            || c.increment(3),
        );
        assert_eq!(c.get(), (3, 1_000));
        let g = GaugeCell::default();
        g.set(2.5);
        g.increment(1.0);
        g.decrement(0.5);
        assert_eq!(g.get().0, 3.0);
    }
}
