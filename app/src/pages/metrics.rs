use leptos::prelude::*;
use leptos_meta::Title;

use crate::api;
use crate::components::charts::HistogramChart;
use crate::components::empty::Empty;
use crate::components::status::RelTime;
use crate::live::use_live;
use wire::format;

#[component]
pub fn MetricsPage() -> impl IntoView {
    let live = use_live();
    let snapshot = api::resource(move || live.version.get(), |_| api::metrics());
    view! {
        <Title text="Metrics"/>
        <div class="title-row">
            <h1>"Metrics"</h1>
            <span class="muted">
                "Also as " <a href="/api/metrics">"JSON"</a> " and for Prometheus at "
                <a href="/api/metrics/prometheus">"/api/metrics/prometheus"</a> " (or " <code>"/metrics"</code> ")"
            </span>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(s) if s.counters.is_empty() && s.gauges.is_empty() && s.histograms.is_empty() => view! {
                        <section class="card"><Empty title="No metrics recorded yet">"Counters, gauges and histograms appear as the server works."</Empty></section>
                    }.into_any(),
                    Ok(s) => view! {
                        <div>
                            <section class="card">
                                <h2>"Gauges"</h2>
                                <div class="table-wrap">
                                    <table class="table" data-testid="gauges-table">
                                        <thead><tr><th>"Name"</th><th>"Labels"</th><th class="num">"Value"</th><th>"Updated"</th></tr></thead>
                                        <tbody>
                                            {s.gauges.into_iter().map(|g| view! {
                                                <tr><td class="mono">{g.name}</td><td class="mono small">{format::labels(&g.labels)}</td><td class="num">{format!("{}", (g.value * 100.0).round() / 100.0)}</td><td><RelTime at=g.last_updated/></td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </section>
                            <section class="card">
                                <h2>"Counters"</h2>
                                <div class="table-wrap">
                                    <table class="table" data-testid="counters-table">
                                        <thead><tr><th>"Name"</th><th>"Labels"</th><th class="num">"Value"</th><th>"Updated"</th></tr></thead>
                                        <tbody>
                                            {s.counters.into_iter().map(|c| view! {
                                                <tr><td class="mono">{c.name}</td><td class="mono small">{format::labels(&c.labels)}</td><td class="num">{format::count(c.value)}</td><td><RelTime at=c.last_updated/></td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </section>
                        </div>
                        <section class="card">
                            <h2>"Histograms"</h2>
                            <div class="histograms">
                                {s.histograms.into_iter().map(|h| {
                                    let mean = if h.count > 0 { h.sum / h.count as f64 } else { 0.0 };
                                    let title = format!("{}{{{}}}", h.name, format::labels(&h.labels));
                                    view! {
                                        <figure class="histogram-card">
                                            <figcaption class="mono small" title=title.clone()>{title.clone()}</figcaption>
                                            <HistogramChart sample=h.clone()/>
                                            <div class="muted small">{format!("{} observations · mean {}", format::count(h.count), format::duration(mean))}</div>
                                        </figure>
                                    }
                                }).collect_view()}
                            </div>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
