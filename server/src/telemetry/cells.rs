//! The storage behind each series: atomics only, so recording is lock-free.
//! Each records through inherent, inlined methods (what our own call sites
//! use) and through the `metrics` crate's traits (what the facade uses).
//!
//! Recording does not read a clock: a series' `last_updated` (when its
//! value last changed) is stamped by [`Cell::stamp`], which the registry
//! runs over every series each second and before every read, comparing the
//! value with the one it saw last. So an increment is one atomic add, as in
//! the Prometheus clients, and `last_updated` is exact to the second. The
//! `_at` variants say when a change happened instead (engine events carry
//! their time, so series rebuilt from the log say when they really changed).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};

/// What every kind of series cell shares, for the family that holds it.
pub trait Cell: Send + Sync + 'static {
    /// What a new cell is made from: nothing, or a histogram's bounds.
    type Spec: Send + Sync;
    /// A cell that says it was last updated `at_ms`, when it was created.
    fn new(spec: &Self::Spec, at_ms: i64) -> Self;
    /// Dates the value `now_ms` if it changed since the last stamp.
    fn stamp(&self, now_ms: i64);
}

/// When a series' value last changed, as far as the stamps have seen.
#[derive(Debug, Default)]
struct Stamp {
    /// The value (or its bits, or a histogram's count) the last stamp saw.
    seen: AtomicU64,
    updated_ms: AtomicI64,
}

impl Stamp {
    fn new(at_ms: i64) -> Self {
        Self {
            seen: AtomicU64::new(0),
            updated_ms: AtomicI64::new(at_ms),
        }
    }

    fn stamp(&self, value: u64, now_ms: i64) {
        if self.seen.load(Ordering::Relaxed) != value {
            self.seen.store(value, Ordering::Relaxed);
            self.updated_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    /// A change of which the time is known.
    fn changed(&self, value: u64, at_ms: i64) {
        self.seen.store(value, Ordering::Relaxed);
        self.updated_ms.store(at_ms, Ordering::Relaxed);
    }

    fn get(&self) -> i64 {
        self.updated_ms.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct CounterCell {
    value: AtomicU64,
    stamp: Stamp,
}

impl Cell for CounterCell {
    type Spec = ();
    fn new(_: &(), at_ms: i64) -> Self {
        Self {
            value: AtomicU64::new(0),
            stamp: Stamp::new(at_ms),
        }
    }

    fn stamp(&self, now_ms: i64) {
        self.stamp.stamp(self.value.load(Ordering::Relaxed), now_ms)
    }
}

impl CounterCell {
    pub fn get(&self) -> (u64, i64) {
        (self.value.load(Ordering::Relaxed), self.stamp.get())
    }

    #[inline]
    pub fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
    }

    pub fn increment_at(&self, value: u64, at_ms: i64) {
        let now = self.value.fetch_add(value, Ordering::Relaxed) + value;
        self.stamp.changed(now, at_ms);
    }

    /// Raises the counter to `value` (a count kept elsewhere).
    pub fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
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
    stamp: Stamp,
}

impl Cell for GaugeCell {
    type Spec = ();
    fn new(_: &(), at_ms: i64) -> Self {
        Self {
            bits: AtomicU64::new(0f64.to_bits()),
            stamp: Stamp::new(at_ms),
        }
    }

    fn stamp(&self, now_ms: i64) {
        self.stamp.stamp(self.bits.load(Ordering::Relaxed), now_ms)
    }
}

impl GaugeCell {
    pub fn get(&self) -> (f64, i64) {
        (
            f64::from_bits(self.bits.load(Ordering::Relaxed)),
            self.stamp.get(),
        )
    }

    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(f(f64::from_bits(b)).to_bits())
            });
    }

    pub fn increment(&self, value: f64) {
        self.update(|v| v + value)
    }

    pub fn decrement(&self, value: f64) {
        self.update(|v| v - value)
    }

    pub fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }

    pub fn set_at(&self, value: f64, at_ms: i64) {
        let bits = value.to_bits();
        if self.bits.swap(bits, Ordering::Relaxed) != bits {
            self.stamp.changed(bits, at_ms);
        }
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

/// A counter of a fractional quantity (`process_cpu_seconds_total`): an
/// `f64` that only rises. The guide's counters are whole counts (`u64`,
/// [`CounterCell`]); this kind is for totals read from elsewhere in their
/// own unit, such as CPU time.
#[derive(Debug)]
pub struct FloatCounterCell(GaugeCell);

impl Cell for FloatCounterCell {
    type Spec = ();
    fn new(spec: &(), at_ms: i64) -> Self {
        Self(GaugeCell::new(spec, at_ms))
    }

    fn stamp(&self, now_ms: i64) {
        self.0.stamp(now_ms)
    }
}

impl FloatCounterCell {
    pub fn get(&self) -> (f64, i64) {
        self.0.get()
    }

    /// Adds `value` (dollars spent, say) that happened `at_ms`; a negative
    /// or non-finite one is ignored, so the counter never goes back.
    pub fn increment_at(&self, value: f64, at_ms: i64) {
        if value.is_finite() && value > 0.0 {
            self.0.update(|now| now + value);
            let bits = self.0.bits.load(Ordering::Relaxed);
            self.0.stamp.changed(bits, at_ms);
        }
    }

    /// Raises the counter to `value` (a total kept elsewhere); a lower or
    /// non-finite value is ignored, so the counter never goes back.
    pub fn absolute(&self, value: f64) {
        if value.is_finite() {
            self.0.update(|now| now.max(value))
        }
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
    stamp: Stamp,
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
    pub fn new(bounds: Arc<[f64]>, at_ms: i64) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum_bits: AtomicU64::new(0f64.to_bits()),
            stamp: Stamp::new(at_ms),
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
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
            updated_ms: self.stamp.get(),
        }
    }
}

impl Cell for HistogramCell {
    type Spec = Arc<[f64]>;
    fn new(bounds: &Arc<[f64]>, at_ms: i64) -> Self {
        HistogramCell::new(bounds.clone(), at_ms)
    }

    fn stamp(&self, now_ms: i64) {
        self.stamp.stamp(self.count(), now_ms)
    }
}

impl HistogramCell {
    pub fn record_at(&self, value: f64, at_ms: i64) {
        self.record(value);
        self.stamp.changed(self.count(), at_ms);
    }

    #[inline]
    pub fn record(&self, value: f64) {
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
        let h = HistogramCell::new(Arc::from([0.1, 1.0, 10.0].as_slice()), 0);
        for v in [0.05, 0.1, 0.5, 1.0, 3.0, 50.0] {
            h.record(v);
        }
        let r = h.read();
        assert_eq!(r.cumulative, [2, 4, 5]);
        assert_eq!(r.count, 6);
        assert!((r.sum - 54.65).abs() < 1e-9);
    }

    #[test]
    fn a_float_counter_only_rises() {
        let c = FloatCounterCell::new(&(), 500);
        c.absolute(1.25);
        c.absolute(0.5);
        c.absolute(f64::NAN);
        c.absolute(f64::INFINITY);
        assert_eq!(c.get().0, 1.25);
        c.absolute(2.0);
        c.stamp(800);
        assert_eq!(c.get(), (2.0, 800));
    }

    #[test]
    fn counters_and_gauges_keep_value_and_time() {
        let c = CounterCell::new(&(), 500);
        assert_eq!(c.get(), (0, 500), "dated when created");
        c.increment_at(3, 1_000);
        assert_eq!(c.get(), (3, 1_000));
        let g = GaugeCell::new(&(), 500);
        g.set(2.5);
        g.increment(1.0);
        g.decrement(0.5);
        assert_eq!(g.get(), (3.0, 500));
        g.set_at(3.0, 900);
        assert_eq!(g.get(), (3.0, 500), "not a change");
        g.set_at(4.0, 900);
        assert_eq!(g.get(), (4.0, 900));
    }

    #[test]
    fn a_stamp_dates_only_what_changed_since_the_last() {
        let c = CounterCell::new(&(), 100);
        let h = HistogramCell::new(Arc::from([1.0].as_slice()), 100);
        c.stamp(200);
        h.stamp(200);
        assert_eq!((c.get().1, h.read().updated_ms), (100, 100));
        c.increment(1);
        // A zero-length step changes the count, not the sum.
        h.record(0.0);
        c.stamp(300);
        h.stamp(300);
        assert_eq!((c.get().1, h.read().updated_ms), (300, 300));
        c.stamp(400);
        h.stamp(400);
        assert_eq!((c.get().1, h.read().updated_ms), (300, 300));
        // A change whose time is known needs no stamp to be dated.
        c.increment_at(1, 350);
        c.stamp(500);
        assert_eq!(c.get(), (2, 350));
    }
}
