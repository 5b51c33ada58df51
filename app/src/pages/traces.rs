use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty::Empty;

#[component]
pub fn TracesPage() -> impl IntoView {
    view! {
        <Title text="Traces"/>
        <h1>"Traces"</h1>
        <section class="card">
            <Empty title="No traces yet">
                "Every run leaves a trace: its steps on a time axis, each attempt, and its "
                "bottleneck. The 50 most recent are listed here."
            </Empty>
        </section>
    }
}
