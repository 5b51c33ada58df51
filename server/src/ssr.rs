//! The dashboard: Leptos renders every page on the server with real data, and
//! serves the compiled WASM client that hydrates it.

use std::sync::{Arc, OnceLock};

use app::api::{Backend, BackendContext, ListQuery, Window};
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
    Heatmap, JobList, JobQuery, MetricsSnapshot, ModelStatsList, RoutineList, RunList,
    StepStatsList, Throughput, Timeline, Trace, TraceList, WorkflowStats, WorkflowStatsList,
};

use crate::analytics::periods::Range;
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
        since: q.since.clone(),
        until: q.until.clone(),
        ..RunsQuery::default()
    }
}

/// A page's window as the analytics read it.
fn range(window: &Window) -> Result<Option<Range>, ApiError> {
    crate::views::range::parse(
        window.since.as_deref(),
        window.until.as_deref(),
        chrono::Utc::now(),
    )
    .map_err(|f| f.body)
}

impl ServerBackend {
    fn read<T>(&self, f: impl FnOnce(&crate::model::Model) -> T) -> T {
        self.state.engine.journal().read(f)
    }
}

impl Backend for ServerBackend {
    fn health(&self) -> HealthStatus {
        self.state.health()
    }

    fn workflows(&self, window: &Window) -> Result<WorkflowStatsList, ApiError> {
        let range = range(window)?;
        Ok(WorkflowStatsList {
            workflows: self.read(|m| m.analytics.workflows_in(range)),
        })
    }

    fn workflow(
        &self,
        workflow_id: &str,
        window: &Window,
    ) -> Result<Option<WorkflowStats>, ApiError> {
        let range = range(window)?;
        Ok(self.read(|m| m.analytics.workflow_in(workflow_id, range)))
    }

    fn steps(&self, workflow_id: Option<&str>, window: &Window) -> Result<StepStatsList, ApiError> {
        let range = range(window)?;
        Ok(StepStatsList {
            steps: self.read(|m| m.analytics.steps_in(workflow_id, range)),
        })
    }

    fn bottlenecks(
        &self,
        workflow_id: &str,
        window: &Window,
    ) -> Result<Option<BottleneckReport>, ApiError> {
        let range = range(window)?;
        Ok(self.read(|m| m.analytics.bottlenecks(workflow_id, range)))
    }

    fn models(&self, window: &Window) -> Result<ModelStatsList, ApiError> {
        let range = range(window)?;
        Ok(ModelStatsList {
            models: self.read(|m| m.analytics.models(range)),
        })
    }

    fn heatmap(&self, workflow_id: &str, window: &Window) -> Result<Option<Heatmap>, ApiError> {
        let range = range(window)?;
        Ok(self.read(|m| m.analytics.heatmap(workflow_id, range, chrono::Utc::now())))
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
        render::snapshot_of(self.state.metrics_view.read_all(), &Selector::default())
    }

    fn throughput(&self, window: &Window) -> Result<Throughput, ApiError> {
        let range = range(window)?;
        Ok(self.read(|m| m.analytics.throughput(range, chrono::Utc::now())))
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

    fn pending_approvals(&self) -> ApprovalList {
        self.state
            .engine
            .journal()
            .read(|m| crate::views::approvals::approvals(m, Some(wire::ApprovalStatus::Pending)))
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

    fn timeline(&self, query: ListQuery) -> BoxFuture<'static, Result<Timeline, ApiError>> {
        let state = self.state.clone();
        async move {
            crate::views::runs::timeline(state.engine.journal(), &runs_query(&query))
                .await
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
