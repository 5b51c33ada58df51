//! A refusal: the HTTP status a view's caller answers with, and the JSON
//! body naming the problem. Views return it; the API serialises it, the
//! dashboard shows its body.

use axum::http::StatusCode;
use ulid::Ulid;
use wire::ApiError;

use crate::engine::EngineError;

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

    pub fn bad_request(error: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// Our fault, not the client's: logged, and answered without detail leaks.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!("internal error: {message}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body = self.body.with_field(field);
        self
    }
}

/// The log could not be read (a read of what memory no longer holds): the
/// server's state, not the client's request, so a 503 that says so, as
/// when it cannot be written.
impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        EngineError::unreadable(e).into()
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(body) => Failure {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                body,
            },
            EngineError::NotFound(m) => Failure::not_found(m),
            EngineError::Conflict(m) => Failure::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::Forbidden(m) => Failure::new(StatusCode::FORBIDDEN, "forbidden", m),
            EngineError::Overloaded(m) => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", m)
            }
            EngineError::Unavailable(m) => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", m)
            }
            EngineError::Internal(m) => Failure::internal(m),
        }
    }
}

/// Ids are ULIDs; anything else cannot name an existing resource.
pub fn parse_id(raw: &str, what: &str) -> Result<Ulid, Failure> {
    raw.parse().map_err(|_| {
        Failure::not_found(format!(
            "no {what} with id {raw} (ids are 26-character ULIDs)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_that_cannot_be_read_is_a_503_naming_it() {
        let f = Failure::from(crate::store::StoreError("disk I/O error".into()));
        assert_eq!(f.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(f.body.error, "log_unavailable");
        assert!(f.body.message.contains("disk I/O error"), "{:?}", f.body);
    }
}
