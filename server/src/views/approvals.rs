//! Approvals: pending first, then newest first, each with its run's
//! workflow and job.

use wire::{ApprovalList, ApprovalStatus, ApprovalView};

use ulid::Ulid;

use super::Failure;
use crate::journal::Journal;
use crate::model::{ApprovalState, Approvals, Model};

/// Approvals, pending first, then newest first.
pub fn approvals(m: &Model, status: Option<ApprovalStatus>) -> ApprovalList {
    let mut list: Vec<ApprovalView> = m
        .approvals
        .values()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .map(approval_view)
        .collect();
    list.sort_by_key(|a| a.status != ApprovalStatus::Pending);
    ApprovalList { approvals: list }
}

pub fn approval_view(a: &ApprovalState) -> ApprovalView {
    a.view()
}

/// One approval: from memory, or folded back from its run's events when
/// only the index still knows it (an old, resolved one).
pub async fn approval(
    journal: &Journal,
    approval_id: Ulid,
) -> Result<Option<ApprovalView>, Failure> {
    if let Some(view) = journal.read(|m| m.approvals.get(&approval_id).map(approval_view)) {
        return Ok(Some(view));
    }
    let Some(run_id) = journal
        .read_store(move |store| store.approval_run(approval_id))
        .await?
    else {
        return Ok(None);
    };
    let events = journal
        .read_store(move |store| store.run_events(&run_id.to_string()))
        .await?;
    let mut approvals = Approvals::default();
    for event in &events {
        approvals.apply(event);
    }
    let run = crate::runs::RunState::fold(&events);
    Ok(approvals.get(&approval_id).map(|a| {
        let mut view = a.view();
        if let Some(run) = run {
            view.workflow_id = run.workflow_id.to_string();
            view.job_name = run.job_name.to_string();
        }
        view
    }))
}
