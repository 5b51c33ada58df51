use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api;
use crate::components::access::may;
use crate::components::charts::{Bars, DurationChart, Pips, Sparkline};
use crate::components::empty::Empty;
use crate::components::filters::{on_previous, use_window, Delta, RangePicker};
use crate::components::heatmap::HeatmapChart;
use crate::components::status::{RelTime, StatusBadge};
use crate::live::use_live;
use crate::pages::overview::short_id;
use wire::format;
use wire::{BottleneckReport, WorkflowStats};

/// Sortable columns: (query key, header).
const COLUMNS: [(&str, &str); 8] = [
    ("workflow", "Workflow"),
    ("executions", "Executions"),
    ("success", "Success"),
    ("avg", "Avg"),
    ("p95", "p95"),
    // What the agents spent: tokens, and dollars where the model is priced.
    ("tokens", "Tokens"),
    ("cost", "Cost"),
    ("last", "Last run"),
];

fn success_rate(w: &WorkflowStats) -> f64 {
    if w.execution_count == 0 {
        100.0
    } else {
        w.success_count as f64 / w.execution_count as f64 * 100.0
    }
}

fn sort(rows: &mut [WorkflowStats], key: &str, descending: bool) {
    rows.sort_by(|a, b| {
        let order = match key {
            "executions" => a.execution_count.cmp(&b.execution_count),
            "success" => success_rate(a).total_cmp(&success_rate(b)),
            "avg" => format::cmp_figures(a.avg_duration_secs, b.avg_duration_secs),
            "p95" => format::cmp_figures(a.p95_duration_secs, b.p95_duration_secs),
            "tokens" => a.tokens().cmp(&b.tokens()),
            "cost" => format::cmp_figures(a.total_cost_usd, b.total_cost_usd),
            "last" => a.last_execution.cmp(&b.last_execution),
            _ => a.workflow_id.cmp(&b.workflow_id),
        };
        if descending {
            order.reverse()
        } else {
            order
        }
    });
}

/// A sortable column header: a link, so sorting works without JavaScript.
#[component]
pub fn SortHeader(
    key: &'static str,
    label: &'static str,
    current: String,
    descending: bool,
    #[prop(optional)] extra: String,
) -> impl IntoView {
    let active = current == key;
    let next_desc = if active {
        !descending
    } else {
        key != "workflow" && key != "step"
    };
    let href = format!(
        "?sort={key}&dir={}{extra}",
        if next_desc { "desc" } else { "asc" }
    );
    let arrow = if active {
        if descending {
            " ↓"
        } else {
            " ↑"
        }
    } else {
        ""
    };
    let sorted = if active {
        if descending {
            "descending"
        } else {
            "ascending"
        }
    } else {
        "none"
    };
    view! { <th aria-sort=sorted><a href=href class="sort">{label}{arrow}</a></th> }
}

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let window = use_window();
    let stats = api::resource(
        move || (window.get(), live.version.get()),
        |(w, _)| api::workflows_in(w),
    );
    // The period before, of the same length, for "p95 … +12 %".
    let previous = api::resource(
        move || (window.get(), live.version.get()),
        |(w, _)| async move { on_previous(&w, api::workflows_in).await },
    );
    let sort_key = move || query.read().get("sort").unwrap_or_else(|| "last".into());
    let descending = move || query.read().get("dir").is_none_or(|d| d != "asc");
    let keep = move || -> Vec<(String, String)> {
        ["sort", "dir"]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), query.read().get(k)?)))
            .collect()
    };
    view! {
        <Title text="Workflows"/>
        <h1>"Workflows"</h1>
        <section class="card">
            {move || view! { <RangePicker path="/workflows" current=window.read().since.clone().unwrap_or_default() keep=keep()/> }}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match stats.await {
                        Ok(list) if list.workflows.is_empty() && window.read().since.is_some() => view! {
                            <Empty title="No workflow ran in this range">
                                "Pick a longer range above, or All time."
                            </Empty>
                        }.into_any(),
                        Ok(list) if list.workflows.is_empty() => view! {
                            <Empty title="No workflow has run yet">
                                "Each workflow's executions, success rate, p95 and recent runs show up here once it has run. "
                                <a href="/run">"Run one"</a> "."
                            </Empty>
                        }.into_any(),
                        Ok(mut list) => {
                            let (key, desc) = (sort_key(), descending());
                            sort(&mut list.workflows, &key, desc);
                            let before: std::collections::HashMap<String, WorkflowStats> = previous
                                .await
                                .ok()
                                .flatten()
                                .map(|l| l.workflows.into_iter().map(|w| (w.workflow_id.clone(), w)).collect())
                                .unwrap_or_default();
                            let extra = window.read().query().replacen('?', "&", 1);
                            view! {
                                <div class="table-wrap">
                                    <table class="table" data-testid="workflows-table">
                                        <thead>
                                            <tr>
                                                {COLUMNS
                                                    .into_iter()
                                                    .map(|(k, label)| view! { <SortHeader key=k label=label current=key.clone() descending=desc extra=extra.clone()/> })
                                                    .collect_view()}
                                                <th>"Last 10"</th>
                                                <th>"Trend"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list.workflows.into_iter().map(|w| {
                                                let before = before.get(&w.workflow_id).cloned();
                                                view! { <WorkflowRow w=w before=before/> }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn WorkflowRow(w: WorkflowStats, before: Option<WorkflowStats>) -> impl IntoView {
    let rate = success_rate(&w);
    let p95_before = before.as_ref().and_then(|b| b.p95_duration_secs);
    view! {
        <tr data-workflow=w.workflow_id.clone()>
            <td><a href=format!("/workflows/{}", w.workflow_id)>{w.workflow_id.clone()}</a></td>
            <td class="num">{format::count(w.execution_count)}</td>
            <td class="num" class:bad={rate < 95.0}>{format::percent(rate)}</td>
            <td class="num">{format::maybe_duration(w.avg_duration_secs)}</td>
            <td class="num">
                {format::maybe_duration(w.p95_duration_secs)}
                <Delta now=w.p95_duration_secs before=p95_before/>
            </td>
            <td class="num" title=format!("{} in · {} out", format::count(w.total_input_tokens), format::count(w.total_output_tokens))>
                {format::tokens(w.tokens())}
            </td>
            <td class="num" class:muted=w.total_cost_usd.is_none()>{format::spend(w.total_cost_usd, w.tokens())}</td>
            <td>{w.last_execution.map(|at| view! { <RelTime at=at/> }.into_any()).unwrap_or_else(|| view! { "—" }.into_any())}</td>
            <td><Pips runs=w.recent_runs/></td>
            <td>
                {if w.durations.is_empty() {
                    // Ranged answers carry no single durations.
                    view! { <span class="muted" title="single runs' durations are kept for all time">"—"</span> }.into_any()
                } else {
                    view! { <Sparkline values=w.durations/> }.into_any()
                }}
            </td>
        </tr>
    }
}

#[component]
pub fn WorkflowDetail() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let window = use_window();
    let stats = api::resource(
        move || (id(), window.get(), live.version.get()),
        |(id, w, _)| api::workflow(id, w),
    );
    let before = api::resource(
        move || (id(), window.get(), live.version.get()),
        |(id, w, _)| async move {
            on_previous(&w, |before| api::workflow(id, before))
                .await
                .map(Option::flatten)
        },
    );
    let report = api::resource(
        move || (id(), window.get(), live.version.get()),
        |(id, w, _)| api::bottlenecks(id, w),
    );
    let heatmap = api::resource(
        move || (id(), window.get(), live.version.get()),
        |(id, w, _)| api::heatmap(id, w),
    );
    let path = move || format!("/workflows/{}", api::encode(&id()));
    // Only this workflow's newest job, to run it again.
    let jobs = api::resource(
        move || (id(), live.version.get()),
        |(id, _)| api::jobs(Some(id), 1),
    );
    view! {
        <Title text=move || format!("Workflow {}", id())/>
        <p class="crumbs"><a href="/workflows">"Workflows"</a> " / "</p>
        <h1>{id}</h1>
        {move || view! { <RangePicker path=path() current=window.read().since.clone().unwrap_or_default() keep=Vec::new()/> }}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (stats, report, jobs) = (stats.await, report.await, jobs.await);
                let (before, heatmap) = (before.await.ok().flatten(), heatmap.await);
                let ranged = window.read().since.is_some() || window.read().until.is_some();
                let period = window.read().since.clone().filter(|_| before.is_some());
                let jobs = jobs.map(|j| j.jobs);
                let known = jobs.as_ref().map_or(true, |j| !j.is_empty());
                let job = jobs.ok().and_then(|j| j.into_iter().next());
                match (stats, report) {
                    (Ok(Some(w)), Ok(report)) => view! {
                        <WorkflowSummary w=w.clone() job=job.map(|j| j.job_id) before=before period=period/>
                        <div class="grid-2">
                            <section class="card">
                                <h2>"Duration of recent runs"</h2>
                                {if ranged && w.durations.is_empty() {
                                    view! { <p class="muted">"Single runs' durations are charted for all time; this range's percentiles are above, and by step below."</p> }.into_any()
                                } else {
                                    view! { <DurationChart values=w.durations.clone()/> }.into_any()
                                }}
                            </section>
                            <section class="card">
                                <h2>"Where the time goes"</h2>
                                {report.map(|r| view! { <BottleneckView report=r/> })}
                            </section>
                        </div>
                        <section class="card">
                            <h2>{if ranged { "Steps over the range" } else { "Steps over the last 24 hours" }}</h2>
                            {match heatmap {
                                Ok(Some(map)) => view! { <HeatmapChart map=map/> }.into_any(),
                                Ok(None) => ().into_any(),
                                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                            }}
                        </section>
                        <section class="card">
                            <h2>"Recent runs"</h2>
                            <div class="table-wrap">
                                <table class="table">
                                    <thead><tr><th>"Status"</th><th>"Run"</th><th class="num">"Duration"</th><th>"Finished"</th></tr></thead>
                                    <tbody>
                                        {w.recent_runs.into_iter().map(|r| view! {
                                            <tr>
                                                <td><StatusBadge status=r.status.as_str()/></td>
                                                <td><a class="mono" href=format!("/traces/{}", r.run_id)>{short_id(&r.run_id)}</a></td>
                                                <td class="num">{r.duration_secs.map(format::duration).unwrap_or_else(|| "—".into())}</td>
                                                <td><RelTime at=r.completed_at/></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </section>
                    }.into_any(),
                    (Ok(None), _) if known => view! {
                        <section class="card">
                            <Empty title="No executions of this workflow yet">
                                "Statistics appear once a run of it has finished. " <a href="/workflows">"All workflows"</a>
                            </Empty>
                        </section>
                    }.into_any(),
                    (Ok(None), _) => {
                        crate::pages::not_found::answer_not_found();
                        view! {
                            <section class="card">
                                <Empty title="No workflow with this id">
                                    "No job defines it; it may have been mistyped. " <a href="/workflows">"All workflows"</a>
                                </Empty>
                            </section>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn WorkflowSummary(
    w: WorkflowStats,
    job: Option<String>,
    /// The previous period's figures, to say what changed.
    before: Option<WorkflowStats>,
    period: Option<String>,
) -> impl IntoView {
    let was = |f: fn(&WorkflowStats) -> Option<f64>| before.as_ref().and_then(f);
    let (avg, p50, p95, p99) = (
        was(|b| b.avg_duration_secs),
        was(|b| b.p50_duration_secs),
        was(|b| b.p95_duration_secs),
        was(|b| b.p99_duration_secs),
    );
    let navigate = use_navigate();
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let run_again = move |_| {
        let Some(job_id) = job.clone() else { return };
        let navigate = navigate.clone();
        set_busy.set(true);
        leptos::task::spawn_local(async move {
            match api::run_job(job_id).await {
                Ok(created) => {
                    if let Some(run) = created.run_id {
                        navigate(&format!("/traces/{run}"), Default::default());
                    }
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };
    view! {
        <section class="card">
            <div class="card-head">
                <div class="stats inline">
                    <div class="stat"><div class="stat-value">{format::count(w.execution_count)}</div><div class="stat-label">"Executions"</div></div>
                    <div class="stat"><div class="stat-value">{format::percent(success_rate(&w))}</div><div class="stat-label">"Success"</div></div>
                    <div class="stat"><div class="stat-value">{format::maybe_duration(w.avg_duration_secs)}</div><div class="stat-label">"Average"</div><Delta now=w.avg_duration_secs before=avg period=period.clone()/></div>
                    <div class="stat"><div class="stat-value">{format::maybe_duration(w.p50_duration_secs)}</div><div class="stat-label">"p50"</div><Delta now=w.p50_duration_secs before=p50 period=period.clone()/></div>
                    <div class="stat" data-testid="workflow-p95"><div class="stat-value">{format::maybe_duration(w.p95_duration_secs)}</div><div class="stat-label">"p95"</div><Delta now=w.p95_duration_secs before=p95 period=period.clone()/></div>
                    <div class="stat"><div class="stat-value">{format::maybe_duration(w.p99_duration_secs)}</div><div class="stat-label">"p99"</div><Delta now=w.p99_duration_secs before=p99 period=period.clone()/></div>
                </div>
                <button class="button primary" on:click=run_again disabled=move || busy.get() data-testid="run-again" hidden=move || !may("operator")()>
                    "Run again"
                </button>
            </div>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}

/// Steps drawn as bars; a wide workflow's others are summed up in a line.
const BOTTLENECK_BARS: usize = 12;

#[component]
fn BottleneckView(report: BottleneckReport) -> impl IntoView {
    let top = report.bottlenecks.first().map(|b| b.step_id.clone());
    let rest = report
        .bottlenecks
        .get(BOTTLENECK_BARS..)
        .unwrap_or_default();
    let more = (!rest.is_empty()).then(|| {
        let share: f64 = rest.iter().map(|b| b.percentage_of_workflow).sum();
        view! {
            <p class="muted small" data-testid="more-steps">
                {format!(
                    "and {}, {} of the time",
                    format::quantity(rest.len() as u64, "more step", "more steps"),
                    format::percent(share)
                )}
            </p>
        }
    });
    let rows: Vec<(String, f64, String)> = report
        .bottlenecks
        .iter()
        .take(BOTTLENECK_BARS)
        .map(|b| {
            (
                b.step_id.clone(),
                b.percentage_of_workflow,
                format!(
                    "{} · {}{}",
                    format::percent(b.percentage_of_workflow),
                    format::duration(b.avg_duration_secs),
                    // Waits longer for a concurrency slot than it runs
                    // (its wait is on the Steps page and each trace).
                    match b.diagnosis.as_str() {
                        "starved" => " · starved",
                        "awaiting_approval" => " · waiting for approval",
                        _ => "",
                    }
                ),
            )
        })
        .collect();
    view! {
        <Bars rows=rows highlight=top.unwrap_or_default()/>
        {more}
        {report.critical_path.map(|cp| view! {
            <h3>"Critical path"</h3>
            <p class="muted">
                {format!("In {} of the completed runs ({}), this chain set the run's duration:", cp.runs, format::percent(cp.percentage_of_runs))}
            </p>
            <ol class="critical-path">
                {cp.steps.into_iter().map(|s| view! {
                    <li>
                        <strong>{s.step_id}</strong>
                        " " {format::duration(s.avg_duration_secs)}
                        <span class="muted">{format!(" · {} of the run", format::percent(s.percentage_of_run))}</span>
                    </li>
                }).collect_view()}
            </ol>
        })}
    }
}
