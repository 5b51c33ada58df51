//! Runs as the log folds them: the full state of the active and most
//! recent runs ([`RunState`]), the summaries the runs list shows of the
//! recent ones, and, for every run that finishes, its row in the store's
//! read index, where older runs are listed from. Below the model: analytics
//! and alerts read runs, and the model composes them.

mod state;

pub use state::{progress, seconds_between, trace_id, BudgetAsk, RunState, StepState};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use ulid::Ulid;
use wire::{RunStatus, RunSummaryView};

use crate::events::Event;
pub use crate::store::RunFilter;
use crate::store::{IndexRow, RunQuery, RunRecord};

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

    /// Forgets `s` when the caller held its last use, so that names of
    /// what memory no longer holds do not stay.
    pub fn release(&mut self, s: Arc<str>) {
        // Here and in the interner: nobody else.
        if Arc::strong_count(&s) == 2 {
            self.0.remove(&*s);
        }
    }
}

/// Finished runs' summaries kept in memory beyond the full states: the
/// newest runs list without reading the index.
pub const KEPT_SUMMARIES: usize = 5_000;
/// Summaries leave memory in batches of this many, and only for runs that
/// finished at least this many finishes ago: their index rows, committed
/// with their last event, are in the store by then.
const SETTLE: usize = 1_000;

/// What a run's summary is in memory.
#[derive(Clone, Debug)]
struct Summary {
    record: RunRecord,
    /// Which finish this run's was (the count of finishes), once finished.
    finish: Option<u64>,
}

/// Steps of finished runs kept in full, over all of them: wide workflows
/// keep fewer runs in memory than narrow ones.
pub const MAX_RETAINED_STEPS: usize = 20_000;
/// Finished runs kept in full whatever their width (the guide's traces list
/// shows the last 50).
pub const MIN_RETAINED_RUNS: usize = 50;

/// Runs, bounded in memory however many there were: the full state of the
/// active ones and of the most recent finished ones (at most `keep_full`
/// runs and [`MAX_RETAINED_STEPS`] steps), summaries of those and of about
/// [`KEPT_SUMMARIES`] more, and counts of the rest by workflow and status.
/// Everything older is in the store's index (summaries) and log (full
/// states), read back on demand.
pub struct Runs {
    summaries: BTreeMap<Ulid, Summary>,
    full: HashMap<Ulid, RunState>,
    finished: VecDeque<Ulid>,
    /// Steps of the runs in `finished`.
    finished_steps: usize,
    keep_full: usize,
    keep_summaries: usize,
    active: usize,
    /// Finished runs among `summaries`.
    finished_summaries: usize,
    finishes: u64,
    /// Every finished run below it whose summary is not in memory is in
    /// the index.
    floor: Ulid,
    /// Runs only in the index, by workflow and status.
    indexed: HashMap<(Arc<str>, RunStatus), u64>,
    /// Rows made by the events applied since the last `drain_index`.
    index_rows: Vec<IndexRow>,
    interner: Interner,
}

impl Default for Runs {
    fn default() -> Self {
        Self::new(2_000)
    }
}

/// A page of the runs list as the model has it: what it holds, and what to
/// read from the index to finish it ([`Runs::finish_page`]).
#[derive(Debug)]
pub struct PagePlan {
    pub from_memory: Vec<RunRecord>,
    /// Matching runs the model holds or counts, all pages included.
    pub counted: u64,
    /// The index's part: `None` when memory holds the whole answer.
    pub index: Option<RunQuery>,
    /// The index's count is needed too (a job filter, which the model does
    /// not count by).
    pub count_index: bool,
    pub limit: usize,
}

impl Runs {
    pub fn new(keep_full: usize) -> Self {
        // The run that just finished must stay for the projections that
        // read it after the runs have applied its last event.
        let keep_full = keep_full.max(1);
        Self {
            summaries: BTreeMap::new(),
            full: HashMap::new(),
            finished: VecDeque::new(),
            finished_steps: 0,
            keep_full,
            // Enough that a batch can always leave: at most SETTLE recent
            // finishes and `keep_full` full states are held back.
            keep_summaries: keep_full + SETTLE + KEPT_SUMMARIES,
            active: 0,
            finished_summaries: 0,
            finishes: 0,
            floor: Ulid(0),
            indexed: HashMap::new(),
            index_rows: Vec::new(),
            interner: Interner::default(),
        }
    }

    pub fn get(&self, run_id: &Ulid) -> Option<&RunState> {
        self.full.get(run_id)
    }

    /// Whether memory knows the run (the index may know older ones).
    pub fn exists(&self, run_id: &Ulid) -> bool {
        self.summaries.contains_key(run_id)
    }

    /// The status of a run memory knows.
    pub fn status(&self, run_id: &Ulid) -> Option<RunStatus> {
        self.summaries.get(run_id).map(|s| s.record.status)
    }

    /// Whether the run may exist: memory knows it, or the index may (it
    /// is older than what memory lists).
    pub fn may_exist(&self, run_id: &Ulid) -> bool {
        *run_id < self.floor || self.summaries.contains_key(run_id)
    }

    /// Active runs (pending or running).
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

    /// Rows for the index made since the last call.
    pub fn drain_index(&mut self, out: &mut Vec<IndexRow>) {
        out.append(&mut self.index_rows);
    }

    /// A page newest first, after `before` (exclusive), at most `limit`:
    /// memory's part, and what the index must add.
    pub fn plan_page(&self, filter: &RunFilter, before: Option<Ulid>, limit: usize) -> PagePlan {
        let before = before.unwrap_or(Ulid(u128::MAX));
        let matching = || {
            self.summaries
                .values()
                .rev()
                .map(|s| &s.record)
                .filter(|r| filter.matches(r))
        };
        let mut counted = matching().count() as u64;
        // One more than the page, to know whether another follows.
        let from_memory: Vec<RunRecord> = matching()
            .filter(|r| r.run_id < before)
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let count_index = filter.job_id.is_some() || filter.is_timed();
        if !count_index {
            counted += self
                .indexed
                .iter()
                .filter(|((w, st), _)| {
                    filter.status.is_none_or(|s| s == *st)
                        && filter.workflow_id.as_deref().is_none_or(|f| f == &**w)
                })
                .map(|(_, n)| n)
                .sum::<u64>();
        }
        // The index holds finished runs below the floor; memory may hold
        // some there too (runs still in flight, or finished of late). The
        // index is read when the page may reach below the floor.
        let below = before.min(self.floor);
        let reaches_floor =
            from_memory.len() <= limit || from_memory.last().is_some_and(|r| r.run_id < self.floor);
        let index = ((reaches_floor || count_index) && below > Ulid(0)).then(|| RunQuery {
            filter: filter.clone(),
            below,
            // Finished runs memory still shows below the floor: some are in
            // the index already.
            except: self
                .summaries
                .range(..below)
                .map(|(_, s)| &s.record)
                .filter(|r| r.status.is_terminal() && filter.matches(r))
                .map(|r| r.run_id)
                .collect(),
            limit: if reaches_floor {
                limit.saturating_add(1)
            } else {
                0
            },
        });
        PagePlan {
            from_memory,
            counted,
            index,
            count_index,
            limit,
        }
    }

    /// The page from memory's part and the index's answer: newest first,
    /// the total, and the cursor of the next page.
    pub fn finish_page(
        &self,
        plan: PagePlan,
        from_index: Vec<RunRecord>,
        index_count: u64,
    ) -> (Vec<RunRecord>, u64, Option<Ulid>) {
        let total = plan.counted + if plan.count_index { index_count } else { 0 };
        let mut records = plan.from_memory;
        records.extend(from_index);
        records.sort_unstable_by_key(|r| std::cmp::Reverse(r.run_id));
        let more = records.len() > plan.limit;
        records.truncate(plan.limit);
        let next = if more {
            records.last().map(|r| r.run_id)
        } else {
            None
        };
        (records, total, next)
    }

    /// For each of `jobs`: memory's count of its runs and its newest, and
    /// what the index must add: its runs below the floor, except those in
    /// the list (finished runs memory still holds there).
    pub fn runs_of_jobs(&self, jobs: &[Ulid]) -> (HashMap<Ulid, (u64, Ulid)>, Ulid, Vec<Ulid>) {
        let wanted: HashSet<&Ulid> = jobs.iter().collect();
        let mut counts: HashMap<Ulid, (u64, Ulid)> = HashMap::new();
        for r in self.summaries.values().map(|s| &s.record) {
            if wanted.contains(&r.job_id) {
                let e = counts.entry(r.job_id).or_insert((0, r.run_id));
                e.0 += 1;
                e.1 = e.1.max(r.run_id);
            }
        }
        let except = self
            .summaries
            .range(..self.floor)
            .map(|(_, s)| &s.record)
            .filter(|r| r.status.is_terminal() && wanted.contains(&r.job_id))
            .map(|r| r.run_id)
            .collect();
        (counts, self.floor, except)
    }

    /// What the runs list shows of a run.
    pub fn summary_view(&self, r: &RunRecord) -> RunSummaryView {
        RunSummaryView {
            run_id: r.run_id.to_string(),
            job_id: r.job_id.to_string(),
            job_name: r.job_name.to_string(),
            workflow_id: r.workflow_id.to_string(),
            status: r.status,
            created_at: r.created_at,
            completed_at: r.completed_at,
            duration_secs: r.duration_secs,
            progress: progress(r.steps_done as usize, r.steps_total as usize),
            current_step: if r.status.is_terminal() {
                None
            } else {
                self.full.get(&r.run_id).and_then(RunState::current_step)
            },
        }
    }

    pub(super) fn apply(&mut self, event: &Event) {
        if let Some(run) = RunState::created(event, &mut self.interner) {
            let record = RunRecord {
                run_id: run.run_id,
                job_id: run.job_id,
                job_name: run.job_name.clone(),
                workflow_id: run.workflow_id.clone(),
                status: run.status,
                created_at: run.created_at,
                completed_at: None,
                duration_secs: None,
                steps_total: run.steps.len() as u32,
                steps_done: 0,
            };
            self.summaries.insert(
                run.run_id,
                Summary {
                    record,
                    finish: None,
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
        let was_terminal = summary.record.status.is_terminal();
        if let Some(run) = self.full.get_mut(&run_id) {
            run.apply(event);
            let r = &mut summary.record;
            r.status = run.status;
            r.completed_at = run.completed_at;
            r.duration_secs = run.duration_secs;
            r.steps_done = run.finished_steps() as u32;
        }
        if !was_terminal && summary.record.status.is_terminal() {
            self.active -= 1;
            self.finishes += 1;
            summary.finish = Some(self.finishes);
            self.finished_summaries += 1;
            self.index_rows.push(IndexRow::Run(summary.record.clone()));
            self.finished.push_back(run_id);
            self.finished_steps += summary.record.steps_total as usize;
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
            if self.finished_summaries > self.keep_summaries + SETTLE {
                self.evict_summaries();
            }
        }
    }

    /// Drops the oldest settled summaries down to `keep_summaries`: their
    /// runs are listed from the index from now on.
    fn evict_summaries(&mut self) {
        let settled = self.finishes.saturating_sub(SETTLE as u64);
        let excess = self.finished_summaries.saturating_sub(self.keep_summaries);
        let leaving: Vec<Ulid> = self
            .summaries
            .iter()
            .filter(|(id, s)| s.finish.is_some_and(|f| f <= settled) && !self.full.contains_key(id))
            .take(excess)
            .map(|(id, _)| *id)
            .collect();
        for id in leaving {
            if let Some(s) = self.summaries.remove(&id) {
                self.finished_summaries -= 1;
                self.floor = self.floor.max(Ulid(id.0 + 1));
                let RunRecord {
                    workflow_id,
                    job_name,
                    status,
                    ..
                } = s.record;
                *self
                    .indexed
                    .entry((workflow_id.clone(), status))
                    .or_default() += 1;
                self.interner.release(job_name);
                self.interner.release(workflow_id);
            }
        }
    }
}
