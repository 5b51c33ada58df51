//! A small mergeable histogram of durations for time-bucketed statistics:
//! logarithmic buckets whose bounds grow by γ = (1 + α) / (1 − α), so that
//! any quantile it reports is within α = 1 % of a value that was recorded
//! at that rank (the DDSketch guarantee), over 1 µs to 1 h.
//!
//! Only the buckets that hold something are stored, as sorted
//! `(index, count)` pairs: a minute or an hour of one step's executions
//! fills a few dozen, so a sketch is a few hundred bytes where an HDR
//! histogram of the same range is 27 KB. A range query merges its minutes
//! and hours at once ([`Sketch::merged`]).

/// Relative accuracy of the quantiles.
pub const ALPHA: f64 = 0.01;

const MIN_MICROS: f64 = 1.0;
const MAX_MICROS: f64 = 3_600_000_000.0;

fn gamma_ln() -> f64 {
    ((1.0 + ALPHA) / (1.0 - ALPHA)).ln()
}

/// The bucket of a duration in seconds: values of (γ^(i−1), γ^i] µs share
/// bucket `i`; below 1 µs is bucket 0, above 1 h is the last.
fn index(secs: f64) -> u16 {
    let micros = (secs * 1e6).clamp(MIN_MICROS, MAX_MICROS);
    (micros.ln() / gamma_ln()).ceil().max(0.0) as u16
}

/// The value a bucket stands for: the point whose relative distance to
/// both bounds is α.
fn value(i: u16) -> f64 {
    let g = gamma_ln();
    let upper = (f64::from(i) * g).exp();
    let gamma = g.exp();
    2.0 * upper / (gamma + 1.0) / 1e6
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sketch {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    buckets: Vec<(u16, u32)>,
}

impl Sketch {
    pub fn record(&mut self, secs: f64) {
        let secs = secs.max(0.0);
        if self.count == 0 || secs < self.min {
            self.min = secs;
        }
        if self.count == 0 || secs > self.max {
            self.max = secs;
        }
        self.count += 1;
        self.sum += secs;
        let i = index(secs);
        match self.buckets.binary_search_by_key(&i, |b| b.0) {
            Ok(at) => self.buckets[at].1 = self.buckets[at].1.saturating_add(1),
            Err(at) => self.buckets.insert(at, (i, 1)),
        }
    }

    /// Adds `other`'s count, sum, min and max (not its buckets).
    fn add_summary(&mut self, other: &Sketch) {
        if self.count == 0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    /// The sketch of all of `parts` at once: their buckets are added into a
    /// dense array (one per thread, reused) instead of merging sorted lists
    /// pairwise, which would allocate at every step of a range query.
    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Sketch>) -> Sketch {
        thread_local! {
            static DENSE: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        DENSE.with_borrow_mut(|dense| {
            let mut out = Sketch::default();
            let (mut lo, mut hi) = (usize::MAX, 0usize);
            for part in parts {
                if part.count == 0 {
                    continue;
                }
                out.add_summary(part);
                for &(i, n) in &part.buckets {
                    let i = usize::from(i);
                    if i >= dense.len() {
                        dense.resize(i + 1, 0);
                    }
                    dense[i] += u64::from(n);
                    lo = lo.min(i);
                    hi = hi.max(i);
                }
            }
            if lo <= hi {
                for (i, n) in dense.iter_mut().enumerate().take(hi + 1).skip(lo) {
                    if *n > 0 {
                        let count = u32::try_from(*n).unwrap_or(u32::MAX);
                        out.buckets.push((i as u16, count));
                        *n = 0;
                    }
                }
            }
            out
        })
    }

    /// Gives back spare capacity, for a sketch that is complete.
    pub fn shrink(&mut self) {
        self.buckets.shrink_to_fit();
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The `q` quantile (0 to 1), within [`ALPHA`] of a recorded value of
    /// that rank, and never outside the recorded min and max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        // The same rank as the HDR histograms: the value below which a
        // share q of the recorded values lie.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(i, n) in &self.buckets {
            seen += u64::from(n);
            if seen >= rank {
                return Some(value(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Bytes this sketch holds, for the memory figures.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<(u16, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact `q` quantile of `values`, by the same rank.
    fn exact(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).max(1);
        v[rank - 1]
    }

    #[test]
    fn quantiles_are_within_one_percent_across_nine_decades() {
        // 1 µs to 1 h, log-spread, plus awkward values: zero, sub-µs, equal ones.
        let mut values: Vec<f64> = (0..20_000)
            .map(|i| 1e-6 * 10f64.powf(9.5 * (i as f64 / 20_000.0)))
            .filter(|v| *v <= 3600.0)
            .collect();
        values.extend([0.0, 1e-9, 0.5, 0.5, 0.5]);
        let mut s = Sketch::default();
        for v in &values {
            s.record(*v);
        }
        assert_eq!(s.count(), values.len() as u64);
        for q in [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&values, q).max(1e-6);
            let got = s.quantile(q).unwrap().max(1e-6);
            assert!(
                (got - want).abs() <= ALPHA * want * 1.0001,
                "q{q}: {got} vs {want}"
            );
        }
        assert_eq!(s.min(), Some(0.0));
        let top = values.iter().copied().fold(0.0, f64::max);
        assert_eq!(s.max(), Some(top));
        assert!(s.buckets.len() < 1_200, "{}", s.buckets.len());
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..1_000 {
            let v = 0.001 * f64::from(i % 97) + 0.0001 * f64::from(i);
            if i % 3 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        let at_once = Sketch::merged([&a, &Sketch::default(), &b]);
        assert_eq!(at_once.buckets, all.buckets);
        assert_eq!(
            (at_once.count(), at_once.min(), at_once.max()),
            (all.count(), all.min(), all.max())
        );
        assert_eq!(
            Sketch::merged([&a, &b]).buckets,
            all.buckets,
            "the buffer is clean again"
        );
        assert!((at_once.sum() - all.sum()).abs() < 1e-9);
        let empty = Sketch::merged([&Sketch::default()]);
        assert_eq!(empty.quantile(0.5), None);
        assert_eq!(Sketch::merged([&Sketch::default(), &a]), a);
    }

    #[test]
    fn a_minute_of_one_step_is_a_few_hundred_bytes() {
        let mut s = Sketch::default();
        // 600 executions around 2 s, ±20 %.
        for i in 0..600 {
            s.record(2.0 * (0.8 + 0.4 * f64::from(i % 61) / 60.0));
        }
        s.shrink();
        assert!(s.heap_bytes() <= 400, "{}", s.heap_bytes());
        let p50 = s.quantile(0.5).unwrap();
        assert!((1.9..2.1).contains(&p50), "{p50}");
    }
}
