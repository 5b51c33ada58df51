use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api;
use crate::components::charts::PercentileBars;
use crate::components::empty::Empty;
use crate::components::filters::{on_previous, use_window, Delta, RangePicker, WorkflowSelect};
use crate::live::use_live;
use crate::pages::workflows::SortHeader;
use wire::format;
use wire::StepStats;

const COLUMNS: [(&str, &str); 12] = [
    ("step", "Step"),
    ("workflow", "Workflow"),
    ("executions", "Executions"),
    ("failures", "Failures"),
    ("retries", "Retries"),
    ("avg", "Avg"),
    ("p50", "p50"),
    ("p95", "p95"),
    ("p99", "p99"),
    // Time waiting for a concurrency slot, apart from the run time.
    ("queued", "Queued"),
    ("tokens", "Tokens"),
    ("cost", "Cost"),
];

fn sort(rows: &mut [StepStats], key: &str, descending: bool) {
    rows.sort_by(|a, b| {
        let order = match key {
            "step" => a.step_id.cmp(&b.step_id),
            "executions" => a.execution_count.cmp(&b.execution_count),
            "failures" => a.failure_count.cmp(&b.failure_count),
            "retries" => a.retry_count.cmp(&b.retry_count),
            "avg" => format::cmp_figures(a.avg_duration_secs, b.avg_duration_secs),
            "p50" => format::cmp_figures(a.p50_duration_secs, b.p50_duration_secs),
            "p95" => format::cmp_figures(a.p95_duration_secs, b.p95_duration_secs),
            "p99" => format::cmp_figures(a.p99_duration_secs, b.p99_duration_secs),
            "queued" => format::cmp_figures(a.avg_queued_secs, b.avg_queued_secs),
            "tokens" => a.tokens().cmp(&b.tokens()),
            "cost" => format::cmp_figures(a.total_cost_usd, b.total_cost_usd),
            _ => (&a.workflow_id, &a.step_id).cmp(&(&b.workflow_id, &b.step_id)),
        };
        if descending {
            order.reverse()
        } else {
            order
        }
    });
}

#[component]
pub fn StepsPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let workflow = move || query.read().get("workflow_id").filter(|w| !w.is_empty());
    let window = use_window();
    let since = move || window.read().since.clone();
    let until = move || window.read().until.clone();
    let steps = api::resource(
        move || (workflow(), window.get(), live.version.get()),
        |(w, window, _)| api::steps(w, window),
    );
    // The period before, of the same length, for "p95 … +12 %".
    let previous = api::resource(
        move || (workflow(), window.get(), live.version.get()),
        |(w, window, _)| async move { on_previous(&window, |before| api::steps(w, before)).await },
    );
    // Loaded once: refetching it live would re-render the form and drop a
    // choice not yet submitted; the select adds new workflows itself.
    let workflows = api::resource(|| (), |_| api::workflows());
    let sort_key = move || {
        query
            .read()
            .get("sort")
            .unwrap_or_else(|| "workflow".into())
    };
    let descending = move || query.read().get("dir").is_some_and(|d| d == "desc");
    view! {
        <Title text="Steps"/>
        <h1>"Steps"</h1>
        <section class="card">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let current = workflow().unwrap_or_default();
                    let workflows = workflows.await;
                    let keep: Vec<(String, String)> = ["workflow_id", "sort", "dir"]
                        .into_iter()
                        .filter_map(|k| Some((k.to_string(), query.read().get(k)?)))
                        .collect();
                    view! {
                        <Form method="GET" action="/steps" attr:class="filters">
                            <WorkflowSelect workflows=workflows current=current testid="steps-workflow-filter"/>
                            {since().map(|s| view! { <input type="hidden" name="since" value=s/> })}
                            {until().map(|u| view! { <input type="hidden" name="until" value=u/> })}
                            <button class="button" type="submit">"Filter"</button>
                        </Form>
                        <RangePicker path="/steps" current=since().unwrap_or_default() keep=keep/>
                    }
                })}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match steps.await {
                        Ok(list) if list.steps.is_empty() && since().is_some() => view! {
                            <Empty title="No step executed in this range">
                                "Pick a longer range above, or All time."
                            </Empty>
                        }.into_any(),
                        Ok(list) if list.steps.is_empty() => view! {
                            <Empty title="No step has executed yet">
                                "Per-step p50, p95 and p99 durations, retries and failures appear here as workflows run."
                            </Empty>
                        }.into_any(),
                        Ok(mut list) => {
                            let (key, desc) = (sort_key(), descending());
                            sort(&mut list.steps, &key, desc);
                            let scale = list.steps.iter().filter_map(|s| s.p99_duration_secs).fold(0.0, f64::max);
                            let extra = workflow().map(|w| format!("&workflow_id={w}")).unwrap_or_default()
                                + &since().map(|s| format!("&since={}", api::encode(&s))).unwrap_or_default()
                                + &until().map(|u| format!("&until={}", api::encode(&u))).unwrap_or_default();
                            let before: std::collections::HashMap<(String, String), f64> = previous
                                .await
                                .ok()
                                .flatten()
                                .map(|l| {
                                    l.steps
                                        .into_iter()
                                        .filter_map(|s| Some(((s.workflow_id, s.step_id), s.p95_duration_secs?)))
                                        .collect()
                                })
                                .unwrap_or_default();
                            view! {
                                <div class="table-wrap">
                                    <table class="table" data-testid="steps-table">
                                        <thead>
                                            <tr>
                                                {COLUMNS.into_iter().map(|(k, label)| view! {
                                                    <SortHeader key=k label=label current=key.clone() descending=desc extra=extra.clone()/>
                                                }).collect_view()}
                                                <th>"p50 · p95 · p99"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list.steps.into_iter().map(|s| {
                                                let then = before.get(&(s.workflow_id.clone(), s.step_id.clone())).copied();
                                                view! {
                                                <tr data-step=s.step_id.clone()>
                                                    <td><strong>{s.step_id.clone()}</strong></td>
                                                    <td><a href=format!("/workflows/{}", s.workflow_id)>{s.workflow_id.clone()}</a></td>
                                                    <td class="num">{format::count(s.execution_count)}</td>
                                                    <td class="num" class:bad={s.failure_count > 0}>{format::count(s.failure_count)}</td>
                                                    <td class="num" class:warn={s.retry_count > 0}>{format::count(s.retry_count)}</td>
                                                    <td class="num">{format::maybe_duration(s.avg_duration_secs)}</td>
                                                    <td class="num">{format::maybe_duration(s.p50_duration_secs)}</td>
                                                    <td class="num">
                                                        {format::maybe_duration(s.p95_duration_secs)}
                                                        <Delta now=s.p95_duration_secs before=then/>
                                                    </td>
                                                    <td class="num">{format::maybe_duration(s.p99_duration_secs)}</td>
                                                    <td class="num" title="average wait for a concurrency slot">{format::maybe_duration(s.avg_queued_secs)}</td>
                                                    <td class="num" title=format!("{} in · {} out; p95 {} an execution", format::count(s.total_input_tokens), format::count(s.total_output_tokens), s.p95_tokens.map(format::count).unwrap_or_else(|| "—".into()))>{format::tokens(s.tokens())}</td>
                                                    <td class="num" class:muted=s.total_cost_usd.is_none()>{format::spend(s.total_cost_usd, s.tokens())}</td>
                                                    <td class="pcell"><PercentileBars p50=s.p50_duration_secs p95=s.p95_duration_secs p99=s.p99_duration_secs scale=scale/></td>
                                                </tr>
                                                }
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
