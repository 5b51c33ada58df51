//! `?since=&until=` of the analytics endpoints: RFC 3339 times, or spans
//! back from now (`15m`, `1h`, `24h`, `7d`, `90s`). Without either, the
//! answer covers all time, as it always has.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::Failure;
use crate::analytics::periods::{Range, HOURS_KEPT};

/// The range parameters, for handlers that take no others.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// Start of the range: an RFC 3339 time, or a span back from now
    /// (`15m`, `1h`, `24h`, `7d`). Kept: a day by the minute, 30 days by the hour.
    #[serde(default)]
    pub since: Option<String>,
    /// End of the range (exclusive), as `since`; now when absent.
    #[serde(default)]
    pub until: Option<String>,
}

impl RangeQuery {
    pub fn range(&self, now: DateTime<Utc>) -> Result<Option<Range>, Failure> {
        parse(self.since.as_deref(), self.until.as_deref(), now)
    }
}

fn instant(text: &str, field: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    let text = text.trim();
    if let Some(back) = wire::format::span_secs(text).and_then(Duration::try_seconds) {
        return now.checked_sub_signed(back).ok_or_else(|| {
            Failure::bad_request("invalid_query", format!("{field}={text}: too far back"))
                .field(field)
        });
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Failure::bad_request(
                "invalid_query",
                format!(
                    "{field}={text:?}: expected an RFC 3339 time (2026-12-01T09:00:00Z) or a span back from now (15m, 1h, 24h, 7d)"
                ),
            )
            .field(field)
        })
}

/// The range `since`/`until` name, or `None` for all time.
pub fn parse(
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Range>, Failure> {
    let (since, until) = (
        since.filter(|s| !s.trim().is_empty()),
        until.filter(|s| !s.trim().is_empty()),
    );
    if since.is_none() && until.is_none() {
        return Ok(None);
    }
    let until = until.map_or(Ok(now), |u| instant(u, "until", now))?;
    let since = match since {
        Some(s) => instant(s, "since", now)?,
        // Only an end: everything kept before it.
        None => until - Duration::hours(HOURS_KEPT),
    };
    if since >= until {
        return Err(Failure::bad_request(
            "invalid_query",
            format!("since ({since}) must be before until ({until})"),
        )
        .field("since"));
    }
    Ok(Some(Range { since, until }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn spans_and_times_read_as_a_user_writes_them() {
        let r = parse(Some("1h"), None, now()).unwrap().unwrap();
        assert_eq!(r.since, now() - Duration::hours(1));
        assert_eq!(r.until, now());
        let r = parse(Some("7d"), Some("24h"), now()).unwrap().unwrap();
        assert_eq!(r.until - r.since, Duration::days(6));
        let r = parse(
            Some("2026-12-01T09:00:00+01:00"),
            Some("2026-12-01T10:30:00Z"),
            now(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r.since,
            "2026-12-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(parse(None, None, now()).unwrap(), None);
        assert_eq!(parse(Some(""), Some(" "), now()).unwrap(), None);
        let only_end = parse(None, Some("1h"), now()).unwrap().unwrap();
        assert_eq!(only_end.until - only_end.since, Duration::hours(HOURS_KEPT));
    }

    #[test]
    fn nonsense_is_a_400_naming_the_field() {
        for (since, until, field) in [
            (Some("yesterday"), None, "since"),
            (Some("1y"), None, "since"),
            (Some("-5m"), None, "since"),
            (None, Some("2026-13-01T00:00:00Z"), "until"),
            (Some("1h"), Some("2h"), "since"),
            (Some("99999999999999d"), None, "since"),
        ] {
            let e = parse(since, until, now()).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{since:?} {until:?}");
            assert_eq!(e.body.field.as_deref(), Some(field), "{since:?} {until:?}");
        }
    }
}
