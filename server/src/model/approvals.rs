//! Approvals as a fold over their events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{ApprovalStatus, ApprovalView, Quorum, VoteView};

use crate::events::{Event, EventKind};
use crate::store::{ApprovalRecord, IndexRow};

/// Resolved approvals kept in memory (the newest); older ones are folded
/// back from their run's events when asked for, through the index.
pub const KEPT_RESOLVED: usize = 1_000;

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
    /// Why the run asks, if not for an approval step (a budget spent).
    pub reason: Option<String>,
    /// The run's, as it was when the approval was asked for.
    pub workflow_id: Arc<str>,
    pub job_name: Arc<str>,
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

    pub fn view(&self) -> ApprovalView {
        ApprovalView {
            approval_id: self.approval_id.to_string(),
            run_id: self.run_id.to_string(),
            step_id: self.step_id.clone(),
            workflow_id: self.workflow_id.to_string(),
            job_name: self.job_name.to_string(),
            approvers: self.approvers.clone(),
            quorum: self.quorum,
            needed: self.quorum.needed(self.approvers.len()),
            status: self.status,
            votes: self.votes.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            resolved_at: self.resolved_at,
            reason: self.reason.clone(),
        }
    }
}

/// The pending approvals and the newest resolved ones, by id.
#[derive(Default)]
pub struct Approvals {
    by_id: BTreeMap<Ulid, ApprovalState>,
    /// Resolved ones, in the order they were.
    resolved: VecDeque<Ulid>,
    index_rows: Vec<IndexRow>,
}

impl Approvals {
    /// Rows for the index made since the last call.
    pub fn drain_index(&mut self, out: &mut Vec<IndexRow>) {
        out.append(&mut self.index_rows);
    }

    /// Names the run of a new approval (the model's runs know them).
    pub(super) fn name(&mut self, approval_id: &Ulid, workflow_id: Arc<str>, job_name: Arc<str>) {
        if let Some(a) = self.by_id.get_mut(approval_id) {
            a.workflow_id = workflow_id;
            a.job_name = job_name;
        }
    }

    fn resolve(&mut self, approval_id: Ulid) {
        self.resolved.push_back(approval_id);
        while self.resolved.len() > KEPT_RESOLVED {
            if let Some(old) = self.resolved.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &Ulid) -> Option<&ApprovalState> {
        self.by_id.get(id)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &ApprovalState> {
        self.by_id.values()
    }

    /// Approvals awaiting votes now.
    pub fn pending(&self) -> usize {
        self.by_id
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .count()
    }

    pub fn apply(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::ApprovalRequested {
                approval_id,
                run_id,
                step_id,
                approvers,
                quorum,
                expires_at,
                reason,
            } => {
                self.index_rows.push(IndexRow::Approval(ApprovalRecord {
                    approval_id: *approval_id,
                    run_id: *run_id,
                }));
                self.by_id.insert(
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
                        reason: reason.clone(),
                        workflow_id: Arc::from(""),
                        job_name: Arc::from(""),
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
                if let Some(a) = self.by_id.get_mut(approval_id) {
                    let vote = VoteView {
                        voter: voter.clone(),
                        decision: (*decision).into(),
                        comment: comment.clone(),
                        at,
                    };
                    // A voter counts once. In a cluster the same voter may
                    // vote at two nodes at once, and each node folds its
                    // own first: the earlier vote stands on every node.
                    match a.votes.iter_mut().find(|v| v.voter == *voter) {
                        Some(first) if vote.at < first.at => *first = vote,
                        Some(_) => {}
                        None => a.votes.push(vote),
                    }
                }
            }
            EventKind::ApprovalResolved {
                approval_id,
                status,
                ..
            } => {
                if let Some(a) = self.by_id.get_mut(approval_id) {
                    let was_pending = a.status == ApprovalStatus::Pending;
                    a.status = (*status).into();
                    a.resolved_at = Some(at);
                    if was_pending {
                        self.resolve(*approval_id);
                    }
                }
            }
            // A run that ends otherwise takes its pending approvals with it.
            EventKind::RunCancelled { run_id, .. } | EventKind::RunInterrupted { run_id, .. } => {
                let mut ended = Vec::new();
                for a in self.by_id.values_mut() {
                    if a.run_id == *run_id && a.status == ApprovalStatus::Pending {
                        a.status = ApprovalStatus::Cancelled;
                        a.resolved_at = Some(at);
                        ended.push(a.approval_id);
                    }
                }
                for id in ended {
                    self.resolve(id);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::records::{Decision, Quorum};

    fn event(seq: u64, at: DateTime<Utc>, kind: EventKind) -> Event {
        Event { seq, at, kind }
    }

    #[test]
    fn a_voter_counts_once_and_the_earlier_vote_stands_whatever_the_fold_order() {
        let (approval_id, run_id) = (Ulid::new(), Ulid::new());
        let t0 = Utc::now();
        let asked = event(
            1,
            t0,
            EventKind::ApprovalRequested {
                approval_id,
                run_id,
                step_id: "sign_off".into(),
                approvers: vec!["ana".into(), "bo".into()],
                quorum: Quorum::Unanimous,
                expires_at: None,
                reason: None,
            },
        );
        let vote = |seq, ms, decision| {
            event(
                seq,
                t0 + chrono::Duration::milliseconds(ms),
                EventKind::VoteCast {
                    approval_id,
                    run_id,
                    voter: "ana".into(),
                    decision,
                    comment: None,
                },
            )
        };
        // Ana voted at two nodes at once: each folds its own first.
        let (early, late) = (vote(2, 5, Decision::Reject), vote(3, 9, Decision::Approve));
        let tallies: Vec<(usize, usize)> = [[&early, &late], [&late, &early]]
            .into_iter()
            .map(|order| {
                let mut approvals = Approvals::default();
                approvals.apply(&asked);
                for e in order {
                    approvals.apply(e);
                }
                let a = approvals.get(&approval_id).unwrap();
                assert_eq!(a.votes.len(), 1);
                a.tally()
            })
            .collect();
        assert_eq!(tallies, [(0, 1), (0, 1)], "the earlier vote, a rejection");
    }
}
