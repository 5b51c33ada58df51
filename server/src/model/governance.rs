//! Routines and approvals as folds over their events.

use std::collections::{BTreeMap, VecDeque};

use app::wire::{ApprovalStatus, ApprovalView, Quorum, RoutineFire, VoteView};
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::events::{Event, EventKind};

/// Fires remembered per routine.
const HISTORY: usize = 20;

#[derive(Clone, Debug)]
pub struct RoutineState {
    pub routine_id: Ulid,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub job_id: Ulid,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// When it was last enabled (or created enabled): fires missed before
    /// this are not owed.
    pub enabled_at: DateTime<Utc>,
    /// The latest schedule time fired, if any.
    pub last_scheduled: Option<DateTime<Utc>>,
    /// Newest first.
    pub history: VecDeque<RoutineFire>,
}

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
            .filter(|v| v.decision == app::wire::Decision::Approve)
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

#[derive(Default)]
pub struct Governance {
    pub routines: BTreeMap<Ulid, RoutineState>,
    pub approvals: BTreeMap<Ulid, ApprovalState>,
}

impl Governance {
    pub fn active_routines(&self) -> usize {
        self.routines.values().filter(|r| r.enabled).count()
    }

    pub fn pending_approvals(&self) -> usize {
        self.approvals
            .values()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .count()
    }

    pub(super) fn apply(&mut self, event: &Event) {
        let at = event.at;
        match &event.kind {
            EventKind::RoutineCreated {
                routine_id,
                name,
                cron,
                timezone,
                job_id,
                enabled,
            } => {
                self.routines.insert(
                    *routine_id,
                    RoutineState {
                        routine_id: *routine_id,
                        name: name.clone(),
                        cron: cron.clone(),
                        timezone: timezone.clone(),
                        job_id: *job_id,
                        enabled: *enabled,
                        created_at: at,
                        enabled_at: at,
                        last_scheduled: None,
                        history: VecDeque::new(),
                    },
                );
            }
            EventKind::RoutineUpdated {
                routine_id,
                name,
                cron,
                timezone,
                job_id,
            } => {
                if let Some(r) = self.routines.get_mut(routine_id) {
                    r.name = name.clone();
                    r.cron = cron.clone();
                    r.timezone = timezone.clone();
                    r.job_id = *job_id;
                }
            }
            EventKind::RoutineEnabled { routine_id } => {
                if let Some(r) = self.routines.get_mut(routine_id) {
                    if !r.enabled {
                        r.enabled = true;
                        r.enabled_at = at;
                    }
                }
            }
            EventKind::RoutineDisabled { routine_id } => {
                if let Some(r) = self.routines.get_mut(routine_id) {
                    r.enabled = false;
                }
            }
            EventKind::RoutineDeleted { routine_id } => {
                self.routines.remove(routine_id);
            }
            EventKind::RoutineFired {
                routine_id,
                run_id,
                scheduled_for,
                missed,
            } => {
                if let Some(r) = self.routines.get_mut(routine_id) {
                    r.last_scheduled = Some(
                        r.last_scheduled
                            .map_or(*scheduled_for, |l| l.max(*scheduled_for)),
                    );
                    if r.history.len() == HISTORY {
                        r.history.pop_back();
                    }
                    r.history.push_front(RoutineFire {
                        run_id: run_id.to_string(),
                        fired_at: at,
                        scheduled_for: *scheduled_for,
                        missed: *missed,
                        status: None,
                    });
                }
            }
            EventKind::ApprovalRequested {
                approval_id,
                run_id,
                step_id,
                approvers,
                quorum,
                expires_at,
            } => {
                self.approvals.insert(
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
                if let Some(a) = self.approvals.get_mut(approval_id) {
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
                if let Some(a) = self.approvals.get_mut(approval_id) {
                    a.status = (*status).into();
                    a.resolved_at = Some(at);
                }
            }
            // A run that ends otherwise takes its pending approvals with it.
            EventKind::RunCancelled { run_id, .. } | EventKind::RunInterrupted { run_id, .. } => {
                for a in self.approvals.values_mut() {
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
