//! Statistics by time: what happened in each minute of the last day and in
//! each hour of the last 30 days, so that any range (`?since=&until=`) is
//! answered by merging a few dozen small tallies instead of the log.
//!
//! Only minutes and hours in which something happened are kept. A range
//! is cut into whole hours (from the hourly tallies) and the minutes at its
//! two ends (from the minute tallies while they are kept, the last day);
//! an end older than a day is resolved to its hour, and nothing older than
//! 30 days is kept (such a range covers what is).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use super::sketch::Sketch;

/// Minutes kept: a day and an hour, so that the last 24 hours (from
/// whatever second of a minute now is) are answered to the minute.
pub const MINUTES_KEPT: i64 = 25 * 60;
/// Hours kept: 30 days.
pub const HOURS_KEPT: i64 = 30 * 24;

/// What happened to one series in one period. Counts of a period are
/// `u32` (saturating): a million tallies are kept, and four bytes less for
/// each of five counts is 20 MB.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub success: u32,
    pub failure: u32,
    pub retries: u32,
    pub durations: Sketch,
    /// Time waited for concurrency slots, over `queued_count` executions.
    pub queued_secs: f64,
    pub queued_count: u32,
    /// What the executions' agent calls used, and cost (over `priced`
    /// executions with a known cost).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub priced: u32,
}

impl Tally {
    /// One execution: its outcome, duration (if timed) and time queued.
    pub fn execution(&mut self, success: bool, duration: Option<f64>, queued: Option<f64>) {
        if success {
            self.success = self.success.saturating_add(1);
        } else {
            self.failure = self.failure.saturating_add(1);
        }
        if let Some(d) = duration {
            self.durations.record(d);
        }
        if let Some(q) = queued {
            self.queued_secs += q;
            self.queued_count = self.queued_count.saturating_add(1);
        }
    }

    pub fn executions(&self) -> u64 {
        u64::from(self.success) + u64::from(self.failure)
    }

    /// An execution's agent calls.
    pub fn spend(&mut self, s: &super::spend::ExecutionSpend) {
        self.input_tokens = self.input_tokens.saturating_add(s.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(s.output_tokens);
        if let Some(c) = s.cost_usd {
            self.cost_usd += c;
            self.priced = self.priced.saturating_add(1);
        }
    }

    pub fn avg_queued(&self) -> Option<f64> {
        (self.queued_count > 0).then(|| self.queued_secs / self.queued_count as f64)
    }
}

/// What a period holds: anything that adds up.
pub trait Merge: Default {
    /// Adds `other` (a period within the same range) into `self`.
    fn merge(&mut self, other: &Self);
    /// The period is over: nothing more will be recorded in it.
    fn close(&mut self) {}
    /// Bytes held on the heap, for the memory figures.
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl Merge for Tally {
    fn merge(&mut self, other: &Self) {
        self.add_counts(other);
        self.durations = Sketch::merged([&self.durations, &other.durations]);
    }

    fn close(&mut self) {
        self.durations.shrink();
    }

    fn heap_bytes(&self) -> usize {
        self.durations.heap_bytes()
    }
}

impl Tally {
    /// Everything but the durations.
    fn add_counts(&mut self, t: &Tally) {
        self.success = self.success.saturating_add(t.success);
        self.failure = self.failure.saturating_add(t.failure);
        self.retries = self.retries.saturating_add(t.retries);
        self.queued_secs += t.queued_secs;
        self.queued_count = self.queued_count.saturating_add(t.queued_count);
        self.input_tokens = self.input_tokens.saturating_add(t.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(t.output_tokens);
        self.cost_usd += t.cost_usd;
        self.priced = self.priced.saturating_add(t.priced);
    }
}

/// Period lengths for charts over a range, in seconds, smallest first.
const CHART_PERIODS: [i64; 9] = [
    60,
    300,
    900,
    1_800,
    3_600,
    3 * 3_600,
    6 * 3_600,
    12 * 3_600,
    86_400,
];

/// `range` cut into equal periods for a chart of at most `max` points (give
/// or take one at the ends), each at least `floor` seconds: periods aligned on the epoch (so charts of the same length
/// line up), each clipped to the range. Returns the period length and,
/// for each, its start and its part of the range.
pub fn chart_periods(range: Range, max: i64, floor: i64) -> (i64, Vec<(DateTime<Utc>, Range)>) {
    let span = (range.until - range.since).num_seconds().max(1);
    let points = |p: i64| (span + p - 1) / p;
    let len = CHART_PERIODS
        .into_iter()
        .find(|&p| p >= floor && points(p) <= max)
        // Longer than `max` days: as many whole days a point as it takes.
        .unwrap_or_else(|| {
            let per_point = (span + max - 1) / max.max(1);
            (per_point / 86_400 + 1).saturating_mul(86_400)
        });
    let mut start = range.since.timestamp().div_euclid(len) * len;
    let mut out = Vec::new();
    // Compared as times, not whole seconds: a range that ends 300 ms into a
    // minute has that minute's first 300 ms as its last period.
    while at_secs(start) < range.until {
        let part = Range {
            since: at_secs(start).max(range.since),
            until: at_secs(start + len).min(range.until),
        };
        out.push((at_secs(start), part));
        start += len;
    }
    (len, out)
}

/// The time `secs` seconds after the epoch (the epoch itself if out of range).
pub fn at_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// A time range, `[since, until)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Range {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }
}

#[derive(Clone, Debug)]
pub struct Periods<T = Tally> {
    /// (minute since the epoch, tally), oldest first.
    minutes: VecDeque<(i64, T)>,
    /// (hour since the epoch, tally), oldest first.
    hours: VecDeque<(i64, T)>,
}

impl<T> Default for Periods<T> {
    fn default() -> Self {
        Periods {
            minutes: VecDeque::new(),
            hours: VecDeque::new(),
        }
    }
}

/// The tally of `key` in `list`, made if missing. Events come in time
/// order, so the search starts from the newest.
fn slot<T: Default>(list: &mut VecDeque<(i64, T)>, key: i64) -> &mut T {
    let at = list.iter().rposition(|(k, _)| *k <= key);
    let at = match at {
        Some(i) if list[i].0 == key => i,
        Some(i) => {
            list.insert(i + 1, (key, T::default()));
            i + 1
        }
        None => {
            list.push_front((key, T::default()));
            0
        }
    };
    &mut list[at].1
}

fn minute(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// Seconds to `at`'s minute, rounded up (a range's end is exclusive).
fn minute_up(at: DateTime<Utc>) -> i64 {
    let s = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    (s + 59).div_euclid(60)
}

/// The tallies of `list` with keys in `[from, to)`, gathered into `into`.
fn merge_keys<'a, T>(list: &'a VecDeque<(i64, T)>, from: i64, to: i64, into: &mut Vec<&'a T>) {
    let start = list.partition_point(|(k, _)| *k < from);
    into.extend(
        list.iter()
            .skip(start)
            .take_while(|(k, _)| *k < to)
            .map(|(_, t)| t),
    );
}

impl Periods<Tally> {
    /// Everything in `range`: whole hours from the hourly tallies, the
    /// minutes at either end from the minute tallies while they are kept.
    /// (The durations of all the parts are merged at once, not pairwise.)
    pub fn tally(&self, range: Range) -> Tally {
        let mut parts = Vec::new();
        self.gather(range, &mut parts);
        let mut out = Tally {
            durations: Sketch::merged(parts.iter().map(|t| &t.durations)),
            ..Tally::default()
        };
        for t in parts {
            out.add_counts(t);
        }
        out
    }
}

impl<T: Merge> Periods<T> {
    /// Counts something that happened at `at`, in its minute and its hour.
    pub fn record(&mut self, at: DateTime<Utc>, change: impl Fn(&mut T)) {
        let m = minute(at);
        let h = m.div_euclid(60);
        change(slot(&mut self.minutes, m));
        change(slot(&mut self.hours, h));
        // Forget what is out of reach of the newest period seen.
        let newest_minute = self.minutes.back().map_or(m, |(k, _)| *k);
        while self
            .minutes
            .front()
            .is_some_and(|(k, _)| *k <= newest_minute - MINUTES_KEPT)
        {
            self.minutes.pop_front();
        }
        let newest_hour = self.hours.back().map_or(h, |(k, _)| *k);
        while self
            .hours
            .front()
            .is_some_and(|(k, _)| *k <= newest_hour - HOURS_KEPT)
        {
            self.hours.pop_front();
        }
        // Closed hours and minutes are done growing.
        let closed = self.hours.len().saturating_sub(2);
        if let Some((_, t)) = self.hours.get_mut(closed) {
            t.close();
        }
    }

    /// Everything in `range`, merged.
    pub fn fold(&self, range: Range) -> T {
        let mut parts = Vec::new();
        self.gather(range, &mut parts);
        let mut out = T::default();
        for t in parts {
            out.merge(t);
        }
        out
    }

    /// One figure of every tally in `range`, summed (cheaper than `fold`
    /// when that is all that is wanted).
    pub fn sum(&self, range: Range, figure: impl Fn(&T) -> f64) -> f64 {
        let mut parts = Vec::new();
        self.gather(range, &mut parts);
        parts.into_iter().map(figure).sum()
    }

    /// Whether minute tallies are kept back to `at` (so that a range
    /// starting there is answered to the minute).
    pub fn minutes_reach(&self, at: DateTime<Utc>) -> bool {
        self.minutes
            .back()
            .is_none_or(|(k, _)| minute(at) > *k - MINUTES_KEPT)
    }

    /// The tallies that make up `range`, into `out`.
    fn gather<'a>(&'a self, range: Range, out: &mut Vec<&'a T>) {
        if range.since >= range.until {
            return;
        }
        let (from, to) = (minute(range.since), minute_up(range.until));
        // Minutes from here on are kept (those before were forgotten).
        let first_minute = self
            .minutes
            .back()
            .map_or(i64::MAX, |(k, _)| *k - MINUTES_KEPT + 1);
        // Whole hours inside the range.
        let (h_from, h_to) = ((from + 59).div_euclid(60), to.div_euclid(60));
        if h_from >= h_to {
            // Within one hour (or across one boundary): minutes if kept.
            if from >= first_minute {
                merge_keys(&self.minutes, from, to, out);
            } else {
                merge_keys(
                    &self.hours,
                    from.div_euclid(60),
                    (to + 59).div_euclid(60),
                    out,
                );
            }
            return;
        }
        merge_keys(&self.hours, h_from, h_to, out);
        // The head, [from, h_from·60), and the tail, [h_to·60, to).
        for (a, b) in [(from, h_from * 60), (h_to * 60, to)] {
            if a >= b {
                continue;
            }
            if a >= first_minute {
                merge_keys(&self.minutes, a, b, out);
            } else {
                // Older than the minutes kept: the whole hour it falls in.
                merge_keys(&self.hours, a.div_euclid(60), (b + 59).div_euclid(60), out);
            }
        }
    }

    /// Bytes held by the minute tallies and by the hour tallies, for the
    /// memory figures.
    pub fn heap_bytes(&self) -> (usize, usize) {
        let bytes = |list: &VecDeque<(i64, T)>| {
            list.capacity() * std::mem::size_of::<(i64, T)>()
                + list.iter().map(|(_, t)| t.heap_bytes()).sum::<usize>()
        };
        (bytes(&self.minutes), bytes(&self.hours))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t(minutes: i64) -> DateTime<Utc> {
        // 1_800_000_000 s is a whole hour since the epoch (500,000 h).
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn success(secs: f64) -> impl Fn(&mut Tally) {
        move |t: &mut Tally| t.execution(true, Some(secs), None)
    }

    fn range(from: i64, to: i64) -> Range {
        Range {
            since: t(from),
            until: t(to),
        }
    }

    #[test]
    fn a_range_counts_exactly_what_happened_in_it() {
        let mut p = Periods::default();
        // One execution a minute for five hours, lasting its minute's index.
        for m in 0..300 {
            p.record(t(m) + Duration::seconds(30), success(m as f64));
        }
        for (from, to) in [
            (0, 300),
            (0, 1),
            (59, 61),
            (17, 245),
            (120, 180),
            (299, 400),
            (-50, 10),
        ] {
            let got = p.tally(range(from, to));
            let want = (from.max(0)..to.min(300)).count() as u32;
            assert_eq!(got.success, want, "[{from}, {to})");
            if want > 0 {
                assert_eq!(
                    got.durations.min(),
                    Some(from.max(0) as f64),
                    "[{from}, {to})"
                );
                assert_eq!(got.durations.max(), Some((to.min(300) - 1) as f64));
            }
        }
        assert_eq!(p.tally(range(10, 10)).success, 0);
        assert_eq!(p.tally(range(20, 10)).success, 0);
    }

    #[test]
    fn minutes_last_a_day_hours_thirty_days_and_older_ends_round_to_hours() {
        let mut p = Periods::default();
        let day = 24 * 60;
        for m in (0..40 * day).step_by(30) {
            p.record(t(m), success(1.0));
        }
        assert!(
            p.minutes.len() <= (MINUTES_KEPT / 30) as usize + 1,
            "{}",
            p.minutes.len()
        );
        assert!(p.hours.len() <= HOURS_KEPT as usize, "{}", p.hours.len());
        let now = 40 * day;
        // The last day, to the minute.
        assert_eq!(p.tally(range(now - day, now)).success, 48);
        assert_eq!(p.tally(range(now - 45, now)).success, 1);
        // A week ago: ends resolved to their hours (two a hour).
        assert_eq!(
            p.tally(range(now - 7 * day + 15, now - 7 * day + 75))
                .success,
            4
        );
        // Beyond 30 days: only what is kept.
        let all = p.tally(range(0, now)).success;
        assert_eq!(all, (HOURS_KEPT * 2) as u32);
    }

    #[test]
    fn chart_periods_are_aligned_clipped_and_few() {
        // Three hours by the minute; a day by the quarter hour.
        let (len, parts) = chart_periods(range(0, 180), 180, 60);
        assert_eq!((len, parts.len()), (60, 180));
        let (len, parts) = chart_periods(range(0, 24 * 60), 180, 60);
        assert_eq!((len, parts.len()), (900, 96));
        // An hour at least, where minutes are gone.
        let (len, _) = chart_periods(range(0, 60), 180, 3_600);
        assert_eq!(len, 3_600);
        // Unaligned ends: the first and last periods are clipped.
        let odd = Range {
            since: t(7) + Duration::seconds(30),
            until: t(50),
        };
        let (len, parts) = chart_periods(odd, 20, 60);
        assert_eq!(len, 300);
        assert_eq!(parts[0].0, t(5));
        assert_eq!(parts[0].1.since, odd.since);
        assert_eq!(parts.last().unwrap().1.until, t(50));
        assert!(parts.windows(2).all(|w| w[0].1.until == w[1].1.since));
        // A range ending within the first second of a minute keeps it.
        let now = Range {
            since: t(0),
            until: t(10) + Duration::milliseconds(300),
        };
        let (_, parts) = chart_periods(now, 180, 60);
        assert_eq!(parts.len(), 11);
        assert_eq!(parts.last().unwrap().1.since, t(10));
        // Ten thousand years: still a chart, not millions of points.
        let ages = Range {
            since: DateTime::from_timestamp(-62_000_000_000, 0).unwrap(),
            until: t(0),
        };
        let (len, parts) = chart_periods(ages, 60, 60);
        assert_eq!(len % 86_400, 0);
        assert!(parts.len() <= 61, "{}", parts.len());
    }

    #[test]
    fn counts_saturate_rather_than_wrap() {
        let mut t = Tally {
            success: u32::MAX,
            ..Tally::default()
        };
        t.execution(true, None, None);
        t.merge(&t.clone());
        assert_eq!(t.success, u32::MAX);
        assert_eq!(t.executions(), u64::from(u32::MAX));
    }

    #[test]
    fn late_events_land_in_their_own_period() {
        let mut p = Periods::default();
        p.record(t(100), success(1.0));
        p.record(t(5), success(2.0));
        p.record(t(50), success(3.0));
        assert_eq!(p.tally(range(0, 10)).success, 1);
        assert_eq!(p.tally(range(40, 60)).durations.max(), Some(3.0));
        let keys: Vec<i64> = p.minutes.iter().map(|(k, _)| *k).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }
}
