//! A run's trace, drawn: a waterfall of every attempt on a shared time
//! axis, and the DAG of its steps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use wire::format;
use wire::{Trace, TraceStep};

/// One bar of the waterfall, in percent of the time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub left: f64,
    pub width: f64,
}

/// The narrowest bar drawn, in percent of the axis: a 1 ms step in a long
/// run, or a zero-length one, must still be seen.
const MIN_BAR: f64 = 0.3;

/// Microseconds from `from` to `to`, as a float; 0 when it does not fit.
fn micros(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64
}

/// Seconds from `from` to `to`, never negative.
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    micros(from, to).max(0.0) / 1e6
}

/// Where a step attempt sits on the axis `[start, end]`: always inside it,
/// at least [`MIN_BAR`] wide. A bar too short to see at the right edge is
/// drawn ending there rather than spilling over it.
pub fn span(step: &TraceStep, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
    let from = step.started_at?;
    let to = step.completed_at.unwrap_or(end).max(from);
    let total = micros(start, end).max(1.0);
    let width = (micros(from, to) / total * 100.0).clamp(MIN_BAR, 100.0);
    let left = (micros(start, from) / total * 100.0).clamp(0.0, 100.0 - width);
    Some(Span { left, width })
}

/// Queue times under this are not drawn: a slot taken at once.
const MIN_QUEUE_SECS: f64 = 0.001;

/// Where an attempt's wait for a concurrency slot sits on the axis: from
/// when it was ready to when it started, cut at the axis's start.
pub fn queue_span(step: &TraceStep, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
    let queued = step.queued_secs.filter(|q| *q >= MIN_QUEUE_SECS)?;
    let to = step.started_at?;
    let total = micros(start, end).max(1.0);
    let right = (micros(start, to) / total * 100.0).clamp(0.0, 100.0);
    let left = (right - queued * 1e6 / total * 100.0).max(0.0);
    Some(Span {
        left,
        width: right - left,
    })
}

/// The axis's end: when the run ended, or `now` while it runs (never
/// before its start).
fn axis_end(
    completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
) -> DateTime<Utc> {
    completed_at.unwrap_or(now).max(start)
}

/// The waterfall: one row per attempt, the bottleneck step marked. While
/// the run is in flight the axis follows `now`, so running bars grow
/// between updates.
#[component]
pub fn Waterfall(trace: Trace, #[prop(into)] now: Signal<DateTime<Utc>>) -> impl IntoView {
    let start = trace
        .started_at
        .or_else(|| trace.steps.iter().filter_map(|s| s.started_at).min())
        .unwrap_or_else(|| now.get_untracked());
    let completed_at = trace.completed_at;
    // Read `now` only while the run is in flight: a finished trace never
    // re-renders on the clock.
    let end = move || {
        axis_end(
            completed_at,
            if completed_at.is_some() {
                start
            } else {
                now.get()
            },
            start,
        )
    };
    let ticks = move || {
        let total_secs = micros(start, end()) / 1e6;
        (0..=4)
            .map(|i| {
                let left = f64::from(i) * 25.0;
                let label = format::duration(total_secs * f64::from(i) / 4.0);
                view! { <span class="wf-tick" style=format!("left:{left}%")>{label}</span> }
            })
            .collect_view()
    };
    let bottleneck = trace.bottleneck.as_ref().map(|b| b.step_id.clone());
    view! {
        <div class="waterfall" role="table" aria-label="Steps on a time axis">
            <div class="wf-axis" aria-hidden="true">
                <span class="wf-label"></span>
                <span class="wf-track">{ticks}</span>
            </div>
            {trace
                .steps
                .into_iter()
                .map(|step| {
                    let hot = bottleneck.as_deref() == Some(step.step_id.as_str());
                    let label = match step.attempt {
                        Some(a) if a > 0 => format!("{} · attempt {}", step.step_id, u64::from(a) + 1),
                        _ => step.step_id.clone(),
                    };
                    let started = step.started_at;
                    let timing = match (step.duration_secs, started) {
                        (Some(d), _) => format::duration(d).into_any(),
                        // Still running: the time so far, growing.
                        (None, Some(from)) => view! {
                            <span class="muted" title="running">{move || format!("{}…", format::duration(micros(from, end().max(from)) / 1e6))}</span>
                        }.into_any(),
                        (None, None) => step.status.clone().into_any(),
                    };
                    let queued = step.queued_secs.filter(|q| *q >= MIN_QUEUE_SECS);
                    let title = format!(
                        "{label}: {} {}{}",
                        step.status,
                        started.map(format::exact).unwrap_or_default(),
                        queued.map(|q| format!(", after waiting {} for a slot", format::duration(q))).unwrap_or_default()
                    );
                    let approval = step.kind.is_approval();
                    let usage = step.usage.clone();
                    let title = if approval { format!("{title} · waiting for people to approve, not work") } else { title };
                    let label_title = label.clone();
                    let step_id = step.step_id.clone();
                    let status = step.status.clone();
                    let error = step.error.clone();
                    let wait = queued.map(|q| {
                        let step = step.clone();
                        let style = move || {
                            queue_span(&step, start, end())
                                .map(|p| format!("left:{:.2}%;width:{:.2}%", p.left, p.width))
                                .unwrap_or_default()
                        };
                        let title = format!("waited {} for a concurrency slot", format::duration(q));
                        view! { <span class="wf-queue" style=style title=title></span> }
                    });
                    let bar = started.is_some().then(|| {
                        let style = move || {
                            span(&step, start, end())
                                .map(|p| format!("left:{:.2}%;width:{:.2}%", p.left, p.width))
                                .unwrap_or_default()
                        };
                        view! { <span class="wf-bar" class:approval=approval data-status=status.clone() style=style title=title></span> }
                    });
                    view! {
                        <div class="wf-row" class:bottleneck=hot role="row" data-step=step_id>
                            <span class="wf-label" role="cell" title=label_title>
                                {label}
                                {hot.then(|| view! { <span class="tag hot">"bottleneck"</span> })}
                            </span>
                            <span class="wf-track" role="cell">{wait}{bar}</span>
                            <span class="wf-time" role="cell">
                                {timing}
                                {queued.map(|q| view! { <span class="wf-queued" data-testid="wf-queued">{format!("wait {}", format::duration(q))}</span> })}
                                {approval.then(|| view! { <span class="wf-queued approval" data-testid="wf-approval">"for approval"</span> })}
                                {usage.map(|u| {
                                    let tokens = u.input_tokens.unwrap_or(0).saturating_add(u.output_tokens.unwrap_or(0));
                                    let title = format!(
                                        "{} · {} in, {} out{}{}",
                                        u.model,
                                        format::count(u.input_tokens.unwrap_or(0)),
                                        format::count(u.output_tokens.unwrap_or(0)),
                                        u.time_to_first_token_secs.map(|t| format!(" · first token after {}", format::duration(t))).unwrap_or_default(),
                                        if u.provider == "simulated" { " · simulated" } else { "" },
                                    );
                                    view! { <span class="wf-queued wf-usage" data-testid="wf-usage" title=title>{format!("{} tok · {}", format::tokens(tokens), if u.provider == "simulated" { "simulated".to_string() } else { format::usd(u.cost_usd) })}</span> }
                                })}
                            </span>
                            {error.map(|e| view! { <div class="wf-error" role="cell">{e}</div> })}
                        </div>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Steps in columns by depth: the longest chain of dependencies before
/// each. Iterative (a 1,000-step chain must not exhaust the browser's
/// stack); a step caught in a cycle, which validated workflows never have,
/// goes in the first column rather than looping.
pub fn layers(steps: &[(String, Vec<String>)]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.0.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.1.iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .filter(|&d| d != i)
                .collect()
        })
        .collect();
    // Kahn's order: a step is placed once everything it waits for is.
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependants[d].push(i);
        }
    }
    let mut depth = vec![0usize; steps.len()];
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &j in &dependants[i] {
            depth[j] = depth[j].max(depth[i] + 1);
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(j);
            }
        }
    }
    let mut columns: Vec<Vec<usize>> = Vec::new();
    for (i, &d) in depth.iter().enumerate() {
        // Steps left waiting are on a cycle: first column.
        let d = if waiting[i] > 0 { 0 } else { d };
        if columns.len() <= d {
            columns.resize(d + 1, Vec::new());
        }
        columns[d].push(i);
    }
    columns
}

/// The DAG: steps as boxes by depth, dependencies as edges, the critical
/// path drawn bold and the bottleneck marked.
#[component]
pub fn Dag(trace: Trace) -> impl IntoView {
    let mut seen: Vec<(String, Vec<String>, String)> = Vec::new();
    for s in &trace.steps {
        if !seen.iter().any(|(id, _, _)| *id == s.step_id) {
            seen.push((
                s.step_id.clone(),
                s.depends_on.clone(),
                s.step_status.as_str().to_string(),
            ));
        }
    }
    let graph: Vec<(String, Vec<String>)> = seen
        .iter()
        .map(|(id, deps, _)| (id.clone(), deps.clone()))
        .collect();
    let columns = layers(&graph);
    let (node_w, node_h, col_w, row_h, pad) = (150.0, 34.0, 200.0, 52.0, 10.0);
    let mut pos: HashMap<&str, (f64, f64)> = HashMap::new();
    for (c, column) in columns.iter().enumerate() {
        for (r, &i) in column.iter().enumerate() {
            pos.insert(
                graph[i].0.as_str(),
                (pad + c as f64 * col_w, pad + r as f64 * row_h),
            );
        }
    }
    let width = pad * 2.0 + (columns.len().max(1) - 1) as f64 * col_w + node_w;
    let height =
        pad * 2.0 + (columns.iter().map(Vec::len).max().unwrap_or(1) - 1) as f64 * row_h + node_h;
    let critical: Vec<&str> = trace.critical_path.iter().map(String::as_str).collect();
    let on_path = |a: &str, b: &str| critical.windows(2).any(|w| w[0] == a && w[1] == b);
    let bottleneck = trace.bottleneck.as_ref().map(|b| b.step_id.clone());
    let edges: Vec<(String, bool)> = seen
        .iter()
        .flat_map(|(id, deps, _)| deps.iter().map(move |d| (d.clone(), id.clone())))
        .filter_map(|(from, to)| {
            let (x1, y1) = pos.get(from.as_str())?;
            let (x2, y2) = pos.get(to.as_str())?;
            let (sx, sy, ex, ey) = (x1 + node_w, y1 + node_h / 2.0, *x2, y2 + node_h / 2.0);
            let mid = (sx + ex) / 2.0;
            Some((
                format!("M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}"),
                on_path(&from, &to),
            ))
        })
        .collect();
    let nodes: Vec<(String, String, f64, f64, bool)> = seen
        .iter()
        .filter_map(|(id, _, status)| {
            let (x, y) = pos.get(id.as_str())?;
            Some((
                id.clone(),
                status.clone(),
                *x,
                *y,
                bottleneck.as_deref() == Some(id.as_str()),
            ))
        })
        .collect();
    view! {
        <svg class="dag" viewBox=format!("0 0 {width} {height}") width=width role="img" aria-label="Steps and their dependencies">
            {edges
                .into_iter()
                .map(|(d, critical)| view! { <path d=d class="edge" class:critical=critical fill="none"/> })
                .collect_view()}
            {nodes
                .into_iter()
                .map(|(id, status, x, y, hot)| {
                    let label: String = if id.chars().count() > 20 {
                        id.chars().take(19).chain(std::iter::once('…')).collect()
                    } else {
                        id.clone()
                    };
                    view! {
                        <g class="node" class:hot=hot data-status=status.clone()>
                            <title>{format!("{id}: {status}")}</title>
                            <rect x=x y=y width=node_w height=node_h rx="8"/>
                            <text x=x + node_w / 2.0 y=y + node_h / 2.0 + 4.0 text-anchor="middle">{label}</text>
                        </g>
                    }
                })
                .collect_view()}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_longest_chain() {
        let g = |edges: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            edges
                .iter()
                .map(|(id, deps)| (id.to_string(), deps.iter().map(|d| d.to_string()).collect()))
                .collect()
        };
        let graph = g(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["a"]),
            ("d", &["b", "c"]),
            ("e", &["a", "d"]),
        ]);
        assert_eq!(layers(&graph), vec![vec![0], vec![1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn spans_place_attempts_on_the_axis() {
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let step = TraceStep {
            step_id: "s".into(),
            started_at: Some(at(25)),
            completed_at: Some(at(50)),
            duration_secs: Some(25.0),
            status: "Completed".into(),
            attempt: Some(0),
            error: None,
            step_status: wire::StepStatus::Completed,
            depends_on: vec![],
            queued_secs: Some(10.0),
            kind: wire::StepKind::AgentTask,
            usage: None,
        };
        assert_eq!(
            queue_span(&step, at(0), at(100)),
            Some(Span {
                left: 15.0,
                width: 10.0
            })
        );
        let early = TraceStep {
            queued_secs: Some(40.0),
            ..step.clone()
        };
        assert_eq!(
            queue_span(&early, at(0), at(100)).map(|s| s.left),
            Some(0.0),
            "a wait from before the axis is cut at its start"
        );
        assert_eq!(
            span(&step, at(0), at(100)),
            Some(Span {
                left: 25.0,
                width: 25.0
            })
        );
    }

    fn attempt(from_ms: i64, to_ms: Option<i64>) -> TraceStep {
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        TraceStep {
            step_id: "s".into(),
            started_at: Some(at(from_ms)),
            completed_at: to_ms.map(at),
            duration_secs: None,
            status: "Completed".into(),
            attempt: Some(0),
            error: None,
            step_status: wire::StepStatus::Completed,
            depends_on: vec![],
            queued_secs: None,
            kind: wire::StepKind::AgentTask,
            usage: None,
        }
    }

    fn inside(p: &Span) -> bool {
        p.left >= 0.0 && p.width >= MIN_BAR && p.left + p.width <= 100.0 + 1e-9
    }

    #[test]
    fn short_and_zero_length_steps_at_the_right_edge_stay_on_the_axis() {
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        // `work` 1,000 ms, then `notify` 1 ms: the crash.
        let notify = span(&attempt(1_000, Some(1_001)), at(0), at(1_001)).unwrap();
        assert!(inside(&notify), "{notify:?}");
        assert!(
            (notify.left + notify.width - 100.0).abs() < 1e-9,
            "drawn ending at the edge: {notify:?}"
        );
        // A zero-length step ending the run, and a zero-length run.
        for (step, end) in [(attempt(500, Some(500)), 500), (attempt(0, Some(0)), 0)] {
            let p = span(&step, at(0), at(end)).unwrap();
            assert!(inside(&p), "{p:?}");
        }
        // A running step (no end yet) that started after the axis's end,
        // and one that started before the axis began.
        for (step, end) in [
            (attempt(2_000, None), 1_000),
            (attempt(-500, Some(100)), 1_000),
        ] {
            let p = span(&step, at(0), at(end)).unwrap();
            assert!(inside(&p), "{p:?}");
        }
        // Times far apart: the microsecond count overflows, and nothing panics.
        let far = DateTime::<Utc>::MAX_UTC;
        let p = span(&attempt(0, Some(10)), at(0), far).unwrap();
        assert!(inside(&p), "{p:?}");
        assert_eq!(
            span(
                &TraceStep {
                    started_at: None,
                    ..attempt(0, None)
                },
                at(0),
                at(1)
            ),
            None
        );
    }

    #[test]
    fn a_thousand_step_chain_and_a_cycle_are_laid_out() {
        let chain: Vec<(String, Vec<String>)> = (0..1_000)
            .map(|i| {
                (
                    format!("s{i}"),
                    if i == 0 {
                        vec![]
                    } else {
                        vec![format!("s{}", i - 1)]
                    },
                )
            })
            .collect();
        let columns = layers(&chain);
        assert_eq!(columns.len(), 1_000);
        assert_eq!(columns[999], vec![999]);
        let cycle = vec![
            ("a".to_string(), vec!["b".to_string()]),
            ("b".to_string(), vec!["a".to_string()]),
            ("c".to_string(), vec!["c".to_string(), "zzz".to_string()]),
        ];
        assert_eq!(layers(&cycle), vec![vec![0, 1, 2]]);
    }
}
