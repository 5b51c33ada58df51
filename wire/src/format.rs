//! Figures written for people, so that a duration or a rate looks the same on
//! every dashboard page and in the alert messages the server writes.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// `3725` → `"1h 2m 5s"`; the two most significant units only, as people read them.
pub fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// A span in Prometheus's duration notation: `90` → `"1m30s"`, `3600` → `"1h"`.
pub fn span(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let (mut rest, mut out) = (secs, String::new());
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Labels as Prometheus writes them, `k="v", …`; empty for none.
pub fn labels(l: &crate::Labels) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Percentages with at most one decimal: `98.36` → `"98.4%"`, `100.0` → `"100%"`.
pub fn percent(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}%")
    } else {
        format!("{rounded:.1}%")
    }
}

/// A duration as people read it: `0.4 ms`, `450 ms`, `1.23 s`, `2m 03s`, `1h 02m`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "—".into();
    }
    if secs < 0.001 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

/// Seconds as a time delta, to the microsecond; out-of-range values
/// (negative, NaN, beyond chrono's range) saturate instead of panicking.
pub fn secs_to_delta(secs: f64) -> chrono::TimeDelta {
    // `as` saturates (NaN becomes 0), and every i64 of microseconds fits.
    chrono::TimeDelta::microseconds((secs.max(0.0) * 1e6) as i64)
}

/// An optional duration: "—" when there is none (nothing timed yet).
pub fn maybe_duration(secs: Option<f64>) -> String {
    secs.map_or_else(|| "—".into(), duration)
}

/// Orders optional figures: none first, then by value.
pub fn cmp_figures(a: Option<f64>, b: Option<f64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

/// Whole seconds as a time delta, capped at a century: spans that come
/// from configuration or stored rules can never overflow date arithmetic.
pub fn whole_secs(secs: u64) -> chrono::TimeDelta {
    const CENTURY: u64 = 100 * 366 * 86_400;
    chrono::TimeDelta::seconds(secs.min(CENTURY) as i64)
}

/// `at` relative to `now`: `just now`, `12 s ago`, `3 min ago`, `2 h ago`,
/// `3 d ago`; for the future, `in 12 s`, `in 3 min`, …
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    if secs.abs() <= 4 {
        return "just now".into();
    }
    let span = match secs.abs() {
        s @ 0..=59 => format!("{s} s"),
        s @ 60..=3_599 => format!("{} min", s / 60),
        s @ 3_600..=86_399 => format!("{} h", s / 3_600),
        s => format!("{} d", s / 86_400),
    };
    if secs > 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// The exact time, for tooltips: `2026-11-28 22:31:05 UTC`. (Written by
/// hand: chrono's strftime machinery is a large part of a WASM module.)
pub fn exact(at: DateTime<Utc>) -> String {
    format!("{} {} UTC", date(at), clock(at, true))
}

/// The machine-readable form of a `<time datetime>`: `2026-11-28T22:31:05Z`.
pub fn datetime(at: DateTime<Utc>) -> String {
    format!("{}T{}Z", date(at), clock(at, true))
}

/// `2026-11-28`.
fn date(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day())
}

/// `22:31` or `22:31:05`.
pub fn clock(at: DateTime<Utc>, seconds: bool) -> String {
    if seconds {
        format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
    } else {
        format!("{:02}:{:02}", at.hour(), at.minute())
    }
}

/// A figure as people read it: `0.5`, `20`, `1250`; very large or very
/// small magnitudes in exponent form (`1e308`, `2.5e-9`) instead of a
/// screenful of digits, which PromQL reads too.
pub fn number(v: f64) -> String {
    let magnitude = v.abs();
    if v.is_finite() && magnitude != 0.0 && !(1e-6..1e15).contains(&magnitude) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The sum of counts, stopping at `u64::MAX` rather than overflowing.
pub fn total(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// Counts with thousands separators: `12345` → `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars as people read them: `$12.40`, `$0.0031`, `$0.000004`; a cost
/// not known is "unknown", never `$0`.
pub fn usd(v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "unknown".into();
    };
    let a = v.abs();
    if a == 0.0 {
        "$0".into()
    } else if a >= 100.0 {
        format!("${}", count(v.round() as u64))
    } else if a >= 1.0 {
        format!("${v:.2}")
    } else {
        // Three significant digits of a small amount (so that $0.000405
        // and a budget of $0.0004 read apart), trailing zeros dropped down
        // to cents.
        let digits = (-a.log10().floor()) as usize + 2;
        let text = format!("{v:.digits$}");
        let trimmed = text.trim_end_matches('0');
        let cents = trimmed.find('.').map_or(trimmed.len(), |dot| dot + 3);
        format!("${}", &text[..trimmed.len().max(cents).min(text.len())])
    }
}

/// A series' spend: its cost, or "—" when it made no agent call at all
/// (nothing spent, rather than an unknown price).
pub fn spend(cost: Option<f64>, tokens: u64) -> String {
    if cost.is_none() && tokens == 0 {
        "—".into()
    } else {
        usd(cost)
    }
}

/// Token counts in short: `950`, `12.3k`, `4.2M`.
pub fn tokens(n: u64) -> String {
    match n {
        0..=9_999 => count(n),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A count and its noun, agreeing: `1 run`, `2 runs`, `1,200 runs`.
pub fn quantity(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_tokens_read_plainly_and_unknown_is_not_zero() {
        assert_eq!(usd(None), "unknown");
        assert_eq!(usd(Some(f64::NAN)), "unknown");
        assert_eq!(usd(Some(0.0)), "$0");
        assert_eq!(usd(Some(12.4)), "$12.40");
        assert_eq!(usd(Some(1234.56)), "$1,235");
        assert_eq!(usd(Some(0.0031)), "$0.0031");
        assert_eq!(usd(Some(0.000004)), "$0.000004");
        assert_eq!(usd(Some(0.000405)), "$0.000405");
        assert_eq!(usd(Some(0.0004)), "$0.0004");
        assert_eq!(usd(Some(0.5)), "$0.50");
        assert_eq!(usd(Some(0.00105)), "$0.00105");
        assert_eq!(tokens(950), "950");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(4_200_000), "4.2M");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(0.0004), "0.4 ms");
        assert_eq!(duration(0.45), "450 ms");
        assert_eq!(duration(1.234), "1.23 s");
        assert_eq!(duration(123.0), "2m 03s");
        assert_eq!(duration(3_720.0), "1h 02m");
        assert_eq!(duration(f64::NAN), "—");
    }

    #[test]
    fn relative_times_and_counts() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let ago = |s: i64| relative(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(2), "just now");
        assert_eq!(ago(30), "30 s ago");
        assert_eq!(ago(180), "3 min ago");
        assert_eq!(ago(7_200), "2 h ago");
        assert_eq!(ago(200_000), "2 d ago");
        assert_eq!(ago(-20), "in 20 s");
        assert_eq!(ago(-7_200), "in 2 h");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(quantity(1, "run", "runs"), "1 run");
        assert_eq!(quantity(0, "run", "runs"), "0 runs");
        assert_eq!(quantity(1_200, "run", "runs"), "1,200 runs");
        let at = DateTime::from_timestamp(1_764_369_065, 0).unwrap();
        assert_eq!(exact(at), "2025-11-28 22:31:05 UTC");
        assert_eq!(datetime(at), "2025-11-28T22:31:05Z");
        assert_eq!(clock(at, false), "22:31");
    }

    #[test]
    fn numbers_stay_short() {
        assert_eq!(number(20.0), "20");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(1e308), "1e308");
        assert_eq!(number(-2.5e-9), "-2.5e-9");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(123_456_789_012.0), "123456789012");
        assert!(number(f64::MAX).len() < 30);
    }

    #[test]
    fn uptime_keeps_the_two_largest_units() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(59), "59s");
        assert_eq!(uptime(61), "1m 1s");
        assert_eq!(uptime(3_725), "1h 2m");
        assert_eq!(uptime(90_061), "1d 1h");
    }

    #[test]
    fn percent_drops_a_zero_decimal() {
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(98.36), "98.4%");
        assert_eq!(percent(0.04), "0%");
    }
}

/// Seconds of a span as the time-range parameters write it: digits and one
/// of `s`, `m`, `h`, `d`, `w` (`15m`, `24h`, `7d`). `None` for anything
/// else, a negative count, or a span too long to count in seconds.
pub fn span_secs(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return None,
    };
    (n >= 0).then(|| n.checked_mul(per)).flatten()
}

#[cfg(test)]
mod span_tests {
    use super::span_secs;

    #[test]
    fn spans_read_as_written_and_nonsense_is_none() {
        assert_eq!(span_secs("15m"), Some(900));
        assert_eq!(span_secs("30d"), Some(2_592_000));
        assert_eq!(span_secs("2w"), Some(1_209_600));
        for bad in [
            "",
            "m",
            "1y",
            "-5m",
            "1.5h",
            "2026-12-01T00:00:00Z",
            "99999999999999999d",
        ] {
            assert_eq!(span_secs(bad), None, "{bad}");
        }
    }
}
