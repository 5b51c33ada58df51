//! A panic while answering a request is a bug, but never a dropped
//! connection: it becomes a `500`, as JSON under `/api` and as an error
//! page on the dashboard, and is logged with its message. The HTTP metrics
//! count it in `errors_total{kind="server_error"}` like any other 5xx.

use std::any::Any;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{Response, StatusCode};
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

/// How a panic is answered.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// The API's JSON error shape.
    Json,
    /// A page a person can read, with a way back.
    Page,
}

/// The layer that answers panics as `answer` says.
pub fn layer(answer: Answer) -> CatchPanicLayer<Answer> {
    CatchPanicLayer::custom(answer)
}

/// The panic's message, when it has one.
fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl ResponseForPanic for Answer {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
        tracing::error!("a request handler panicked: {}", message(&*panic));
        // The panic's text stays in the log: it is ours to read, not the
        // client's.
        let (content_type, body) = match self {
            Answer::Json => (
                "application/json",
                serde_json::json!({
                    "error": "internal",
                    "message": "the server failed while answering this request; the failure is logged",
                })
                .to_string(),
            ),
            Answer::Page => ("text/html; charset=utf-8", ERROR_PAGE.to_string()),
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, content_type.parse().expect("a valid header"));
        headers.insert(CACHE_CONTROL, "no-store".parse().expect("a valid header"));
        resp
    }
}

const ERROR_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Server error · Shiioo</title><link rel="stylesheet" href="/pkg/shiioo.css"></head>
<body><main class="main"><h1>Something went wrong</h1>
<p>The server failed while drawing this page. The failure is logged; other pages still work.</p>
<p><a href="/">Back to the overview</a></p></main></body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn answer(router: Router, path: &str) -> (StatusCode, String, String) {
        let resp = router
            .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let content_type = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    async fn boom() -> &'static str {
        let limits: Vec<f64> = Vec::new();
        // An index out of bounds, as a bug in a handler would be.
        if limits[3] > 0.0 {
            return "unreachable";
        }
        "unreachable"
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_as_json_or_as_a_page() {
        let api = Router::new()
            .route("/api/boom", get(boom))
            .route_layer(layer(Answer::Json));
        let (status, content_type, body) = answer(api, "/api/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "internal");
        assert!(!body["message"]
            .as_str()
            .unwrap()
            .contains("index out of bounds"));

        let pages = Router::new()
            .route("/boom", get(boom))
            .route_layer(layer(Answer::Page));
        let (status, content_type, body) = answer(pages, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(content_type.starts_with("text/html"));
        assert!(body.contains("Something went wrong") && body.ends_with("</html>\n"));
    }
}
