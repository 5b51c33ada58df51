//! Critical paths: in a DAG whose branches run side by side, the step that
//! takes longest overall is not necessarily what makes a run slow. The
//! critical path is the chain that determined the run's duration: start
//! from the step that finished last, and repeatedly step back to the
//! dependency that finished last before it could start.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use wire::{CriticalPath, CriticalStep, RunStatus};

use super::durations::round6;
use super::percent;
use super::periods::{Merge, Periods, Range};
use crate::runs::RunState;

/// Distinct paths remembered per workflow; beyond this, runs along a new
/// path still count toward per-step figures but the path itself is not kept.
const MAX_PATHS: usize = 64;

/// Indices of the steps on the run's critical path, first to last, for a
/// completed run.
pub fn critical_path(run: &RunState) -> Option<Vec<usize>> {
    if run.status != RunStatus::Completed {
        return None;
    }
    let index: HashMap<&str, usize> = run
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let finished = |i: usize| run.steps[i].completed_at();
    let mut current = (0..run.steps.len())
        .filter_map(|i| finished(i).map(|end| (end, i)))
        .max()?
        .1;
    let mut path = vec![current];
    while let Some((_, dep)) = run.steps[current]
        .depends_on
        .iter()
        .filter_map(|d| index.get(d.as_str()).copied())
        .filter_map(|i| finished(i).map(|end| (end, i)))
        .max()
    {
        path.push(dep);
        current = dep;
    }
    path.reverse();
    Some(path)
}

/// One path's runs within a tally.
#[derive(Clone, Debug, Default)]
struct PathAgg {
    /// Index into `CriticalPaths::known`.
    path: u32,
    runs: u64,
    run_seconds: f64,
    step_seconds: Vec<f64>,
}

/// Critical paths of some runs: all of a workflow's, or a minute's or an
/// hour's of them. Paths and steps are named by their index in the
/// workflow's `CriticalPaths`, so that a tally of a minute is a few numbers.
#[derive(Clone, Debug, Default)]
pub struct PathTally {
    runs: u64,
    paths: Vec<PathAgg>,
    /// (step index, runs it was on the path of).
    on_path: Vec<(u32, u64)>,
}

impl Merge for PathTally {
    fn merge(&mut self, other: &Self) {
        self.runs += other.runs;
        for p in &other.paths {
            match self.paths.iter_mut().find(|q| q.path == p.path) {
                Some(q) => {
                    q.runs += p.runs;
                    q.run_seconds += p.run_seconds;
                    for (a, b) in q.step_seconds.iter_mut().zip(&p.step_seconds) {
                        *a += b;
                    }
                }
                None => self.paths.push(p.clone()),
            }
        }
        for &(step, n) in &other.on_path {
            self.count_on_path(step, n);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.paths.capacity() * std::mem::size_of::<PathAgg>()
            + self
                .paths
                .iter()
                .map(|p| p.step_seconds.capacity() * 8)
                .sum::<usize>()
            + self.on_path.capacity() * std::mem::size_of::<(u32, u64)>()
    }
}

impl PathTally {
    fn count_on_path(&mut self, step: u32, n: u64) {
        match self.on_path.iter_mut().find(|(s, _)| *s == step) {
            Some((_, m)) => *m += n,
            None => self.on_path.push((step, n)),
        }
    }

    /// One run along `path` (if it is kept), with its steps' durations.
    fn record(&mut self, steps: &[u32], path: Option<u32>, run_secs: f64, step_secs: &[f64]) {
        self.runs += 1;
        for &s in steps {
            self.count_on_path(s, 1);
        }
        let Some(path) = path else {
            return;
        };
        let agg = match self.paths.iter().position(|p| p.path == path) {
            Some(i) => &mut self.paths[i],
            None => {
                self.paths.push(PathAgg {
                    path,
                    step_seconds: vec![0.0; step_secs.len()],
                    ..PathAgg::default()
                });
                self.paths.last_mut().expect("just pushed")
            }
        };
        agg.runs += 1;
        agg.run_seconds += run_secs;
        for (slot, d) in agg.step_seconds.iter_mut().zip(step_secs) {
            *slot += d;
        }
    }
}

/// Critical paths of a workflow's completed runs, for all time and by
/// minute and hour.
#[derive(Default)]
pub struct CriticalPaths {
    /// Step ids by index.
    steps: Vec<String>,
    /// Distinct paths seen (at most `MAX_PATHS`), as step indices.
    known: Vec<Vec<u32>>,
    all: PathTally,
    periods: Periods<PathTally>,
}

impl CriticalPaths {
    /// A completed run, finished at `at`.
    pub fn record(&mut self, run: &RunState, at: DateTime<Utc>) {
        let (Some(path), Some(run_secs)) = (critical_path(run), run.duration_secs) else {
            return;
        };
        let steps: Vec<u32> = path
            .iter()
            .map(|&i| self.step_index(&run.steps[i].id))
            .collect();
        let known = match self.known.iter().position(|k| *k == steps) {
            Some(i) => Some(i as u32),
            None if self.known.len() < MAX_PATHS => {
                self.known.push(steps.clone());
                Some(self.known.len() as u32 - 1)
            }
            None => None,
        };
        let step_secs: Vec<f64> = path
            .iter()
            .map(|&i| run.steps[i].duration_secs().unwrap_or(0.0))
            .collect();
        self.all.record(&steps, known, run_secs, &step_secs);
        self.periods
            .record(at, |t| t.record(&steps, known, run_secs, &step_secs));
    }

    fn step_index(&mut self, id: &str) -> u32 {
        match self.steps.iter().position(|s| s == id) {
            Some(i) => i as u32,
            None => {
                self.steps.push(id.to_string());
                self.steps.len() as u32 - 1
            }
        }
    }

    /// The runs of `range`, or of all time.
    pub fn tally(&self, range: Option<Range>) -> Cow<'_, PathTally> {
        match range {
            None => Cow::Borrowed(&self.all),
            Some(r) => Cow::Owned(self.periods.fold(r)),
        }
    }

    /// Percentage of the tally's runs in which `step_id` was on the path.
    pub fn on_path_percentage(&self, t: &PathTally, step_id: &str) -> f64 {
        let on = self
            .steps
            .iter()
            .position(|s| s == step_id)
            .and_then(|i| t.on_path.iter().find(|(s, _)| *s == i as u32))
            .map_or(0, |(_, n)| *n);
        percent(on as f64, t.runs as f64)
    }

    /// The tally's most frequent path (ties: the first in step-id order).
    pub fn most_frequent(&self, t: &PathTally) -> Option<CriticalPath> {
        let ids = |p: &PathAgg| -> Vec<&str> {
            self.known[p.path as usize]
                .iter()
                .map(|&s| self.steps[s as usize].as_str())
                .collect()
        };
        let agg = t
            .paths
            .iter()
            .max_by(|a, b| a.runs.cmp(&b.runs).then_with(|| ids(b).cmp(&ids(a))))?;
        let n = agg.runs as f64;
        let avg_run = agg.run_seconds / n;
        Some(CriticalPath {
            steps: ids(agg)
                .into_iter()
                .zip(&agg.step_seconds)
                .map(|(id, total)| CriticalStep {
                    step_id: id.to_string(),
                    avg_duration_secs: round6(total / n),
                    percentage_of_run: percent(total / n, avg_run),
                })
                .collect(),
            runs: agg.runs,
            percentage_of_runs: percent(n, t.runs as f64),
            avg_run_duration_secs: round6(avg_run),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind, PlannedStep};
    use chrono::{DateTime, Duration, Utc};
    use ulid::Ulid;

    /// A completed run of `a → (b, c) → d` where each step ran over the
    /// given (start, end) milliseconds.
    fn diamond(times: [(i64, i64); 4]) -> RunState {
        let run_id = Ulid::new();
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let at = |ms: i64| t0 + Duration::milliseconds(ms);
        let ids = ["a", "b", "c", "d"];
        let deps: [&[&str]; 4] = [&[], &["a"], &["a"], &["b", "c"]];
        let mut events = vec![Event {
            seq: 1,
            at: t0,
            kind: EventKind::RunCreated {
                run_id,
                job_id: Ulid::new(),
                workflow_id: "w".into(),
                job_name: "W".into(),
                steps: ids
                    .iter()
                    .zip(deps)
                    .map(|(id, d)| PlannedStep {
                        id: id.to_string(),
                        name: id.to_string(),
                        role: "r".into(),
                        depends_on: d.iter().map(|s| s.to_string()).collect(),
                    })
                    .collect(),
                actor: None,
                budget: None,
                trace: None,
                node: None,
            },
        }];
        let mut timeline: Vec<(i64, EventKind)> = vec![(0, EventKind::RunStarted { run_id })];
        for (id, (start, end)) in ids.iter().zip(times) {
            timeline.push((
                start,
                EventKind::StepStarted {
                    run_id,
                    step_id: id.to_string(),
                    attempt: 0,
                    queued_secs: None,
                },
            ));
            timeline.push((
                end,
                EventKind::StepCompleted {
                    run_id,
                    step_id: id.to_string(),
                    attempt: 0,
                    duration_secs: (end - start) as f64 / 1e3,
                    output: String::new(),
                    output_truncated: false,
                    usage: None,
                },
            ));
        }
        timeline.push((
            times[3].1,
            EventKind::RunCompleted {
                run_id,
                duration_secs: times[3].1 as f64 / 1e3,
            },
        ));
        timeline.sort_by_key(|(ms, _)| *ms);
        for (i, (ms, kind)) in timeline.into_iter().enumerate() {
            events.push(Event {
                seq: i as u64 + 2,
                at: at(ms),
                kind,
            });
        }
        RunState::fold(&events).unwrap()
    }

    #[test]
    fn the_critical_path_follows_the_branch_that_finished_last() {
        // c (a long branch) gates d; b is short.
        let run = diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]);
        let path: Vec<&str> = critical_path(&run)
            .unwrap()
            .iter()
            .map(|&i| run.steps[i].id.as_str())
            .collect();
        assert_eq!(path, ["a", "c", "d"]);
    }

    #[test]
    fn aggregation_reports_the_most_frequent_path_and_shares() {
        let mut paths = CriticalPaths::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |h: i64| t0 + Duration::hours(h);
        paths.record(
            &diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]),
            at(0),
        );
        paths.record(
            &diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]),
            at(0),
        );
        paths.record(
            &diamond([(0, 100), (100, 950), (100, 300), (950, 1000)]),
            at(0),
        );
        let all = paths.tally(None);
        let best = paths.most_frequent(&all).unwrap();
        let ids: Vec<&str> = best.steps.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"]);
        assert_eq!(best.runs, 2);
        assert_eq!(best.percentage_of_runs, 66.67);
        assert_eq!(best.steps[1].percentage_of_run, 80.0, "c: 800 of 1000 ms");
        assert_eq!(paths.on_path_percentage(&all, "a"), 100.0);
        assert_eq!(paths.on_path_percentage(&all, "b"), 33.33);
    }

    #[test]
    fn a_range_has_the_paths_of_its_own_runs() {
        let mut paths = CriticalPaths::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |m: i64| t0 + Duration::minutes(m);
        // Earlier, through c; of late, through b, three times.
        for m in 0..5 {
            paths.record(
                &diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]),
                at(m),
            );
        }
        for m in 30..33 {
            paths.record(
                &diamond([(0, 100), (100, 950), (100, 300), (950, 1000)]),
                at(m),
            );
        }
        let best = |from: i64, to: i64| {
            let t = paths.tally(Some(Range {
                since: at(from),
                until: at(to),
            }));
            let p = paths.most_frequent(&t).unwrap();
            (
                p.steps
                    .into_iter()
                    .map(|s| s.step_id)
                    .collect::<Vec<_>>()
                    .join(""),
                p.runs,
                paths.on_path_percentage(&t, "b"),
            )
        };
        assert_eq!(best(0, 60).0, "acd", "all of them: c five times");
        assert_eq!(best(25, 60), ("abd".to_string(), 3, 100.0));
        assert_eq!(best(0, 10), ("acd".to_string(), 5, 0.0));
        assert!(paths
            .most_frequent(&paths.tally(Some(Range {
                since: at(10),
                until: at(20)
            })))
            .is_none());
    }
}
