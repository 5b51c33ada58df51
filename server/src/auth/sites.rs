//! Browsers from other sites are kept out, with or without tokens.
//!
//! - **`Host`** must name this server: an IP address (a page cannot rebind
//!   one), `localhost` (and `*.localhost`, which browsers keep on loopback),
//!   the host of `--external-url`, or one of `--allowed-hosts`. A page on a
//!   domain its owner points at 127.0.0.1 (DNS rebinding) sends its own name
//!   and is refused, so it can never call the API as same-origin.
//! - **`Origin`**, sent by browsers with every state-changing request and
//!   WebSocket upgrade, must be this server's own (the origin of the `Host`
//!   it was reached at) or one of `--allowed-origins`. Clients that send no
//!   `Origin` are not browsers and go on to authentication. This stops
//!   cross-site WebSocket hijacking and cross-site form posts.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN, UPGRADE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::views::Failure;

/// The hosts and origins this server answers browsers for.
#[derive(Clone, Debug, Default)]
pub struct Sites {
    /// Lower-case host names, or `name:port`.
    hosts: Vec<String>,
    /// Lower-case `scheme://host[:port]`.
    origins: Vec<String>,
}

impl Sites {
    pub fn new(
        allowed_hosts: &[String],
        allowed_origins: &[String],
        external_url: Option<&str>,
    ) -> Self {
        let external = external_url
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        Self {
            hosts: allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .chain(external)
                .filter(|h| !h.is_empty())
                .collect(),
            origins: allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// Whether a request's `Host` (`name[:port]`) names this server.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = host_name(&host);
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.hosts.iter().any(|h| *h == host || h == name)
    }

    /// Whether a browser's `Origin` may act on the server it reached at `host`.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let same_site = origin
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .is_some_and(|(_, authority)| {
                host.is_some_and(|h| authority == h.trim().to_ascii_lowercase())
            });
        same_site || self.origins.contains(&origin)
    }
}

/// The name of `name[:port]` or `[v6]:port` (brackets removed).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether the request changes state or opens a WebSocket: what a browser
/// from another site must not do.
fn acts(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.headers().contains_key(UPGRADE)
}

/// The middleware: refuses a foreign `Host`, and a foreign `Origin` on a
/// request that acts, with a JSON `403` naming the header.
pub async fn guard(State(sites): State<Arc<Sites>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    if let Some(host) = &host {
        if !sites.host_allowed(host) {
            return Failure::new(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                format!(
                    "this server does not answer for the host {host:?}; add it with --allowed-hosts"
                ),
            )
            .field("Host")
            .into_response();
        }
    }
    if acts(&req) {
        if let Some(origin) = req.headers().get(ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            if !sites.origin_allowed(origin, host.as_deref()) {
                return Failure::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    format!(
                        "a page from {origin:?} may not act on this server; add its origin with --allowed-origins"
                    ),
                )
                .field("Origin")
                .into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_addresses_localhost_or_named() {
        let sites = Sites::new(
            &["shiioo.internal".into(), "Box:9000".into()],
            &[],
            Some("https://shiioo.example.com/"),
        );
        for ok in [
            "127.0.0.1:8080",
            "10.1.2.3",
            "[::1]:8080",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:3000",
            "shiioo.internal:8080",
            "box:9000",
            "shiioo.example.com",
        ] {
            assert!(sites.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "box:9001",
            "",
        ] {
            assert!(!sites.host_allowed(refused), "{refused}");
        }
    }

    #[test]
    fn origins_are_the_servers_own_or_allowed() {
        let sites = Sites::new(&[], &["https://ops.example.com/".into()], None);
        let host = Some("127.0.0.1:8080");
        assert!(sites.origin_allowed("http://127.0.0.1:8080", host));
        assert!(sites.origin_allowed("https://ops.example.com", host));
        for refused in [
            "http://evil.example",
            "http://127.0.0.1:8081",
            "null",
            "file://",
            "127.0.0.1:8080",
        ] {
            assert!(!sites.origin_allowed(refused, host), "{refused}");
        }
        assert!(!sites.origin_allowed("http://127.0.0.1:8080", None));
    }
}
