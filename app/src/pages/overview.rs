use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{self, ListQuery};
use crate::components::charts::{SpendChart, SuccessChart, ThroughputChart};
use crate::components::empty::Empty;
use crate::components::stat::Stat;
use crate::components::status::{Progress, RelTime, StatusBadge};
use crate::live::use_live;
use wire::format;
use wire::{HealthStatus, RunSummaryView, ThroughputPoint, Trace};

#[component]
pub fn Overview() -> impl IntoView {
    let live = use_live();
    let health = api::resource(move || live.version.get(), |_| api::health());
    let running = api::resource(
        move || live.version.get(),
        |_| {
            api::runs(ListQuery {
                status: Some("Running".into()),
                limit: Some(20),
                ..ListQuery::default()
            })
        },
    );
    let recent = api::resource(
        move || live.version.get(),
        |_| {
            api::traces(ListQuery {
                limit: Some(8),
                ..ListQuery::default()
            })
        },
    );
    let throughput = api::resource(
        move || live.version.get(),
        |_| api::throughput(api::Window::default()),
    );
    // What the agents cost over the last week: by the hour, and the
    // workflows that spent most.
    let week = || api::Window::new(Some("7d".into()), None);
    let spend = api::resource(move || live.version.get(), move |_| api::throughput(week()));
    let spenders = api::resource(
        move || live.version.get(),
        move |_| api::workflows_in(week()),
    );
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading health…"</p> }>
            {move || Suspend::new(async move {
                match health.await {
                    Ok(h) => view! { <HealthPanel health=h/> }.into_any(),
                    Err(e) => view! { <p class="error">"Health unavailable: " {e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        <div class="grid-2">
            <section class="card" aria-labelledby="running-title">
                <h2 id="running-title">"Running workflows"</h2>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match running.await {
                            Ok(list) if list.runs.is_empty() => view! {
                                <Empty title="Nothing is running">
                                    "Runs appear here with live progress as soon as one starts. "
                                    <a href="/run">"Run a workflow"</a> " or post to " <code>"/api/jobs"</code> "."
                                </Empty>
                            }.into_any(),
                            Ok(list) => view! { <RunningList runs=list.runs/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <section class="card" aria-labelledby="hour-title">
                <h2 id="hour-title">"Last hour"</h2>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match throughput.await {
                            Ok(t) => {
                                let total = format::total(t.points.iter().map(ThroughputPoint::executions));
                                let failed = format::total(t.points.iter().map(|p| p.failed));
                                view! {
                                    <div class="chart-block">
                                        <div class="chart-title">
                                            "Executions per minute · " <strong data-testid="hour-total">{format::count(total)}</strong>
                                        </div>
                                        <ThroughputChart points=t.points.clone()/>
                                        <div class="axis-caption"><span>"60 min ago"</span><span>"now"</span></div>
                                    </div>
                                    <div class="chart-block">
                                        <div class="chart-title">
                                            "Success rate · "
                                            <strong>
                                                {if total == 0 {
                                                    "no executions".to_string()
                                                } else {
                                                    format::percent((total - failed) as f64 / total as f64 * 100.0)
                                                }}
                                            </strong>
                                        </div>
                                        <SuccessChart points=t.points/>
                                        <div class="axis-caption"><span>"60 min ago"</span><span>"now"</span></div>
                                    </div>
                                }.into_any()
                            }
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
        <section class="card" aria-labelledby="spend-title">
            <div class="card-head">
                <h2 id="spend-title">"What the agents cost · last 7 days"</h2>
                <a href="/models">"By model →"</a>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let (spend, spenders) = (spend.await, spenders.await);
                    match (spend, spenders) {
                        (Ok(t), Ok(list)) => {
                            let mut top: Vec<_> = list.workflows.into_iter().filter(|w| w.total_cost_usd.is_some()).collect();
                            top.sort_by(|a, b| format::cmp_figures(b.total_cost_usd, a.total_cost_usd));
                            top.truncate(5);
                            if top.is_empty() {
                                return view! {
                                    <Empty title="No priced agent call in the last 7 days">
                                        "Spend shows here once agents call a model the price table knows (simulated agents have no price; see "
                                        <code>"--prices"</code> ")."
                                    </Empty>
                                }.into_any();
                            }
                            let total: f64 = t.points.iter().filter_map(|p| p.cost_usd).sum();
                            view! {
                                <div class="grid-2">
                                    <div class="chart-block">
                                        <div class="chart-title">"Spend per hour · " <strong data-testid="spend-total">{format::usd(Some(total))}</strong></div>
                                        <SpendChart points=t.points/>
                                        <div class="axis-caption"><span>"7 days ago"</span><span>"now"</span></div>
                                    </div>
                                    <table class="table" data-testid="top-spenders">
                                        <thead><tr><th>"Workflow"</th><th class="num">"Tokens"</th><th class="num">"Cost"</th></tr></thead>
                                        <tbody>
                                            {top.into_iter().map(|w| view! {
                                                <tr>
                                                    <td><a href=format!("/workflows/{}?since=7d", api::encode(&w.workflow_id))>{w.workflow_id.clone()}</a></td>
                                                    <td class="num">{format::tokens(w.tokens())}</td>
                                                    <td class="num">{format::usd(w.total_cost_usd)}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                        (Err(e), _) | (_, Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="recent-title">
            <div class="card-head">
                <h2 id="recent-title">"Recent traces"</h2>
                <a href="/traces">"All traces →"</a>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match recent.await {
                        Ok(list) if list.traces.is_empty() => view! {
                            <Empty title="No runs yet">"Every run leaves a trace here."</Empty>
                        }.into_any(),
                        Ok(list) => view! { <TraceTable traces=list.traces/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Runs in flight with their progress, moved live by the WebSocket.
#[component]
fn RunningList(runs: Vec<RunSummaryView>) -> impl IntoView {
    let live = use_live();
    view! {
        <ul class="running">
            {runs
                .into_iter()
                .map(|r| {
                    let id = r.run_id.clone();
                    let progress = {
                        let id = id.clone();
                        Signal::derive(move || live.runs.with(|m| m.get(&id).map(|l| l.progress)).unwrap_or(r.progress))
                    };
                    let status = {
                        let (id, initial) = (id.clone(), r.status.as_str().to_string());
                        Signal::derive(move || live.runs.with(|m| m.get(&id).map(|l| l.status.clone())).unwrap_or_else(|| initial.clone()))
                    };
                    let step = {
                        let (id, initial) = (id.clone(), r.current_step.clone());
                        move || live.runs.with(|m| m.get(&id).and_then(|l| l.current_step.clone())).or_else(|| initial.clone())
                    };
                    view! {
                        <li class="running-run" data-run=id.clone()>
                            <div class="running-head">
                                <a href=format!("/traces/{id}")>{r.job_name.clone()}</a>
                                <span class="muted">{move || step().map(|s| format!("· {s}")).unwrap_or_default()}</span>
                                <span class="spacer"></span>
                                <RelTime at=r.created_at/>
                            </div>
                            <Progress value=progress status=status/>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Traces as a table: status, workflow, duration, bottleneck, start.
#[component]
pub fn TraceTable(traces: Vec<Trace>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th>"Status"</th>
                        <th>"Workflow"</th>
                        <th>"Run"</th>
                        <th class="num">"Duration"</th>
                        <th>"Bottleneck"</th>
                        <th>"Started"</th>
                    </tr>
                </thead>
                <tbody>
                    {traces
                        .into_iter()
                        .map(|t| view! {
                            <tr data-run=t.run_id.clone()>
                                <td><StatusBadge status=t.status.as_str()/></td>
                                <td><a href=format!("/workflows/{}", t.workflow_id)>{t.job_name.clone()}</a></td>
                                <td><a class="mono" href=format!("/traces/{}", t.run_id)>{short_id(&t.run_id)}</a></td>
                                <td class="num">{t.duration_secs.map(format::duration).unwrap_or_else(|| "—".into())}</td>
                                <td>
                                    {t.bottleneck.map(|b| format!("{} ({})", b.step_id, format::percent(b.percentage_of_total)))
                                        .unwrap_or_else(|| "—".into())}
                                </td>
                                <td>{t.started_at.map(|at| view! { <RelTime at=at/> }.into_any()).unwrap_or_else(|| "—".into_any())}</td>
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The last 8 characters of a ULID: enough to tell runs apart on a page.
pub fn short_id(id: &str) -> String {
    id.chars()
        .skip(id.chars().count().saturating_sub(8))
        .collect()
}

#[component]
fn HealthPanel(health: HealthStatus) -> impl IntoView {
    let live = use_live();
    let rendered = health.clone();
    // Live heartbeats override what the page was rendered with.
    let status = move || live.health.get().map_or(rendered.status, |b| b.status);
    let active = {
        let rendered = health.active_workflows;
        move || live.health.get().map_or(rendered, |b| b.active_workflows)
    };
    let routines = {
        let rendered = health.active_routines;
        move || live.health.get().map_or(rendered, |b| b.active_routines)
    };
    let approvals = {
        let rendered = health.pending_approvals;
        move || live.health.get().map_or(rendered, |b| b.pending_approvals)
    };
    let uptime = health.uptime_secs;
    let total_routines = health.total_routines;
    let log_failure = health.event_log.error.clone().map(|error| {
        view! {
            <p class="alert" data-severity="critical" role="alert" data-testid="event-log-failing">
                <strong>"The event log cannot be written"</strong>
                {format!(
                    ": {error}. Changes are refused until it can ({} waiting for the disk); nothing acknowledged is lost.",
                    format::quantity(health.event_log.backlog, "event", "events")
                )}
            </p>
        }
    });
    view! {
        <section class="card health" aria-label="System health">
            <div class="card-head">
                <h2>"System health"</h2>
                <span class="badge" data-status=move || status().as_str() data-testid="health-status">
                    {move || status().as_str()}
                </span>
            </div>
            {log_failure}
            <div class="stats">
                <Stat
                    label="Uptime"
                    value=Signal::derive(move || format::uptime(live.uptime_secs(uptime)))
                    testid="health-uptime"
                />
                <Stat
                    label="Success rate"
                    value=format::percent(health.success_rate)
                    hint=format!("All time; {} over the last {}", format::percent(health.recent_success_rate), format::quantity(health.recent_executions, "execution", "executions"))
                    testid="health-success-rate"
                />
                <Stat
                    label="Executions"
                    value=format::count(health.total_workflow_executions)
                    hint=format!(
                        "{} succeeded, {} failed",
                        health.successful_executions,
                        health.failed_executions,
                    )
                    testid="health-executions"
                />
                <Stat
                    label="Active workflows"
                    value=Signal::derive(move || active().to_string())
                    testid="health-active-workflows"
                />
                <Stat
                    label="Routines enabled"
                    value=Signal::derive(move || format!("{} / {total_routines}", routines()))
                />
                <Stat
                    label="Pending approvals"
                    value=Signal::derive(move || approvals().to_string())
                />
            </div>
        </section>
    }
}
