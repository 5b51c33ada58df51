//! Runs as the log folds them: the full state of the active and most
//! recent runs ([`RunState`]), a compact summary of every run, and the
//! filters the runs list takes. Below the model: analytics and alerts read
//! runs, and the model composes them.

mod state;

pub use state::{progress, seconds_between, RunState, StepState};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{RunStatus, RunSummaryView};

use crate::events::Event;

/// Shares one allocation among the many runs of the same workflow.
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(existing) = self.0.get(s) {
            return existing.clone();
        }
        let arc: Arc<str> = s.into();
        self.0.insert(arc.clone());
        arc
    }
}

/// What every run keeps in memory for listing, however old.
#[derive(Clone, Debug)]
struct RunSummary {
    job_id: Ulid,
    job_name: Arc<str>,
    workflow_id: Arc<str>,
    status: RunStatus,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    duration_secs: Option<f64>,
    steps_total: u32,
    steps_done: u32,
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub workflow_id: Option<String>,
    pub job_id: Option<Ulid>,
}

impl RunFilter {
    fn matches(&self, s: &RunSummary) -> bool {
        self.status.is_none_or(|st| st == s.status)
            && self
                .workflow_id
                .as_deref()
                .is_none_or(|w| w == &*s.workflow_id)
            && self.job_id.is_none_or(|j| j == s.job_id)
    }
}

/// Steps of finished runs kept in full, over all of them: wide workflows
/// keep fewer runs in memory than narrow ones.
pub const MAX_RETAINED_STEPS: usize = 20_000;
/// Finished runs kept in full whatever their width (the guide's traces list
/// shows the last 50).
pub const MIN_RETAINED_RUNS: usize = 50;

/// All runs: a compact summary of each, and the full state of the active
/// ones and of the most recent finished ones (at most `keep_full` runs and
/// [`MAX_RETAINED_STEPS`] steps). Older full states are rebuilt from the
/// durable log on demand, so memory stays bounded.
pub struct Runs {
    summaries: BTreeMap<Ulid, RunSummary>,
    full: HashMap<Ulid, RunState>,
    finished: VecDeque<Ulid>,
    /// Steps of the runs in `finished`.
    finished_steps: usize,
    keep_full: usize,
    active: usize,
    interner: Interner,
}

impl Default for Runs {
    fn default() -> Self {
        Self::new(2_000)
    }
}

impl Runs {
    pub fn new(keep_full: usize) -> Self {
        Self {
            summaries: BTreeMap::new(),
            full: HashMap::new(),
            finished: VecDeque::new(),
            finished_steps: 0,
            // The run that just finished must stay for the projections that
            // read it after the runs have applied its last event.
            keep_full: keep_full.max(1),
            active: 0,
            interner: Interner::default(),
        }
    }

    pub fn get(&self, run_id: &Ulid) -> Option<&RunState> {
        self.full.get(run_id)
    }

    pub fn exists(&self, run_id: &Ulid) -> bool {
        self.summaries.contains_key(run_id)
    }

    pub fn status(&self, run_id: &Ulid) -> Option<RunStatus> {
        self.summaries.get(run_id).map(|s| s.status)
    }

    /// Runs not yet finished (pending or running).
    pub fn active(&self) -> usize {
        self.active
    }

    /// Active runs, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &RunState> {
        let mut runs: Vec<&RunState> = self
            .full
            .values()
            .filter(|r| !r.status.is_terminal())
            .collect();
        runs.sort_unstable_by_key(|r| r.run_id);
        runs.into_iter()
    }

    /// The ids of a page: newest first, after `before` (exclusive), at most
    /// `limit`.
    pub fn page_ids(&self, filter: &RunFilter, before: Option<Ulid>, limit: usize) -> Vec<Ulid> {
        // `..before` excludes it; without one, every id (ULIDs stay below
        // the largest value).
        self.summaries
            .range(..before.unwrap_or(Ulid(u128::MAX)))
            .rev()
            .filter(|(_, s)| filter.matches(s))
            .take(limit)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Newest first, after `before` (exclusive), at most `limit`.
    pub fn list(
        &self,
        filter: &RunFilter,
        before: Option<Ulid>,
        limit: usize,
    ) -> (Vec<RunSummaryView>, u64, Option<Ulid>) {
        let matching = || {
            self.summaries
                .iter()
                .rev()
                .filter(|(_, s)| filter.matches(s))
        };
        let total = matching().count() as u64;
        let mut page: Vec<RunSummaryView> = Vec::with_capacity(limit.min(1_000));
        let mut last = None;
        let mut more = false;
        for (id, s) in matching().filter(|(id, _)| before.is_none_or(|b| **id < b)) {
            if page.len() == limit {
                more = true;
                break;
            }
            last = Some(*id);
            page.push(RunSummaryView {
                run_id: id.to_string(),
                job_id: s.job_id.to_string(),
                job_name: s.job_name.to_string(),
                workflow_id: s.workflow_id.to_string(),
                status: s.status,
                created_at: s.created_at,
                completed_at: s.completed_at,
                duration_secs: s.duration_secs,
                progress: progress(s.steps_done as usize, s.steps_total as usize),
                current_step: if s.status.is_terminal() {
                    None
                } else {
                    self.full.get(id).and_then(RunState::current_step)
                },
            });
        }
        (page, total, if more { last } else { None })
    }

    pub(super) fn apply(&mut self, event: &Event) {
        if let Some(run) = RunState::created(event, &mut self.interner) {
            self.summaries.insert(
                run.run_id,
                RunSummary {
                    job_id: run.job_id,
                    job_name: run.job_name.clone(),
                    workflow_id: run.workflow_id.clone(),
                    status: run.status,
                    created_at: run.created_at,
                    completed_at: None,
                    duration_secs: None,
                    steps_total: run.steps.len() as u32,
                    steps_done: 0,
                },
            );
            self.active += 1;
            self.full.insert(run.run_id, run);
            return;
        }
        let Some(run_id) = event.kind.run_id() else {
            return;
        };
        let Some(summary) = self.summaries.get_mut(&run_id) else {
            return;
        };
        let was_terminal = summary.status.is_terminal();
        if let Some(run) = self.full.get_mut(&run_id) {
            run.apply(event);
            summary.status = run.status;
            summary.completed_at = run.completed_at;
            summary.duration_secs = run.duration_secs;
            summary.steps_done = run.finished_steps() as u32;
        }
        if !was_terminal && summary.status.is_terminal() {
            self.active -= 1;
            self.finished.push_back(run_id);
            self.finished_steps += summary.steps_total as usize;
            while self.finished.len() > self.keep_full
                || (self.finished_steps > MAX_RETAINED_STEPS
                    && self.finished.len() > MIN_RETAINED_RUNS)
            {
                let Some(old) = self.finished.pop_front() else {
                    break;
                };
                if let Some(run) = self.full.remove(&old) {
                    self.finished_steps -= run.steps.len();
                }
            }
        }
    }
}
