//! How bytes leave the server: the dashboard's compiled assets served
//! precompressed, and every other answer compressed on the fly when the
//! client asks for it.
//!
//! The release build (`scripts/build.sh release`) leaves `.br` and `.gz`
//! siblings next to `shiioo.{wasm,js,css}`, compressed once at the highest
//! settings, so a browser downloads about a quarter of the WASM's bytes and
//! the server spends no CPU on it. A dev build has no siblings: its files go
//! out as they are.

use std::path::Path;

use axum::http::{header, HeaderValue, StatusCode};
use axum::Router;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// `/pkg/*`: the WASM client, its JavaScript glue and the stylesheet.
///
/// The names carry no content hash, so browsers must revalidate (`no-cache`):
/// an unchanged file costs a `304 Not Modified` from its `Last-Modified`.
pub fn pkg_service<S: Clone + Send + Sync + 'static>(pkg_dir: &Path) -> Router<S> {
    let files = ServeDir::new(pkg_dir)
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::appending(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
}

/// Gzip or Brotli for pages and API answers, as the client's
/// `Accept-Encoding` prefers.
///
/// Not for WebSocket upgrades (no body to compress), nor for WASM: a
/// release build's is precompressed, and a dev build's is tens of megabytes
/// that are not worth compressing on every page load.
pub fn compression() -> CompressionLayer<impl Predicate> {
    let predicate = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/wasm"))
        .and(|status: StatusCode, _, _: &_, _: &_| status != StatusCode::SWITCHING_PROTOCOLS);
    CompressionLayer::new().compress_when(predicate)
}
