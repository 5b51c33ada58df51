//! Pages from other sites are kept out: forged `Origin` and `Host` headers
//! against the real server, over HTTP and the WebSocket upgrade.

mod common;

use std::sync::Arc;

use common::{guide_job, TestServer};
use serde_json::Value;
use server::config::Config;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

async fn post_job(server: &TestServer, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.http.post(server.url("/api/jobs")).json(&guide_job());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    (
        answer.status().as_u16(),
        answer.json().await.unwrap_or(Value::Null),
    )
}

async fn jobs(server: &TestServer) -> usize {
    server.get("/api/jobs").await.1["jobs"]
        .as_array()
        .unwrap()
        .len()
}

/// The HTTP status of a WebSocket handshake with these headers (101 when
/// it upgraded).
async fn ws_status(server: &TestServer, headers: &[(&str, &str)]) -> u16 {
    let mut request = format!("ws://{}/api/ws", server.addr)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake: {e}"),
    }
}

#[tokio::test]
async fn a_page_from_another_site_can_neither_act_nor_listen() {
    let server = TestServer::start().await;
    let own = format!("http://{}", server.addr);

    let (status, body) = post_job(&server, &[("Origin", "http://evil.example")]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "origin_not_allowed");
    assert_eq!(body["field"], "Origin");
    let (status, _) = post_job(&server, &[("Origin", "null")]).await;
    assert_eq!(status, 403, "a sandboxed page's Origin is null");
    assert_eq!(jobs(&server).await, 0, "nothing was created");

    // The dashboard's own pages, and clients that are not browsers, act.
    assert_eq!(post_job(&server, &[("Origin", &own)]).await.0, 201);
    assert_eq!(post_job(&server, &[]).await.0, 201);
    assert_eq!(jobs(&server).await, 2);

    // Cross-site WebSocket hijacking: refused before the upgrade.
    assert_eq!(
        ws_status(&server, &[("Origin", "http://evil.example")]).await,
        403
    );
    assert_eq!(ws_status(&server, &[("Origin", &own)]).await, 101);
    assert_eq!(ws_status(&server, &[]).await, 101);
    // Reading stays open to any origin: without CORS headers a browser
    // keeps the answer from the foreign page.
    let read = server
        .http
        .get(server.url("/api/health/status"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert!(read.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_rebound_domain_is_refused_by_its_host() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    let get = |host: String| {
        let request = server
            .http
            .get(server.url("/api/health/status"))
            .header("Host", host);
        async move {
            let answer = request.send().await.unwrap();
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // A page on evil.example, resolved to 127.0.0.1, sends its own name.
    let (status, body) = get(format!("evil.example:{port}")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "host_not_allowed");
    assert_eq!(body["field"], "Host");
    let (status, _) = get(format!("127.0.0.1.evil.example:{port}")).await;
    assert_eq!(status, 403);
    // Pages too, not only the API.
    let page = server
        .http
        .get(server.url("/"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(get(ok.clone()).await.0, 200, "{ok}");
    }
    assert_eq!(
        ws_status(&server, &[("Host", "evil.example")]).await,
        403,
        "nor the WebSocket"
    );
}

#[tokio::test]
async fn named_hosts_and_origins_are_let_in() {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = Config::for_tests(data.path());
    config.allowed_hosts = vec!["shiioo.internal".into()];
    config.allowed_origins = vec!["https://ops.example.com".into()];
    config.external_url = Some("https://shiioo.example.com".into());
    let server = TestServer::start_with(config, data).await;
    for host in ["shiioo.internal", "shiioo.example.com:443"] {
        let answer = server
            .http
            .get(server.url("/api/health/status"))
            .header("Host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{host}");
    }
    assert_eq!(
        post_job(&server, &[("Origin", "https://ops.example.com")])
            .await
            .0,
        201
    );
    assert_eq!(
        post_job(&server, &[("Origin", "https://other.example.com")])
            .await
            .0,
        403
    );
}
