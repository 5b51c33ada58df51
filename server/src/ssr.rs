//! The dashboard: Leptos renders every page on the server with real data, and
//! serves the compiled WASM client that hydrates it.

use std::sync::{Arc, OnceLock};

use app::api::{Backend, BackendContext, ListQuery};
use app::{shell, App};
use axum::extract::FromRef;
use axum::Router;
use futures::future::BoxFuture;
use futures::FutureExt;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use wire::{
    AlertHistory, AlertList, AlertRuleList, ApiError, ApprovalList, BottleneckReport, HealthStatus,
    JobList, JobQuery, MetricsSnapshot, RoutineList, RunList, StepStatsList, Throughput, Trace,
    TraceList, WorkflowStats, WorkflowStatsList,
};

use crate::state::AppState;
use crate::telemetry::render::{self, Selector};
use crate::views::alerts;
use crate::views::runs::RunsQuery;
use crate::views::traces::{find_trace, trace_list};

/// What pages read while rendering: the same projections the API serves,
/// through the same functions.
struct ServerBackend {
    state: AppState,
}

fn runs_query(q: &ListQuery) -> RunsQuery {
    RunsQuery {
        status: q.status.clone(),
        workflow_id: q.workflow_id.clone(),
        limit: q.limit,
        ..RunsQuery::default()
    }
}

impl Backend for ServerBackend {
    fn health(&self) -> HealthStatus {
        self.state.health()
    }

    fn workflows(&self) -> WorkflowStatsList {
        WorkflowStatsList {
            workflows: self
                .state
                .engine
                .journal()
                .read(|m| m.analytics.workflows()),
        }
    }

    fn workflow(&self, workflow_id: &str) -> Option<WorkflowStats> {
        self.state
            .engine
            .journal()
            .read(|m| m.analytics.workflow(workflow_id))
    }

    fn steps(&self, workflow_id: Option<&str>) -> StepStatsList {
        StepStatsList {
            steps: self
                .state
                .engine
                .journal()
                .read(|m| m.analytics.steps(workflow_id)),
        }
    }

    fn steps_in(
        &self,
        workflow_id: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<StepStatsList, wire::ApiError> {
        let range =
            crate::views::range::parse(since, until, chrono::Utc::now()).map_err(|f| f.body)?;
        Ok(StepStatsList {
            steps: self
                .state
                .engine
                .journal()
                .read(|m| m.analytics.steps_in(workflow_id, range)),
        })
    }

    fn bottlenecks(&self, workflow_id: &str) -> Option<BottleneckReport> {
        self.state
            .engine
            .journal()
            .read(|m| m.analytics.bottlenecks(workflow_id))
    }

    fn runs(&self, query: ListQuery) -> BoxFuture<'static, Result<RunList, ApiError>> {
        let state = self.state.clone();
        async move {
            crate::views::runs::run_list(state.engine.journal(), &runs_query(&query))
                .await
                .map_err(|f| f.body)
        }
        .boxed()
    }

    fn jobs(&self, query: JobQuery) -> BoxFuture<'static, Result<JobList, ApiError>> {
        let state = self.state.clone();
        async move {
            crate::views::jobs::job_list(state.engine.journal(), &query)
                .await
                .map_err(|f| f.body)
        }
        .boxed()
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.state.sample_gauges();
        render::snapshot(&self.state.metrics, &Selector::default())
    }

    fn throughput(&self) -> Throughput {
        self.state
            .engine
            .journal()
            .read(|m| m.analytics.throughput(chrono::Utc::now()))
    }

    fn routines(&self) -> RoutineList {
        self.state
            .engine
            .journal()
            .read(crate::views::routines::routines)
    }

    fn approvals(&self) -> ApprovalList {
        self.state
            .engine
            .journal()
            .read(|m| crate::views::approvals::approvals(m, None))
    }

    fn alerts(&self) -> AlertList {
        // The default query (active alerts) cannot be refused.
        self.state
            .engine
            .journal()
            .read(|m| alerts::alert_list(m, &Default::default(), chrono::Utc::now()))
            .unwrap_or_default()
    }

    fn alert_rules(&self) -> AlertRuleList {
        AlertRuleList {
            rules: self.state.engine.journal().read(|m| m.alerts.rule_list()),
        }
    }

    fn alert_history(&self, limit: usize) -> AlertHistory {
        let q = alerts::HistoryQuery {
            limit: Some(limit),
            rule: None,
        };
        self.state
            .engine
            .journal()
            .read(|m| alerts::history(m, &q))
            .unwrap_or_default()
    }

    fn traces(&self, query: ListQuery) -> BoxFuture<'static, Result<TraceList, ApiError>> {
        let state = self.state.clone();
        async move {
            trace_list(state.engine.journal(), &runs_query(&query))
                .await
                .map(|traces| TraceList { traces })
                .map_err(|f| f.body)
        }
        .boxed()
    }

    fn trace(&self, run_id: String) -> BoxFuture<'static, Result<Option<Trace>, ApiError>> {
        let state = self.state.clone();
        async move {
            find_trace(state.engine.journal(), &run_id)
                .await
                .map_err(|f| f.body)
        }
        .boxed()
    }
}

/// The app's routes, generated once per process.
///
/// Generating them renders the app with resource loading suppressed through
/// a process-wide flag in leptos_server (leptos issue #4773): a resource first
/// polled by a concurrent render while that flag is up never resolves. One
/// generation, before any server of this process serves, rules that out even
/// when tests run several servers side by side.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: OnceLock<Vec<leptos_axum::AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The dashboard: its pages over the server's projections, the compiled
/// client under `/pkg`, and the 404 page for the rest.
pub fn routes(state: &AppState) -> Router<AppState> {
    let backend = Arc::new(ServerBackend {
        state: state.clone(),
    });
    let options = &state.leptos_options;
    let pkg_dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    pages(state, backend)
        .nest("/pkg", crate::assets::pkg_service(&pkg_dir))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}

/// Every page, rendered over `backend`: the server's projections when
/// serving, generated data in the rendering tests.
pub fn pages<S>(state: &S, backend: Arc<dyn Backend>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    LeptosOptions: FromRef<S>,
{
    let backend = BackendContext(backend);
    let options = LeptosOptions::from_ref(state);
    Router::new()
        .leptos_routes_with_context(
            state,
            route_list(),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .route_layer(crate::panics::layer(crate::panics::Answer::Page))
}
