//! Routines: scheduled workflows, their next fires and last runs.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::empty::Empty;
use crate::components::status::{ChangedBy, RelTime};
use crate::components::toggle::EnableToggle;
use crate::live::use_live;
use wire::RoutineView;

#[component]
pub fn RoutinesPage() -> impl IntoView {
    let live = use_live();
    let refresh = RwSignal::new(0u64);
    let routines = api::resource(
        move || (live.version.get(), refresh.get()),
        |_| api::routines(),
    );
    view! {
        <Title text="Routines"/>
        <h1>"Routines"</h1>
        <section class="card">
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match routines.await {
                        Ok(list) if list.routines.is_empty() => view! {
                            <Empty title="No routine yet">
                                "A routine runs a job on a cron schedule. Create one with "
                                <code>"POST /api/routines"</code>
                                " (name, cron, timezone, job_id or workflow) — see the README."
                            </Empty>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="table" data-testid="routines-table">
                                    <thead>
                                        <tr>
                                            <th>"Routine"</th><th>"Schedule"</th><th>"Next runs"</th>
                                            <th>"Last runs"</th><th>"Changed"</th><th>"State"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.routines.into_iter().map(|r| view! { <RoutineRow r=r refresh=refresh/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn RoutineRow(r: RoutineView, refresh: RwSignal<u64>) -> impl IntoView {
    let id = r.routine_id.clone();
    let enabled = r.enabled;
    let set = move |on: bool| api::set_routine_enabled(id.clone(), on);
    view! {
        <tr data-routine=r.routine_id.clone()>
            <td>
                <strong>{r.name.clone()}</strong>
                <div class="small"><a href=format!("/workflows/{}", r.workflow_id)>{r.workflow_id.clone()}</a></div>
            </td>
            <td><code>{r.cron.clone()}</code> <span class="muted small">{r.timezone.clone()}</span></td>
            <td>
                {if r.next_fires.is_empty() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    r.next_fires.iter().take(3).map(|at| view! { <div class="small"><RelTime at=*at/></div> }).collect_view().into_any()
                }}
            </td>
            <td>
                <span class="pips">
                    {r.history.iter().rev().map(|f| {
                        let status = f.status.map(|s| s.as_str()).unwrap_or("Pending");
                        view! { <a class="pip" data-status=status href=format!("/traces/{}", f.run_id) title=format!("{status}{}", if f.missed { " (missed, run at start-up)" } else { "" })></a> }
                    }).collect_view()}
                </span>
            </td>
            <td class="small" data-testid="routine-changed"><ChangedBy at=Some(r.updated_at) by=r.updated_by.clone()/></td>
            <td><EnableToggle enabled testid="routine-toggle" set refresh/></td>
        </tr>
    }
}
