//! Routines: each with its next fires and its history, with each run's
//! current status.

use chrono::Utc;
use wire::{RoutineList, RoutineView};

use crate::engine::schedule::Schedule;
use crate::model::{Model, RoutineState};

/// A routine as the API shows it: its next fires and its history with each
/// run's current status.
pub fn routine_view(m: &Model, r: &RoutineState) -> RoutineView {
    let next_fires = match (r.enabled, Schedule::parse(&r.cron, Some(&r.timezone))) {
        (true, Ok(schedule)) => {
            let after = r.last_scheduled.map_or(Utc::now(), |l| l.max(Utc::now()));
            schedule.next_fires(after, 5)
        }
        _ => Vec::new(),
    };
    let history = r.history.iter().map(|f| f.view()).collect();
    RoutineView {
        routine_id: r.routine_id.to_string(),
        name: r.name.clone(),
        cron: r.cron.clone(),
        timezone: r.timezone.clone(),
        job_id: r.job_id.to_string(),
        workflow_id: r
            .workflow_id
            .clone()
            .or_else(|| m.jobs.get(&r.job_id).map(|j| j.workflow_id.to_string()))
            .unwrap_or_default(),
        enabled: r.enabled,
        created_at: r.created_at,
        created_by: r.created_by.clone(),
        updated_at: r.updated_at,
        updated_by: r.updated_by.clone(),
        next_fires,
        history,
    }
}

pub fn routines(m: &Model) -> RoutineList {
    RoutineList {
        routines: m.routines.values().map(|r| routine_view(m, r)).collect(),
    }
}
