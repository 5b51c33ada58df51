use app::wire::ApiError;
use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failed API call: an HTTP status and the JSON body naming the problem.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub body: ApiError,
}

impl Failure {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiError::new(error, message),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Unknown paths under `/api` answer JSON, never the dashboard's HTML.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Failure {
    Failure::not_found(format!("no API endpoint at {}", uri.path()))
}
