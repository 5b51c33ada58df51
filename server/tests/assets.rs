//! Contract tests for how the server sends bytes: precompressed client
//! assets, compressed pages and API answers, and a WebSocket that still opens
//! when the browser offers compression.

mod common;

use std::io::Read;
use std::sync::Arc;

use common::TestServer;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, IF_MODIFIED_SINCE,
    LAST_MODIFIED, VARY,
};
use server::config::Config;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A server whose site folder holds a WASM file and its compressed siblings,
/// as `scripts/build.sh release` leaves them. Each sibling's bytes differ,
/// so the tests can tell which one went out.
async fn server_with_site() -> TestServer {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let pkg = data.path().join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("shiioo.wasm"), b"\0asm raw module bytes").unwrap();
    std::fs::write(pkg.join("shiioo.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("shiioo.wasm.gz"), b"gzip bytes").unwrap();
    std::fs::write(pkg.join("shiioo.css"), b"body { color: black }").unwrap();
    let mut config = Config::for_tests(data.path());
    config.site_root = data.path().join("site");
    TestServer::start_with(config, data).await
}

/// `GET path`, offering the given encodings (none: no `Accept-Encoding`).
async fn get(server: &TestServer, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = server.http.get(server.url(path));
    if let Some(accept) = accept {
        req = req.header(ACCEPT_ENCODING, accept);
    }
    req.send().await.unwrap()
}

async fn get_wasm(server: &TestServer, accept: Option<&str>) -> reqwest::Response {
    get(server, "/pkg/shiioo.wasm", accept).await
}

#[tokio::test]
async fn client_assets_go_out_precompressed_as_the_browser_accepts() {
    let server = server_with_site().await;

    // What Chromium sends: Brotli wins.
    let resp = get_wasm(&server, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CONTENT_ENCODING], "br");
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/wasm");
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-cache");
    assert!(
        resp.headers()
            .get_all(VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("accept-encoding")),
        "caches must key on Accept-Encoding: {:?}",
        resp.headers()
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"brotli bytes");

    let resp = get_wasm(&server, Some("gzip")).await;
    assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"gzip bytes");

    let resp = get_wasm(&server, None).await;
    assert!(resp.headers().get(CONTENT_ENCODING).is_none());
    let last_modified = resp.headers()[LAST_MODIFIED].clone();
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        b"\0asm raw module bytes"
    );

    // Revalidation of an unchanged file costs no body.
    let resp = server
        .http
        .get(server.url("/pkg/shiioo.wasm"))
        .header(IF_MODIFIED_SINCE, last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    // A file without siblings is compressed on the fly only when that is
    // worth it: not this 21-byte stylesheet.
    let resp = get(&server, "/pkg/shiioo.css", Some("br")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(resp.text().await.unwrap(), "body { color: black }");

    let (status, body) = server.get("/pkg/missing.js").await;
    assert_eq!(status, 404, "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn pages_and_api_answers_are_compressed_for_clients_that_ask() {
    let server = TestServer::start().await;

    let resp = get(&server, "/api/health/status", Some("gzip")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
    let compressed = resp.bytes().await.unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(compressed.as_ref())
        .read_to_string(&mut json)
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(health["status"], "healthy");

    let resp = get(&server, "/", Some("br")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[CONTENT_ENCODING], "br");
    let compressed = resp.bytes().await.unwrap();
    let mut html = String::new();
    brotli_decompressor::Decompressor::new(compressed.as_ref(), 4096)
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("<h1>Overview"), "{html}");

    // Without Accept-Encoding nothing changes.
    let resp = get(&server, "/api/health/status", None).await;
    assert!(resp.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "healthy"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_opens_when_the_upgrade_request_offers_compression() {
    let server = TestServer::start().await;
    let mut request = format!("ws://{}/api/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert(ACCEPT_ENCODING, "gzip, deflate, br".parse().unwrap());
    let (stream, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake");
    assert_eq!(response.status(), 101);
    assert!(response.headers().get(CONTENT_ENCODING).is_none());
    let mut ws = common::Ws { stream };
    ws.send_json(serde_json::json!({"action": "SubscribeHealth"}))
        .await;
    assert_eq!(ws.next_of_type("Subscribed").await["type"], "Subscribed");
    server.shutdown().await;
}
