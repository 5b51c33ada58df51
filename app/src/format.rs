//! Human-readable formats used everywhere on the dashboard, so that a duration
//! or a rate looks the same on every page.

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

/// Percentages with at most one decimal: `98.36` → `"98.4%"`, `100.0` → `"100%"`.
pub fn percent(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}%")
    } else {
        format!("{rounded:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
