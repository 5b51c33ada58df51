use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{self, ListQuery};
use crate::components::empty::Empty;
use crate::components::filters::{RangePicker, WorkflowSelect};
use crate::components::status::{RelTime, StatusBadge};
use crate::components::trace_view::{Dag, Waterfall};
use crate::live::use_live;
use crate::pages::overview::TraceTable;
use wire::format;

const STATUSES: [&str; 6] = [
    "Running",
    "Completed",
    "Failed",
    "Cancelled",
    "Interrupted",
    "Pending",
];

#[component]
pub fn TracesPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        ListQuery {
            status: q.get("status").filter(|s| !s.is_empty()),
            workflow_id: q.get("workflow_id").filter(|s| !s.is_empty()),
            since: q.get("since").filter(|s| !s.is_empty()),
            until: q.get("until").filter(|s| !s.is_empty()),
            ..ListQuery::default()
        }
    };
    let traces = api::resource(
        move || (filters(), live.version.get()),
        |(f, _)| api::traces(f),
    );
    // Loaded once: refetching it live would re-render the form and drop a
    // choice not yet submitted; the select adds new workflows itself.
    let workflows = api::resource(|| (), |_| api::workflows());
    view! {
        <Title text="Traces"/>
        <h1>"Traces"</h1>
        <section class="card">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let workflows = workflows.await;
                    let f = filters();
                    let keep: Vec<(String, String)> = [("status", f.status.clone()), ("workflow_id", f.workflow_id.clone())]
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v?)))
                        .collect();
                    let since = f.since.clone();
                    let hidden = since.clone().map(|s| view! { <input type="hidden" name="since" value=s/> });
                    let (status, workflow) = (f.status.unwrap_or_default(), f.workflow_id.unwrap_or_default());
                    view! {
                        <Form method="GET" action="/traces" attr:class="filters">
                            <label>
                                "Status "
                                <select name="status" data-testid="traces-status-filter">
                                    <option value="" selected=status.is_empty()>"Any status"</option>
                                    {STATUSES.into_iter().map(|s| view! { <option value=s selected=status == s>{s}</option> }).collect_view()}
                                </select>
                            </label>
                            <WorkflowSelect workflows=workflows current=workflow testid="traces-workflow-filter"/>
                            {hidden}
                            <button class="button" type="submit">"Filter"</button>
                        </Form>
                        <RangePicker path="/traces" current=since.unwrap_or_default() keep=keep/>
                    }
                })}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match traces.await {
                        Ok(list) if list.traces.is_empty() && filters().since.is_some() => view! {
                            <Empty title="No run was active in this range">
                                "Pick a longer range above, or All time."
                            </Empty>
                        }.into_any(),
                        Ok(list) if list.traces.is_empty() => view! {
                            <Empty title="No traces match">
                                "Every run leaves a trace: its steps on a time axis, each attempt, and its bottleneck. "
                                "The 50 most recent are listed here."
                            </Empty>
                        }.into_any(),
                        Ok(list) => view! { <TraceTable traces=list.traces/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn TraceDetail() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let run_id = move || params.read().get("run_id").unwrap_or_default();
    // Refetched whenever the live link reports a change to this run: a
    // running trace grows in place.
    let trace = api::resource(
        move || (run_id(), live.run_tick(&run_id())),
        |(id, _)| api::trace(id),
    );
    // What a spent budget asks before the run may go on.
    let asks = api::resource(
        move || (run_id(), live.run_tick(&run_id())),
        |(id, _)| async move {
            api::pending_approvals().await.map(|l| {
                l.approvals
                    .into_iter()
                    .filter(|a| a.run_id == id && a.reason.is_some())
                    .collect::<Vec<_>>()
            })
        },
    );
    view! {
        <Title text=move || format!("Trace {}", run_id())/>
        <p class="crumbs"><a href="/traces">"Traces"</a> " / "</p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let asks = asks.await.unwrap_or_default();
                match trace.await {
                    Ok(Some(t)) => {
                        let now = ticking_now(live, &t);
                        let running = t.completed_at.is_none();
                        let elapsed = {
                            let (started, duration) = (t.started_at, t.duration_secs);
                            move || match (started, running) {
                                (Some(from), true) => Some(crate::components::trace_view::seconds_between(from, now.get())),
                                _ => duration,
                            }
                        };
                        let live_progress = {
                            let id = t.run_id.clone();
                            let initial = t.progress;
                            move || live.runs.with(|m| m.get(&id).map(|r| r.progress)).unwrap_or(initial)
                        };
                        view! {
                            <h1>{t.job_name.clone()} " " <span class="muted mono">{t.run_id.clone()}</span></h1>
                            <section class="card">
                                <div class="stats inline">
                                    <div class="stat"><div class="stat-value"><StatusBadge status=t.status.as_str()/></div><div class="stat-label">"Status"</div></div>
                                    <div class="stat"><div class="stat-value" data-testid="trace-progress">{move || format::percent(live_progress())}</div><div class="stat-label">"Progress"</div></div>
                                    <div class="stat"><div class="stat-value" data-testid="trace-duration">{move || elapsed().map(format::duration).unwrap_or_else(|| "—".into())}</div><div class="stat-label">{if running { "Elapsed" } else { "Duration" }}</div></div>
                                    <div class="stat"><div class="stat-value"><a href=format!("/workflows/{}", t.workflow_id)>{t.workflow_id.clone()}</a></div><div class="stat-label">"Workflow"</div></div>
                                    <div class="stat"><div class="stat-value">{t.started_at.map(|at| view! { <RelTime at=at/> }.into_any()).unwrap_or_else(|| view! { "—" }.into_any())}</div><div class="stat-label">"Started"</div></div>
                                    {t.created_by.clone().map(|by| view! { <div class="stat"><div class="stat-value who" data-testid="trace-created-by">{by}</div><div class="stat-label">"Started by"</div></div> })}
                                    {t.cancelled_by.clone().map(|by| view! { <div class="stat"><div class="stat-value who" data-testid="trace-cancelled-by">{by}</div><div class="stat-label">"Cancelled by"</div></div> })}
                                    {(t.budget.is_some() || t.cost_usd.is_some()).then(|| {
                                        let label = match &t.budget {
                                            Some(b) if b.on_exceed == wire::OnExceed::Approval => format!("Spent of {} budget, more on approval", format::usd(Some(b.max_cost_usd))),
                                            Some(b) => format!("Spent of {} budget", format::usd(Some(b.max_cost_usd))),
                                            None => "Spent".to_string(),
                                        };
                                        let over = t.budget.as_ref().zip(t.cost_usd).is_some_and(|(b, c)| c >= b.max_cost_usd);
                                        view! { <div class="stat" title="agent calls whose model the price table knows"><div class="stat-value" class:bad=over data-testid="trace-spent">{format::usd(t.cost_usd)}</div><div class="stat-label">{label}</div></div> }
                                    })}
                                    {t.trace_id.clone().map(|id| view! { <div class="stat" title="its OpenTelemetry trace id: the caller's when POST /api/jobs came with a traceparent; the spans exported with --otlp-endpoint carry it"><div class="stat-value mono trace-id" data-testid="trace-otel-id">{id}</div><div class="stat-label">"Trace id"</div></div> })}
                                    {t.approval_wait_secs.map(|w| view! { <div class="stat" title="time its approval steps waited for people, apart from the work"><div class="stat-value" data-testid="trace-approval-wait">{format::duration(w)}</div><div class="stat-label">"Waiting for approval"</div></div> })}
                                </div>
                                {asks.into_iter().map(|a| view! {
                                    <p class="callout warn" data-testid="trace-budget-ask">
                                        "Waiting for approval to spend more before " <strong>{a.step_id}</strong> ": " {a.reason}
                                        " · " <a href="/approvals">"Approvals"</a>
                                    </p>
                                }).collect_view()}
                                {t.bottleneck.clone().map(|b| {
                                    // An approval's time is people's, not work's: say so.
                                    let approval = t.steps.iter().any(|s| s.step_id == b.step_id && s.kind.is_approval());
                                    view! {
                                        <p class="callout">
                                            "Bottleneck: " <strong>{b.step_id}</strong>
                                            {if approval { " waited " } else { " took " }} {format::duration(b.duration_secs)}
                                            {approval.then_some(" for approval")}
                                            ", " {format::percent(b.percentage_of_total)} " of the run."
                                        </p>
                                    }
                                })}
                            </section>
                            <section class="card">
                                <h2>"Waterfall"</h2>
                                <Waterfall trace=t.clone() now=now/>
                            </section>
                            <section class="card">
                                <h2>"Steps and dependencies"</h2>
                                <div class="dag-wrap"><Dag trace=t.clone()/></div>
                                {(!t.critical_path.is_empty()).then(|| view! {
                                    <p class="muted">"Critical path: " {t.critical_path.join(" → ")}</p>
                                })}
                            </section>
                        }.into_any()
                    }
                    Ok(None) => {
                        crate::pages::not_found::answer_not_found();
                        view! {
                        <h1>"Trace not found"</h1>
                        <section class="card"><Empty title="No run with this id">"It may have been mistyped. " <a href="/traces">"All traces"</a></Empty></section>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The time a trace is drawn at: the server's clock when it answered (its
/// start plus the elapsed time it reported), advanced by the browser's
/// clock while the run is in flight, so bars and the elapsed time move
/// between updates. Server and browser render the same first frame.
fn ticking_now(live: crate::live::Live, t: &wire::Trace) -> Signal<chrono::DateTime<Utc>> {
    let answered_at = t
        .started_at
        .zip(t.duration_secs)
        .and_then(|(start, secs)| start.checked_add_signed(wire::format::secs_to_delta(secs)))
        .or(t.completed_at)
        .unwrap_or_else(Utc::now);
    if t.completed_at.is_some() {
        return Signal::stored(answered_at);
    }
    // 0 while hydrating: then the page's first frame is the reference.
    let fetched_ms = live.now_ms.get_untracked();
    Signal::derive(move || {
        let now_ms = live.now_ms.get();
        if now_ms <= 0.0 {
            return answered_at;
        }
        let since = if fetched_ms > 0.0 {
            fetched_ms
        } else {
            live.started_ms.get_untracked()
        };
        answered_at
            .checked_add_signed(chrono::Duration::milliseconds(
                (now_ms - since).max(0.0) as i64
            ))
            .unwrap_or(answered_at)
    })
}
