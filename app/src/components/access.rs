//! What the signed-in identity may do, so that the dashboard does not offer
//! buttons it would refuse (the server decides either way: a refused action
//! answers 403 and the page shows why).
//!
//! Known only in the browser, after hydration (`GET /api/session`): the
//! server-rendered page and the first client render both show every
//! button, so they always agree; a viewer's buttons go once the session is
//! read.

use leptos::prelude::*;
use wire::Session;

#[derive(Clone, Copy)]
pub struct Access(RwSignal<Option<Session>>);

/// Reads the session once the page is live.
pub fn provide_access() {
    let session = RwSignal::new(None::<Session>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(s) = crate::api::session().await {
                session.set(Some(s));
            }
        });
    });
    provide_context(Access(session));
}

/// Roles in order, each including the ones before it (the server's order).
fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 0,
        "operator" => 1,
        "approver" => 2,
        "admin" => 3,
        _ => 0,
    }
}

/// Whether the caller may act as `role`: yes on an open server, and while
/// the session is not known yet.
pub fn may(role: &'static str) -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let access = use_context::<Access>();
    move || {
        access
            .and_then(|a| a.0.get())
            .is_none_or(|s| s.open || rank(&s.role) >= rank(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        assert!(rank("admin") > rank("approver") && rank("approver") > rank("operator"));
        assert!(rank("operator") > rank("viewer"));
        assert_eq!(rank("unknown"), 0);
    }
}
