use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty::Empty;

#[component]
pub fn StepsPage() -> impl IntoView {
    view! {
        <Title text="Steps"/>
        <h1>"Steps"</h1>
        <section class="card">
            <Empty title="No step has executed yet">
                "Per-step p50, p95 and p99 durations, retries and failures appear here "
                "as workflows run."
            </Empty>
        </section>
    }
}
