//! The Models page: every provider's model the agents called, with its
//! calls, error rate, tokens, cost, latency and time to first token, over
//! the picked range, its cost and p95 beside the previous period's.
//! Simulated figures are marked as drawn, and a cost the price table cannot
//! give says "unknown".

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::empty::Empty;
use crate::components::filters::{on_previous, use_window, Delta, RangePicker};
use crate::live::use_live;
use wire::format;
use wire::ModelStats;

#[component]
pub fn ModelsPage() -> impl IntoView {
    let live = use_live();
    let window = use_window();
    let models = api::resource(
        move || (window.get(), live.version.get()),
        |(w, _)| api::models(w),
    );
    // The period before, of the same length, for "p95 … +12 %".
    let previous = api::resource(
        move || (window.get(), live.version.get()),
        |(w, _)| async move { on_previous(&w, api::models).await },
    );
    view! {
        <Title text="Models"/>
        <h1>"Models"</h1>
        <section class="card">
            {move || view! { <RangePicker path="/models" current=window.read().since.clone().unwrap_or_default() keep=Vec::new()/> }}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match models.await {
                        Ok(list) if list.models.is_empty() => view! {
                            <Empty title="No agent call yet">
                                "Each model the agents call shows here with its calls, tokens, cost, latency and time to first token. "
                                <a href="/run">"Run a workflow"</a> "."
                            </Empty>
                        }.into_any(),
                        Ok(list) => {
                            let simulated = list.models.iter().any(|m| m.provider == "simulated");
                            let mut before: std::collections::HashMap<(String, String), ModelStats> = previous
                                .await
                                .ok()
                                .flatten()
                                .map(|l| l.models.into_iter().map(|m| ((m.provider.clone(), m.model.clone()), m)).collect())
                                .unwrap_or_default();
                            view! {
                                <div class="table-wrap">
                                    <table class="table" data-testid="models-table">
                                        <thead>
                                            <tr>
                                                <th>"Model"</th>
                                                <th class="num">"Calls"</th>
                                                <th class="num">"Errors"</th>
                                                <th class="num">"Input"</th>
                                                <th class="num">"Output"</th>
                                                <th class="num">"Cost"</th>
                                                <th class="num">"p50"</th>
                                                <th class="num">"p95"</th>
                                                <th class="num">"p99"</th>
                                                <th class="num" title="time to first token, streamed answers">"TTFT p50 · p95"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list.models.into_iter().map(|m| {
                                                let before = before.remove(&(m.provider.clone(), m.model.clone()));
                                                view! { <ModelRow m=m before=before/> }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {simulated.then(|| view! {
                                    <p class="muted small" data-testid="models-simulated">
                                        "Figures of the " <span class="tag sim">"simulated"</span>
                                        " provider are drawn by the simulated agents, not measured on a model."
                                    </p>
                                })}
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
fn ModelRow(m: ModelStats, before: Option<ModelStats>) -> impl IntoView {
    let then = |f: fn(&ModelStats) -> Option<f64>| before.as_ref().and_then(f);
    let simulated = m.provider == "simulated";
    let ttft = match (
        m.p50_time_to_first_token_secs,
        m.p95_time_to_first_token_secs,
    ) {
        (None, None) => "—".to_string(),
        (p50, p95) => format!(
            "{} · {}",
            format::maybe_duration(p50),
            format::maybe_duration(p95)
        ),
    };
    view! {
        <tr data-model=m.model.clone() data-provider=m.provider.clone()>
            <td>
                <strong>{m.model.clone()}</strong>
                " "
                <span class="tag" class:sim=simulated>{m.provider.clone()}</span>
            </td>
            <td class="num">{format::count(m.calls)}</td>
            <td class="num" class:bad={m.failures > 0}>{format::percent(m.error_rate)}</td>
            <td class="num">{format::tokens(m.total_input_tokens)}</td>
            <td class="num">{format::tokens(m.total_output_tokens)}</td>
            <td class="num" class:muted=m.total_cost_usd.is_none() title=m.total_cost_usd.is_none().then_some("the price table does not know this model")>
                {format::usd(m.total_cost_usd)}
                " " <Delta now=m.total_cost_usd before=then(|b| b.total_cost_usd)/>
            </td>
            <td class="num">{format::maybe_duration(m.p50_duration_secs)}</td>
            <td class="num">{format::maybe_duration(m.p95_duration_secs)} " " <Delta now=m.p95_duration_secs before=then(|b| b.p95_duration_secs)/></td>
            <td class="num">{format::maybe_duration(m.p99_duration_secs)}</td>
            <td class="num">{ttft}</td>
        </tr>
    }
}
