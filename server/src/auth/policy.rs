//! Who may call what: one table for the whole HTTP surface.
//!
//! Every `GET` and `HEAD` (the API's reads, the dashboard's pages, the
//! WebSocket) needs a `viewer`. Every route that changes state is listed in
//! [`ACTIONS`] with the role it needs; one that is not (a route added
//! without a policy) needs an `admin`, so it fails closed, and the test
//! `every_route_that_acts_has_a_policy` names it.

use axum::http::Method;

use super::tokens::Role;

/// What a request needs before it reaches its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Anyone,
    Role(Role),
}

/// The routes that act, by method and route template, and the least role
/// that may call each.
pub const ACTIONS: &[(&str, &str, Role)] = &[
    ("POST", "/api/jobs", Role::Operator),
    ("POST", "/api/jobs/{job_id}/runs", Role::Operator),
    ("POST", "/api/runs/{run_id}/cancel", Role::Operator),
    ("POST", "/api/routines", Role::Operator),
    ("PUT", "/api/routines/{routine_id}", Role::Operator),
    ("PATCH", "/api/routines/{routine_id}", Role::Operator),
    ("DELETE", "/api/routines/{routine_id}", Role::Operator),
    ("POST", "/api/routines/{routine_id}/enable", Role::Operator),
    ("POST", "/api/routines/{routine_id}/disable", Role::Operator),
    ("PUT", "/api/alerts/rules/{name}", Role::Operator),
    ("POST", "/api/approvals/{approval_id}/vote", Role::Approver),
    // A ticket lets its holder do what a viewer's token does: subscribe.
    ("POST", "/api/ws/ticket", Role::Viewer),
];

/// The routes anyone may call: the way in and out of the dashboard (they
/// check the token themselves), and the API's own description (it holds no
/// data, and tools read it before they have a token).
pub const OPEN: &[(&str, &str)] = &[
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/asyncapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/{file}"),
];

/// The Prometheus scrape paths, open to anyone with `--metrics-public`.
pub const SCRAPE_PATHS: [&str; 2] = ["/metrics", "/api/metrics/prometheus"];

/// What `method` on the route `template` needs.
pub fn need(method: &Method, template: &str, metrics_public: bool) -> Need {
    if OPEN
        .iter()
        .any(|(m, t)| *m == method.as_str() && *t == template)
    {
        return Need::Anyone;
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        if metrics_public && SCRAPE_PATHS.contains(&template) {
            return Need::Anyone;
        }
        return Need::Role(Role::Viewer);
    }
    let role = ACTIONS
        .iter()
        .find(|(m, t, _)| *m == method.as_str() && *t == template)
        .map_or(Role::Admin, |(_, _, role)| *role);
    Need::Role(role)
}

/// The API's routes as `api/mod.rs` writes them: `(METHOD, template)` for
/// every `.route("…", get(…).post(…))`, read from its source. For the tests
/// that every route has a policy and that each answers as its policy says.
pub fn routes_in_source(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in source.split(".route(").skip(1) {
        let Some(path) = chunk.split('"').nth(1) else {
            continue;
        };
        // The method routers run to the end of this call.
        let call = chunk.split(".route_layer(").next().unwrap_or_default();
        for method in ["get", "post", "put", "patch", "delete"] {
            let named = call.match_indices(&format!("{method}(")).any(|(at, _)| {
                let before = call[..at].chars().last().unwrap_or(' ');
                !before.is_alphanumeric() && before != '_' && before != ':'
            });
            if named {
                out.push((method.to_uppercase(), format!("/api{path}")));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_a_viewer_and_actions_their_role() {
        assert_eq!(
            need(&Method::GET, "/api/runs", false),
            Need::Role(Role::Viewer)
        );
        assert_eq!(need(&Method::GET, "/", false), Need::Role(Role::Viewer));
        assert_eq!(
            need(&Method::GET, "/metrics", false),
            Need::Role(Role::Viewer)
        );
        assert_eq!(need(&Method::GET, "/metrics", true), Need::Anyone);
        assert_eq!(
            need(&Method::POST, "/api/jobs", false),
            Need::Role(Role::Operator)
        );
        assert_eq!(
            need(&Method::POST, "/api/approvals/{approval_id}/vote", false),
            Need::Role(Role::Approver)
        );
        assert_eq!(
            need(&Method::POST, "/api/unknown", false),
            Need::Role(Role::Admin)
        );
    }

    #[test]
    fn every_route_that_acts_has_a_policy() {
        let routes = routes_in_source(include_str!("../api/mod.rs"));
        assert!(
            routes.len() > 30,
            "read {} routes: {routes:?}",
            routes.len()
        );
        for (method, template) in &routes {
            if method == "GET" {
                continue;
            }
            assert!(
                ACTIONS.iter().any(|(m, t, _)| m == method && t == template),
                "{method} {template} has no policy in auth/policy.rs ACTIONS"
            );
        }
        for (method, template, _) in ACTIONS {
            assert!(
                routes.iter().any(|(m, t)| m == method && t == template),
                "ACTIONS lists {method} {template}, which api/mod.rs does not route"
            );
        }
    }
}
