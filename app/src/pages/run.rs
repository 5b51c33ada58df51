use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::access::may;
use crate::components::status::RelTime;
use crate::live::use_live;
use wire::format;
use wire::ApiError;

/// The guide's example job, ready to run.
pub const EXAMPLE_JOB: &str = r#"{
  "name": "Monthly Report Generation",
  "workflow": {
    "steps": [
      {"id": "fetch_data", "name": "Fetch Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Fetch monthly data"}}},
      {"id": "analyze_data", "name": "Analyze Data", "role": "data_analyst", "action": {"agent_task": {"prompt": "Analyze the data"}}},
      {"id": "generate_charts", "name": "Generate Charts", "role": "visualization_agent", "action": {"agent_task": {"prompt": "Create visualizations"}}},
      {"id": "create_report", "name": "Create Report", "role": "report_writer", "action": {"agent_task": {"prompt": "Write final report"}}}
    ],
    "dependencies": {
      "analyze_data": ["fetch_data"],
      "generate_charts": ["analyze_data"],
      "create_report": ["generate_charts"]
    }
  },
  "execute": true
}"#;

/// Jobs listed to run again, newest first.
const KNOWN_JOBS: usize = 20;

#[component]
pub fn RunPage() -> impl IntoView {
    let live = use_live();
    let navigate = use_navigate();
    let body = RwSignal::new(EXAMPLE_JOB.to_string());
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let jobs = api::resource(move || live.version.get(), |_| api::jobs(None, KNOWN_JOBS));

    let go = {
        let navigate = navigate.clone();
        move |created: wire::JobCreated| match created.run_id {
            Some(run) => navigate(&format!("/traces/{run}"), Default::default()),
            None => notice.set(Some(format!(
                "Stored job {} ({}). Start it from the list below.",
                created.job_id, created.workflow_id
            ))),
        }
    };
    let submit = {
        let go = go.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let go = go.clone();
            busy.set(true);
            error.set(None);
            notice.set(None);
            leptos::task::spawn_local(async move {
                match api::submit_job(body.get_untracked()).await {
                    Ok(created) => go(created),
                    Err(e) => error.set(Some(e)),
                }
                busy.set(false);
            });
        }
    };
    let rerun = move |job_id: String| {
        let go = go.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::run_job(job_id).await {
                Ok(created) => go(created),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <Title text="Run a workflow"/>
        <h1>"Run a workflow"</h1>
        <div class="grid-2 wide-left">
            <section class="card">
                <h2>"Job"</h2>
                <p class="muted">
                    "The body of " <code>"POST /api/jobs"</code> ", as in the guide. "
                    "Steps may add " <code>"timeout_secs"</code> ", " <code>"retry_policy"</code> " and "
                    <code>"simulation"</code> " (e.g. " <code>"{\"latency_ms\": [500, 1500], \"failure_rate\": 0.2}"</code> ")."
                </p>
                <form on:submit=submit class="run-form">
                    <label for="job-json" class="sr-only">"Job JSON"</label>
                    <textarea
                        id="job-json"
                        name="job"
                        rows="22"
                        spellcheck="false"
                        data-testid="job-json"
                        prop:value=move || body.get()
                        on:input=move |ev| body.set(event_target_value(&ev))
                    >
                        {EXAMPLE_JOB}
                    </textarea>
                    {move || error.get().map(|e| view! {
                        <div class="alert" data-severity="critical" role="alert" data-testid="job-error">
                            <strong>{e.error.clone()}</strong>
                            {e.field.clone().map(|f| view! { " at " <code>{f}</code> })}
                            ": " {e.message.clone()}
                        </div>
                    })}
                    {move || notice.get().map(|n| view! { <p class="callout">{n}</p> })}
                    <div class="form-actions">
                        <button class="button primary" type="submit" disabled=move || busy.get() data-testid="submit-job" hidden=move || !may("operator")()>
                            "Run"
                        </button>
                        <button class="button" type="button" on:click=move |_| body.set(EXAMPLE_JOB.to_string())>
                            "Reset to the example"
                        </button>
                        <noscript>"Submitting needs JavaScript; or POST this body to /api/jobs."</noscript>
                    </div>
                </form>
            </section>
            <section class="card">
                <h2>"Known jobs"</h2>
                <Transition fallback=|| ()>
                    {move || {
                        let rerun = rerun.clone();
                        Suspend::new(async move {
                            match jobs.await {
                                Ok(list) if list.jobs.is_empty() => view! { <p class="muted">"No job yet."</p> }.into_any(),
                                Ok(list) => view! {
                                    <ul class="jobs">
                                        {list.jobs.into_iter().map(|j| {
                                            let rerun = rerun.clone();
                                            let id = j.job_id.clone();
                                            view! {
                                                <li>
                                                    <div>
                                                        <a href=format!("/workflows/{}", j.workflow_id)>{j.name.clone()}</a>
                                                        <div class="muted small">
                                                            {format::quantity(j.run_count, "run", "runs")} " · created " <RelTime at=j.created_at/>
                                                        </div>
                                                    </div>
                                                    <button class="button" on:click=move |_| rerun(id.clone()) disabled=move || busy.get() hidden=move || !may("operator")()>"Run again"</button>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any(),
                                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                            }
                        })
                    }}
                </Transition>
            </section>
        </div>
    }
}
