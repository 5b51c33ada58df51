use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty::Empty;

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    view! {
        <Title text="Workflows"/>
        <h1>"Workflows"</h1>
        <section class="card">
            <Empty title="No workflow has run yet">
                "Each workflow's executions, success rate, p95 and recent runs show up here "
                "once it has run. Submit one with " <code>"POST /api/jobs"</code> "."
            </Empty>
        </section>
    }
}
