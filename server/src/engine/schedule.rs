//! Cron schedules in a time zone: when a routine fires.
//!
//! Expressions have 5 fields (minute precision) or 6 with seconds first,
//! read in the zone's local time. Daylight saving follows Vixie cron: a
//! time a jump skips fires once right after the jump, a time a fall-back
//! repeats fires once (the first). croner does that for fixed times
//! (`30 2 * * *`), but counts a 6-field expression whose seconds vary
//! (`*/20 30 2 * * *`) as an interval job and skips the missing minute
//! altogether; for those the minute is found first, with croner's
//! fixed-time rules, and the seconds are laid on it.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

use wire::ApiError;

use super::EngineError;

/// A validated schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    tz: Tz,
    /// For a 6-field expression with a fixed minute and hour but several
    /// seconds: the 5-field expression of its minutes, and the seconds in
    /// each, ascending.
    by_minute: Option<(Cron, Vec<u32>)>,
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).build()
}

impl Schedule {
    /// Parses a cron expression and a time zone (UTC when absent), naming
    /// the field at fault.
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<Self, EngineError> {
        let expression = cron.trim();
        let parsed = parser().parse(expression).map_err(|e| {
            EngineError::Invalid(
                ApiError::new("invalid_cron", format!("{cron:?}: {e}")).with_field("cron"),
            )
        })?;
        let tz = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
            None => Tz::UTC,
            Some(name) => Tz::from_str(name).map_err(|_| {
                EngineError::Invalid(
                    ApiError::new(
                        "invalid_timezone",
                        format!("{name:?} is not an IANA time zone (e.g. Europe/Berlin)"),
                    )
                    .with_field("timezone"),
                )
            })?,
        };
        let by_minute = by_minute(expression);
        Ok(Self {
            cron: parsed,
            tz,
            by_minute,
        })
    }

    /// The expression as stored.
    pub fn expression(&self) -> &str {
        self.cron.as_str()
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.tz);
        let Some((minutes, seconds)) = &self.by_minute else {
            return self
                .cron
                .find_next_occurrence(&local, false)
                .ok()
                .map(|t| t.with_timezone(&Utc));
        };
        // From the start of the minute `after` is in, so that its remaining
        // seconds count; a minute with none left leads to the next.
        let mut cursor = local.checked_sub_signed(Duration::seconds(60))?;
        for _ in 0..3 {
            let minute = minutes.find_next_occurrence(&cursor, false).ok()?;
            let start = minute.with_timezone(&Utc);
            if let Some(t) = seconds
                .iter()
                .filter_map(|&s| start.checked_add_signed(Duration::seconds(s.into())))
                .find(|t| *t > after)
            {
                return Some(t);
            }
            cursor = minute;
        }
        None
    }

    /// The next `n` fires after `after`.
    pub fn next_fires(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut cursor = after;
        while out.len() < n {
            match self.next_after(cursor) {
                Some(t) => {
                    out.push(t);
                    cursor = t;
                }
                None => break,
            }
        }
        out
    }

    /// The latest fire in `(since, until]`, if any.
    pub fn latest_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let first = self.next_after(since).filter(|t| *t <= until)?;
        let latest = match &self.by_minute {
            None => self
                .cron
                .find_previous_occurrence(&until.with_timezone(&self.tz), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Some((minutes, seconds)) => {
                let mut cursor = until.with_timezone(&self.tz);
                let mut found = None;
                for _ in 0..3 {
                    let Ok(minute) = minutes.find_previous_occurrence(&cursor, true) else {
                        break;
                    };
                    let start = minute.with_timezone(&Utc);
                    found = seconds
                        .iter()
                        .rev()
                        .filter_map(|&s| start.checked_add_signed(Duration::seconds(s.into())))
                        .find(|t| *t <= until);
                    if found.is_some() {
                        break;
                    }
                    match minute.checked_sub_signed(Duration::seconds(1)) {
                        Some(before) => cursor = before,
                        None => break,
                    }
                }
                found
            }
        };
        latest.filter(|t| *t >= first).or(Some(first))
    }
}

/// The minute expression and seconds of a 6-field expression whose minute
/// and hour are single numbers and whose seconds are not.
fn by_minute(expression: &str) -> Option<(Cron, Vec<u32>)> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [seconds, minute, hour, rest @ ..] = fields.as_slice() else {
        return None;
    };
    if rest.len() != 3 || seconds.parse::<u32>().is_ok() {
        return None;
    }
    if minute.parse::<u32>().is_err() || hour.parse::<u32>().is_err() {
        return None;
    }
    let minutes = parser()
        .parse(&format!("{minute} {hour} {}", rest.join(" ")))
        .ok()?;
    // The seconds the field names: its fires within one (UTC) minute.
    let every_second = parser().parse(&format!("{seconds} * * * * *")).ok()?;
    let minute_start = DateTime::<Utc>::UNIX_EPOCH;
    let mut cursor = minute_start;
    let mut values = Vec::new();
    while let Ok(t) =
        every_second.find_next_occurrence(&cursor, values.is_empty() && cursor == minute_start)
    {
        let s = (t - minute_start).num_seconds();
        if !(0..60).contains(&s) {
            break;
        }
        values.push(s as u32);
        cursor = t;
    }
    (!values.is_empty()).then_some((minutes, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn schedule(cron: &str, tz: Option<&str>) -> Schedule {
        Schedule::parse(cron, tz).unwrap()
    }

    #[test]
    fn five_and_six_field_expressions_and_bad_ones() {
        let every_second = schedule("* * * * * *", None);
        assert_eq!(every_second.timezone(), Tz::UTC);
        assert_eq!(
            every_second.next_after(utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-01T00:00:01Z"))
        );
        let hourly = schedule("15 * * * *", Some("UTC"));
        assert_eq!(
            hourly.next_after(utc("2026-01-01T10:20:00Z")),
            Some(utc("2026-01-01T11:15:00Z"))
        );
        assert!(
            matches!(Schedule::parse("61 * * * *", None), Err(EngineError::Invalid(e)) if e.field.as_deref() == Some("cron"))
        );
        assert!(
            matches!(Schedule::parse("* * *", None), Err(EngineError::Invalid(e)) if e.error == "invalid_cron")
        );
        assert!(
            matches!(Schedule::parse("* * * * *", Some("Mars/Olympus")), Err(EngineError::Invalid(e)) if e.field.as_deref() == Some("timezone"))
        );
    }

    #[test]
    fn daily_fires_follow_local_time_across_dst_changes() {
        // 02:30 every day in Berlin: on 2026-03-29 clocks jump from 02:00 to
        // 03:00, so 02:30 does not exist that day.
        let berlin = schedule("30 2 * * *", Some("Europe/Berlin"));
        let fires = berlin.next_fires(utc("2026-03-27T12:00:00Z"), 3);
        assert_eq!(
            fires[0],
            utc("2026-03-28T01:30:00Z"),
            "02:30 CET = 01:30 UTC"
        );
        // The missing 02:30 still fires once that day, just after the jump
        // (as Vixie cron does), and the day after is back to 02:30 local.
        assert!(
            fires[1] >= utc("2026-03-29T01:00:00Z") && fires[1] <= utc("2026-03-29T01:30:00Z"),
            "once on the 29th, right after the gap: {fires:?}"
        );
        assert_eq!(
            fires[2],
            utc("2026-03-30T00:30:00Z"),
            "02:30 CEST = 00:30 UTC"
        );
        // 09:00 every day in New York, across the end of DST (2026-11-01).
        let new_york = schedule("0 9 * * *", Some("America/New_York"));
        let fires = new_york.next_fires(utc("2026-10-31T00:00:00Z"), 2);
        assert_eq!(
            fires,
            [utc("2026-10-31T13:00:00Z"), utc("2026-11-01T14:00:00Z")]
        );
    }

    #[test]
    fn a_six_field_time_in_the_spring_gap_fires_after_the_jump_like_the_five_field_one() {
        // Sundays of March at 02:30 in New York; on 2027-03-14 clocks jump
        // from 02:00 to 03:00 (07:00 UTC).
        let from = utc("2027-03-06T00:00:00Z");
        let five = schedule("30 2 * 3 0", Some("America/New_York"));
        let six = schedule("*/20 30 2 * 3 0", Some("America/New_York"));
        let on_the_14th = |fires: &[DateTime<Utc>]| -> Vec<DateTime<Utc>> {
            fires
                .iter()
                .copied()
                .filter(|t| t.date_naive() == utc("2027-03-14T12:00:00Z").date_naive())
                .collect()
        };
        assert_eq!(
            on_the_14th(&five.next_fires(from, 3)),
            [utc("2027-03-14T07:00:00Z")]
        );
        // The skipped minute's three fires, laid after the jump.
        assert_eq!(
            on_the_14th(&six.next_fires(from, 9)),
            [
                utc("2027-03-14T07:00:00Z"),
                utc("2027-03-14T07:00:20Z"),
                utc("2027-03-14T07:00:40Z")
            ]
        );
        // An ordinary Sunday: 02:30:00, :20, :40 EST (07:30 UTC).
        assert_eq!(
            six.next_fires(from, 3),
            [
                utc("2027-03-07T07:30:00Z"),
                utc("2027-03-07T07:30:20Z"),
                utc("2027-03-07T07:30:40Z")
            ]
        );
        // From inside the minute, the remaining seconds come first.
        assert_eq!(
            six.next_after(utc("2027-03-07T07:30:05Z")),
            Some(utc("2027-03-07T07:30:20Z"))
        );
        assert_eq!(
            six.next_after(utc("2027-03-07T07:30:40Z")),
            Some(utc("2027-03-14T07:00:00Z"))
        );
        // 01:30 repeats on 2027-11-07 when clocks fall back: it fires once.
        let fall = schedule("*/30 30 1 7 11 *", Some("America/New_York"));
        assert_eq!(
            fall.next_fires(utc("2027-11-06T00:00:00Z"), 2),
            [utc("2027-11-07T05:30:00Z"), utc("2027-11-07T05:30:30Z")]
        );
        assert_eq!(
            fall.latest_between(utc("2027-11-06T00:00:00Z"), utc("2027-11-07T12:00:00Z")),
            Some(utc("2027-11-07T05:30:30Z"))
        );
    }

    #[test]
    fn missed_fires_are_coalesced_to_the_latest() {
        let hourly = schedule("0 * * * *", None);
        assert_eq!(
            hourly.latest_between(utc("2026-01-01T00:30:00Z"), utc("2026-01-01T03:10:00Z")),
            Some(utc("2026-01-01T03:00:00Z"))
        );
        assert_eq!(
            hourly.latest_between(utc("2026-01-01T00:30:00Z"), utc("2026-01-01T00:50:00Z")),
            None
        );
        let six = schedule("10,50 15 * * * *", None);
        assert_eq!(
            six.latest_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T05:15:30Z")),
            Some(utc("2026-01-01T05:15:10Z"))
        );
        assert_eq!(
            six.latest_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T05:15:05Z")),
            Some(utc("2026-01-01T04:15:50Z"))
        );
    }
}
