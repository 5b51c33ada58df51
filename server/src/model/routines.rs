//! Routines as a fold over their events.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{RoutineFire, RunStatus};

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
    /// The job's workflow, when known (the model's jobs may not hold an old
    /// job any more).
    pub workflow_id: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// Who created it (`None` in logs older than the audit trail).
    pub created_by: Option<String>,
    /// The last change (edit, enable, disable), and who made it.
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    /// When it was last enabled (or created enabled): fires missed before
    /// this are not owed.
    pub enabled_at: DateTime<Utc>,
    /// The latest schedule time fired, if any.
    pub last_scheduled: Option<DateTime<Utc>>,
    /// Newest first.
    pub history: VecDeque<Fire>,
}

impl RoutineState {
    fn changed(&mut self, at: DateTime<Utc>, actor: &Option<String>) {
        self.updated_at = at;
        self.updated_by = actor.clone();
    }
}

/// One fire of a routine, and its run's status as the model last saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fire {
    pub run_id: Ulid,
    pub fired_at: DateTime<Utc>,
    pub scheduled_for: DateTime<Utc>,
    pub missed: bool,
    pub status: Option<RunStatus>,
}

impl Fire {
    pub fn view(&self) -> RoutineFire {
        RoutineFire {
            run_id: self.run_id.to_string(),
            fired_at: self.fired_at,
            scheduled_for: self.scheduled_for,
            missed: self.missed,
            status: self.status,
        }
    }
}

/// Every routine, by id, and the runs of their histories: a fire shows its
/// run's status however old the run, without the runs list's memory.
#[derive(Default)]
pub struct Routines(BTreeMap<Ulid, RoutineState>, HashMap<Ulid, Ulid>);

impl Routines {
    /// Records the current status of a run, if a routine's history shows it.
    pub(super) fn run_status(&mut self, run_id: Ulid, status: Option<RunStatus>) {
        let Some(routine) = self.1.get(&run_id) else {
            return;
        };
        if let Some(fire) = self
            .0
            .get_mut(routine)
            .and_then(|r| r.history.iter_mut().find(|f| f.run_id == run_id))
        {
            fire.status = status;
        }
    }

    /// Names the workflow of a routine's job, for logs whose routine events
    /// did not (the model's jobs know it while the job is recent).
    pub(super) fn know_workflow(&mut self, routine_id: &Ulid, workflow_id: Option<&str>) {
        if let Some(r) = self.0.get_mut(routine_id) {
            if r.workflow_id.is_none() {
                r.workflow_id = workflow_id.map(String::from);
            }
        }
    }

    pub fn get(&self, id: &Ulid) -> Option<&RoutineState> {
        self.0.get(id)
    }

    pub fn contains_key(&self, id: &Ulid) -> bool {
        self.0.contains_key(id)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &RoutineState> {
        self.0.values()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Routines enabled now.
    pub fn enabled(&self) -> usize {
        self.0.values().filter(|r| r.enabled).count()
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
                workflow_id,
                actor,
            } => {
                self.0.insert(
                    *routine_id,
                    RoutineState {
                        routine_id: *routine_id,
                        name: name.clone(),
                        cron: cron.clone(),
                        timezone: timezone.clone(),
                        job_id: *job_id,
                        workflow_id: workflow_id.clone(),
                        enabled: *enabled,
                        created_at: at,
                        created_by: actor.clone(),
                        updated_at: at,
                        updated_by: actor.clone(),
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
                workflow_id,
                actor,
            } => {
                if let Some(r) = self.0.get_mut(routine_id) {
                    r.changed(at, actor);
                    r.name = name.clone();
                    r.cron = cron.clone();
                    r.timezone = timezone.clone();
                    r.job_id = *job_id;
                    r.workflow_id = workflow_id.clone();
                }
            }
            EventKind::RoutineEnabled { routine_id, actor } => {
                if let Some(r) = self.0.get_mut(routine_id) {
                    r.changed(at, actor);
                    if !r.enabled {
                        r.enabled = true;
                        r.enabled_at = at;
                    }
                }
            }
            EventKind::RoutineDisabled { routine_id, actor } => {
                if let Some(r) = self.0.get_mut(routine_id) {
                    r.changed(at, actor);
                    r.enabled = false;
                }
            }
            EventKind::RoutineDeleted { routine_id, .. } => {
                if let Some(r) = self.0.remove(routine_id) {
                    for f in &r.history {
                        self.1.remove(&f.run_id);
                    }
                }
            }
            EventKind::RoutineFired {
                routine_id,
                run_id,
                scheduled_for,
                missed,
            } => {
                if let Some(r) = self.0.get_mut(routine_id) {
                    r.last_scheduled = Some(
                        r.last_scheduled
                            .map_or(*scheduled_for, |l| l.max(*scheduled_for)),
                    );
                    if r.history.len() == HISTORY {
                        if let Some(old) = r.history.pop_back() {
                            self.1.remove(&old.run_id);
                        }
                    }
                    self.1.insert(*run_id, *routine_id);
                    r.history.push_front(Fire {
                        run_id: *run_id,
                        fired_at: at,
                        scheduled_for: *scheduled_for,
                        missed: *missed,
                        status: None,
                    });
                }
            }
            _ => {}
        }
    }
}
