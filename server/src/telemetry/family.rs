//! One metric: a name, fixed label names, and a cell per distinct set of
//! label values, found by those values without allocating.
//!
//! Lookups hit a per-thread cache first (`thread_local::ThreadLocal`, one
//! per family): no lock and no shared write, so two threads recording the
//! same series only ever share the cell itself. A miss reads the shared
//! table under a read lock, and only a series seen for the first time takes
//! the write lock. Series are never removed, so the caches never go stale.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use parking_lot::RwLock;
use thread_local::ThreadLocal;

use super::cells::{Cell, CounterCell};

/// Label value of the series that absorbs everything past the cap.
pub const OVERFLOW: &str = "__overflow__";

pub struct Family<C: Cell> {
    name: String,
    label_names: Box<[String]>,
    spec: C::Spec,
    cap: usize,
    hasher: RandomState,
    shared: RwLock<Shared<C>>,
    local: ThreadLocal<RefCell<HashTable<Series<C>>>>,
    /// Counts the lookups folded into overflow, in its series named for
    /// this family (none for the family that does the counting).
    overflowed: Option<Arc<Family<CounterCell>>>,
}

struct Series<C> {
    hash: u64,
    values: Arc<[Box<str>]>,
    cell: Arc<C>,
}

impl<C> Clone for Series<C> {
    fn clone(&self) -> Self {
        Self {
            hash: self.hash,
            values: self.values.clone(),
            cell: self.cell.clone(),
        }
    }
}

struct Shared<C> {
    /// In order of creation; `index` points into it.
    series: Vec<Series<C>>,
    index: HashTable<usize>,
    overflow: Option<Series<C>>,
}

impl<C: Cell> Family<C> {
    pub fn new(
        name: &str,
        label_names: &[&str],
        spec: C::Spec,
        cap: usize,
        overflowed: Option<Arc<Family<CounterCell>>>,
    ) -> Self {
        Self {
            name: name.to_string(),
            label_names: label_names.iter().map(|l| l.to_string()).collect(),
            spec,
            cap: cap.max(1),
            hasher: RandomState::default(),
            shared: RwLock::new(Shared {
                series: Vec::new(),
                index: HashTable::new(),
                overflow: None,
            }),
            local: ThreadLocal::new(),
            overflowed,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// Runs `f` on the series with these label values (in the order of
    /// `label_names`), created on first use.
    #[inline]
    pub fn with<T>(&self, values: &[&str], f: impl FnOnce(&C) -> T) -> T {
        debug_assert_eq!(values.len(), self.label_names.len(), "{}", self.name);
        let hash = self.hash(values.iter().copied());
        let local = self.local.get_or_default();
        if let Ok(table) = local.try_borrow() {
            if let Some(s) = table.find(hash, |s| same(&s.values, values)) {
                return f(&s.cell);
            }
        }
        let (series, cache) = self.shared(hash, values);
        if cache {
            // Busy only if `f` of an outer call on this family looks up a
            // new series: it is then simply not cached.
            if let Ok(mut table) = local.try_borrow_mut() {
                table.insert_unique(hash, series.clone(), |s| s.hash);
            }
        }
        f(&series.cell)
    }

    /// A handle on the series, to keep where the labels never change.
    pub fn handle(&self, values: &[&str]) -> Arc<C> {
        let hash = self.hash(values.iter().copied());
        self.shared(hash, values).0.cell
    }

    /// Every series: label values (in the order of `label_names`) and cell,
    /// in order of creation, the overflow series last.
    pub fn visit(&self, mut f: impl FnMut(&[Box<str>], &C)) {
        let shared = self.shared.read();
        for s in shared.series.iter().chain(&shared.overflow) {
            f(&s.values, &s.cell);
        }
    }

    #[inline]
    fn hash<'a>(&self, values: impl Iterator<Item = &'a str>) -> u64 {
        let mut h = self.hasher.build_hasher();
        // No separator between values: foldhash mixes each write's length
        // in, and equal hashes are compared in full anyway.
        for v in values {
            h.write(v.as_bytes());
        }
        h.finish()
    }

    /// The series from the shared table, and whether a thread may cache it
    /// under these values (not when they were folded into overflow: the
    /// caches stay as small as the table).
    fn shared(&self, hash: u64, values: &[&str]) -> (Series<C>, bool) {
        let find = |shared: &Shared<C>| {
            shared
                .index
                .find(hash, |&i| same(&shared.series[i].values, values))
                .map(|&i| shared.series[i].clone())
        };
        if let Some(s) = find(&self.shared.read()) {
            return (s, true);
        }
        let mut shared = self.shared.write();
        if let Some(s) = find(&shared) {
            return (s, true);
        }
        if shared.series.len() >= self.cap && !values.is_empty() {
            if let Some(counted) = &self.overflowed {
                counted.with(&[&self.name], |c| c.increment(1));
            }
            let overflow = shared.overflow.get_or_insert_with(|| {
                let values = vec![OVERFLOW; values.len()];
                self.series(self.hash(values.iter().copied()), &values)
            });
            return (overflow.clone(), false);
        }
        let series = self.series(hash, values);
        let i = shared.series.len();
        shared.series.push(series.clone());
        let Shared {
            series: all, index, ..
        } = &mut *shared;
        index.insert_unique(hash, i, |&j| all[j].hash);
        (series, true)
    }

    fn series(&self, hash: u64, values: &[&str]) -> Series<C> {
        Series {
            hash,
            values: values.iter().map(|v| Box::from(*v)).collect(),
            cell: Arc::new(C::new(&self.spec, now_ms())),
        }
    }

    /// Dates every series whose value changed since the last stamp.
    pub fn stamp(&self, now_ms: i64) {
        self.visit(|_, cell| cell.stamp(now_ms));
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[inline]
fn same(stored: &[Box<str>], values: &[&str]) -> bool {
    stored.len() == values.len()
        && stored
            .iter()
            .zip(values)
            .all(|(a, b)| same_bytes(a.as_bytes(), b.as_bytes()))
}

/// Byte equality without a `memcmp` call for the short strings labels
/// mostly are: two overlapping loads per side, as foldhash reads them.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
    match len {
        0 => true,
        1..4 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..8 => half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(cap: usize) -> (Family<CounterCell>, Arc<Family<CounterCell>>) {
        let marker = Arc::new(Family::new("overflowed", &["metric"], (), 10, None));
        let family = Family::new("steps_total", &["step"], (), cap, Some(marker.clone()));
        (family, marker)
    }

    fn read(f: &Family<CounterCell>) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        f.visit(|values, cell| out.push((values[0].to_string(), cell.get().0)));
        out
    }

    #[test]
    fn the_same_values_find_the_same_series_from_every_thread() {
        let (f, _) = counters(100);
        f.with(&["a"], |c| c.increment(1));
        f.with(&["b"], |c| c.increment(1));
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..1_000 {
                        f.with(&["a"], |c| c.increment(1));
                    }
                });
            }
        });
        f.handle(&["b"]).increment(5);
        assert_eq!(read(&f), [("a".into(), 2_001), ("b".into(), 6)]);
    }

    #[test]
    fn series_past_the_cap_fold_into_overflow_and_are_counted() {
        let (f, marker) = counters(2);
        for i in 0..5 {
            f.with(&[&format!("s{i}")], |c| c.increment(1));
        }
        // Existing series keep working past the cap; overflowed values are
        // counted each time, not cached.
        f.with(&["s0"], |c| c.increment(1));
        f.with(&["s4"], |c| c.increment(1));
        assert_eq!(
            read(&f),
            [("s0".into(), 2), ("s1".into(), 1), (OVERFLOW.into(), 4)]
        );
        assert_eq!(marker.handle(&["steps_total"]).get().0, 4);
    }

    #[test]
    fn short_and_long_values_compare_byte_for_byte() {
        let all = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
        ];
        for x in all {
            for y in all {
                assert_eq!(
                    same_bytes(x.as_bytes(), y.as_bytes()),
                    x == y,
                    "{x:?} {y:?}"
                );
            }
            // Differing in each position.
            for i in 0..x.len() {
                let mut other = x.as_bytes().to_vec();
                other[i] ^= 1;
                assert!(!same_bytes(x.as_bytes(), &other), "{x:?} at {i}");
            }
        }
    }

    #[test]
    fn a_nested_lookup_of_a_new_series_works() {
        let (f, _) = counters(100);
        f.with(&["outer"], |outer| {
            f.with(&["inner"], |inner| inner.increment(1));
            outer.increment(1);
        });
        f.with(&["inner"], |c| c.increment(1));
        assert_eq!(read(&f), [("outer".into(), 1), ("inner".into(), 2)]);
    }
}
