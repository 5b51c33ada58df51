//! Runs: the list with its filters and pages, and one run.

use serde::Deserialize;
use ulid::Ulid;
use wire::{RunList, RunStatus};

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
    Ok(RunFilter {
        status,
        workflow_id: q.workflow_id.clone().filter(|w| !w.is_empty()),
        job_id,
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
