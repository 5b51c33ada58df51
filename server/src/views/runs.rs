//! Runs: the list with its filters and pages, and one run.

use chrono::Utc;
use serde::Deserialize;
use ulid::Ulid;
use wire::{RunList, RunStatus, Timeline};

use super::Failure;
use crate::journal::Journal;
use crate::runs::RunFilter;

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// Only runs in this state.
    #[param(value_type = Option<wire::RunStatus>)]
    pub status: Option<String>,
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
    /// Only runs of this job.
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")]
    pub job_id: Option<String>,
    /// Page size: 50 unless given, at most 500.
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// Cursor: the `next_before` of the previous page.
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$")]
    pub before: Option<String>,
    /// Only runs active in a range from here: created before `until` and
    /// not finished before `since`. An RFC 3339 time, or a span back from
    /// now (`15m`, `1h`, `24h`, `7d`).
    pub since: Option<String>,
    /// End of the range (exclusive), as `since`; now when absent.
    pub until: Option<String>,
}

/// Parses the filters shared by the runs and traces lists.
pub fn filter(q: &RunsQuery) -> Result<RunFilter, Failure> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Failure::bad_request(
                "invalid_query",
                format!("unknown status {s:?}; one of Pending, Running, Completed, Failed, Cancelled, Interrupted"),
            )
            .field("status")
        })?),
    };
    let job_id = match q.job_id.as_deref() {
        None | Some("") => None,
        Some(j) => Some(j.parse::<Ulid>().map_err(|_| {
            Failure::bad_request("invalid_query", format!("{j:?} is not a job id")).field("job_id")
        })?),
    };
    let range = super::range::parse(q.since.as_deref(), q.until.as_deref(), Utc::now())?;
    Ok(RunFilter {
        status,
        workflow_id: q.workflow_id.clone().filter(|w| !w.is_empty()),
        job_id,
        active_since: range.map(|r| r.since),
        active_until: range.map(|r| r.until),
    })
}

/// The `before` cursor of a page, if any.
pub fn parse_before(raw: Option<&str>) -> Result<Option<Ulid>, Failure> {
    match raw {
        None | Some("") => Ok(None),
        Some(b) => b.parse::<Ulid>().map(Some).map_err(|_| {
            Failure::bad_request("invalid_query", format!("{b:?} is not a run id")).field("before")
        }),
    }
}

pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, Failure> {
    match limit {
        None => Ok(default),
        Some(0) => {
            Err(Failure::bad_request("invalid_query", "limit must be at least 1").field("limit"))
        }
        Some(n) => Ok(n.min(max)),
    }
}

/// Runs on a timeline: 500 unless `?limit=` asks for up to 2,000.
pub const DEFAULT_TIMELINE: usize = 500;
pub const MAX_TIMELINE: usize = 2_000;
/// The range of a timeline without one.
const TIMELINE_SPAN: chrono::Duration = chrono::Duration::hours(1);

/// The runs active in the query's range (the last hour without one).
pub async fn timeline(journal: &Journal, q: &RunsQuery) -> Result<Timeline, Failure> {
    let now = Utc::now();
    let range = super::range::parse(q.since.as_deref(), q.until.as_deref(), now)?.unwrap_or(
        crate::analytics::periods::Range {
            since: now - TIMELINE_SPAN,
            until: now,
        },
    );
    let mut filter = filter(q)?;
    filter.active_since = Some(range.since);
    filter.active_until = Some(range.until);
    let limit = page_limit(q.limit, DEFAULT_TIMELINE, MAX_TIMELINE)?;
    let (records, total, _) = journal.runs_page(&filter, None, limit).await?;
    let runs = journal.read(|m| records.iter().map(|r| m.runs.summary_view(r)).collect());
    Ok(Timeline {
        since: range.since,
        until: range.until,
        runs,
        total,
    })
}

/// A page of runs, newest first: recent ones from memory, older ones from
/// the store's index.
pub async fn run_list(journal: &Journal, q: &RunsQuery) -> Result<RunList, Failure> {
    let filter = filter(q)?;
    let limit = page_limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let before = parse_before(q.before.as_deref())?;
    let (records, total, next) = journal.runs_page(&filter, before, limit).await?;
    let runs = journal.read(|m| records.iter().map(|r| m.runs.summary_view(r)).collect());
    Ok(RunList {
        runs,
        total,
        next_before: next.map(|n| n.to_string()),
    })
}
