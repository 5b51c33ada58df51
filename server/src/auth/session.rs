//! The dashboard's sessions: a token entered once on `/sign-in` becomes a
//! random session id in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! under HTTPS), which the browser then sends with every page, fetch and
//! WebSocket upgrade. Sessions live in memory (a restart signs everyone
//! out), expire, and name an identity, not a role: a session of an
//! identity the tokens file no longer has is void, and one whose role
//! changed has the new role.
//!
//! WebSocket tickets are sessions too, of a few seconds and one use: a
//! script in a browser cannot set `Authorization` on a WebSocket, so it
//! trades its token for a ticket over REST and opens
//! `/api/ws?ticket=…` with it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use parking_lot::Mutex;

use super::tokens::sha256;

pub const COOKIE_NAME: &str = "shiioo_session";

pub struct Sessions {
    /// By the SHA-256 of the session id: a dump of memory holds no cookie.
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
    ttl: Duration,
}

struct Session {
    name: String,
    expires: Instant,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            by_hash: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session of the identity `name`; its id, for the cookie.
    pub fn open(&self, name: &str) -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS has randomness");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self.by_hash.lock();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            sha256(&id),
            Session {
                name: name.to_string(),
                expires: now + self.ttl,
            },
        );
        id
    }

    /// The identity of a live session.
    pub fn find(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut sessions = self.by_hash.lock();
        let hash = sha256(id);
        match sessions.get(&hash) {
            Some(s) if s.expires > now => Some(s.name.clone()),
            Some(_) => {
                sessions.remove(&hash);
                None
            }
            None => None,
        }
    }

    /// The identity of a live session, which ends here: a ticket is good
    /// for one use.
    pub fn take(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        self.by_hash
            .lock()
            .remove(&sha256(id))
            .filter(|s| s.expires > now)
            .map(|s| s.name)
    }

    pub fn end(&self, id: &str) {
        self.by_hash.lock().remove(&sha256(id));
    }
}

/// The session id of a request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` of a new session, or (`id` = None) of signing out.
pub fn set_cookie(id: Option<&str>, ttl: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ttl.as_secs()
        ),
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let id = sessions.open("ann");
        assert_eq!(id.len(), 64);
        assert_ne!(sessions.open("ann"), id, "each session its own id");
        assert_eq!(sessions.find(&id).as_deref(), Some("ann"));
        assert_eq!(sessions.find("0000"), None);
        sessions.end(&id);
        assert_eq!(sessions.find(&id), None);
        let ticket = sessions.open("cy");
        assert_eq!(sessions.take(&ticket).as_deref(), Some("cy"));
        assert_eq!(sessions.take(&ticket), None, "one use");
        let short = sessions.open("bob");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.find(&short), None, "expired");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "theme=dark; shiioo_session=abc123".parse().unwrap());
        assert_eq!(cookie(&headers), Some("abc123"));
        let mut none = HeaderMap::new();
        none.append(COOKIE, "shiioo_sessionx=1; other=2".parse().unwrap());
        assert_eq!(cookie(&none), None);
        let set = set_cookie(Some("abc"), Duration::from_secs(60), true);
        assert_eq!(
            set,
            "shiioo_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert!(set_cookie(None, Duration::ZERO, false).contains("Max-Age=0"));
    }
}
