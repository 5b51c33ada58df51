//! The storage behind each series: atomics only, so recording is lock-free.
//! Each records through inherent, inlined methods (what our own call sites
//! use) and through the `metrics` crate's traits (what the facade uses).
//! The `_at` variants take the time of the change instead of reading the
//! clock: replayed events say when they really happened.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};

use super::clock;

/// What every kind of series cell shares, for the family that holds it.
pub trait Cell: Send + Sync + 'static {
    /// What a new cell is made from: nothing, or a histogram's bounds.
    type Spec: Send + Sync;
    fn new(spec: &Self::Spec) -> Self;
}

#[derive(Debug, Default)]
pub struct CounterCell {
    value: AtomicU64,
    updated_ms: AtomicI64,
}

impl Cell for CounterCell {
    type Spec = ();
    fn new(_: &()) -> Self {
        Self::default()
    }
}

impl CounterCell {
    pub fn get(&self) -> (u64, i64) {
        (
            self.value.load(Ordering::Relaxed),
            self.updated_ms.load(Ordering::Relaxed),
        )
    }

    #[inline]
    pub fn increment(&self, value: u64) {
        self.increment_at(value, clock::now_ms())
    }

    #[inline]
    pub fn increment_at(&self, value: u64, at_ms: i64) {
        // The time first: its line is read before the add claims it, which
        // measured a little cheaper (1 thread) and less contended (2).
        touch(&self.updated_ms, at_ms);
        self.value.fetch_add(value, Ordering::Relaxed);
    }

    /// Raises the counter to `value` (a count kept elsewhere).
    pub fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
        touch(&self.updated_ms, clock::now_ms());
    }
}

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        CounterCell::increment(self, value)
    }

    fn absolute(&self, value: u64) {
        CounterCell::absolute(self, value)
    }
}

#[derive(Debug, Default)]
pub struct GaugeCell {
    bits: AtomicU64,
    updated_ms: AtomicI64,
}

impl Cell for GaugeCell {
    type Spec = ();
    fn new(_: &()) -> Self {
        Self::default()
    }
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
        touch(&self.updated_ms, clock::now_ms());
    }

    pub fn increment(&self, value: f64) {
        self.update(|v| v + value)
    }

    pub fn decrement(&self, value: f64) {
        self.update(|v| v - value)
    }

    pub fn set(&self, value: f64) {
        self.set_at(value, clock::now_ms())
    }

    pub fn set_at(&self, value: f64, at_ms: i64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
        touch(&self.updated_ms, at_ms);
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        GaugeCell::increment(self, value)
    }

    fn decrement(&self, value: f64) {
        GaugeCell::decrement(self, value)
    }

    fn set(&self, value: f64) {
        GaugeCell::set(self, value)
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

/// Stores the time unless it is already there: a read is cheaper than a
/// write to a cache line other threads are reading.
#[inline]
fn touch(updated: &AtomicI64, at_ms: i64) {
    if updated.load(Ordering::Relaxed) != at_ms {
        updated.store(at_ms, Ordering::Relaxed);
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

impl Cell for HistogramCell {
    type Spec = Arc<[f64]>;
    fn new(bounds: &Arc<[f64]>) -> Self {
        HistogramCell::new(bounds.clone())
    }
}

impl HistogramCell {
    #[inline]
    pub fn record(&self, value: f64) {
        self.record_at(value, clock::now_ms())
    }

    #[inline]
    pub fn record_at(&self, value: f64, at_ms: i64) {
        // `≤ bound` goes in that bucket, as Prometheus's `le` says. Counting
        // the bounds below the value (rather than a binary search) has no
        // chain of dependent loads and branches, and vectorises.
        let slot = self.bounds.iter().filter(|&&b| b < value).count();
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + value).to_bits())
            });
        touch(&self.updated_ms, at_ms);
    }
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        HistogramCell::record(self, value)
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
        c.increment_at(3, 1_000);
        assert_eq!(c.get(), (3, 1_000));
        let g = GaugeCell::default();
        g.set(2.5);
        g.increment(1.0);
        g.decrement(0.5);
        assert_eq!(g.get().0, 3.0);
    }
}
