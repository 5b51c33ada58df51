//! `/sign-in` and `/sign-out`: the dashboard's way in. A plain HTML form
//! (no script needed) posts the token once; the answer sets the session
//! cookie and sends the browser on to the page it wanted.

use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::session::{cookie, set_cookie};
use crate::auth::{Caller, Refusal};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(page).post(sign_in))
        .route("/sign-out", post(sign_out))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Where to go once signed in: a path of this server.
    #[serde(default)]
    next: Option<String>,
    /// Why the last attempt failed: `unknown` or `slow`.
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignInForm {
    /// A token of the server's `--auth-tokens` file.
    #[serde(default)]
    token: String,
    /// Where to go once signed in: a path of this server.
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after signing in: a path of this server, never another site
/// (`//evil.example`, `https://…`, `/\evil`).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p
        }
        _ => "/",
    }
}

/// A form body (`application/x-www-form-urlencoded`, or no content type),
/// refused as JSON like every other bad request rather than axum's text.
fn form_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, crate::views::Failure> {
    use crate::views::Failure;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("expected Content-Type: application/x-www-form-urlencoded, got {ct:?}"),
            ));
        }
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| Failure::bad_request("invalid_form", format!("the form does not read: {e}")))
}

/// Text for HTML, inert.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Whether the browser reached the server over HTTPS (directly, or through
/// a proxy that says so), so that the cookie is only ever sent over it.
fn over_https(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
        || state
            .config
            .external_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

fn frame(body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>Sign in · Shiioo</title><link rel=\"stylesheet\" href=\"/pkg/shiioo.css\">\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"></head>\
         <body><main id=\"main\" class=\"sign-in\"><h1><span class=\"brand-mark\" aria-hidden=\"true\">◆</span> Shiioo</h1>\
         {body}</main></body></html>"
    ))
}

#[utoipa::path(
    get, path = "/sign-in", summary = "Sign-in page", tag = "access", params(PageQuery),
    responses((status = 200, description = "The sign-in page (HTML): a form that posts a token once.", content_type = "text/html", body = String))
)]
pub(crate) async fn page(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Html<String> {
    let next = escape(local_path(query.next.as_deref()));
    if state.gate.is_open() {
        return frame(
            "<p>This server asks for no token (it has no <code>--auth-tokens</code>): \
             there is nothing to sign in to.</p><p><a class=\"button primary\" href=\"/\">Open the dashboard</a></p>",
        );
    }
    let signed_in = state
        .gate
        .session_identity(cookie(&headers))
        .filter(|_| identity.name != "anonymous");
    if let Some(who) = signed_in {
        return frame(&format!(
            "<p>Signed in as <strong>{}</strong> ({}).</p>\
             <form method=\"post\" action=\"/sign-out\"><button class=\"button\" type=\"submit\">Sign out</button></form>\
             <p><a href=\"{next}\">Back to the dashboard</a></p>",
            escape(&who.name),
            who.role.as_str()
        ));
    }
    let error = match query.error.as_deref() {
        Some("unknown") => "<p class=\"error\" role=\"alert\">That token is not one of this server's.</p>",
        Some("slow") => "<p class=\"error\" role=\"alert\">Too many failed attempts from this address; wait a little and try again.</p>",
        _ => "",
    };
    frame(&format!(
        "{error}<form method=\"post\" action=\"/sign-in\" class=\"sign-in-form\">\
         <label for=\"token\">Token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <button class=\"button primary\" type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">A token of the server's <code>--auth-tokens</code> file; it is sent once, and a session cookie is kept instead.</p>"
    ))
}

#[utoipa::path(
    post, path = "/sign-in", summary = "Sign in", tag = "access",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: `Set-Cookie` holds the session, `Location` the page asked for; or not, and `Location` is the sign-in page saying why.",
            headers(("Location" = String, description = "Where the browser goes next."))),
        (status = 415, description = "The body is not a form (`unsupported_media_type`).", body = wire::ApiError)
    )
)]
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Response {
    let headers = &parts.headers;
    let form = match form_body::<SignInForm>(headers, &body) {
        Ok(form) => form,
        Err(failure) => return failure.into_response(),
    };
    let next = local_path(form.next.as_deref()).to_string();
    let back = |error: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("error", error)
            .append_pair("next", &next)
            .finish();
        see_other(&format!("/sign-in?{query}"))
    };
    if state.gate.is_open() {
        return see_other(&next);
    }
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match state.gate.check_token(form.token.trim(), client) {
        Ok(identity) => {
            let id = state.gate.sessions.open(&identity.name);
            let mut response = see_other(&next);
            let cookie = set_cookie(
                Some(&id),
                state.gate.sessions.ttl(),
                over_https(&state, headers),
            );
            response
                .headers_mut()
                .insert(SET_COOKIE, HeaderValue::from_str(&cookie).expect("hex ids"));
            tracing::info!(identity = %identity.name, "signed in");
            response
        }
        Err(Refusal::Slow(_)) => back("slow"),
        Err(_) => back("unknown"),
    }
}

#[utoipa::path(
    post, path = "/sign-out", summary = "Sign out", tag = "access",
    responses((status = 303, description = "The session is ended and its cookie cleared; `Location` is the sign-in page.",
        headers(("Location" = String, description = "The sign-in page.")))
    )
)]
pub(crate) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers) {
        state.gate.sessions.end(id);
    }
    let mut response = see_other("/sign-in");
    let cookie = set_cookie(
        None,
        state.gate.sessions.ttl(),
        over_https(&state, &headers),
    );
    response
        .headers_mut()
        .insert(SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII"));
    response
}

/// `GET /api/session`: who the caller is (`anonymous` on an open server).
#[utoipa::path(
    get, path = "/api/session", summary = "Who am I", tag = "access",
    responses((status = 200, description = "Who the caller is, as the server authenticated them.", body = wire::Session))
)]
pub async fn whoami(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Json<wire::Session> {
    Json(wire::Session {
        name: identity.name.clone(),
        role: identity.role.as_str().into(),
        open: state.gate.is_open(),
    })
}

/// `POST /api/ws/ticket`: a one-use WebSocket pass for the caller, so that
/// a script holding a token can open `/api/ws` from a browser.
#[utoipa::path(
    post, path = "/api/ws/ticket", summary = "Get a WebSocket ticket", tag = "access",
    responses((status = 201, description = "A ticket that opens one WebSocket as the caller within 30 s.", body = wire::WsTicket))
)]
pub async fn ws_ticket(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> (StatusCode, Json<wire::WsTicket>) {
    let ticket = state.gate.tickets.open(&identity.name);
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(crate::auth::TICKET_TTL).expect("a short span");
    let url = format!("{}?ticket={ticket}", crate::auth::WS_PATH);
    (
        StatusCode::CREATED,
        Json(wire::WsTicket {
            ticket,
            expires_at,
            url,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/traces/01A?x=1")), "/traces/01A?x=1");
        for other in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(other)), "/", "{other:?}");
        }
        assert_eq!(local_path(None), "/");
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
