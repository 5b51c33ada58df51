//! The Timeline: every run active in a range as a bar on one time axis,
//! grouped by workflow and coloured by status — what ran alongside what,
//! across workflows (Airflow users ask for it as one Gantt across DAGs).
//!
//! Runs of one workflow that overlap are stacked into lanes. While the
//! range is a span back from now, the axis slides with the clock and bars
//! of runs in flight grow, between the refetches that each run's start or
//! end brings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{self, ListQuery};
use crate::components::empty::Empty;
use crate::components::filters::{use_window, RangePicker};
use crate::live::use_live;
use wire::{format, RunSummaryView, Timeline};

/// Lanes per workflow; beyond them, runs share the lane that frees first.
const MAX_LANES: usize = 8;
/// Runs asked for: the API's default page of a timeline.
const RUNS: usize = 500;

/// A workflow's runs, packed into lanes in which no two overlap (until
/// there are `MAX_LANES`): the first lane free at a run's start takes it.
/// `open_end` stands for the end of runs still in flight.
pub fn lanes(
    runs: Vec<RunSummaryView>,
    open_end: DateTime<Utc>,
) -> Vec<(String, Vec<Vec<RunSummaryView>>)> {
    let mut by_workflow: BTreeMap<String, Vec<RunSummaryView>> = BTreeMap::new();
    for r in runs {
        by_workflow
            .entry(r.workflow_id.clone())
            .or_default()
            .push(r);
    }
    by_workflow
        .into_iter()
        .map(|(workflow, mut runs)| {
            runs.sort_by(|a, b| (a.created_at, &a.run_id).cmp(&(b.created_at, &b.run_id)));
            let mut lanes: Vec<(DateTime<Utc>, Vec<RunSummaryView>)> = Vec::new();
            for r in runs {
                let end = r.completed_at.unwrap_or(open_end).max(r.created_at);
                let free = lanes
                    .iter()
                    .position(|(busy_until, _)| *busy_until <= r.created_at);
                let lane = match free {
                    Some(i) => i,
                    None if lanes.len() < MAX_LANES => {
                        lanes.push((r.created_at, Vec::new()));
                        lanes.len() - 1
                    }
                    // Full: the lane that frees first.
                    None => (0..lanes.len()).min_by_key(|&i| lanes[i].0).unwrap_or(0),
                };
                lanes[lane].0 = lanes[lane].0.max(end);
                lanes[lane].1.push(r);
            }
            (workflow, lanes.into_iter().map(|(_, l)| l).collect())
        })
        .collect()
}

/// Where `[from, to)` sits on an axis `[start, end)`, as left and width in
/// percent, clipped to the axis and at least a sliver wide (a 0 ms run is
/// still seen).
pub fn place(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> (f64, f64) {
    let span = (end - start).num_milliseconds().max(1) as f64;
    let at =
        |t: DateTime<Utc>| ((t - start).num_milliseconds() as f64 / span * 100.0).clamp(0.0, 100.0);
    let (left, right) = (at(from), at(to.max(from)));
    let width = (right - left).max(0.25);
    (left.min(100.0 - width), width)
}

/// A time on the axis: the clock, with the date when the axis spans days.
fn tick(at: DateTime<Utc>, span_secs: i64) -> String {
    if span_secs > 86_400 {
        format::exact(at).chars().skip(5).take(11).collect()
    } else {
        format::clock(at, span_secs < 600)
    }
}

/// `at` moved on by `secs`, or left where it is where that would leave
/// the calendar (times come from outside).
fn later(at: DateTime<Utc>, secs: f64) -> DateTime<Utc> {
    at.checked_add_signed(format::secs_to_delta(secs))
        .unwrap_or(at)
}

#[component]
pub fn TimelinePage() -> impl IntoView {
    let live = use_live();
    let window = use_window();
    let query = leptos_router::hooks::use_query_map();
    let workflow = move || query.read().get("workflow_id").filter(|w| !w.is_empty());
    let timeline = api::resource(
        move || (window.get(), workflow(), live.version.get()),
        |(w, workflow_id, _)| {
            api::timeline(ListQuery {
                since: w.since,
                until: w.until,
                workflow_id,
                limit: Some(RUNS),
                ..ListQuery::default()
            })
        },
    );
    let keep = move || -> Vec<(String, String)> {
        workflow()
            .map(|w| vec![("workflow_id".to_string(), w)])
            .unwrap_or_default()
    };
    view! {
        <Title text="Timeline"/>
        <h1>"Timeline"</h1>
        <section class="card">
            {move || view! { <RangePicker path="/timeline" current=window.read().since.clone().unwrap_or_else(|| "1h".into()) keep=keep() bounded=true/> }}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match timeline.await {
                        Ok(t) if t.runs.is_empty() => view! {
                            <Empty title="No run was active in this range">
                                "Every run shows here as a bar on one time axis, grouped by workflow. Pick a longer range above, or "
                                <a href="/run">"run a workflow"</a> "."
                            </Empty>
                        }.into_any(),
                        Ok(t) => {
                            let sliding = window.read_untracked().until.is_none();
                            view! { <TimelineChart t=t sliding=sliding/> }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TimelineChart(t: Timeline, sliding: bool) -> impl IntoView {
    let live = use_live();
    // Seconds since the answer, on the browser's clock: 0 on the server and
    // while hydrating, so both draw the same first frame.
    let fetched = live.now_ms.get_untracked();
    let elapsed = Signal::derive(move || {
        let now = live.now_ms.get();
        let base = if fetched > 0.0 {
            fetched
        } else {
            live.started_ms.get()
        };
        if now <= 0.0 || base <= 0.0 {
            0.0
        } else {
            ((now - base) / 1000.0).max(0.0)
        }
    });
    let (since, until) = (t.since, t.until.max(t.since));
    let span_secs = (until - since).num_seconds();
    let axis = move || {
        let off = if sliding { elapsed.get() } else { 0.0 };
        (later(since, off), later(until, off))
    };
    let shown = t.runs.len() as u64;
    let summary = if t.total > shown {
        format!(
            "{} active in the range; the newest {} are drawn.",
            format::count(t.total),
            format::count(shown)
        )
    } else {
        format::quantity(
            shown,
            "run active in the range.",
            "runs active in the range.",
        )
    };
    let groups = lanes(t.runs, until);
    view! {
        <p class="muted small" data-testid="timeline-summary">{summary}</p>
        <div class="timeline" data-testid="timeline">
            {groups.into_iter().map(|(workflow, lanes)| view! {
                <div class="tl-group" data-workflow=workflow.clone()>
                    <a class="tl-label" href=format!("/workflows/{}", api::encode(&workflow))>{workflow.clone()}</a>
                    <div class="tl-lanes">
                        {lanes.into_iter().map(|lane| view! {
                            <div class="tl-lane">
                                {lane.into_iter().map(|r| {
                                    let (from, done) = (r.created_at, r.completed_at);
                                    let style = move || {
                                        let (start, end) = axis();
                                        let to = done.unwrap_or(end);
                                        let (left, width) = place(from, to, start, end);
                                        format!("left:{left:.3}%;width:{width:.3}%")
                                    };
                                    let title = format!(
                                        "{} · {} · {}{}",
                                        r.job_name,
                                        r.status.as_str(),
                                        r.duration_secs.map(format::duration).unwrap_or_else(|| "in flight".into()),
                                        r.current_step.as_ref().map(|s| format!(" · now {s}")).unwrap_or_default()
                                    );
                                    view! {
                                        <a class="tl-bar" data-status=r.status.as_str() data-run=r.run_id.clone()
                                            href=format!("/traces/{}", r.run_id) title=title style=style></a>
                                    }
                                }).collect_view()}
                            </div>
                        }).collect_view()}
                    </div>
                </div>
            }).collect_view()}
            <div class="tl-group tl-axis">
                <span class="tl-label"></span>
                <div class="tl-ticks">
                    {[0.0, 0.25, 0.5, 0.75, 1.0].into_iter().map(|f| {
                        let text = move || {
                            let (start, end) = axis();
                            tick(later(start, (end - start).num_milliseconds() as f64 / 1000.0 * f).min(end), span_secs)
                        };
                        view! { <span>{text}</span> }
                    }).collect_view()}
                </div>
            </div>
        </div>
        <p class="muted small legend">
            {["Completed", "Running", "Failed", "Cancelled"].into_iter().map(|s| view! {
                <span class="tl-key" data-status=s></span>{s}" "
            }).collect_view()}
            " · each bar runs from the run's creation to its end; click one for its trace."
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::RunStatus;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn run(id: &str, workflow: &str, from: i64, to: Option<i64>) -> RunSummaryView {
        RunSummaryView {
            run_id: id.into(),
            job_id: "j".into(),
            job_name: "J".into(),
            workflow_id: workflow.into(),
            status: if to.is_some() {
                RunStatus::Completed
            } else {
                RunStatus::Running
            },
            created_at: at(from),
            completed_at: to.map(at),
            duration_secs: to.map(|t| (t - from) as f64),
            progress: 0.0,
            current_step: None,
        }
    }

    fn ids(lanes: &[Vec<RunSummaryView>]) -> Vec<Vec<&str>> {
        lanes
            .iter()
            .map(|l| l.iter().map(|r| r.run_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn overlapping_runs_stack_and_the_rest_share_lanes() {
        let runs = vec![
            run("c", "w", 5, Some(20)),
            run("a", "w", 0, Some(10)),
            run("b", "w", 10, Some(12)),
            run("x", "v", 0, None),
            run("d", "w", 11, None),
        ];
        let groups = lanes(runs, at(100));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "v", "workflows in order");
        // a then b (b starts when a ends); c overlaps a; d overlaps both.
        assert_eq!(
            ids(&groups[1].1),
            vec![vec!["a", "b"], vec!["c"], vec!["d"]]
        );
        // Many at once: no more than MAX_LANES lanes.
        let crowd: Vec<_> = (0..20)
            .map(|i| run(&format!("r{i:02}"), "w", i, None))
            .collect();
        assert_eq!(lanes(crowd, at(100))[0].1.len(), MAX_LANES);
    }

    #[test]
    fn bars_are_clipped_to_the_axis_and_never_vanish() {
        let (start, end) = (at(0), at(100));
        assert_eq!(place(at(10), at(30), start, end), (10.0, 20.0));
        // Started before the axis, still running past it.
        assert_eq!(place(at(-50), at(150), start, end), (0.0, 100.0));
        // Zero-length, at the very end: a sliver inside the axis.
        let (left, width) = place(at(100), at(100), start, end);
        assert!(width > 0.0 && left + width <= 100.0, "{left} {width}");
        // An axis of no length does not divide by zero.
        assert!(place(at(0), at(0), start, start).1.is_finite());
        // Nor does the end of the calendar overflow.
        let (first, last) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(place(first, last, first, last).1.is_finite());
        assert_eq!(later(last, 1e9), last);
    }
}
