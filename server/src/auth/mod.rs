//! Who may do what.
//!
//! - [`sites`]: browsers from other sites are kept out (`Host`, `Origin`),
//!   whether or not the server asks for tokens.
//! - [`tokens`]: identities and their roles, from `--auth-tokens FILE`.
//! - [`policy`]: the role each route needs.
//!
//! The [`Gate`] runs on every matched route: it finds who is asking (a
//! `Bearer` token), answers `401` or `403` as JSON when they may not, and
//! hands the [`Identity`] to the handler. Without a tokens file the server
//! is open (everyone is `anonymous`), which it only allows on loopback.

pub mod policy;
pub mod session;
pub mod sites;
pub mod tokens;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::{Mutex, RwLock};

pub use policy::Need;
pub use tokens::{Identity, Role, Tokens};

use crate::telemetry::names::AUTH_FAILURES;
use crate::telemetry::Registry;
use crate::views::Failure;

/// After its burst (`--auth-failure-burst`), a client address may fail once
/// every this long: a guesser gets 30 attempts a minute.
const FAILURE_EVERY: Duration = Duration::from_secs(2);
/// Values of `auth_failures_total`'s `reason` label.
const REASONS: [&str; 3] = ["missing", "unknown", "rate_limited"];

pub struct Gate {
    /// `None`: an open server.
    tokens: RwLock<Option<Arc<Tokens>>>,
    path: Option<PathBuf>,
    metrics_public: bool,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that used up their failures, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    pub sessions: session::Sessions,
    /// One-use WebSocket tickets ([`TICKET_TTL`]).
    pub tickets: session::Sessions,
    metrics: Arc<Registry>,
}

/// How long a WebSocket ticket may wait for its upgrade.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// The route a ticket opens.
pub const WS_PATH: &str = "/api/ws";

/// What a request presents to say who it is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Presented<'a> {
    /// `Authorization: Bearer <token>`, or the sign-in form's token.
    Token(&'a str),
    /// `?ticket=` on the WebSocket upgrade.
    Ticket(&'a str),
}

impl Gate {
    /// The gate of `--auth-tokens` (or an open one without), its file read.
    pub fn new(
        path: Option<PathBuf>,
        metrics_public: bool,
        failure_burst: u32,
        session_ttl: Duration,
        metrics: Arc<Registry>,
    ) -> Result<Self, String> {
        let tokens = match &path {
            Some(path) => Some(Arc::new(Tokens::load(path)?)),
            None => None,
        };
        if let Some(tokens) = &tokens {
            warn_plain(tokens);
        }
        let quota = Quota::with_period(FAILURE_EVERY)
            .expect("a period above zero")
            .allow_burst(NonZeroU32::new(failure_burst.max(1)).expect("above zero"));
        let gate = Self {
            tokens: RwLock::new(tokens),
            path,
            metrics_public,
            failures: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
            sessions: session::Sessions::new(session_ttl),
            tickets: session::Sessions::new(TICKET_TTL),
            metrics,
        };
        for reason in REASONS {
            gate.count(reason, 0);
        }
        Ok(gate)
    }

    /// Whether the server asks for tokens.
    pub fn is_open(&self) -> bool {
        self.tokens.read().is_none()
    }

    /// Reads the tokens file again (on `SIGHUP`); a file that does not read
    /// leaves the identities as they were.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.path else {
            return Ok(0);
        };
        let tokens = Tokens::load(path)?;
        warn_plain(&tokens);
        let n = tokens.len();
        *self.tokens.write() = Some(Arc::new(tokens));
        Ok(n)
    }

    fn count(&self, reason: &'static str, n: u64) {
        metrics::with_local_recorder(&*self.metrics, || {
            metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(n)
        });
    }

    /// The identity of a live session (on an open server, none).
    pub fn session_identity(&self, id: Option<&str>) -> Option<Identity> {
        let tokens = self.tokens.read().clone()?;
        let name = self.sessions.find(id?)?;
        tokens.named(&name).cloned()
    }

    /// Who presents `token` (the sign-in form's), rate-limited like a
    /// bearer token.
    pub(crate) fn check_token(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Identity, Refusal> {
        let client = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let presented = Some(token).filter(|t| !t.is_empty()).map(Presented::Token);
        self.identify(presented, None, client)
    }

    /// Who presents a token or ticket (or, without either, the session
    /// cookie `session`) from `client`, or why they are refused.
    fn identify(
        &self,
        presented: Option<Presented<'_>>,
        session: Option<&str>,
        client: IpAddr,
    ) -> Result<Identity, Refusal> {
        let Some(tokens) = self.tokens.read().clone() else {
            return Ok(Identity::anonymous());
        };
        let now = Instant::now();
        if let Some(until) = self.blocked.lock().get(&client).copied() {
            if until > now {
                self.count("rate_limited", 1);
                return Err(Refusal::Slow(until - now));
            }
        }
        let Some(presented) = presented else {
            // A stale cookie (expired, or from before a restart) is no
            // guess: the browser is sent to sign in again.
            if let Some(identity) = self.session_identity(session) {
                return Ok(identity);
            }
            self.count("missing", 1);
            return Err(Refusal::Missing);
        };
        let found = match presented {
            Presented::Token(token) => tokens.find(token),
            Presented::Ticket(ticket) => self
                .tickets
                .take(ticket)
                .and_then(|name| tokens.named(&name)),
        };
        if let Some(identity) = found {
            return Ok(identity.clone());
        }
        self.count("unknown", 1);
        if let Err(not_until) = self.failures.check_key(&client) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(self.failures.clock()));
            let mut blocked = self.blocked.lock();
            blocked.retain(|_, until| *until > now);
            blocked.insert(client, now + wait);
            self.failures.retain_recent();
        }
        Err(Refusal::Unknown)
    }
}

fn warn_plain(tokens: &Tokens) {
    for name in &tokens.plain {
        tracing::warn!(
            identity = %name,
            "the token of {name:?} is in plain text in the tokens file; give its sha256 instead outside development"
        );
    }
}

#[derive(Debug)]
pub(crate) enum Refusal {
    Missing,
    Unknown,
    Slow(Duration),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (failure, wait) = match self {
            Refusal::Missing => (
                Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this server wants a token: Authorization: Bearer <token>",
                ),
                None,
            ),
            Refusal::Unknown => (
                Failure::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token"),
                None,
            ),
            Refusal::Slow(wait) => (
                Failure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failures",
                    format!(
                        "too many failed attempts from this address; try again in {} s",
                        wait.as_secs() + 1
                    ),
                ),
                Some(wait),
            ),
        };
        let mut response = failure.field("Authorization").into_response();
        let headers = response.headers_mut();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"shiioo\""),
        );
        if let Some(wait) = wait {
            headers.insert(RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
        }
        response
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// What `req` presents: its bearer token, or on the WebSocket upgrade a
/// `?ticket=` (a browser's script cannot set headers there).
fn presented<'a>(req: &'a Request, template: &str) -> Option<Presented<'a>> {
    if let Some(token) = bearer(req) {
        return Some(Presented::Token(token));
    }
    if template != WS_PATH {
        return None;
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ticket="))
        .filter(|t| !t.is_empty())
        .map(Presented::Ticket)
}

/// A browser asking for a dashboard page (not the API, not a script).
fn wants_page(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// The middleware, on every matched route.
pub async fn authorize(State(gate): State<Arc<Gate>>, mut req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let need = policy::need(req.method(), &template, gate.metrics_public);
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let session = session::cookie(req.headers());
    let identity = match (
        need,
        gate.identify(presented(&req, &template), session, client),
    ) {
        (_, Ok(identity)) => identity,
        (Need::Anyone, Err(_)) => Identity::anonymous_reader(),
        // A person at a browser is sent to sign in, and back here after.
        (Need::Role(_), Err(_)) if wants_page(&req) => {
            let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", here)
                .finish();
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(to) = HeaderValue::from_str(&format!("/sign-in?{query}")) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LOCATION, to);
            }
            return response;
        }
        (Need::Role(_), Err(refusal)) => return refusal.into_response(),
    };
    if let Need::Role(role) = need {
        if identity.role < role {
            return Failure::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "{} ({}) may not {} {}: it needs {}",
                    identity.name,
                    identity.role.as_str(),
                    req.method(),
                    template,
                    role.as_str()
                ),
            )
            .into_response();
        }
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// Who is calling, as the auth gate found them (`anonymous` when no gate
/// ran, as in a router built without it).
pub struct Caller(pub Identity);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            parts
                .extensions
                .get::<Identity>()
                .cloned()
                .unwrap_or_else(Identity::anonymous),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(dir: &std::path::Path, file: &str) -> Gate {
        let path = dir.join("tokens.toml");
        std::fs::write(&path, file).unwrap();
        Gate::new(
            Some(path),
            false,
            BURST,
            Duration::from_secs(60),
            Arc::new(Registry::new(100)),
        )
        .unwrap()
    }

    fn token(t: &str) -> Option<Presented<'_>> {
        Some(Presented::Token(t))
    }

    const BURST: u32 = 10;
    const FILE: &str =
        "[[token]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"operator-token-0001\"\n";

    #[test]
    fn guessing_is_slowed_per_address_and_reload_takes_new_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate(dir.path(), FILE);
        let guesser: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..BURST {
            assert!(matches!(
                gate.identify(token("guess"), None, guesser),
                Err(Refusal::Unknown)
            ));
        }
        // The burst is spent: the next guess is refused, then every attempt
        // from that address, even the right token, until the wait is over.
        assert!(matches!(
            gate.identify(token("guess"), None, guesser),
            Err(Refusal::Unknown)
        ));
        assert!(matches!(
            gate.identify(token("operator-token-0001"), None, guesser),
            Err(Refusal::Slow(_))
        ));
        assert_eq!(
            gate.identify(token("operator-token-0001"), None, other)
                .unwrap()
                .name,
            "ops"
        );
        assert!(matches!(
            gate.identify(None, None, other),
            Err(Refusal::Missing)
        ));

        std::fs::write(
            dir.path().join("tokens.toml"),
            "[[token]]\nname = \"new\"\nrole = \"viewer\"\ntoken = \"the-new-viewer-token\"\n",
        )
        .unwrap();
        assert_eq!(gate.reload(), Ok(1));
        assert_eq!(
            gate.identify(token("the-new-viewer-token"), None, other)
                .unwrap()
                .name,
            "new"
        );
        assert!(gate
            .identify(token("operator-token-0001"), None, other)
            .is_err());
        std::fs::write(dir.path().join("tokens.toml"), "not toml [").unwrap();
        assert!(gate.reload().is_err());
        assert_eq!(
            gate.identify(token("the-new-viewer-token"), None, other)
                .unwrap()
                .name,
            "new",
            "a bad file changes nothing"
        );
    }

    #[test]
    fn a_ticket_opens_one_websocket_and_only_that() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate(dir.path(), FILE);
        let client: IpAddr = "10.0.0.3".parse().unwrap();
        let ticket = gate.tickets.open("ops");
        let upgrade = axum::http::Request::builder()
            .uri(format!("/api/ws?x=1&ticket={ticket}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let found = presented(&upgrade, WS_PATH);
        assert!(matches!(found, Some(Presented::Ticket(t)) if t == ticket));
        assert!(
            presented(&upgrade, "/api/runs").is_none(),
            "a ticket opens the WebSocket, no other route"
        );
        assert_eq!(gate.identify(found, None, client).unwrap().name, "ops");
        assert!(
            matches!(gate.identify(found, None, client), Err(Refusal::Unknown)),
            "a ticket is good once"
        );
        let stale = gate.tickets.open("someone-removed-from-the-file");
        assert!(gate
            .identify(Some(Presented::Ticket(&stale)), None, client)
            .is_err());
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let req = |value: &str| {
            axum::http::Request::builder()
                .header(AUTHORIZATION, value)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(bearer(&req("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&req("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&req("Basic abc")), None);
        assert_eq!(bearer(&req("Bearer ")), None);
    }
}
