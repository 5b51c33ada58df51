use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{empty::Empty, stat::Stat};
use crate::live::use_live;
use crate::wire::HealthStatus;
use crate::{api, format};

#[component]
pub fn Overview() -> impl IntoView {
    let health = Resource::new(|| (), |_| api::health());
    view! {
        <Title text="Overview"/>
        <h1>"Overview"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading health…"</p> }>
            {move || Suspend::new(async move {
                match health.await {
                    Ok(h) => view! { <HealthPanel health=h/> }.into_any(),
                    Err(e) => view! { <p class="error">"Health unavailable: " {e.to_string()}</p> }
                        .into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Running workflows"</h2>
            <Empty title="Nothing is running">
                "Runs appear here with live progress as soon as one starts. "
                "Start one with " <code>"POST /api/jobs"</code> " (see the README)."
            </Empty>
        </section>
    }
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
    view! {
        <section class="card health" aria-label="System health">
            <div class="card-head">
                <h2>"System health"</h2>
                <span class="badge" data-status=move || status().as_str() data-testid="health-status">
                    {move || status().as_str()}
                </span>
            </div>
            <div class="stats">
                <Stat
                    label="Uptime"
                    value=Signal::derive(move || format::uptime(live.uptime_secs(uptime)))
                    testid="health-uptime"
                />
                <Stat
                    label="Success rate"
                    value=format::percent(health.success_rate)
                    hint="Finished runs that succeeded"
                />
                <Stat
                    label="Executions"
                    value=health.total_workflow_executions.to_string()
                    hint=format!(
                        "{} succeeded, {} failed",
                        health.successful_executions,
                        health.failed_executions,
                    )
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
