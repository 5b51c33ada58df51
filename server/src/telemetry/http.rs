//! HTTP metrics, labelled by the matched route template
//! (`/api/runs/{run_id}`), never by the raw path, so that cardinality stays
//! bounded whatever clients ask for.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};

use super::names::*;
use super::Registry;

/// The label of every request that matched no route (static files, 404s).
pub const UNMATCHED: &str = "unmatched";

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
pub async fn track(State(registry): State<Arc<Registry>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let path = resp
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let server_error = resp.status().is_server_error();
    metrics::with_local_recorder(&*registry, || {
        let labels = [("method", method), ("path", path)];
        counter!(HTTP_REQUESTS, &labels).increment(1);
        histogram!(REQUEST_DURATION, &labels).record(elapsed);
        if server_error {
            counter!(ERRORS, "kind" => "server_error").increment(1);
        }
    });
    resp
}
