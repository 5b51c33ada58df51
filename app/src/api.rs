//! How pages get their data.
//!
//! During server-side rendering the pages read the server's projections
//! directly through a [`Backend`] the server puts in the Leptos context; in the
//! browser the same functions call the public REST API, exactly as any other
//! client would. Either way the result is serialised into the page by a
//! `Resource`, so hydration reuses it instead of fetching twice.

use leptos::prelude::Resource;
use serde::{Deserialize, Serialize};

use wire::decode::{Decode, DecodeError};

use wire::{
    AlertHistory, AlertList, AlertRule, AlertRuleList, AlertRuleUpdate, ApiError, ApprovalList,
    ApprovalView, BottleneckReport, HealthStatus, Heatmap, JobCreated, JobList, JobQuery,
    MetricsSnapshot, ModelStatsList, RoutineList, RoutineView, RunList, StepStatsList, Throughput,
    Timeline, Trace, TraceList, VoteRequest, WorkflowStats, WorkflowStatsList,
};

/// A resource whose value the server renders with and hands to the browser in
/// the page, so hydration does not fetch it again (see [`WireCodec`]).
#[track_caller]
pub fn resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, WireCodec>
where
    T: Serialize + Decode + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// How a resource's value travels in the page: serde_json on the server,
/// `JSON.parse` and [`Decode`] in the browser, which is what REST answers go
/// through too, so the browser carries one decoder per type.
pub struct WireCodec;

impl<T: Serialize> codee::Encoder<T> for WireCodec {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: Decode> codee::Decoder<T> for WireCodec {
    type Error = DecodeError;
    type Encoded = str;

    #[cfg(feature = "hydrate")]
    fn decode(text: &str) -> Result<T, DecodeError> {
        let value =
            js_sys::JSON::parse(text).map_err(|_| DecodeError::expected("JSON", "resource"))?;
        T::decode(&value)
    }

    #[cfg(not(feature = "hydrate"))]
    fn decode(text: &str) -> Result<T, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| DecodeError::expected("JSON", "resource"))?;
        T::decode(&value)
    }
}

/// Filters of the runs and traces lists (`?status=&workflow_id=&limit=`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A page's time range, `?since=&until=` as the API takes them (a span
/// back from now or an RFC 3339 time); all time when neither is given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Window {
    pub fn new(since: Option<String>, until: Option<String>) -> Self {
        Window { since, until }
    }

    /// `?since=…&until=…` (or nothing), to append to a path.
    pub fn query(&self) -> String {
        match serde_urlencoded::to_string(self).unwrap_or_default() {
            q if q.is_empty() => q,
            q => format!("?{q}"),
        }
    }
}

/// What the server provides to the renderer: the same answers as the REST
/// API, read in process.
#[cfg(feature = "ssr")]
pub trait Backend: Send + Sync + 'static {
    fn health(&self) -> HealthStatus;
    fn workflows(&self, window: &Window) -> Result<WorkflowStatsList, ApiError>;
    fn workflow(
        &self,
        workflow_id: &str,
        window: &Window,
    ) -> Result<Option<WorkflowStats>, ApiError>;
    fn steps(&self, workflow_id: Option<&str>, window: &Window) -> Result<StepStatsList, ApiError>;
    fn bottlenecks(
        &self,
        workflow_id: &str,
        window: &Window,
    ) -> Result<Option<BottleneckReport>, ApiError>;
    fn models(&self, window: &Window) -> Result<ModelStatsList, ApiError>;
    /// The last 24 hours unless the window says otherwise.
    fn heatmap(&self, workflow_id: &str, window: &Window) -> Result<Option<Heatmap>, ApiError>;
    fn runs(
        &self,
        query: ListQuery,
    ) -> futures::future::BoxFuture<'static, Result<RunList, ApiError>>;
    fn jobs(
        &self,
        query: JobQuery,
    ) -> futures::future::BoxFuture<'static, Result<JobList, ApiError>>;
    fn metrics(&self) -> MetricsSnapshot;
    fn throughput(&self, window: &Window) -> Result<Throughput, ApiError>;
    fn routines(&self) -> RoutineList;
    fn approvals(&self) -> ApprovalList;
    /// Only those awaiting votes.
    fn pending_approvals(&self) -> ApprovalList {
        let mut list = self.approvals();
        list.approvals
            .retain(|a| a.status == wire::ApprovalStatus::Pending);
        list
    }
    fn alerts(&self) -> AlertList;
    fn alert_rules(&self) -> AlertRuleList;
    fn alert_history(&self, limit: usize) -> AlertHistory;
    fn traces(
        &self,
        query: ListQuery,
    ) -> futures::future::BoxFuture<'static, Result<TraceList, ApiError>>;
    fn trace(
        &self,
        run_id: String,
    ) -> futures::future::BoxFuture<'static, Result<Option<Trace>, ApiError>>;
    /// Runs active in the query's range (the last hour without one).
    fn timeline(
        &self,
        query: ListQuery,
    ) -> futures::future::BoxFuture<'static, Result<Timeline, ApiError>>;
}

/// The [`Backend`] as stored in the Leptos context.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct BackendContext(pub std::sync::Arc<dyn Backend>);

#[cfg(feature = "ssr")]
fn backend() -> Result<std::sync::Arc<dyn Backend>, ApiError> {
    leptos::prelude::use_context::<BackendContext>()
        .map(|ctx| ctx.0)
        .ok_or_else(|| ApiError::new("unavailable", "no backend in the render context"))
}

/// Answers `Ok(None)` for a 404, so pages can say "not found" plainly.
#[cfg(not(feature = "ssr"))]
fn found<T>(r: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.error == "not_found" => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(feature = "ssr"))]
fn with_query(path: &str, query: &ListQuery) -> String {
    let qs = serde_urlencoded::to_string(query).unwrap_or_default();
    if qs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{qs}")
    }
}

/// A path segment or query value, percent-encoded.
pub(crate) fn encode(segment: &str) -> String {
    serde_urlencoded::to_string([("", segment)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

macro_rules! fetch {
    (ssr: $ssr:expr, client: $client:expr) => {{
        #[cfg(feature = "ssr")]
        {
            $ssr
        }
        #[cfg(not(feature = "ssr"))]
        {
            $client
        }
    }};
}

pub async fn health() -> Result<HealthStatus, ApiError> {
    fetch!(ssr: backend().map(|b| b.health()), client: get_json("/api/health/status").await)
}

pub async fn workflows() -> Result<WorkflowStatsList, ApiError> {
    workflows_in(Window::default()).await
}

/// Workflow statistics over a range.
pub async fn workflows_in(window: Window) -> Result<WorkflowStatsList, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.workflows(&window)),
        client: get_json(&format!("/api/analytics/workflows{}", window.query())).await
    )
}

pub async fn workflow(
    workflow_id: String,
    window: Window,
) -> Result<Option<WorkflowStats>, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.workflow(&workflow_id, &window)),
        client: found(get_json(&format!("/api/analytics/workflows/{}{}", encode(&workflow_id), window.query())).await)
    )
}

/// Step statistics over a range, of one workflow or all.
pub async fn steps(workflow_id: Option<String>, window: Window) -> Result<StepStatsList, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.steps(workflow_id.as_deref(), &window)),
        client: get_json(&with_query("/api/analytics/steps", &ListQuery { workflow_id, since: window.since, until: window.until, ..ListQuery::default() })).await
    )
}

pub async fn bottlenecks(
    workflow_id: String,
    window: Window,
) -> Result<Option<BottleneckReport>, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.bottlenecks(&workflow_id, &window)),
        client: found(get_json(&format!("/api/analytics/bottlenecks/{}{}", encode(&workflow_id), window.query())).await)
    )
}

pub async fn models(window: Window) -> Result<ModelStatsList, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.models(&window)),
        client: get_json(&format!("/api/analytics/models{}", window.query())).await
    )
}

pub async fn heatmap(workflow_id: String, window: Window) -> Result<Option<Heatmap>, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.heatmap(&workflow_id, &window)),
        client: found(get_json(&format!("/api/analytics/heatmap/{}{}", encode(&workflow_id), window.query())).await)
    )
}

pub async fn timeline(query: ListQuery) -> Result<Timeline, ApiError> {
    fetch!(
        ssr: match backend() {
            Ok(b) => b.timeline(query).await,
            Err(e) => Err(e),
        },
        client: get_json(&with_query("/api/analytics/timeline", &query)).await
    )
}

pub async fn runs(query: ListQuery) -> Result<RunList, ApiError> {
    fetch!(
        ssr: match backend() {
            Ok(b) => b.runs(query).await,
            Err(e) => Err(e),
        },
        client: get_json(&with_query("/api/runs", &query)).await
    )
}

/// Jobs without their definitions, which pages never show.
pub async fn jobs(workflow_id: Option<String>, limit: usize) -> Result<JobList, ApiError> {
    let query = JobQuery {
        workflow_id,
        limit: Some(limit),
        include_workflow: false,
    };
    fetch!(
        ssr: match backend() {
            Ok(b) => b.jobs(query).await,
            Err(e) => Err(e),
        },
        client: get_json(&format!("/api/jobs?{}", serde_urlencoded::to_string(&query).unwrap_or_default())).await
    )
}

pub async fn metrics() -> Result<MetricsSnapshot, ApiError> {
    fetch!(ssr: backend().map(|b| b.metrics()), client: get_json("/api/metrics").await)
}

pub async fn throughput(window: Window) -> Result<Throughput, ApiError> {
    fetch!(
        ssr: backend().and_then(|b| b.throughput(&window)),
        client: get_json(&format!("/api/analytics/throughput{}", window.query())).await
    )
}

pub async fn routines() -> Result<RoutineList, ApiError> {
    fetch!(ssr: backend().map(|b| b.routines()), client: get_json("/api/routines").await)
}

/// Who the browser is signed in as (`GET /api/session`); the browser's only.
#[cfg(feature = "hydrate")]
pub async fn session() -> Result<wire::Session, ApiError> {
    get_json("/api/session").await
}

pub async fn approvals() -> Result<ApprovalList, ApiError> {
    fetch!(ssr: backend().map(|b| b.approvals()), client: get_json("/api/approvals").await)
}

/// Approvals awaiting votes (`GET /api/approvals?status=pending`).
pub async fn pending_approvals() -> Result<ApprovalList, ApiError> {
    fetch!(
        ssr: backend().map(|b| b.pending_approvals()),
        client: get_json("/api/approvals?status=pending").await
    )
}

/// Alerts pending or firing (`GET /api/alerts`).
pub async fn alerts() -> Result<AlertList, ApiError> {
    fetch!(ssr: backend().map(|b| b.alerts()), client: get_json("/api/alerts").await)
}

pub async fn alert_rules() -> Result<AlertRuleList, ApiError> {
    fetch!(ssr: backend().map(|b| b.alert_rules()), client: get_json("/api/alerts/rules").await)
}

pub async fn alert_history(limit: usize) -> Result<AlertHistory, ApiError> {
    fetch!(
        ssr: backend().map(|b| b.alert_history(limit)),
        client: get_json(&format!("/api/alerts/history?limit={limit}")).await
    )
}

/// `PUT /api/alerts/rules/{name}` (browser only).
pub async fn set_alert_rule(name: String, update: AlertRuleUpdate) -> Result<AlertRule, ApiError> {
    let body = serde_json::to_string(&update).unwrap_or_default();
    put_json(&format!("/api/alerts/rules/{name}"), body).await
}

/// `POST /api/routines/{id}/enable` or `/disable` (browser only).
pub async fn set_routine_enabled(
    routine_id: String,
    enabled: bool,
) -> Result<RoutineView, ApiError> {
    let verb = if enabled { "enable" } else { "disable" };
    post_json(&format!("/api/routines/{routine_id}/{verb}"), "{}".into()).await
}

/// `POST /api/approvals/{id}/vote` (browser only).
pub async fn vote(approval_id: String, vote: VoteRequest) -> Result<ApprovalView, ApiError> {
    let body = serde_json::to_string(&vote).unwrap_or_default();
    post_json(&format!("/api/approvals/{approval_id}/vote"), body).await
}

pub async fn traces(query: ListQuery) -> Result<TraceList, ApiError> {
    fetch!(
        ssr: match backend() {
            Ok(b) => b.traces(query).await,
            Err(e) => Err(e),
        },
        client: get_json(&with_query("/api/analytics/traces", &query)).await
    )
}

pub async fn trace(run_id: String) -> Result<Option<Trace>, ApiError> {
    fetch!(
        ssr: match backend() {
            Ok(b) => b.trace(run_id).await,
            Err(e) => Err(e),
        },
        client: found(get_json(&format!("/api/analytics/traces/{}", encode(&run_id))).await)
    )
}

/// `POST /api/jobs` with a body the user typed (browser only).
pub async fn submit_job(body: String) -> Result<JobCreated, ApiError> {
    post_json("/api/jobs", body).await
}

/// `POST /api/jobs/{job_id}/runs` (browser only).
pub async fn run_job(job_id: String) -> Result<JobCreated, ApiError> {
    post_json(&format!("/api/jobs/{job_id}/runs"), "{}".into()).await
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn get_json<T: Decode>(path: &str) -> Result<T, ApiError> {
    let request = gloo_net::http::Request::get(path);
    send(path, request.build()).await
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn post_json<T: Decode>(path: &str, body: String) -> Result<T, ApiError> {
    let request = gloo_net::http::Request::post(path)
        .header("content-type", "application/json")
        .body(body);
    send(path, request).await
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn put_json<T: Decode>(path: &str, body: String) -> Result<T, ApiError> {
    let request = gloo_net::http::Request::put(path)
        .header("content-type", "application/json")
        .body(body);
    send(path, request).await
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn send<T: Decode>(
    path: &str,
    request: Result<gloo_net::http::Request, gloo_net::Error>,
) -> Result<T, ApiError> {
    let (status, body) = exchange(path.to_string(), request).await?;
    if (200..300).contains(&status) {
        decode(body)
    } else {
        Err(decode::<ApiError>(body)
            .unwrap_or_else(|_| ApiError::new("http", format!("{path} answered HTTP {status}"))))
    }
}

/// Sends the request and parses the answer's JSON with the browser's own
/// parser. Not generic, so the networking code exists once in the WASM
/// however many types the pages fetch; only [`decode`] is per type.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn exchange(
    path: String,
    request: Result<gloo_net::http::Request, gloo_net::Error>,
) -> Result<(u16, wasm_bindgen::JsValue), ApiError> {
    // gloo-net's futures are !Send; Resources want Send. In the browser there is
    // one thread, so the wrapper's runtime check can never fail.
    send_wrapper::SendWrapper::new(async move {
        let network = |e: gloo_net::Error| ApiError::new("network", e.to_string());
        let resp = request.map_err(network)?.send().await.map_err(network)?;
        let text = resp.text().await.map_err(network)?;
        match js_sys::JSON::parse(&text) {
            Ok(body) => Ok((resp.status(), body)),
            Err(_) if !resp.ok() => Err(ApiError::new(
                "http",
                format!("{path} answered HTTP {}", resp.status()),
            )),
            Err(_) => Err(ApiError::new(
                "network",
                format!("{path} answered invalid JSON"),
            )),
        }
    })
    .await
}

/// Reads a value parsed by the browser into a wire type.
#[cfg(feature = "hydrate")]
pub(crate) fn decode<T: Decode>(value: wasm_bindgen::JsValue) -> Result<T, ApiError> {
    T::decode(&value).map_err(|e| ApiError::new("decode", e.to_string()))
}

#[cfg(not(any(feature = "hydrate", feature = "ssr")))]
async fn get_json<T>(path: &str) -> Result<T, ApiError> {
    Err(ApiError::new(
        "unavailable",
        format!("{path}: built without the ssr or hydrate feature"),
    ))
}

#[cfg(not(feature = "hydrate"))]
async fn post_json<T>(path: &str, _body: String) -> Result<T, ApiError> {
    Err(ApiError::new(
        "unavailable",
        format!("{path}: only the browser posts"),
    ))
}

#[cfg(not(feature = "hydrate"))]
async fn put_json<T>(path: &str, body: String) -> Result<T, ApiError> {
    post_json(path, body).await
}
