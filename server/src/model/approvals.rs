//! Approvals as a fold over their events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{ApprovalStatus, ApprovalView, Quorum, VoteView};

use crate::events::{Event, EventKind};

#[derive(Clone, Debug)]
pub struct ApprovalState {
    pub approval_id: Ulid,
    pub run_id: Ulid,
    pub step_id: String,
    pub approvers: Vec<String>,
    pub quorum: Quorum,
    pub status: ApprovalStatus,
    pub votes: Vec<VoteView>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl ApprovalState {
    pub fn tally(&self) -> (usize, usize) {
        let approvals = self
            .votes
            .iter()
            .filter(|v| v.decision == wire::Decision::Approve)
            .count();
        (approvals, self.votes.len() - approvals)
    }

    pub fn view(&self, workflow_id: &str, job_name: &str) -> ApprovalView {
        ApprovalView {
            approval_id: self.approval_id.to_string(),
            run_id: self.run_id.to_string(),
            step_id: self.step_id.clone(),
            workflow_id: workflow_id.to_string(),
            job_name: job_name.to_string(),
            approvers: self.approvers.clone(),
            quorum: self.quorum,
            needed: self.quorum.needed(self.approvers.len()),
            status: self.status,
            votes: self.votes.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            resolved_at: self.resolved_at,
        }
    }
}

/// Every approval, by id.
#[derive(Default)]
pub struct Approvals(BTreeMap<Ulid, ApprovalState>);

impl Approvals {
    pub fn get(&self, id: &Ulid) -> Option<&ApprovalState> {
        self.0.get(id)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &ApprovalState> {
        self.0.values()
    }

    /// Approvals awaiting votes now.
    pub fn pending(&self) -> usize {
        self.0
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .count()
    }

    pub(super) fn apply(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::ApprovalRequested {
                approval_id,
                run_id,
                step_id,
                approvers,
                quorum,
                expires_at,
            } => {
                self.0.insert(
                    *approval_id,
                    ApprovalState {
                        approval_id: *approval_id,
                        run_id: *run_id,
                        step_id: step_id.clone(),
                        // Trimmed as votes are (logs written before approvers
                        // were trimmed at validation may hold spaces).
                        approvers: approvers.iter().map(|a| a.trim().to_string()).collect(),
                        quorum: (*quorum).into(),
                        status: ApprovalStatus::Pending,
                        votes: Vec::new(),
                        created_at: at,
                        expires_at: *expires_at,
                        resolved_at: None,
                    },
                );
            }
            EventKind::VoteCast {
                approval_id,
                voter,
                decision,
                comment,
                ..
            } => {
                if let Some(a) = self.0.get_mut(approval_id) {
                    a.votes.push(VoteView {
                        voter: voter.clone(),
                        decision: (*decision).into(),
                        comment: comment.clone(),
                        at,
                    });
                }
            }
            EventKind::ApprovalResolved {
                approval_id,
                status,
                ..
            } => {
                if let Some(a) = self.0.get_mut(approval_id) {
                    a.status = (*status).into();
                    a.resolved_at = Some(at);
                }
            }
            // A run that ends otherwise takes its pending approvals with it.
            EventKind::RunCancelled { run_id, .. } | EventKind::RunInterrupted { run_id, .. } => {
                for a in self.0.values_mut() {
                    if a.run_id == *run_id && a.status == ApprovalStatus::Pending {
                        a.status = ApprovalStatus::Cancelled;
                        a.resolved_at = Some(at);
                    }
                }
            }
            _ => {}
        }
    }
}
