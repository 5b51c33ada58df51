//! The read index: one row per finished run and per job, so that what is
//! older than the model's recent window is read back from the store rather
//! than kept in memory (the model stays bounded in the number of runs).
//!
//! The rows are derived data: the model's fold makes them (a run's row when
//! it finishes, a job's when it is created), and the writer commits them in
//! the same transaction as the event that made them, so the index never
//! says more or less than the log. A log without an index (an older
//! release's) gets one at start-up, from the replay. Like the events, the
//! rows are the server's own types, not the API's.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::RunStatus;

/// What the runs list shows of a run; for a finished run, all it will ever
/// show.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub run_id: Ulid,
    pub job_id: Ulid,
    pub workflow_id: Arc<str>,
    pub job_name: Arc<str>,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<f64>,
    pub steps_total: u32,
    pub steps_done: u32,
}

/// A job, without its definition: that is read back from its `JobCreated`
/// event (`seq`) when asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub job_id: Ulid,
    pub name: Arc<str>,
    pub workflow_id: Arc<str>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub seq: u64,
}

/// Where an approval's events are: its run's (the approval itself is
/// folded back from them when asked for).
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRecord {
    pub approval_id: Ulid,
    pub run_id: Ulid,
}

#[derive(Clone, Debug, PartialEq)]
pub enum IndexRow {
    Run(RunRecord),
    Job(JobRecord),
    Approval(ApprovalRecord),
}

/// The filters of the runs list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub workflow_id: Option<String>,
    pub job_id: Option<Ulid>,
    /// Only runs not finished before this time.
    pub active_since: Option<DateTime<Utc>>,
    /// Only runs created before this time.
    pub active_until: Option<DateTime<Utc>>,
}

impl RunFilter {
    pub fn matches(&self, r: &RunRecord) -> bool {
        self.status.is_none_or(|st| st == r.status)
            && self
                .workflow_id
                .as_deref()
                .is_none_or(|w| w == &*r.workflow_id)
            && self.job_id.is_none_or(|j| j == r.job_id)
            && self.active_until.is_none_or(|u| r.created_at < u)
            && self
                .active_since
                .is_none_or(|s| r.completed_at.is_none_or(|c| c >= s))
    }

    /// Whether the filter reads times, which the per-status counts of the
    /// index do not know.
    pub fn is_timed(&self) -> bool {
        self.active_since.is_some() || self.active_until.is_some()
    }
}

/// Indexed runs matching `filter` with ids below `below`, except those in
/// `except` (runs the model shows itself), newest first, at most `limit`.
#[derive(Clone, Debug)]
pub struct RunQuery {
    pub filter: RunFilter,
    pub below: Ulid,
    pub except: Vec<Ulid>,
    pub limit: usize,
}

impl RunQuery {
    pub fn admits(&self, r: &RunRecord) -> bool {
        r.run_id < self.below && !self.except.contains(&r.run_id) && self.filter.matches(r)
    }
}

/// The stored name of a status: the index's own, kept whatever the API
/// calls it.
pub fn status_code(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Interrupted => "interrupted",
    }
}

pub fn status_from_code(code: &str) -> Option<RunStatus> {
    RunStatus::ALL.into_iter().find(|s| status_code(*s) == code)
}

/// A time as the index keeps it: microseconds since the epoch.
pub(super) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(super) fn from_micros(us: i64) -> Result<DateTime<Utc>, super::StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| super::StoreError(format!("bad time {us} in the index")))
}

/// An id as the index keeps it: its 16 big-endian bytes, which sort as
/// the ids do.
pub(super) fn ulid_from(bytes: &[u8]) -> Result<Ulid, super::StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| super::StoreError(format!("bad id of {} bytes in the index", bytes.len())))?;
    Ok(Ulid::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_stored_code_that_reads_back() {
        for s in RunStatus::ALL {
            assert_eq!(status_from_code(status_code(s)), Some(s));
        }
        assert_eq!(status_from_code("Completed"), None);
    }
}
