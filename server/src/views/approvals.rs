//! Approvals: pending first, then newest first, each with its run's
//! workflow and job.

use wire::{ApprovalList, ApprovalStatus, ApprovalView};

use crate::model::{ApprovalState, Model};

/// Approvals, pending first, then newest first.
pub fn approvals(m: &Model, status: Option<ApprovalStatus>) -> ApprovalList {
    let mut list: Vec<ApprovalView> = m
        .approvals
        .values()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .map(|a| approval_view(m, a))
        .collect();
    list.sort_by_key(|a| a.status != ApprovalStatus::Pending);
    ApprovalList { approvals: list }
}

pub fn approval_view(m: &Model, a: &ApprovalState) -> ApprovalView {
    let (workflow, job) = m
        .runs
        .get(&a.run_id)
        .map(|r| (r.workflow_id.to_string(), r.job_name.to_string()))
        .unwrap_or_default();
    a.view(&workflow, &job)
}
