//! How pages get their data.
//!
//! During server-side rendering the pages read the server's projections
//! directly through a [`Backend`] the server puts in the Leptos context; in the
//! browser the same functions call the public REST API, exactly as any other
//! client would. Either way the result is serialised into the page by a
//! `Resource`, so hydration reuses it instead of fetching twice.

use crate::wire::{ApiError, HealthStatus};

/// What the server provides to the renderer. Implemented by the server over
/// its projections; methods are synchronous because projections live in memory.
#[cfg(feature = "ssr")]
pub trait Backend: Send + Sync + 'static {
    fn health(&self) -> HealthStatus;
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

/// `GET /api/health/status`.
pub async fn health() -> Result<HealthStatus, ApiError> {
    #[cfg(feature = "ssr")]
    {
        backend().map(|b| b.health())
    }
    #[cfg(not(feature = "ssr"))]
    {
        get_json("/api/health/status").await
    }
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
async fn get_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    // gloo-net's futures are !Send; Resources want Send. In the browser there is
    // one thread, so the wrapper's runtime check can never fail.
    send_wrapper::SendWrapper::new(async move {
        let network = |e: gloo_net::Error| ApiError::new("network", e.to_string());
        let resp = gloo_net::http::Request::get(path)
            .send()
            .await
            .map_err(network)?;
        if resp.ok() {
            resp.json::<T>().await.map_err(network)
        } else {
            let status = resp.status();
            Err(resp.json::<ApiError>().await.unwrap_or_else(|_| {
                ApiError::new("http", format!("{path} answered HTTP {status}"))
            }))
        }
    })
    .await
}

#[cfg(not(any(feature = "hydrate", feature = "ssr")))]
async fn get_json<T>(path: &str) -> Result<T, ApiError> {
    Err(ApiError::new(
        "unavailable",
        format!("{path}: app built without the ssr or hydrate feature"),
    ))
}
