//! Critical paths: in a DAG whose branches run side by side, the step that
//! takes longest overall is not necessarily what makes a run slow. The
//! critical path is the chain that determined the run's duration: start
//! from the step that finished last, and repeatedly step back to the
//! dependency that finished last before it could start.

use std::collections::HashMap;

use wire::{CriticalPath, CriticalStep, RunStatus};

use super::durations::round6;
use super::percent;
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

#[derive(Default)]
struct PathAgg {
    runs: u64,
    run_seconds: f64,
    step_seconds: Vec<f64>,
}

/// Critical paths of a workflow's completed runs.
#[derive(Default)]
pub struct CriticalPaths {
    runs: u64,
    paths: HashMap<Vec<String>, PathAgg>,
    on_path: HashMap<String, u64>,
}

impl CriticalPaths {
    pub fn record(&mut self, run: &RunState) {
        let (Some(path), Some(run_secs)) = (critical_path(run), run.duration_secs) else {
            return;
        };
        self.runs += 1;
        let ids: Vec<String> = path.iter().map(|&i| run.steps[i].id.clone()).collect();
        for id in &ids {
            *self.on_path.entry(id.clone()).or_default() += 1;
        }
        if self.paths.len() >= MAX_PATHS && !self.paths.contains_key(&ids) {
            return;
        }
        let agg = self.paths.entry(ids).or_insert_with(|| PathAgg {
            step_seconds: vec![0.0; path.len()],
            ..PathAgg::default()
        });
        agg.runs += 1;
        agg.run_seconds += run_secs;
        for (slot, &i) in agg.step_seconds.iter_mut().zip(&path) {
            *slot += run.steps[i].duration_secs().unwrap_or(0.0);
        }
    }

    pub fn on_path_percentage(&self, step_id: &str) -> f64 {
        percent(
            self.on_path.get(step_id).copied().unwrap_or(0) as f64,
            self.runs as f64,
        )
    }

    pub fn most_frequent(&self) -> Option<CriticalPath> {
        let (ids, agg) = self
            .paths
            .iter()
            .max_by(|a, b| a.1.runs.cmp(&b.1.runs).then_with(|| b.0.cmp(a.0)))?;
        let n = agg.runs as f64;
        let avg_run = agg.run_seconds / n;
        Some(CriticalPath {
            steps: ids
                .iter()
                .zip(&agg.step_seconds)
                .map(|(id, total)| CriticalStep {
                    step_id: id.clone(),
                    avg_duration_secs: round6(total / n),
                    percentage_of_run: percent(total / n, avg_run),
                })
                .collect(),
            runs: agg.runs,
            percentage_of_runs: percent(n, self.runs as f64),
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
        paths.record(&diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]));
        paths.record(&diamond([(0, 100), (100, 150), (100, 900), (900, 1000)]));
        paths.record(&diamond([(0, 100), (100, 950), (100, 300), (950, 1000)]));
        let best = paths.most_frequent().unwrap();
        let ids: Vec<&str> = best.steps.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d"]);
        assert_eq!(best.runs, 2);
        assert_eq!(best.percentage_of_runs, 66.67);
        assert_eq!(best.steps[1].percentage_of_run, 80.0, "c: 800 of 1000 ms");
        assert_eq!(paths.on_path_percentage("a"), 100.0);
        assert_eq!(paths.on_path_percentage("b"), 33.33);
    }
}
