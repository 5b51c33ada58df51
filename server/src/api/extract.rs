//! Extractors whose rejections are JSON errors naming the problem, instead
//! of axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::Failure;

/// A JSON request body. Malformed JSON is a 400 naming the position;
/// well-formed JSON of the wrong shape is a 422 naming the field; a body over
/// the route's limit is a 413; a non-JSON content type is a 415.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json")) {
                return Err(Failure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("expected Content-Type: application/json, got {ct:?}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(inner)
                if inner.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Failure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the request body is over the limit of {} bytes",
                        super::MAX_BODY_BYTES
                    ),
                )
            }
            other => Failure::new(StatusCode::BAD_REQUEST, "bad_body", other.body_text()),
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.classify() == serde_json::error::Category::Data {
            let failure = Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                inner.to_string(),
            );
            with_path(failure, path)
        } else {
            malformed(inner)
        }
    })?;
    de.end().map_err(malformed)?;
    Ok(value)
}

fn malformed(e: serde_json::Error) -> Failure {
    Failure::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("malformed JSON: {e}"),
    )
}

/// Names the field, unless the problem is with the document as a whole.
fn with_path(mut failure: Failure, path: String) -> Failure {
    if path != "." {
        failure.body = failure.body.with_field(path);
    }
    failure
}

/// One path parameter (`/api/runs/{run_id}`). A parameter that is not
/// UTF-8 once percent-decoded (`/api/runs/%FF`) is a 400 naming it, as
/// JSON like every other mistake, not axum's plain text.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key }
                    | ErrorKind::ParseErrorAtKey { key, .. } => Some(key.clone()),
                    _ => None,
                };
                let message = match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("the path parameter {key} is not valid UTF-8 once percent-decoded")
                    }
                    other => format!("invalid path parameter: {other}"),
                };
                let failure = Failure::bad_request("invalid_path", message);
                Err(match field {
                    Some(f) => failure.field(f),
                    None => failure,
                })
            }
            Err(other) => Err(Failure::internal(format!(
                "path parameters: {}",
                other.body_text()
            ))),
        }
    }
}

/// Query parameters; a bad one is a 400 naming it.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Failure> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|e| {
                let path = e.path().to_string();
                let failure = Failure::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("invalid query parameter: {}", e.into_inner()),
                );
                with_path(failure, path)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<BTreeMap<String, u32>>,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_are_422_with_the_field() {
        let e = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(
            (e.status, e.body.error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let e =
            parse_json::<Body>(br#"{"name": "x", "items": [{"a": 1}, {"b": "two"}]}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.field.as_deref(), Some("items[1].b"));
        let e = parse_json::<Body>(br#"{"items": []}"#).unwrap_err();
        assert!(
            e.body.message.contains("missing field `name`"),
            "{}",
            e.body.message
        );
        let e = parse_json::<Body>(br#"{"name": "x", "items": []} trailing"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
