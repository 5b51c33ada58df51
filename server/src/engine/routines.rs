//! Routines: workflows started on a cron schedule. Their definitions and
//! the scheduler that fires them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{ApiError, JobRequest, RoutinePatch, RoutineRequest};

use super::schedule::Schedule;
use super::SYSTEM;
use super::{Engine, EngineError};
use crate::events::EventKind;
use crate::model::RoutineState;

impl Engine {
    /// Creates a routine (and its job, when given a workflow); answers once
    /// both are committed.
    pub async fn create_routine(
        &self,
        req: RoutineRequest,
        actor: &str,
    ) -> Result<Ulid, EngineError> {
        let job = self.named_job(req.job_id.as_deref()).await;
        let (routine_id, seq) = self.create_routine_now(req, job, actor)?;
        self.acknowledge(seq).await?;
        Ok(routine_id)
    }

    /// `job`: the named job as [`named_job`](Self::named_job) found it.
    fn create_routine_now(
        &self,
        req: RoutineRequest,
        job: Option<Result<(Ulid, String), EngineError>>,
        actor: &str,
    ) -> Result<(Ulid, u64), EngineError> {
        let name = check_name(&req.name)?;
        let schedule = Schedule::parse(&req.cron, req.timezone.as_deref())?;
        let (job_id, workflow_id) = match (job, req.workflow) {
            (Some(job), _) => job?,
            (None, Some(workflow)) => {
                let (created, _) = self.create_job_now(
                    JobRequest {
                        name: name.clone(),
                        description: Some(format!("Run by routine {name}")),
                        workflow,
                        execute: false,
                        budget: None,
                    },
                    actor,
                    None,
                )?;
                (created.job_id, created.workflow_id)
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
        self.admit()?;
        let routine_id = self.next_id();
        let created = self.inner.journal.publish(EventKind::RoutineCreated {
            routine_id,
            name,
            cron: schedule.expression().to_string(),
            timezone: schedule.timezone().name().to_string(),
            job_id,
            enabled: req.enabled,
            workflow_id: Some(workflow_id),
            actor: Some(actor.to_string()),
        });
        self.inner.schedule_changed.notify_one();
        Ok((routine_id, created.seq))
    }

    /// Replaces a routine's definition (`PUT`) or some of it (`PATCH`);
    /// answers once the change is committed.
    pub async fn update_routine(
        &self,
        routine_id: Ulid,
        patch: RoutinePatch,
        actor: &str,
    ) -> Result<(), EngineError> {
        let job = self.named_job(patch.job_id.as_deref()).await;
        let seq = self.update_routine_now(routine_id, patch, job, actor)?;
        self.acknowledge(seq).await
    }

    fn update_routine_now(
        &self,
        routine_id: Ulid,
        patch: RoutinePatch,
        job: Option<Result<(Ulid, String), EngineError>>,
        actor: &str,
    ) -> Result<u64, EngineError> {
        let current = self
            .inner
            .journal
            .read(|m| m.routines.get(&routine_id).cloned())
            .ok_or_else(|| EngineError::NotFound(format!("no routine with id {routine_id}")))?;
        let name = match &patch.name {
            Some(n) => check_name(n)?,
            None => current.name.clone(),
        };
        let schedule = Schedule::parse(
            patch.cron.as_deref().unwrap_or(&current.cron),
            Some(patch.timezone.as_deref().unwrap_or(&current.timezone)),
        )?;
        let (job_id, workflow_id) = match job {
            Some(job) => {
                let (id, workflow) = job?;
                (id, Some(workflow))
            }
            None => (current.job_id, current.workflow_id.clone()),
        };
        self.admit()?;
        let journal = &self.inner.journal;
        let mut seq = self.settled();
        let (cron, timezone) = (
            schedule.expression().to_string(),
            schedule.timezone().name().to_string(),
        );
        if (&name, &cron, &timezone, job_id)
            != (
                &current.name,
                &current.cron,
                &current.timezone,
                current.job_id,
            )
        {
            seq = journal
                .publish(EventKind::RoutineUpdated {
                    routine_id,
                    name,
                    cron,
                    timezone,
                    job_id,
                    workflow_id,
                    actor: Some(actor.to_string()),
                })
                .seq;
        }
        if let Some(enabled) = patch.enabled {
            seq = self.set_routine_enabled_now(routine_id, enabled, actor)?;
        }
        self.inner.schedule_changed.notify_one();
        Ok(seq)
    }

    /// Enables or disables a routine; answers once that is committed.
    pub async fn set_routine_enabled(
        &self,
        routine_id: Ulid,
        enabled: bool,
        actor: &str,
    ) -> Result<(), EngineError> {
        let seq = self.set_routine_enabled_now(routine_id, enabled, actor)?;
        self.acknowledge(seq).await
    }

    fn set_routine_enabled_now(
        &self,
        routine_id: Ulid,
        enabled: bool,
        actor: &str,
    ) -> Result<u64, EngineError> {
        let current = self
            .inner
            .journal
            .read(|m| m.routines.get(&routine_id).map(|r| r.enabled))
            .ok_or_else(|| EngineError::NotFound(format!("no routine with id {routine_id}")))?;
        if current == enabled {
            return Ok(self.settled());
        }
        self.admit()?;
        let actor = Some(actor.to_string());
        let changed = self.inner.journal.publish(if enabled {
            EventKind::RoutineEnabled { routine_id, actor }
        } else {
            EventKind::RoutineDisabled { routine_id, actor }
        });
        self.inner.schedule_changed.notify_one();
        Ok(changed.seq)
    }

    /// Deletes a routine; answers once that is committed.
    pub async fn delete_routine(&self, routine_id: Ulid, actor: &str) -> Result<(), EngineError> {
        if !self
            .inner
            .journal
            .read(|m| m.routines.contains_key(&routine_id))
        {
            return Err(EngineError::NotFound(format!(
                "no routine with id {routine_id}"
            )));
        }
        self.admit()?;
        let deleted = self.inner.journal.publish(EventKind::RoutineDeleted {
            routine_id,
            actor: Some(actor.to_string()),
        });
        self.inner.schedule_changed.notify_one();
        self.acknowledge(deleted.seq).await
    }

    /// The job a routine's `job_id` names, if it names one: it must exist,
    /// in memory or in the store's index.
    async fn named_job(&self, raw: Option<&str>) -> Option<Result<(Ulid, String), EngineError>> {
        let raw = raw?;
        let invalid = || {
            EngineError::Invalid(
                ApiError::new("invalid_routine", format!("no job with id {raw:?}"))
                    .with_field("job_id"),
            )
        };
        let Ok(id) = raw.parse::<Ulid>() else {
            return Some(Err(invalid()));
        };
        Some(match self.job(id).await {
            Ok(job) => Ok((id, job.workflow_id.to_string())),
            Err(EngineError::NotFound(_)) => Err(invalid()),
            Err(e) => Err(e),
        })
    }

    /// Starts the routines' scheduler. Fires missed while the server was
    /// down are coalesced: each routine that missed one or more runs once at
    /// start-up for the latest of them (as Airflow's catch-up off, or a
    /// Temporal schedule's default overlap policy). From then on every fire
    /// of every routine happens once, whatever else is due at that instant.
    pub async fn run_scheduler(self) {
        // In a cluster the leader fires, once for the cluster; another node
        // waits to lead (the fires it missed meanwhile are then due).
        while !self.inner.journal.leads() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let started = Utc::now();
        let owed: Vec<(Ulid, Ulid, DateTime<Utc>)> = self.inner.journal.read(|m| {
            m.routines
                .values()
                .filter(|r| r.enabled)
                .filter_map(|r| {
                    let schedule = Schedule::parse(&r.cron, Some(&r.timezone)).ok()?;
                    let since = r.last_scheduled.unwrap_or(r.enabled_at).max(r.enabled_at);
                    let missed = schedule.latest_between(since, started)?;
                    Some((r.routine_id, r.job_id, missed))
                })
                .collect()
        });
        for (routine_id, job_id, scheduled_for) in owed {
            self.fire(routine_id, job_id, scheduled_for, true).await;
        }
        // Fires attempted, by routine: a fire whose job could not start
        // (deleted, or the server shedding load) is not retried in a loop.
        let mut attempted: HashMap<Ulid, DateTime<Utc>> = HashMap::new();
        loop {
            if !self.inner.journal.leads() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let changed = self.inner.schedule_changed.notified();
            let now = Utc::now();
            let due = self
                .inner
                .journal
                .read(|m| due_fires(m.routines.values(), started, &attempted, now));
            for fire in &due {
                attempted.insert(fire.routine_id, fire.scheduled_for);
                self.fire(
                    fire.routine_id,
                    fire.job_id,
                    fire.scheduled_for,
                    fire.missed,
                )
                .await;
            }
            if !due.is_empty() {
                continue;
            }
            let next = self
                .inner
                .journal
                .read(|m| next_due(m.routines.values(), started, &attempted, now));
            match next {
                Some(at) => {
                    let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    async fn fire(
        &self,
        routine_id: Ulid,
        job_id: Ulid,
        scheduled_for: DateTime<Utc>,
        missed: bool,
    ) {
        // The scheduler's own doing: it does not wait for the disk.
        let started = match self.job(job_id).await {
            Ok(job) => self.start_run_now(job, SYSTEM, None),
            Err(e) => Err(e),
        };
        match started {
            Ok((created, _)) => {
                let run_id = created.run_id.expect("a started run has an id");
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

/// Most fires of one routine made up for one by one after a late wake-up
/// (a busy machine, a suspended process); beyond that they are coalesced
/// into the latest, as at start-up.
const MAX_CATCH_UP: usize = 100;

/// A fire the scheduler owes now.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueFire {
    pub scheduled_for: DateTime<Utc>,
    pub routine_id: Ulid,
    pub job_id: Ulid,
    /// Coalesced from several that came due while the scheduler was late.
    pub missed: bool,
}

/// Where a routine's schedule resumes: after its latest fire, its latest
/// enabling, the scheduler's start (`floor`), and the latest fire
/// attempted; `None` for a disabled routine or a schedule that no longer
/// parses.
fn cursor(
    r: &RoutineState,
    floor: DateTime<Utc>,
    attempted: &HashMap<Ulid, DateTime<Utc>>,
) -> Option<(Schedule, DateTime<Utc>)> {
    if !r.enabled {
        return None;
    }
    let schedule = Schedule::parse(&r.cron, Some(&r.timezone)).ok()?;
    let after = [
        r.last_scheduled,
        Some(r.enabled_at),
        attempted.get(&r.routine_id).copied(),
    ]
    .into_iter()
    .flatten()
    .fold(floor, DateTime::max);
    Some((schedule, after))
}

/// Every fire due by `now` over all routines, each exactly once, in time
/// order (ties by routine id). Routines due at the same instant all fire.
pub fn due_fires<'a>(
    routines: impl Iterator<Item = &'a RoutineState>,
    floor: DateTime<Utc>,
    attempted: &HashMap<Ulid, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<DueFire> {
    let mut due = Vec::new();
    for r in routines {
        let Some((schedule, after)) = cursor(r, floor, attempted) else {
            continue;
        };
        let mut fires = Vec::new();
        let mut at = after;
        while let Some(next) = schedule.next_after(at).filter(|t| *t <= now) {
            if fires.len() == MAX_CATCH_UP {
                // Far behind: one run for the latest, marked missed.
                let latest = schedule.latest_between(at, now).unwrap_or(next);
                fires.clear();
                fires.push((latest, true));
                break;
            }
            fires.push((next, false));
            at = next;
        }
        due.extend(fires.into_iter().map(|(scheduled_for, missed)| DueFire {
            scheduled_for,
            routine_id: r.routine_id,
            job_id: r.job_id,
            missed,
        }));
    }
    due.sort();
    due
}

/// The earliest fire after `now` over all routines, to sleep until.
pub fn next_due<'a>(
    routines: impl Iterator<Item = &'a RoutineState>,
    floor: DateTime<Utc>,
    attempted: &HashMap<Ulid, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    routines
        .filter_map(|r| {
            let (schedule, after) = cursor(r, floor, attempted)?;
            schedule.next_after(after.max(now))
        })
        .min()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn routine(n: u128, cron: &str, timezone: &str, at: DateTime<Utc>) -> RoutineState {
        RoutineState {
            routine_id: Ulid(n),
            name: format!("r{n}"),
            cron: cron.into(),
            timezone: timezone.into(),
            job_id: Ulid(1_000 + n),
            workflow_id: None,
            enabled: true,
            created_at: at,
            created_by: None,
            updated_at: at,
            updated_by: None,
            enabled_at: at,
            last_scheduled: None,
            history: Default::default(),
        }
    }

    /// Runs `due_fires` as the scheduler does, waking at irregular instants,
    /// and records what fired.
    fn simulate(
        routines: &mut [RoutineState],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        steps_ms: &[i64],
    ) -> Vec<(Ulid, DateTime<Utc>)> {
        let attempted = HashMap::new();
        let mut fired = Vec::new();
        let mut now = from;
        for step in steps_ms.iter().cycle() {
            for f in due_fires(routines.iter(), from, &attempted, now) {
                assert!(!f.missed, "nothing is late here: {f:?}");
                fired.push((f.routine_id, f.scheduled_for));
                let r = routines
                    .iter_mut()
                    .find(|r| r.routine_id == f.routine_id)
                    .unwrap();
                r.last_scheduled = Some(f.scheduled_for);
            }
            if now >= until {
                break;
            }
            now = (now + chrono::Duration::milliseconds(*step)).min(until);
        }
        fired
    }

    #[test]
    fn every_routine_due_at_the_same_instant_fires_exactly_once() {
        let from = utc("2026-12-02T02:58:59.500Z");
        let until = utc("2026-12-02T03:01:30Z");
        let specs = [
            ("* * * * *", "UTC"),
            ("* * * * *", "UTC"),
            ("* * * * *", "Asia/Kathmandu"),
            ("*/2 * * * * *", "UTC"),
            ("*/3 * * * * *", "UTC"),
            ("* * * * * *", "UTC"),
            ("* * * * * *", "America/New_York"),
            ("* * * * * *", "Europe/Berlin"),
            ("0 3 * * *", "UTC"),
            ("0 3 * * *", "UTC"),
            ("0 9 * * *", "Asia/Tokyo"), // 00:00 UTC: not in the window
        ];
        let mut routines: Vec<RoutineState> = specs
            .iter()
            .enumerate()
            .map(|(i, (cron, tz))| routine(i as u128 + 1, cron, tz, from))
            .collect();
        // Wake-ups early, late, in bursts and exactly on the second.
        let fired = simulate(
            &mut routines,
            from,
            until,
            &[1, 499, 1_500, 20, 2_980, 1_000, 7],
        );
        for (i, (cron, tz)) in specs.iter().enumerate() {
            let id = Ulid(i as u128 + 1);
            let expected: Vec<DateTime<Utc>> = Schedule::parse(cron, Some(tz))
                .unwrap()
                .next_fires(from, 1_000)
                .into_iter()
                .take_while(|t| *t <= until)
                .collect();
            let got: Vec<DateTime<Utc>> = fired
                .iter()
                .filter(|(r, _)| *r == id)
                .map(|(_, t)| *t)
                .collect();
            assert_eq!(got, expected, "routine {} ({:?})", i + 1, specs[i]);
        }
        // The minute and daily routines all fired at 03:00:00 (at 03:00 UTC
        // Kathmandu's minute also turns).
        let at_three = fired
            .iter()
            .filter(|(_, t)| *t == utc("2026-12-02T03:00:00Z"))
            .count();
        assert_eq!(at_three, 3 + 2 + 2 + 3, "{fired:?}");
        // Time order, ties by routine.
        let mut sorted = fired.clone();
        sorted.sort_by_key(|(r, t)| (*t, *r));
        assert_eq!(fired, sorted);
    }

    #[test]
    fn a_late_wake_up_catches_up_one_by_one_or_coalesces_when_far_behind() {
        let from = utc("2026-12-02T00:00:00Z");
        let mut routines = vec![
            routine(1, "* * * * * *", "UTC", from),
            routine(2, "0 * * * * *", "UTC", from),
        ];
        let attempted = HashMap::new();
        // 30 s late: every second made up for, in order.
        let due = due_fires(
            routines.iter(),
            from,
            &attempted,
            utc("2026-12-02T00:00:30Z"),
        );
        assert_eq!(due.iter().filter(|f| f.routine_id == Ulid(1)).count(), 30);
        assert!(due.iter().all(|f| !f.missed));
        // An hour late: the every-second routine runs once for the latest
        // second, marked missed; the hourly one owes exactly one fire.
        routines[0].last_scheduled = None;
        let due = due_fires(
            routines.iter(),
            from,
            &attempted,
            utc("2026-12-02T01:00:00Z"),
        );
        let every_second: Vec<&DueFire> = due.iter().filter(|f| f.routine_id == Ulid(1)).collect();
        assert_eq!(every_second.len(), 1);
        assert!(every_second[0].missed);
        assert_eq!(every_second[0].scheduled_for, utc("2026-12-02T01:00:00Z"));
        let minute_zero: Vec<&DueFire> = due.iter().filter(|f| f.routine_id == Ulid(2)).collect();
        assert_eq!(
            minute_zero.len(),
            60,
            "each minute's second 0 within the catch-up limit"
        );
        // A fire that could not start is not owed again.
        let attempted: HashMap<Ulid, DateTime<Utc>> = [
            (Ulid(1), utc("2026-12-02T01:00:00Z")),
            (Ulid(2), utc("2026-12-02T01:00:00Z")),
        ]
        .into();
        assert!(due_fires(
            routines.iter(),
            from,
            &attempted,
            utc("2026-12-02T01:00:00.900Z")
        )
        .is_empty());
        // Disabled routines owe nothing and wake nobody.
        for r in &mut routines {
            r.enabled = false;
        }
        assert!(due_fires(
            routines.iter(),
            from,
            &HashMap::new(),
            utc("2026-12-02T01:00:00Z")
        )
        .is_empty());
        assert_eq!(next_due(routines.iter(), from, &HashMap::new(), from), None);
    }
}
