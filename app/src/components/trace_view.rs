//! A run's trace, drawn: a waterfall of every attempt on a shared time
//! axis, and the DAG of its steps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::format;
use crate::wire::{Trace, TraceStep};

/// One bar of the waterfall, in percent of the time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub left: f64,
    pub width: f64,
}

/// Where a step attempt sits on the axis `[start, end]`.
pub fn span(step: &TraceStep, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Span> {
    let from = step.started_at?;
    let to = step.completed_at.unwrap_or(end);
    let total = (end - start).num_microseconds().unwrap_or(0).max(1) as f64;
    let left = (from - start).num_microseconds().unwrap_or(0) as f64 / total * 100.0;
    let width = (to - from).num_microseconds().unwrap_or(0) as f64 / total * 100.0;
    Some(Span {
        left: left.clamp(0.0, 100.0),
        width: width.clamp(0.3, 100.0 - left.clamp(0.0, 100.0)),
    })
}

/// The waterfall: one row per attempt, the bottleneck step marked.
#[component]
pub fn Waterfall(trace: Trace, now: DateTime<Utc>) -> impl IntoView {
    let start = trace
        .started_at
        .or_else(|| trace.steps.iter().filter_map(|s| s.started_at).min())
        .unwrap_or(now);
    let end = trace.completed_at.unwrap_or(now).max(start);
    let total_secs = (end - start).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let bottleneck = trace.bottleneck.as_ref().map(|b| b.step_id.clone());
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            (
                i as f64 * 25.0,
                format::duration(total_secs * i as f64 / 4.0),
            )
        })
        .collect();
    view! {
        <div class="waterfall" role="table" aria-label="Steps on a time axis">
            <div class="wf-axis" aria-hidden="true">
                <span class="wf-label"></span>
                <span class="wf-track">
                    {ticks
                        .into_iter()
                        .map(|(left, label)| view! { <span class="wf-tick" style=format!("left:{left}%")>{label}</span> })
                        .collect_view()}
                </span>
            </div>
            {trace
                .steps
                .into_iter()
                .map(|step| {
                    let hot = bottleneck.as_deref() == Some(step.step_id.as_str());
                    let placed = span(&step, start, end);
                    let label = match step.attempt {
                        Some(a) if a > 0 => format!("{} · attempt {}", step.step_id, a + 1),
                        _ => step.step_id.clone(),
                    };
                    let timing = match (step.duration_secs, step.started_at) {
                        (Some(d), _) => format::duration(d),
                        (None, Some(_)) => "running…".to_string(),
                        (None, None) => step.status.clone(),
                    };
                    let title = format!(
                        "{label}: {} {}",
                        step.status,
                        step.started_at.map(format::exact).unwrap_or_default()
                    );
                    let label_title = label.clone();
                    view! {
                        <div class="wf-row" class:bottleneck=hot role="row" data-step=step.step_id.clone()>
                            <span class="wf-label" role="cell" title=label_title>
                                {label}
                                {hot.then(|| view! { <span class="tag hot">"bottleneck"</span> })}
                            </span>
                            <span class="wf-track" role="cell">
                                {placed
                                    .map(|p| {
                                        view! {
                                            <span
                                                class="wf-bar"
                                                data-status=step.status.clone()
                                                style=format!("left:{:.2}%;width:{:.2}%", p.left, p.width)
                                                title=title.clone()
                                            ></span>
                                        }
                                    })}
                            </span>
                            <span class="wf-time" role="cell">{timing}</span>
                            {step.error.map(|e| view! { <div class="wf-error" role="cell">{e}</div> })}
                        </div>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Steps in columns by depth (longest chain of dependencies before them).
pub fn layers(steps: &[(String, Vec<String>)]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.0.as_str(), i))
        .collect();
    let mut depth: Vec<Option<usize>> = vec![None; steps.len()];
    fn depth_of(
        i: usize,
        steps: &[(String, Vec<String>)],
        index: &HashMap<&str, usize>,
        depth: &mut Vec<Option<usize>>,
        guard: usize,
    ) -> usize {
        if let Some(d) = depth[i] {
            return d;
        }
        // Validated DAGs have no cycles; the guard only protects against bad data.
        let d = if guard > steps.len() {
            0
        } else {
            steps[i]
                .1
                .iter()
                .filter_map(|dep| index.get(dep.as_str()))
                .map(|&j| depth_of(j, steps, index, depth, guard + 1) + 1)
                .max()
                .unwrap_or(0)
        };
        depth[i] = Some(d);
        d
    }
    let mut columns: Vec<Vec<usize>> = Vec::new();
    for i in 0..steps.len() {
        let d = depth_of(i, steps, &index, &mut depth, 0);
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
            step_status: crate::wire::StepStatus::Completed,
            depends_on: vec![],
        };
        assert_eq!(
            span(&step, at(0), at(100)),
            Some(Span {
                left: 25.0,
                width: 25.0
            })
        );
    }
}
