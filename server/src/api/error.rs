//! How a refusal is answered, and the JSON answers for unknown paths and
//! methods under `/api`.

use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub use crate::views::{parse_id, Failure};

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Unknown paths under `/api` answer JSON, never the dashboard's HTML.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Failure {
    Failure::not_found(format!("no API endpoint at {}", uri.path()))
}

pub async fn method_not_allowed(
    method: axum::http::Method,
    OriginalUri(uri): OriginalUri,
) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}
