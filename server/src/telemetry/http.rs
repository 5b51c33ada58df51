//! HTTP metrics, labelled by the matched route template
//! (`/api/runs/{run_id}`), never by the raw path, so that cardinality stays
//! bounded whatever clients ask for.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::cells::{CounterCell, HistogramCell};
use super::family::Family;
use super::names::*;
use super::Registry;

/// The label of every request that matched no route (static files, 404s).
pub const UNMATCHED: &str = "unmatched";

/// The HTTP layer's metrics, found once; each request looks its series up
/// by the method and route template it borrows from the request.
pub struct HttpMetrics {
    requests: Arc<Family<CounterCell>>,
    duration: Arc<Family<HistogramCell>>,
    server_errors: Arc<CounterCell>,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            requests: registry.counters(HTTP_REQUESTS, &["method", "path"]),
            duration: registry.histograms(REQUEST_DURATION, &["method", "path"]),
            server_errors: registry
                .counters(ERRORS, &["kind"])
                .handle(&["server_error"]),
        }
    }

    pub fn record(&self, method: &str, path: &str, secs: f64, server_error: bool) {
        let labels = [method, path];
        self.requests.with(&labels, |c| c.increment(1));
        self.duration.with(&labels, |h| h.record(secs));
        if server_error {
            self.server_errors.increment(1);
        }
    }
}

/// Inner layer (`route_layer`): hands the matched route to the outer layer,
/// which runs before routing and so cannot see it on the request.
pub async fn expose_matched_path(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(matched) = matched {
        resp.extensions_mut().insert(matched);
    }
    resp
}

/// Outer layer: counts and times every request.
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    // A standard method clones without allocating.
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let path = resp
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(
        method.as_str(),
        path,
        started.elapsed().as_secs_f64(),
        resp.status().is_server_error(),
    );
    resp
}
