//! Approvals (steps that wait for people) and routines (workflows started
//! on a cron schedule): their engine side.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use app::wire::{
    ApiError, ApprovalStatus, Decision, JobRequest, Quorum, RoutinePatch, RoutineRequest, StepSpec,
    VoteRequest,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use super::execute::{secs, Outcome};
use super::{Engine, EngineError};
use crate::events::EventKind;

/// Decisions awaited by approval steps, by approval id.
pub(super) type Waiting = HashMap<Ulid, oneshot::Sender<ApprovalStatus>>;

/// Runs an approval step: asks, waits for the quorum (or the step's
/// `timeout_secs`, or the run's cancellation), and ends the step by it.
pub(super) async fn await_approval(
    engine: &Engine,
    run_id: Ulid,
    index: usize,
    spec: &StepSpec,
    approvers: &[String],
    quorum: Quorum,
    cancel: CancellationToken,
) -> (usize, Outcome) {
    let journal = &engine.inner.journal;
    let step_id = spec.id.clone();
    let approval_id = engine.next_id();
    let (tx, rx) = oneshot::channel();
    engine.inner.approvals.lock().insert(approval_id, tx);
    let started = Instant::now();
    journal.publish(EventKind::StepStarted {
        run_id,
        step_id: step_id.clone(),
        attempt: 0,
    });
    let timeout = spec.timeout_secs.map(Duration::from_secs_f64);
    journal.publish(EventKind::ApprovalRequested {
        approval_id,
        run_id,
        step_id: step_id.clone(),
        approvers: approvers.to_vec(),
        quorum,
        expires_at: timeout
            .and_then(|t| chrono::Duration::from_std(t).ok())
            .map(|t| Utc::now() + t),
    });
    let expiry = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let decided = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        status = rx => status.ok(),
        _ = expiry => Some(ApprovalStatus::Expired),
    };
    // Whoever got here first, nobody else may resolve it now.
    let still_waiting = engine.inner.approvals.lock().remove(&approval_id).is_some();
    let duration_secs = secs(started.elapsed());
    match decided {
        None => {
            if still_waiting {
                journal.publish(EventKind::ApprovalResolved {
                    approval_id,
                    run_id,
                    status: ApprovalStatus::Cancelled,
                });
            }
            journal.publish(EventKind::StepCancelled {
                run_id,
                step_id,
                attempt: Some(0),
                duration_secs: Some(duration_secs),
            });
            (index, Outcome::Cancelled)
        }
        Some(ApprovalStatus::Approved) => {
            let approvers = journal.read(|m| {
                m.governance
                    .approvals
                    .get(&approval_id)
                    .map_or_else(String::new, |a| {
                        a.votes
                            .iter()
                            .filter(|v| v.decision == Decision::Approve)
                            .map(|v| v.voter.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
            });
            journal.publish(EventKind::StepCompleted {
                run_id,
                step_id,
                attempt: 0,
                duration_secs,
                output: format!("approved by {approvers}"),
                output_truncated: false,
            });
            (index, Outcome::Completed)
        }
        Some(status) => {
            if status == ApprovalStatus::Expired && still_waiting {
                journal.publish(EventKind::ApprovalResolved {
                    approval_id,
                    run_id,
                    status,
                });
            }
            let error = match status {
                ApprovalStatus::Expired => format!(
                    "approval timed out after {}s",
                    timeout.map_or(0.0, |t| t.as_secs_f64())
                ),
                _ => journal.read(|m| {
                    let rejections: Vec<String> = m
                        .governance
                        .approvals
                        .get(&approval_id)
                        .map(|a| {
                            a.votes
                                .iter()
                                .filter(|v| v.decision == Decision::Reject)
                                .map(|v| match &v.comment {
                                    Some(c) => format!("{} ({c})", v.voter),
                                    None => v.voter.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    format!("rejected by {}", rejections.join(", "))
                }),
            };
            journal.publish(EventKind::StepFailed {
                run_id,
                step_id,
                attempt: 0,
                error: error.clone(),
                timed_out: status == ApprovalStatus::Expired,
                duration_secs,
            });
            (index, Outcome::Failed(error))
        }
    }
}

impl Engine {
    /// Records a vote; resolves the approval when the quorum decides.
    pub fn vote(
        &self,
        approval_id: Ulid,
        vote: VoteRequest,
    ) -> Result<ApprovalStatus, EngineError> {
        let voter = vote.voter.trim().to_string();
        if voter.is_empty() {
            return Err(EngineError::Invalid(
                ApiError::new("invalid_vote", "the voter's name is empty").with_field("voter"),
            ));
        }
        // One vote at a time: two votes must not both resolve an approval.
        let mut waiting = self.inner.approvals.lock();
        let journal = &self.inner.journal;
        let (run_id, status, approvers, voted) = journal
            .read(|m| {
                m.governance.approvals.get(&approval_id).map(|a| {
                    (
                        a.run_id,
                        a.status,
                        a.approvers.clone(),
                        a.votes.iter().any(|v| v.voter == voter),
                    )
                })
            })
            .ok_or_else(|| EngineError::NotFound(format!("no approval with id {approval_id}")))?;
        if status != ApprovalStatus::Pending {
            return Err(EngineError::Conflict(format!(
                "approval {approval_id} is already {}",
                status.as_str()
            )));
        }
        if !approvers.contains(&voter) {
            return Err(EngineError::Forbidden(format!(
                "{voter:?} is not an approver of this step (approvers: {})",
                approvers.join(", ")
            )));
        }
        if voted {
            return Err(EngineError::Conflict(format!(
                "{voter:?} has already voted"
            )));
        }
        journal.publish(EventKind::VoteCast {
            approval_id,
            run_id,
            voter,
            decision: vote.decision,
            comment: vote.comment.filter(|c| !c.trim().is_empty()),
        });
        let decided = journal.read(|m| {
            m.governance.approvals.get(&approval_id).and_then(|a| {
                let (yes, no) = a.tally();
                a.quorum.decide(a.approvers.len(), yes, no)
            })
        });
        match decided {
            Some(status) => {
                journal.publish(EventKind::ApprovalResolved {
                    approval_id,
                    run_id,
                    status,
                });
                if let Some(step) = waiting.remove(&approval_id) {
                    let _ = step.send(status);
                }
                Ok(status)
            }
            None => Ok(ApprovalStatus::Pending),
        }
    }

    /// Creates a routine (and its job, when given a workflow).
    pub fn create_routine(&self, req: RoutineRequest) -> Result<Ulid, EngineError> {
        let name = check_name(&req.name)?;
        let (cron, tz) = check_schedule(&req.cron, req.timezone.as_deref())?;
        let job_id = match (&req.job_id, req.workflow) {
            (Some(id), _) => self.existing_job(id, "job_id")?,
            (None, Some(workflow)) => {
                let created = self.create_job(JobRequest {
                    name: name.clone(),
                    description: Some(format!("Run by routine {name}")),
                    workflow,
                    execute: false,
                })?;
                created.job_id.parse().expect("engine ids are ULIDs")
            }
            (None, None) => {
                return Err(EngineError::Invalid(
                    ApiError::new(
                        "invalid_routine",
                        "give the job to run: job_id, or a workflow",
                    )
                    .with_field("job_id"),
                ))
            }
        };
        let routine_id = self.next_id();
        self.inner.journal.publish(EventKind::RoutineCreated {
            routine_id,
            name,
            cron: cron.as_str().to_string(),
            timezone: tz.name().to_string(),
            job_id,
            enabled: req.enabled,
        });
        self.inner.schedule_changed.notify_one();
        Ok(routine_id)
    }

    /// Replaces a routine's definition (`PUT`) or some of it (`PATCH`).
    pub fn update_routine(&self, routine_id: Ulid, patch: RoutinePatch) -> Result<(), EngineError> {
        let current = self
            .inner
            .journal
            .read(|m| m.governance.routines.get(&routine_id).cloned())
            .ok_or_else(|| EngineError::NotFound(format!("no routine with id {routine_id}")))?;
        let name = match &patch.name {
            Some(n) => check_name(n)?,
            None => current.name.clone(),
        };
        let (cron, tz) = check_schedule(
            patch.cron.as_deref().unwrap_or(&current.cron),
            Some(patch.timezone.as_deref().unwrap_or(&current.timezone)),
        )?;
        let job_id = match &patch.job_id {
            Some(id) => self.existing_job(id, "job_id")?,
            None => current.job_id,
        };
        let journal = &self.inner.journal;
        let (cron, timezone) = (cron.as_str().to_string(), tz.name().to_string());
        if (&name, &cron, &timezone, job_id)
            != (
                &current.name,
                &current.cron,
                &current.timezone,
                current.job_id,
            )
        {
            journal.publish(EventKind::RoutineUpdated {
                routine_id,
                name,
                cron,
                timezone,
                job_id,
            });
        }
        if let Some(enabled) = patch.enabled {
            self.set_routine_enabled(routine_id, enabled)?;
        }
        self.inner.schedule_changed.notify_one();
        Ok(())
    }

    pub fn set_routine_enabled(&self, routine_id: Ulid, enabled: bool) -> Result<(), EngineError> {
        let current = self
            .inner
            .journal
            .read(|m| m.governance.routines.get(&routine_id).map(|r| r.enabled))
            .ok_or_else(|| EngineError::NotFound(format!("no routine with id {routine_id}")))?;
        if current != enabled {
            self.inner.journal.publish(if enabled {
                EventKind::RoutineEnabled { routine_id }
            } else {
                EventKind::RoutineDisabled { routine_id }
            });
            self.inner.schedule_changed.notify_one();
        }
        Ok(())
    }

    pub fn delete_routine(&self, routine_id: Ulid) -> Result<(), EngineError> {
        if !self
            .inner
            .journal
            .read(|m| m.governance.routines.contains_key(&routine_id))
        {
            return Err(EngineError::NotFound(format!(
                "no routine with id {routine_id}"
            )));
        }
        self.inner
            .journal
            .publish(EventKind::RoutineDeleted { routine_id });
        self.inner.schedule_changed.notify_one();
        Ok(())
    }

    fn existing_job(&self, raw: &str, field: &str) -> Result<Ulid, EngineError> {
        raw.parse::<Ulid>()
            .ok()
            .filter(|id| self.inner.journal.read(|m| m.jobs.get(id).is_some()))
            .ok_or_else(|| {
                EngineError::Invalid(
                    ApiError::new("invalid_routine", format!("no job with id {raw:?}"))
                        .with_field(field),
                )
            })
    }

    /// Starts the routines' scheduler. Fires missed while the server was
    /// down are coalesced: each routine that missed one or more runs once at
    /// start-up for the latest of them (as Airflow's catch-up off, or a
    /// Temporal schedule's default overlap policy).
    pub async fn run_scheduler(self) {
        let now = Utc::now();
        let owed: Vec<(Ulid, Ulid, DateTime<Utc>)> = self.inner.journal.read(|m| {
            m.governance
                .routines
                .values()
                .filter(|r| r.enabled)
                .filter_map(|r| {
                    let (cron, tz) = check_schedule(&r.cron, Some(&r.timezone)).ok()?;
                    let since = r.last_scheduled.unwrap_or(r.enabled_at).max(r.enabled_at);
                    let missed = latest_between(&cron, tz, since, now)?;
                    Some((r.routine_id, r.job_id, missed))
                })
                .collect()
        });
        for (routine_id, job_id, scheduled_for) in owed {
            self.fire(routine_id, job_id, scheduled_for, true);
        }
        loop {
            let now = Utc::now();
            let next = self.inner.journal.read(|m| {
                m.governance
                    .routines
                    .values()
                    .filter(|r| r.enabled)
                    .filter_map(|r| {
                        let (cron, tz) = check_schedule(&r.cron, Some(&r.timezone)).ok()?;
                        let after = r.last_scheduled.map_or(now, |l| l.max(now));
                        Some((next_after(&cron, tz, after)?, r.routine_id, r.job_id))
                    })
                    .min()
            });
            let wait = next.map(|(at, _, _)| (at - now).to_std().unwrap_or(Duration::ZERO));
            let changed = self.inner.schedule_changed.notified();
            match wait {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {
                            let (at, routine_id, job_id) = next.expect("waited for it");
                            self.fire(routine_id, job_id, at, false);
                        }
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    fn fire(&self, routine_id: Ulid, job_id: Ulid, scheduled_for: DateTime<Utc>, missed: bool) {
        match self.start_run(job_id) {
            Ok(created) => {
                let run_id = created
                    .run_id
                    .and_then(|r| r.parse().ok())
                    .expect("a started run has an id");
                self.inner.journal.publish(EventKind::RoutineFired {
                    routine_id,
                    run_id,
                    scheduled_for,
                    missed,
                });
            }
            Err(e) => tracing::warn!(%routine_id, "routine could not start its job: {e:?}"),
        }
    }
}

fn check_name(name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > super::plan::MAX_NAME_CHARS {
        return Err(EngineError::Invalid(
            ApiError::new(
                "invalid_routine",
                "a routine needs a name of 1 to 200 characters",
            )
            .with_field("name"),
        ));
    }
    Ok(name.to_string())
}

/// Parses a cron expression (5 fields, or 6 with seconds first) and a time
/// zone (UTC when absent), naming the problem.
pub fn check_schedule(cron: &str, timezone: Option<&str>) -> Result<(Cron, Tz), EngineError> {
    let parsed = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(cron.trim())
        .map_err(|e| {
            EngineError::Invalid(
                ApiError::new("invalid_cron", format!("{cron:?}: {e}")).with_field("cron"),
            )
        })?;
    let tz = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
        None => Tz::UTC,
        Some(name) => Tz::from_str(name).map_err(|_| {
            EngineError::Invalid(
                ApiError::new(
                    "invalid_timezone",
                    format!("{name:?} is not an IANA time zone (e.g. Europe/Berlin)"),
                )
                .with_field("timezone"),
            )
        })?,
    };
    Ok((parsed, tz))
}

/// The first fire strictly after `after`.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next `n` fires after `after`.
pub fn next_fires(cron: &Cron, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(n);
    let mut cursor = after;
    while out.len() < n {
        match next_after(cron, tz, cursor) {
            Some(t) => {
                out.push(t);
                cursor = t;
            }
            None => break,
        }
    }
    out
}

/// The latest fire in `(since, until]`, if any.
pub fn latest_between(
    cron: &Cron,
    tz: Tz,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let first = next_after(cron, tz, since).filter(|t| *t <= until)?;
    cron.find_previous_occurrence(&until.with_timezone(&tz), true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t >= first)
        .or(Some(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn five_and_six_field_expressions_and_bad_ones() {
        let (every_second, tz) = check_schedule("* * * * * *", None).unwrap();
        assert_eq!(tz, Tz::UTC);
        assert_eq!(
            next_after(&every_second, tz, utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-01T00:00:01Z"))
        );
        let (hourly, tz) = check_schedule("15 * * * *", Some("UTC")).unwrap();
        assert_eq!(
            next_after(&hourly, tz, utc("2026-01-01T10:20:00Z")),
            Some(utc("2026-01-01T11:15:00Z"))
        );
        assert!(
            matches!(check_schedule("61 * * * *", None), Err(EngineError::Invalid(e)) if e.field.as_deref() == Some("cron"))
        );
        assert!(
            matches!(check_schedule("* * *", None), Err(EngineError::Invalid(e)) if e.error == "invalid_cron")
        );
        assert!(
            matches!(check_schedule("* * * * *", Some("Mars/Olympus")), Err(EngineError::Invalid(e)) if e.field.as_deref() == Some("timezone"))
        );
    }

    #[test]
    fn daily_fires_follow_local_time_across_dst_changes() {
        // 02:30 every day in Berlin: on 2026-03-29 clocks jump from 02:00 to
        // 03:00, so 02:30 does not exist that day.
        let (cron, tz) = check_schedule("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let fires = next_fires(&cron, tz, utc("2026-03-27T12:00:00Z"), 3);
        assert_eq!(
            fires[0],
            utc("2026-03-28T01:30:00Z"),
            "02:30 CET = 01:30 UTC"
        );
        // The missing 02:30 still fires once that day, just after the jump
        // (as Vixie cron does), and the day after is back to 02:30 local.
        assert!(
            fires[1] >= utc("2026-03-29T01:00:00Z") && fires[1] <= utc("2026-03-29T01:30:00Z"),
            "once on the 29th, right after the gap: {fires:?}"
        );
        assert_eq!(
            fires[2],
            utc("2026-03-30T00:30:00Z"),
            "02:30 CEST = 00:30 UTC"
        );
        // 09:00 every day in New York, across the end of DST (2026-11-01).
        let (cron, tz) = check_schedule("0 9 * * *", Some("America/New_York")).unwrap();
        let fires = next_fires(&cron, tz, utc("2026-10-31T00:00:00Z"), 2);
        assert_eq!(
            fires,
            [utc("2026-10-31T13:00:00Z"), utc("2026-11-01T14:00:00Z")]
        );
    }

    #[test]
    fn missed_fires_are_coalesced_to_the_latest() {
        let (cron, tz) = check_schedule("0 * * * *", None).unwrap();
        assert_eq!(
            latest_between(
                &cron,
                tz,
                utc("2026-01-01T00:30:00Z"),
                utc("2026-01-01T03:10:00Z")
            ),
            Some(utc("2026-01-01T03:00:00Z"))
        );
        assert_eq!(
            latest_between(
                &cron,
                tz,
                utc("2026-01-01T00:30:00Z"),
                utc("2026-01-01T00:50:00Z")
            ),
            None
        );
    }
}
