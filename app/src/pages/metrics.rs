use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty::Empty;

#[component]
pub fn MetricsPage() -> impl IntoView {
    view! {
        <Title text="Metrics"/>
        <h1>"Metrics"</h1>
        <section class="card">
            <Empty title="No metrics recorded yet">
                "Counters, gauges and histograms from " <code>"/api/metrics"</code>
                " are shown here once the engine records them."
            </Empty>
        </section>
    }
}
