//! Shiioo's dashboard, rendered on the server (`ssr`) and hydrated in the
//! browser (`hydrate`). The JSON shapes it reads are the `wire` crate's.

pub mod api;
pub mod components;
pub mod live;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::components::layout::Layout;
use crate::pages::{
    alerts::AlertsPage,
    approvals::ApprovalsPage,
    metrics::MetricsPage,
    models::ModelsPage,
    not_found::NotFound,
    overview::Overview,
    routines::RoutinesPage,
    run::RunPage,
    steps::StepsPage,
    timeline::TimelinePage,
    traces::{TraceDetail, TracesPage},
    workflows::{WorkflowDetail, WorkflowsPage},
};

/// A page whose WebAssembly trapped (a bug) can no longer update anything,
/// its live badge included: this plain script, outside the client, marks
/// the badge "stopped" so that a dead page never claims to be live.
const STOPPED_WATCH: &str = r#"(function(){
function trapped(x){return (typeof WebAssembly!=="undefined"&&x instanceof WebAssembly.RuntimeError)||/unreachable|RuntimeError|panicked/.test(String((x&&x.message)||x));}
function stopped(){var l=document.querySelector(".link");if(!l||l.dataset.state==="stopped")return;l.dataset.state="stopped";l.title="The page stopped after an error in its script; reload it to go live again";var t=l.querySelector(".link-label");if(t)t.textContent="stopped: reload";}
addEventListener("error",function(e){if(trapped(e.error||e.message))stopped();});
addEventListener("unhandledrejection",function(e){if(trapped(e.reason))stopped();});
})();"#;

/// The HTML document around the app, rendered by the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <script inner_html=STOPPED_WATCH></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    live::provide_live();
    crate::components::access::provide_access();

    view! {
        <Stylesheet id="leptos" href="/pkg/shiioo.css"/>
        <Title formatter=|page: String| format!("{page} · Shiioo")/>
        // Async SSR: pages wait for their (in-memory, fast) data before the
        // first byte, so the HTML is complete without JavaScript; streamed
        // Suspense fragments would need a script to be swapped in.
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Overview ssr=SsrMode::Async/>
                    <Route path=path!("/workflows") view=WorkflowsPage ssr=SsrMode::Async/>
                    <Route path=path!("/workflows/:id") view=WorkflowDetail ssr=SsrMode::Async/>
                    <Route path=path!("/steps") view=StepsPage ssr=SsrMode::Async/>
                    <Route path=path!("/traces") view=TracesPage ssr=SsrMode::Async/>
                    <Route path=path!("/traces/:run_id") view=TraceDetail ssr=SsrMode::Async/>
                    <Route path=path!("/timeline") view=TimelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/models") view=ModelsPage ssr=SsrMode::Async/>
                    <Route path=path!("/metrics") view=MetricsPage ssr=SsrMode::Async/>
                    <Route path=path!("/run") view=RunPage ssr=SsrMode::Async/>
                    <Route path=path!("/routines") view=RoutinesPage ssr=SsrMode::Async/>
                    <Route path=path!("/approvals") view=ApprovalsPage ssr=SsrMode::Async/>
                    <Route path=path!("/alerts") view=AlertsPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}
