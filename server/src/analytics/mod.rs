//! Performance analytics, a projection of engine events kept beside the run
//! registry (under the same lock, so the two always agree to the count).
//!
//! Definitions (also in the README):
//! - a **workflow execution** is a run that finished with an outcome:
//!   `Completed` (a success), `Failed` or `Interrupted` (failures). Cancelled
//!   runs are not executions. Duration statistics cover the executions that
//!   have a duration (`Completed` and `Failed`).
//! - a **step execution** is one step of one run reaching `Completed` or
//!   `Failed`, however many attempts it took; its duration runs from its
//!   first attempt's start to its last attempt's end (backoffs included),
//!   which is what it cost the run. Each failed attempt that was retried
//!   counts once in `retry_count`; it is not a failure of the step.

mod critical;
pub mod durations;
mod models;
pub mod periods;
pub mod sketch;
mod spend;
mod traces;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use wire::{
    BottleneckReport, Heatmap, HeatmapCell, HeatmapRow, RecentRun, RunStatus, StepKind, StepShare,
    StepStats, Throughput, ThroughputPoint, WorkflowStats,
};

pub use critical::critical_path;
use critical::CriticalPaths;
use durations::{round6, Durations};
use periods::{at_secs, chart_periods, Merge, Periods, Range, Tally};
use spend::{ExecutionSpend, Spend};
pub use traces::trace;

use crate::events::{Event, EventKind};
use crate::runs::Runs;

/// Finished runs listed per workflow.
const RECENT_RUNS: usize = 10;
/// Outcomes remembered for the health window.
const OUTCOMES: usize = 10_000;
/// Minutes of throughput shown without a range.
const THROUGHPUT_MINUTES: i64 = 60;
/// Columns of a heatmap, at most.
const MAX_HEATMAP_COLUMNS: i64 = 60;
/// Points of a throughput answer, at most.
const MAX_THROUGHPUT_POINTS: i64 = 180;

#[derive(Default)]
struct WorkflowAgg {
    success: u64,
    failure: u64,
    durations: Durations,
    last_execution: Option<DateTime<Utc>>,
    recent: VecDeque<RecentRun>,
    /// The same by minute and hour, for `?since=&until=`.
    periods: Periods,
    /// Step ids in order of first execution.
    steps: Vec<String>,
    critical: CriticalPaths,
    spend: Spend,
}

#[derive(Default)]
struct StepAgg {
    success: u64,
    failure: u64,
    retries: u64,
    durations: Durations,
    /// Time waited for a concurrency slot, summed over the executions that
    /// say (`queued_count` of them).
    queued_total: f64,
    queued_count: u64,
    /// The same by minute and hour, for `?since=&until=`.
    periods: Periods,
    kind: StepKind,
    spend: Spend,
}

impl StepAgg {
    /// Mean time an execution of the step waited for slots.
    fn avg_queued(&self) -> Option<f64> {
        (self.queued_count > 0).then(|| round6(self.queued_total / self.queued_count as f64))
    }
}

/// What holds a step back: `slow` (it spends its time running) or
/// `starved` (it waits longer for a concurrency slot than it runs).
fn diagnosis(kind: StepKind, avg_duration: f64, avg_queued: Option<f64>) -> &'static str {
    match avg_queued {
        _ if kind.is_approval() => "awaiting_approval",
        Some(q) if q > avg_duration => "starved",
        _ => "slow",
    }
}

#[derive(Default)]
pub struct Analytics {
    workflows: HashMap<Arc<str>, WorkflowAgg>,
    steps: HashMap<(Arc<str>, String), StepAgg>,
    /// (finished at, successes so far) of recent executions, oldest first:
    /// a running count, so that the health window is two lookups, not a
    /// scan (health is judged at every run's start and end).
    outcomes: VecDeque<(DateTime<Utc>, u64)>,
    /// Successes among the outcomes no longer in `outcomes`.
    outcomes_before: u64,
    /// Finished executions by minute and by hour, for throughput.
    finished: Periods<Finished>,
    /// Agent calls by provider and model.
    models: models::Models,
}

/// Executions finished in a period, and what their priced calls cost.
#[derive(Clone, Copy, Debug, Default)]
struct Finished {
    completed: u64,
    failed: u64,
    cost_usd: f64,
    priced: u64,
}

impl Merge for Finished {
    fn merge(&mut self, other: &Self) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.cost_usd += other.cost_usd;
        self.priced += other.priced;
    }
}

/// Success rate over a recent window of executions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecentOutcomes {
    pub executions: u64,
    pub successes: u64,
}

impl Analytics {
    pub(crate) fn apply(&mut self, event: &Event, runs: &Runs) {
        let Some(run_id) = event.kind.run_id() else {
            return;
        };
        let Some(run) = runs.get(&run_id) else {
            return;
        };
        let workflow = &run.workflow_id;
        match &event.kind {
            EventKind::StepRetrying {
                step_id,
                usage,
                duration_secs,
                ..
            } => {
                if let Some(u) = usage {
                    self.models.call(event.at, u, false, *duration_secs);
                }
                let step = self.step(workflow, step_id);
                step.retries += 1;
                step.periods.record(event.at, |t| t.retries += 1);
            }
            EventKind::StepCompleted {
                step_id,
                usage,
                duration_secs,
                ..
            }
            | EventKind::StepFailed {
                step_id,
                usage,
                duration_secs,
                ..
            } => {
                let success = matches!(event.kind, EventKind::StepCompleted { .. });
                if let Some(u) = usage {
                    self.models.call(event.at, u, success, *duration_secs);
                }
                let state = run.steps.iter().find(|s| s.id == *step_id);
                let duration = state.and_then(|s| s.duration_secs()).unwrap_or(0.0);
                let queued = state.and_then(|s| s.queued_secs());
                let spent = state.and_then(|s| ExecutionSpend::of(&s.attempts));
                let wf = self.workflows.entry(workflow.clone()).or_default();
                if !wf.steps.iter().any(|s| s == step_id) {
                    wf.steps.push(step_id.clone());
                }
                let step = self.step(workflow, step_id);
                if let Some(s) = state {
                    step.kind = s.kind;
                }
                if success {
                    step.success += 1;
                } else {
                    step.failure += 1;
                }
                step.durations.record(duration, event.at.timestamp_micros());
                if let Some(q) = queued {
                    step.queued_total += q;
                    step.queued_count += 1;
                }
                if let Some(s) = &spent {
                    step.spend.record(s);
                }
                step.periods.record(event.at, |t| {
                    t.execution(success, Some(duration), queued);
                    if let Some(s) = &spent {
                        t.spend(s);
                    }
                });
            }
            EventKind::RunCompleted { .. }
            | EventKind::RunFailed { .. }
            | EventKind::RunInterrupted { .. }
            | EventKind::RunCancelled { .. } => {
                let wf = self.workflows.entry(workflow.clone()).or_default();
                // Newest first by when they ended (the id breaks a tie), not
                // by when this server folded them: in a cluster each node
                // folds the others' a little later, and all must agree.
                let recent = RecentRun {
                    run_id: run_id.to_string(),
                    status: run.status,
                    duration_secs: run.duration_secs.map(round6),
                    completed_at: event.at,
                };
                let key = |r: &RecentRun| (r.completed_at, r.run_id.clone());
                let newer = wf
                    .recent
                    .iter()
                    .take_while(|r| key(r) > key(&recent))
                    .count();
                if newer < RECENT_RUNS {
                    wf.recent.insert(newer, recent);
                    wf.recent.truncate(RECENT_RUNS);
                }
                let success = match run.status {
                    RunStatus::Completed => true,
                    RunStatus::Failed | RunStatus::Interrupted => false,
                    _ => return,
                };
                if success {
                    wf.success += 1;
                    wf.critical.record(run, event.at);
                } else {
                    wf.failure += 1;
                }
                let timed = match (run.duration_secs, run.status) {
                    (Some(d), RunStatus::Completed | RunStatus::Failed) => Some(d),
                    _ => None,
                };
                if let Some(d) = timed {
                    wf.durations.record(d, event.at.timestamp_micros());
                }
                // The run's agent calls, over all its steps.
                let spent = run
                    .steps
                    .iter()
                    .filter_map(|s| ExecutionSpend::of(&s.attempts))
                    .reduce(|mut a, b| {
                        a.add(&b);
                        a
                    });
                if let Some(s) = &spent {
                    wf.spend.record(s);
                }
                wf.periods.record(event.at, |t| {
                    t.execution(success, timed, None);
                    if let Some(s) = &spent {
                        t.spend(s);
                    }
                });
                wf.last_execution = Some(event.at);
                self.record_outcome(event.at, success);
                let cost = spent.and_then(|s| s.cost_usd);
                self.finished.record(event.at, |f| {
                    if success {
                        f.completed += 1
                    } else {
                        f.failed += 1
                    }
                    if let Some(c) = cost {
                        f.cost_usd += c;
                        f.priced += 1;
                    }
                });
            }
            _ => {}
        }
    }

    /// Finished executions per period over `range`, oldest first, quiet
    /// periods included; without a range, the hour before `now` by the
    /// minute. The period is a minute for up to three hours, and grows
    /// with the range to keep the points at most 180 (at least an hour
    /// where minutes are no longer kept).
    pub fn throughput(&self, range: Option<Range>, now: DateTime<Utc>) -> Throughput {
        let range = range.unwrap_or_else(|| {
            let next = (now.timestamp().div_euclid(60) + 1) * 60;
            Range {
                since: at_secs(next - THROUGHPUT_MINUTES * 60),
                until: at_secs(next),
            }
        });
        let floor = if self.finished.minutes_reach(range.since) {
            60
        } else {
            3_600
        };
        let (bucket, parts) = chart_periods(range, MAX_THROUGHPUT_POINTS, floor);
        let points = parts
            .into_iter()
            .map(|(at, part)| {
                let f = self.finished.fold(part);
                ThroughputPoint {
                    at,
                    completed: f.completed,
                    failed: f.failed,
                    cost_usd: (f.priced > 0).then(|| spend::round_usd(f.cost_usd)),
                }
            })
            .collect();
        Throughput {
            points,
            bucket_secs: bucket as u64,
        }
    }

    fn step(&mut self, workflow: &Arc<str>, step_id: &str) -> &mut StepAgg {
        self.steps
            .entry((workflow.clone(), step_id.to_string()))
            .or_default()
    }

    pub fn workflow(&self, workflow_id: &str) -> Option<WorkflowStats> {
        let (id, wf) = self.workflows.get_key_value(workflow_id)?;
        Some(workflow_stats(id, wf))
    }

    /// Every workflow's statistics over `range` (all time without one),
    /// most recently executed first; workflows with nothing in the range
    /// are left out.
    pub fn workflows_in(&self, range: Option<Range>) -> Vec<WorkflowStats> {
        let Some(range) = range else {
            return self.workflows();
        };
        let mut all: Vec<WorkflowStats> = self
            .workflows
            .iter()
            .filter_map(|(id, wf)| ranged_workflow_stats(id, wf, range))
            .collect();
        newest_first(&mut all);
        all
    }

    /// One workflow over `range`: `None` if it never ran; zeros if it did,
    /// but not in the range.
    pub fn workflow_in(&self, workflow_id: &str, range: Option<Range>) -> Option<WorkflowStats> {
        let Some(range) = range else {
            return self.workflow(workflow_id);
        };
        let (id, wf) = self.workflows.get_key_value(workflow_id)?;
        Some(
            ranged_workflow_stats(id, wf, range).unwrap_or_else(|| WorkflowStats {
                workflow_id: id.to_string(),
                ..WorkflowStats::default()
            }),
        )
    }

    /// Step statistics over `range` (all time without one); steps with
    /// nothing in the range are left out.
    pub fn steps_in(&self, workflow_id: Option<&str>, range: Option<Range>) -> Vec<StepStats> {
        let Some(range) = range else {
            return self.steps(workflow_id);
        };
        let mut all: Vec<StepStats> = self
            .steps
            .iter()
            .filter(|((w, _), _)| workflow_id.is_none_or(|want| &**w == want))
            .filter_map(|((w, s), agg)| {
                let t = agg.periods.tally(range);
                (t.executions() > 0 || t.retries > 0).then(|| ranged_step_stats(w, s, agg.kind, &t))
            })
            .collect();
        by_workflow_then_step(&mut all);
        all
    }

    /// Dollars spent by the priced calls of runs finished in
    /// `[since, until)`, over all workflows.
    pub fn spend_in(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
        spend::round_usd(self.finished.sum(Range { since, until }, |f| f.cost_usd))
    }

    /// The same per workflow, for the workflows that spent anything.
    pub fn workflow_spend_in(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(String, f64)> {
        let range = Range { since, until };
        self.workflows
            .iter()
            .filter_map(|(id, wf)| {
                // Sums only: no histograms merged, as the alerts ask each second.
                let priced = wf.periods.sum(range, |t| t.priced as f64);
                (priced > 0.0).then(|| {
                    let cost = wf.periods.sum(range, |t| t.cost_usd);
                    (id.to_string(), spend::round_usd(cost))
                })
            })
            .collect()
    }

    /// Agent calls by provider and model over `range` (all time without one).
    pub fn models(&self, range: Option<Range>) -> Vec<wire::ModelStats> {
        self.models.list(range)
    }

    /// Every workflow, most recently executed first.
    pub fn workflows(&self) -> Vec<WorkflowStats> {
        let mut all: Vec<WorkflowStats> = self
            .workflows
            .iter()
            .map(|(id, wf)| workflow_stats(id, wf))
            .collect();
        newest_first(&mut all);
        all
    }

    /// Every step series, or one workflow's, by workflow then step id.
    pub fn steps(&self, workflow_id: Option<&str>) -> Vec<StepStats> {
        let mut all: Vec<StepStats> = self
            .steps
            .iter()
            .filter(|((w, _), _)| workflow_id.is_none_or(|want| &**w == want))
            .map(|((w, s), agg)| step_stats(w, s, agg))
            .collect();
        by_workflow_then_step(&mut all);
        all
    }

    /// Where a workflow spends its time, over `range` (all time without
    /// one): `None` if it never ran.
    pub fn bottlenecks(&self, workflow_id: &str, range: Option<Range>) -> Option<BottleneckReport> {
        let wf = self.workflows.get(workflow_id)?;
        let workflow: Arc<str> = workflow_id.into();
        // (step, avg duration, executions, avg queued, kind) of each step.
        let mut shares: Vec<(String, f64, u64, Option<f64>, StepKind)> = wf
            .steps
            .iter()
            .filter_map(|s| {
                let agg = self.steps.get(&(workflow.clone(), s.clone()))?;
                let figures = match range {
                    None => (agg.durations.avg(), agg.durations.count(), agg.avg_queued()),
                    Some(r) => {
                        let t = agg.periods.tally(r);
                        let n = t.durations.count();
                        if n == 0 {
                            return None;
                        }
                        let avg = t.durations.avg().unwrap_or(0.0);
                        (avg, n, t.avg_queued().map(round6))
                    }
                };
                Some((s.clone(), figures.0, figures.1, figures.2, agg.kind))
            })
            .collect();
        let summed: f64 = shares.iter().map(|(_, avg, ..)| avg).sum();
        // By time, to the microsecond: the rounded percentages tie where
        // the durations do not. Ties by step id, as the trace breaks them.
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let paths = wf.critical.tally(range);
        let bottlenecks: Vec<StepShare> = shares
            .into_iter()
            .map(|(step_id, avg, count, queued, kind)| StepShare {
                critical_path_percentage: wf.critical.on_path_percentage(&paths, &step_id),
                percentage_of_workflow: percent(avg, summed),
                avg_duration_secs: round6(avg),
                execution_count: count,
                avg_queued_secs: queued,
                diagnosis: diagnosis(kind, avg, queued).to_string(),
                kind,
                step_id,
            })
            .collect();
        let (executions, avg_duration) = match range {
            None => (wf.success + wf.failure, wf.durations.avg()),
            Some(r) => {
                let t = wf.periods.tally(r);
                (t.executions(), t.durations.avg().unwrap_or(0.0))
            }
        };
        Some(BottleneckReport {
            workflow_id: workflow_id.to_string(),
            total_executions: executions,
            avg_duration_secs: round6(avg_duration),
            bottlenecks,
            critical_path: wf.critical.most_frequent(&paths),
        })
    }

    /// Each step of a workflow by period over `range` (the day before
    /// `now` without one): `None` if the workflow never ran. Steps with
    /// nothing in the range are left out; the rest come most time taken
    /// first.
    pub fn heatmap(
        &self,
        workflow_id: &str,
        range: Option<Range>,
        now: DateTime<Utc>,
    ) -> Option<Heatmap> {
        let wf = self.workflows.get(workflow_id)?;
        let range = range.unwrap_or(Range {
            since: now - chrono::Duration::hours(24),
            until: now,
        });
        let workflow: Arc<str> = workflow_id.into();
        let floor = if wf.periods.minutes_reach(range.since) {
            60
        } else {
            3_600
        };
        let (len, parts) = chart_periods(range, MAX_HEATMAP_COLUMNS, floor);
        let mut steps: Vec<HeatmapRow> = wf
            .steps
            .iter()
            .filter_map(|s| {
                let agg = self.steps.get(&(workflow.clone(), s.clone()))?;
                let tallies: Vec<Tally> =
                    parts.iter().map(|(_, p)| agg.periods.tally(*p)).collect();
                if tallies.iter().all(|t| t.executions() == 0) {
                    return None;
                }
                Some(HeatmapRow {
                    step_id: s.clone(),
                    total_duration_secs: round6(tallies.iter().map(|t| t.durations.sum()).sum()),
                    cells: tallies
                        .iter()
                        .map(|t| HeatmapCell {
                            executions: t.executions(),
                            failures: u64::from(t.failure),
                            p95_duration_secs: t.durations.quantile(0.95).map(round6),
                            avg_queued_secs: t.avg_queued().map(round6),
                        })
                        .collect(),
                })
            })
            .collect();
        steps.sort_by(|a, b| {
            b.total_duration_secs
                .total_cmp(&a.total_duration_secs)
                .then_with(|| a.step_id.cmp(&b.step_id))
        });
        Some(Heatmap {
            workflow_id: workflow_id.to_string(),
            bucket_secs: len as u64,
            buckets: parts.into_iter().map(|(at, _)| at).collect(),
            steps,
        })
    }

    /// Executions finished since `since`; if fewer than `min`, the last `min`
    /// executions whenever they finished (a quiet system keeps its verdict).
    fn record_outcome(&mut self, at: DateTime<Utc>, success: bool) {
        if self.outcomes.len() == OUTCOMES {
            if let Some((_, before)) = self.outcomes.pop_front() {
                self.outcomes_before = before;
            }
        }
        let so_far = self.outcomes.back().map_or(self.outcomes_before, |o| o.1);
        self.outcomes.push_back((at, so_far + u64::from(success)));
    }

    /// Executions finished since `since`, or the latest `min` if fewer,
    /// and how many succeeded.
    pub fn recent_outcomes(&self, since: DateTime<Utc>, min: usize) -> RecentOutcomes {
        let len = self.outcomes.len();
        let in_window = len - self.outcomes.partition_point(|(at, _)| *at < since);
        let n = in_window.max(min).min(len);
        let last = self.outcomes.back().map_or(self.outcomes_before, |o| o.1);
        let before = match len - n {
            0 => self.outcomes_before,
            first => self.outcomes[first - 1].1,
        };
        RecentOutcomes {
            executions: n as u64,
            successes: last - before,
        }
    }
}

/// Workflows most recently executed first, ties by id.
fn newest_first(all: &mut [WorkflowStats]) {
    all.sort_by(|a, b| {
        b.last_execution
            .cmp(&a.last_execution)
            .then_with(|| a.workflow_id.cmp(&b.workflow_id))
    });
}

/// Step series by workflow, then step id.
fn by_workflow_then_step(all: &mut [StepStats]) {
    all.sort_by(|a, b| (&a.workflow_id, &a.step_id).cmp(&(&b.workflow_id, &b.step_id)));
}

/// `part` as a percentage of `whole`, two decimals.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        return 0.0;
    }
    (part / whole * 10_000.0).round() / 100.0
}

fn workflow_stats(id: &str, wf: &WorkflowAgg) -> WorkflowStats {
    let d = &wf.durations;
    let p = d.percentiles();
    // Nothing timed yet: no figure rather than a false 0.
    let timed = |v: f64| (d.count() > 0).then(|| round6(v));
    let mut stats = WorkflowStats {
        workflow_id: id.to_string(),
        execution_count: wf.success + wf.failure,
        success_count: wf.success,
        failure_count: wf.failure,
        total_duration_secs: round6(d.total()),
        min_duration_secs: timed(d.min()),
        max_duration_secs: timed(d.max()),
        avg_duration_secs: timed(d.avg()),
        last_execution: wf.last_execution,
        p50_duration_secs: timed(p.p50),
        p95_duration_secs: timed(p.p95),
        p99_duration_secs: timed(p.p99),
        recent_runs: wf.recent.iter().cloned().collect(),
        durations: d.window().into_iter().map(round6).collect(),
        ..WorkflowStats::default()
    };
    spend::workflow_all_time(&mut stats, &wf.spend);
    stats
}

fn step_stats(workflow: &str, step: &str, agg: &StepAgg) -> StepStats {
    let d = &agg.durations;
    let p = d.percentiles();
    // Nothing timed yet: no figure rather than a false 0.
    let timed = |v: f64| (d.count() > 0).then(|| round6(v));
    let mut stats = StepStats {
        workflow_id: workflow.to_string(),
        step_id: step.to_string(),
        execution_count: agg.success + agg.failure,
        success_count: agg.success,
        failure_count: agg.failure,
        retry_count: agg.retries,
        total_duration_secs: round6(d.total()),
        min_duration_secs: timed(d.min()),
        max_duration_secs: timed(d.max()),
        avg_duration_secs: timed(d.avg()),
        p50_duration_secs: timed(p.p50),
        p95_duration_secs: timed(p.p95),
        p99_duration_secs: timed(p.p99),
        durations: d.window().into_iter().map(round6).collect(),
        avg_queued_secs: agg.avg_queued(),
        kind: agg.kind,
        ..StepStats::default()
    };
    spend::step_all_time(&mut stats, &agg.spend);
    stats
}

/// Duration figures of a tally: total, min, max, avg, p50, p95, p99.
fn tally_figures(t: &Tally) -> [Option<f64>; 7] {
    let d = &t.durations;
    let r = |v: Option<f64>| v.map(round6);
    [
        Some(round6(d.sum())),
        r(d.min()),
        r(d.max()),
        r(d.avg()),
        r(d.quantile(0.5)),
        r(d.quantile(0.95)),
        r(d.quantile(0.99)),
    ]
}

fn ranged_workflow_stats(id: &str, wf: &WorkflowAgg, range: Range) -> Option<WorkflowStats> {
    let t = wf.periods.tally(range);
    if t.executions() == 0 {
        return None;
    }
    let [total, min, max, avg, p50, p95, p99] = tally_figures(&t);
    let recent: Vec<RecentRun> = wf
        .recent
        .iter()
        .filter(|r| range.contains(r.completed_at))
        .cloned()
        .collect();
    let mut stats = WorkflowStats {
        workflow_id: id.to_string(),
        execution_count: t.executions(),
        success_count: u64::from(t.success),
        failure_count: u64::from(t.failure),
        total_duration_secs: total.unwrap_or(0.0),
        min_duration_secs: min,
        max_duration_secs: max,
        avg_duration_secs: avg,
        // The latest execution in the range, when it is one of the recent.
        last_execution: wf
            .last_execution
            .filter(|at| range.contains(*at))
            .or_else(|| recent.first().map(|r| r.completed_at)),
        p50_duration_secs: p50,
        p95_duration_secs: p95,
        p99_duration_secs: p99,
        recent_runs: recent,
        // Single durations are not kept by period.
        durations: Vec::new(),
        ..WorkflowStats::default()
    };
    spend::workflow_ranged(&mut stats, &t);
    Some(stats)
}

fn ranged_step_stats(workflow: &str, step: &str, kind: StepKind, t: &Tally) -> StepStats {
    let [total, min, max, avg, p50, p95, p99] = tally_figures(t);
    let mut stats = StepStats {
        workflow_id: workflow.to_string(),
        step_id: step.to_string(),
        execution_count: t.executions(),
        success_count: u64::from(t.success),
        failure_count: u64::from(t.failure),
        retry_count: u64::from(t.retries),
        total_duration_secs: total.unwrap_or(0.0),
        min_duration_secs: min,
        max_duration_secs: max,
        avg_duration_secs: avg,
        p50_duration_secs: p50,
        p95_duration_secs: p95,
        p99_duration_secs: p99,
        durations: Vec::new(),
        avg_queued_secs: t.avg_queued().map(round6),
        kind,
        ..StepStats::default()
    };
    spend::step_ranged(&mut stats, t);
    stats
}

/// Percentage of finished executions that succeeded, two decimals; 100 when
/// nothing has finished, since no failure has been observed.
pub fn success_rate(successes: u64, failures: u64) -> f64 {
    let finished = successes + failures;
    if finished == 0 {
        return 100.0;
    }
    (successes as f64 * 10_000.0 / finished as f64).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_health_window_uses_recent_outcomes_or_the_latest_few() {
        let mut a = Analytics::default();
        let now = Utc::now();
        // Old failures, then recent successes.
        for i in 0..10 {
            a.record_outcome(now - Duration::hours(2) + Duration::seconds(i), false);
        }
        for i in 0..8 {
            a.record_outcome(now - Duration::seconds(60 - i), true);
        }
        let r = a.recent_outcomes(now - Duration::minutes(5), 5);
        assert_eq!(
            (r.executions, r.successes),
            (8, 8),
            "only the window counts"
        );
        // A quiet window falls back to the latest five.
        let r = a.recent_outcomes(now, 5);
        assert_eq!((r.executions, r.successes), (5, 5));
        let r = a.recent_outcomes(now - Duration::hours(3), 5);
        assert_eq!((r.executions, r.successes), (18, 8));
        let r = Analytics::default().recent_outcomes(now, 5);
        assert_eq!(r.executions, 0);
    }

    #[test]
    fn the_health_window_counts_right_once_old_outcomes_are_dropped() {
        let mut a = Analytics::default();
        let start = Utc::now() - Duration::hours(1);
        // Every third fails, over more outcomes than are kept.
        let total = OUTCOMES + 2_500;
        for i in 0..total {
            a.record_outcome(start + Duration::milliseconds(i as i64), i % 3 != 0);
        }
        assert_eq!(a.outcomes.len(), OUTCOMES);
        for (since_ms, min) in [
            (0, 5),
            (total as i64 - 100, 5),
            (total as i64 + 10, 7),
            (total as i64 - 4_000, 5),
        ] {
            let since = start + Duration::milliseconds(since_ms);
            let kept = total - OUTCOMES..total;
            let in_window: Vec<usize> = kept
                .clone()
                .filter(|i| start + Duration::milliseconds(*i as i64) >= since)
                .collect();
            let n = in_window.len().max(min).min(OUTCOMES);
            let successes = kept.rev().take(n).filter(|i| i % 3 != 0).count();
            let r = a.recent_outcomes(since, min);
            assert_eq!(
                (r.executions, r.successes),
                (n as u64, successes as u64),
                "since {since_ms} ms"
            );
        }
    }

    #[test]
    fn percentages_round_to_two_decimals() {
        assert_eq!(percent(20.0, 30.0), 66.67);
        assert_eq!(percent(1.0, 0.0), 0.0);
    }
}
