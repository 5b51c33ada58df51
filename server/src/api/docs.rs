//! `GET /api/docs`: a browsable reference of the API, Swagger UI reading
//! `/api/openapi.json`. Its assets come from npm's `swagger-ui-dist`
//! (`server/api-docs/`, installed by `scripts/setup.sh`) and are built into
//! the binary: the page works offline and loads nothing from a CDN.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::extract::PathParam;
use super::Failure;

macro_rules! ui_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("SHIIOO_SWAGGER_UI"), "/", $name)).as_slice()
    };
}

/// The page's files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        ui_file!("swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        ui_file!("swagger-ui.css"),
    ),
    ("init.js", "text/javascript; charset=utf-8", INIT.as_bytes()),
];

/// Starts Swagger UI on this server's document. A file of its own, so that
/// the page needs no inline script (its policy allows none).
const INIT: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: true,
    tryItOutEnabled: false
  });
});
"##;

const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shiioo API reference</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui"></div>
<noscript><p>This reference needs JavaScript; the document itself is <a href="/api/openapi.json">/api/openapi.json</a>.</p></noscript>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
"#;

/// Scripts only from this server; Swagger UI sets inline styles and draws
/// data-URI images.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub fn page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CONTENT_SECURITY_POLICY, POLICY),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /api/docs/{file}`
#[utoipa::path(
    get, path = "/api/docs/{file}", summary = "A file of this reference", tag = "reference",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `init.js`.")),
    responses((status = 200, description = "A file of the reference page.", content_type = "text/javascript", body = String))
)]
pub async fn asset(PathParam(file): PathParam) -> Result<Response, Failure> {
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| Failure::not_found(format!("the reference page has no file {file:?}")))?;
    Ok((
        [
            (CONTENT_TYPE, *content_type),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        *bytes,
    )
        .into_response())
}
