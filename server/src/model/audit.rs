//! The audit trail: who did what, folded from the events that record an
//! actor (jobs created, runs started and cancelled, routines changed,
//! votes, alert rules set), newest kept in memory and rebuilt from the log
//! at start-up.

use std::collections::VecDeque;

use wire::AuditEntry;

use crate::events::{Event, EventKind};

/// Actions kept for `GET /api/audit`.
pub const KEPT: usize = 10_000;

#[derive(Default)]
pub struct Audit {
    /// Newest last.
    entries: VecDeque<AuditEntry>,
}

/// What an event did and to what, if it is an action someone took.
fn action(kind: &EventKind) -> Option<(&'static str, String, Option<String>, Option<&str>)> {
    use EventKind::*;
    fn actor(a: &Option<String>) -> Option<&str> {
        a.as_deref()
    }
    Some(match kind {
        JobCreated {
            job_id,
            name,
            actor: a,
            ..
        } => (
            "create_job",
            job_id.to_string(),
            Some(name.clone()),
            actor(a),
        ),
        RunCreated {
            run_id,
            job_name,
            actor: a,
            ..
        } => (
            "start_run",
            run_id.to_string(),
            Some(job_name.clone()),
            actor(a),
        ),
        RunCancelRequested { run_id, actor: a } => {
            ("cancel_run", run_id.to_string(), None, actor(a))
        }
        RoutineCreated {
            routine_id,
            name,
            actor: a,
            ..
        } => (
            "create_routine",
            routine_id.to_string(),
            Some(name.clone()),
            actor(a),
        ),
        RoutineUpdated {
            routine_id,
            name,
            actor: a,
            ..
        } => (
            "update_routine",
            routine_id.to_string(),
            Some(name.clone()),
            actor(a),
        ),
        RoutineEnabled {
            routine_id,
            actor: a,
        } => ("enable_routine", routine_id.to_string(), None, actor(a)),
        RoutineDisabled {
            routine_id,
            actor: a,
        } => ("disable_routine", routine_id.to_string(), None, actor(a)),
        RoutineDeleted {
            routine_id,
            actor: a,
        } => ("delete_routine", routine_id.to_string(), None, actor(a)),
        VoteCast {
            approval_id,
            voter,
            decision,
            ..
        } => (
            "vote",
            approval_id.to_string(),
            Some(
                match wire::Decision::from(*decision) {
                    wire::Decision::Approve => "approve",
                    wire::Decision::Reject => "reject",
                }
                .to_string(),
            ),
            Some(voter.as_str()),
        ),
        AlertRuleSet { rule, actor: a } => ("set_alert_rule", rule.name.clone(), None, actor(a)),
        _ => return None,
    })
}

impl Audit {
    pub(crate) fn apply(&mut self, event: &Event) {
        let Some((action, target, detail, actor)) = action(&event.kind) else {
            return;
        };
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back(AuditEntry {
            seq: event.seq,
            at: event.at,
            actor: actor.map(str::to_string),
            action: action.into(),
            target,
            detail,
        });
    }

    /// The newest `limit` actions, newest first, of `actor` if given.
    pub fn recent(&self, actor: Option<&str>, limit: usize) -> Vec<AuditEntry> {
        self.entries
            .iter()
            .rev()
            .filter(|e| actor.is_none_or(|a| e.actor.as_deref() == Some(a)))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at: chrono::Utc::now(),
            kind,
        }
    }

    #[test]
    fn actions_are_kept_with_their_actor_newest_first() {
        let mut audit = Audit::default();
        let run = Ulid::new();
        audit.apply(&event(
            1,
            EventKind::RunCancelRequested {
                run_id: run,
                actor: Some("olga".into()),
            },
        ));
        audit.apply(&event(2, EventKind::RunStarted { run_id: run }));
        audit.apply(&event(
            3,
            EventKind::RoutineDeleted {
                routine_id: run,
                actor: None,
            },
        ));
        let all = audit.recent(None, 10);
        assert_eq!(all.len(), 2, "a run starting is nobody's action");
        assert_eq!(
            (all[0].seq, all[0].action.as_str(), all[0].actor.as_deref()),
            (3, "delete_routine", None)
        );
        assert_eq!(
            (all[1].action.as_str(), all[1].target.clone()),
            ("cancel_run", run.to_string())
        );
        assert_eq!(audit.recent(Some("olga"), 10).len(), 1);
        assert_eq!(audit.recent(Some("nobody"), 10).len(), 0);
        for seq in 0..KEPT as u64 + 5 {
            audit.apply(&event(
                10 + seq,
                EventKind::RoutineEnabled {
                    routine_id: run,
                    actor: Some("x".into()),
                },
            ));
        }
        assert_eq!(audit.recent(None, usize::MAX).len(), KEPT);
    }
}
