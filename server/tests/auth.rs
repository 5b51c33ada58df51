//! Authentication and roles against the real server: every route of the
//! API (read from `api/mod.rs`, so a new route is in the matrix at once) ×
//! {no token, a bad token, viewer, operator, approver, admin} answers as
//! `auth/policy.rs` says; the WebSocket, pages, `/metrics`, the rate limit
//! of failed attempts, the refusal to listen openly off loopback, and a
//! tokens file re-read on SIGHUP.

mod common;

use std::sync::Arc;

use common::{eventually, free_port, guide_job, TestServer};
use serde_json::{json, Value};
use server::auth::policy::{need, routes_in_source, Need};
use server::auth::Role;
use server::config::Config;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// One identity per role; the token of each is `<role>-token-0123456789`.
const TOKENS: &str = r#"
[[token]]
name = "vic"
role = "viewer"
token = "viewer-token-0123456789"

[[token]]
name = "olga"
role = "operator"
token = "operator-token-0123456789"

[[token]]
name = "ann"
role = "approver"
token = "approver-token-0123456789"

[[token]]
name = "root"
role = "admin"
token = "admin-token-0123456789"
"#;

fn token(role: Role) -> String {
    format!("{}-token-0123456789", role.as_str())
}

async fn start(metrics_public: bool) -> TestServer {
    start_with(|config| config.metrics_public = metrics_public).await
}

async fn start_with(change: impl FnOnce(&mut Config)) -> TestServer {
    let data = Arc::new(tempfile::tempdir().unwrap());
    let tokens = data.path().join("tokens.toml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut config = Config::for_tests(data.path());
    config.auth_tokens = Some(tokens);
    change(&mut config);
    TestServer::start_with(config, data).await
}

/// A request as `who` makes it: no token, a wrong one, or a role's.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Impostor,
    Role(Role),
}

async fn call(
    server: &TestServer,
    who: Who,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.http.request(method, server.url(path));
    match who {
        Who::Nobody => {}
        Who::Impostor => request = request.bearer_auth("not-a-token-of-this-server"),
        Who::Role(role) => request = request.bearer_auth(token(role)),
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    (status, headers, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_policy_says() {
    // The matrix is a guesser: it presents a bad token to every route.
    let server = start_with(|config| config.auth_failure_burst = 10_000).await;
    let admin = Who::Role(Role::Admin);
    // Something for every path parameter to name.
    let (_, _, job) = call(&server, admin, "POST", "/api/jobs", Some(guide_job())).await;
    let job_id = job["job_id"].as_str().unwrap().to_string();
    let run_id = job["run_id"].as_str().unwrap().to_string();
    let (status, routine) = {
        let (s, _, b) = call(
            &server,
            admin,
            "POST",
            "/api/routines",
            Some(json!({"name": "nightly", "job_id": job_id, "cron": "0 0 3 * * *"})),
        )
        .await;
        (s, b)
    };
    assert_eq!(status, 201, "{routine}");
    let routine_id = routine["routine_id"].as_str().unwrap().to_string();
    let fill = |template: &str| {
        template
            .replace("{job_id}", &job_id)
            .replace("{run_id}", &run_id)
            .replace("{routine_id}", &routine_id)
            .replace("{approval_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{name}", "success_rate")
            .replace("{workflow_id}", "monthly_report_generation")
    };
    let routes = routes_in_source(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mod.rs")).unwrap(),
    );
    assert!(routes.len() > 30);
    // Deleting the routine last, so that every other route still finds it.
    let mut routes = routes;
    routes.sort_by_key(|(method, _)| method == "DELETE");
    let mut checked = 0;
    for (method, template) in &routes {
        let path = fill(template);
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let Need::Role(needed) = need(&method.parse().unwrap(), template, false) else {
            // Only the deliberate list is open: the API's own description.
            assert!(
                server::auth::policy::OPEN.contains(&(method.as_str(), template.as_str())),
                "{method} {template} is open to anyone"
            );
            let (status, _, _) = call(&server, Who::Nobody, method, &path, None).await;
            assert!(status == 200 || status == 404, "{method} {path}: {status}");
            continue;
        };
        for who in [Who::Nobody, Who::Impostor] {
            let (status, headers, body) = call(&server, who, method, &path, body.clone()).await;
            assert_eq!(status, 401, "{who:?} {method} {path}: {body}");
            assert_eq!(body["error"], "unauthorized");
            assert_eq!(headers["www-authenticate"], "Bearer realm=\"shiioo\"");
        }
        for role in Role::ALL {
            let (status, _, answer) =
                call(&server, Who::Role(role), method, &path, body.clone()).await;
            if role < needed {
                assert_eq!(status, 403, "{role:?} {method} {path}: {answer}");
                assert_eq!(answer["error"], "forbidden");
            } else {
                assert!(
                    status != 401 && status != 403,
                    "{role:?} {method} {path}: {status} {answer}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 35, "{checked}");
}

#[tokio::test]
async fn pages_the_websocket_and_metrics_want_a_viewer() {
    let server = start(false).await;
    for path in [
        "/",
        "/workflows",
        "/traces",
        "/run",
        "/metrics",
        "/api/metrics/prometheus",
    ] {
        let (status, _, _) = call(&server, Who::Nobody, "GET", path, None).await;
        assert_eq!(status, 401, "{path}");
        let (status, _, _) = call(&server, Who::Role(Role::Viewer), "GET", path, None).await;
        assert_eq!(status, 200, "{path}");
    }
    // The dashboard's assets stay public: the sign-in page needs them.
    let css = server
        .http
        .get(server.url("/pkg/shiioo.css"))
        .send()
        .await
        .unwrap();
    assert_ne!(css.status(), 401);

    // The WebSocket: refused without a token, the guide's protocol with one.
    let url = format!("ws://{}/api/ws", server.addr);
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!(
            "upgraded without a token: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token(Role::Viewer)).parse().unwrap(),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut ws = common::Ws { stream };
    ws.send_json(json!({"action": "SubscribeAll"})).await;
    ws.next_of_type("Subscribed").await;
    let (_, _, job) = call(
        &server,
        Who::Role(Role::Operator),
        "POST",
        "/api/jobs",
        Some(guide_job()),
    )
    .await;
    let update = ws.next_of_type("WorkflowUpdate").await;
    assert_eq!(update["run_id"], job["run_id"]);
}

#[tokio::test]
async fn a_websocket_ticket_opens_one_connection() {
    let server = start(false).await;
    let (status, _, _) = call(&server, Who::Nobody, "POST", "/api/ws/ticket", None).await;
    assert_eq!(status, 401, "a ticket needs a token");
    let (status, _, ticket) = call(
        &server,
        Who::Role(Role::Viewer),
        "POST",
        "/api/ws/ticket",
        None,
    )
    .await;
    assert_eq!(status, 201, "{ticket}");
    let url = ticket["url"].as_str().unwrap();
    let secret = ticket["ticket"].as_str().unwrap();
    assert_eq!(url, format!("/api/ws?ticket={secret}"));
    assert!(ticket["expires_at"].as_str().unwrap() > "2026");

    // Not a token: no other route takes it.
    let (status, _, _) = call(
        &server,
        Who::Nobody,
        "GET",
        &format!("/api/runs?ticket={secret}"),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // No header, only the ticket: the guide's protocol.
    let address = format!("ws://{}{url}", server.addr);
    let (stream, _) = tokio_tungstenite::connect_async(address.as_str())
        .await
        .unwrap();
    let mut ws = common::Ws { stream };
    ws.send_json(json!({"action": "SubscribeAll"})).await;
    ws.next_of_type("Subscribed").await;

    // Used once, it is spent.
    match tokio_tungstenite::connect_async(address.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!(
            "a ticket opened a second connection: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
}

#[tokio::test]
async fn metrics_public_opens_only_the_scrape_paths() {
    let server = start(true).await;
    for path in ["/metrics", "/api/metrics/prometheus"] {
        let answer = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert!(answer.text().await.unwrap().contains("# TYPE"));
    }
    let (status, _, _) = call(&server, Who::Nobody, "GET", "/api/metrics", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn guessing_tokens_is_slowed_and_counted() {
    let server = start(false).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            call(&server, Who::Impostor, "GET", "/api/runs", None)
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[11], 429, "{statuses:?}");
    let (status, headers, body) =
        call(&server, Who::Role(Role::Viewer), "GET", "/api/runs", None).await;
    assert_eq!(status, 429, "even a good token waits: {body}");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(body["error"], "too_many_failures");
    // Once the wait is over, the good token passes, and the failures show.
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let (status, _, metrics) = call(
        &server,
        Who::Role(Role::Viewer),
        "GET",
        "/api/metrics?name=auth_failures_total",
        None,
    )
    .await;
    assert_eq!(status, 200, "{metrics}");
    let count = |reason: &str| {
        metrics["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["labels"]["reason"] == reason)
            .and_then(|c| c["value"].as_u64())
            .unwrap()
    };
    assert!(count("unknown") >= 11, "{metrics}");
    assert!(count("rate_limited") >= 2, "{metrics}");
}

#[tokio::test]
async fn an_open_server_listens_only_on_loopback() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data.path());
    config.addr = "0.0.0.0:0".parse().unwrap();
    let refused = server::Server::bind(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(refused.0.contains("--auth-tokens"), "{}", refused.0);
    config.insecure_no_auth = true;
    assert!(server::Server::bind(config).await.is_ok());
}

#[tokio::test]
async fn the_tokens_file_is_read_again_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_shiioo"))
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--auth-tokens")
        .arg(&tokens)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let status = |token: &'static str| {
        let http = http.clone();
        async move {
            http.get(format!("http://127.0.0.1:{port}/api/health/status"))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }
    };
    eventually("the server up", async || {
        status("viewer-token-0123456789")
            .await
            .filter(|s| *s == 200)
    })
    .await;
    std::fs::write(
        &tokens,
        "[[token]]\nname = \"newcomer\"\nrole = \"viewer\"\ntoken = \"a-token-added-later\"\n",
    )
    .unwrap();
    assert_eq!(
        status("a-token-added-later").await,
        Some(401),
        "not before the signal"
    );
    let pid = child.id().unwrap() as i32;
    // SAFETY: kill(2) with a signal number, on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    eventually("the new token accepted", async || {
        status("a-token-added-later").await.filter(|s| *s == 200)
    })
    .await;
    assert_eq!(
        status("viewer-token-0123456789").await,
        Some(401),
        "the old one is gone"
    );
    let _ = child.kill().await;
}

/// Starts a run whose one step awaits the votes of `approvers` (all of
/// them); the path to vote on it.
async fn awaiting_votes(server: &TestServer, approvers: Value) -> String {
    let operator = Who::Role(Role::Operator);
    let job = json!({"name": "Release", "execute": true, "workflow": {
        "steps": [{"id": "sign_off", "action": {"manual_approval": {"approvers": approvers, "quorum": "unanimous"}}}]
    }});
    let (status, _, created) = call(server, operator, "POST", "/api/jobs", Some(job)).await;
    assert_eq!(status, 201, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let approval = eventually("the approval", async || {
        let (_, _, list) = call(
            server,
            operator,
            "GET",
            "/api/approvals?status=pending",
            None,
        )
        .await;
        list["approvals"]
            .as_array()?
            .iter()
            .find(|a| a["run_id"] == run_id.as_str())
            .cloned()
    })
    .await;
    format!(
        "/api/approvals/{}/vote",
        approval["approval_id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_vote_is_cast_by_the_callers_identity() {
    let server = start(false).await;
    let operator = Who::Role(Role::Operator);
    let vote = awaiting_votes(&server, json!(["ann", "root"])).await;
    let approver = Who::Role(Role::Approver);

    // Under someone else's name: refused, naming the field.
    let (status, _, body) = call(
        &server,
        approver,
        "POST",
        &vote,
        Some(json!({"voter": "root", "decision": "approve"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (403, Some("voter_mismatch"), Some("voter"))
    );
    // An operator is below approver: the gate refuses before the vote.
    let (status, _, _) = call(
        &server,
        operator,
        "POST",
        &vote,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 403);
    // As itself, with or without naming itself.
    let (status, _, body) = call(
        &server,
        approver,
        "POST",
        &vote,
        Some(json!({"voter": "ann", "decision": "approve"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["votes"][0]["voter"], "ann");
    let (status, _, body) = call(
        &server,
        approver,
        "POST",
        &vote,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 409, "ann already voted: {body}");
    let (status, _, body) = call(
        &server,
        Who::Role(Role::Admin),
        "POST",
        &vote,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["votes"][1]["voter"], "root");
}

#[tokio::test]
async fn only_the_steps_approvers_may_vote() {
    let server = start(false).await;
    let admin = Who::Role(Role::Admin);
    let vote = awaiting_votes(&server, json!(["ann"])).await;
    let (status, _, body) = call(
        &server,
        admin,
        "POST",
        &vote,
        Some(json!({"decision": "approve"})),
    )
    .await;
    assert_eq!(status, 403, "root is no approver of this step: {body}");
    assert!(body["message"].as_str().unwrap().contains("root"), "{body}");
}

/// A client that keeps no cookies and follows no redirects: what a test
/// needs to see each answer of the sign-in dance.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_signs_in_once_and_keeps_a_session() {
    let server = start(false).await;
    let http = browser();
    let page = |cookie: Option<String>| {
        let mut request = http
            .get(server.url("/traces?x=1"))
            .header("accept", "text/html");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        async move { request.send().await.unwrap() }
    };
    // A browser without a session is sent to sign in, and back after.
    let answer = page(None).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()["location"],
        "/sign-in?next=%2Ftraces%3Fx%3D1"
    );
    let form = server
        .http
        .get(server.url("/sign-in?next=%2Ftraces"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("type=\"password\""));

    let sign_in = |token: &str, extra: Option<(&str, &str)>| {
        let mut request = http
            .post(server.url("/sign-in"))
            .form(&[("token", token), ("next", "/traces?x=1")]);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap() }
    };
    let wrong = sign_in("not-a-token-of-this-server", None).await;
    assert_eq!(wrong.status(), 303);
    assert!(wrong.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/sign-in?error=unknown"));
    assert!(wrong.headers().get("set-cookie").is_none());

    let right = sign_in(&token(Role::Approver), None).await;
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()["location"], "/traces?x=1");
    let set = right.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in [
        "shiioo_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_string();

    // The session opens pages, the API and the WebSocket, as its identity.
    assert_eq!(page(Some(cookie.clone())).await.status(), 200);
    let me: Value = http
        .get(server.url("/api/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me,
        json!({"name": "ann", "role": "approver", "open": false})
    );
    let mut request = format!("ws://{}/api/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());

    // Under HTTPS (as a proxy says), the cookie is Secure.
    let secure = sign_in(&token(Role::Viewer), Some(("x-forwarded-proto", "https"))).await;
    assert!(secure.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("; Secure"));

    // Signing out ends the session, on the server too.
    let out = http
        .post(server.url("/sign-out"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(page(Some(cookie.clone())).await.status(), 303);
    let api = http
        .get(server.url("/api/runs"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API answers 401, never a redirect");

    // Another site's form cannot sign anyone in or out.
    let forged = sign_in(&token(Role::Admin), Some(("origin", "http://evil.example"))).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());
    // A sign-in never sends the browser off-site.
    let off = http
        .post(server.url("/sign-in"))
        .form(&[
            ("token", token(Role::Viewer).as_str()),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(off.headers()["location"], "/");
}

#[tokio::test]
async fn an_open_server_has_nothing_to_sign_in_to() {
    let server = TestServer::start().await;
    let page = server.text("/sign-in").await;
    assert!(page.contains("nothing to sign in to"), "{page}");
    let (_, me) = server.get("/api/session").await;
    assert_eq!(
        me,
        json!({"name": "anonymous", "role": "admin", "open": true})
    );
}

#[tokio::test]
async fn the_audit_trail_says_who_did_what_and_lasts() {
    let server = start(false).await;
    let operator = Who::Role(Role::Operator);
    let admin = Who::Role(Role::Admin);
    let mut long = guide_job();
    long["workflow"]["steps"][0]["simulation"] = json!({"latency_ms": [600000, 600000]});
    let (_, _, created) = call(&server, operator, "POST", "/api/jobs", Some(long)).await;
    let run_id = created["run_id"].as_str().unwrap().to_string();
    let (status, _, _) = call(
        &server,
        admin,
        "POST",
        &format!("/api/runs/{run_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let (status, _, _) = call(
        &server,
        operator,
        "PUT",
        "/api/alerts/rules/pending_approvals",
        Some(json!({"threshold": 5})),
    )
    .await;
    assert_eq!(status, 200);
    let vote = awaiting_votes(&server, json!(["ann"])).await;
    let (status, _, _) = call(
        &server,
        Who::Role(Role::Approver),
        "POST",
        &vote,
        Some(json!({"decision": "approve", "comment": "ship it"})),
    )
    .await;
    assert_eq!(status, 200);

    let run = eventually("the run cancelled", async || {
        let (_, _, run) = call(
            &server,
            operator,
            "GET",
            &format!("/api/runs/{run_id}"),
            None,
        )
        .await;
        (run["status"] == "Cancelled").then_some(run)
    })
    .await;
    assert_eq!(
        (run["created_by"].as_str(), run["cancelled_by"].as_str()),
        (Some("olga"), Some("root"))
    );

    let actions = |audit: &Value| -> Vec<(String, String)> {
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap_or("?").to_string(),
                    e["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (status, _, audit) =
        call(&server, Who::Role(Role::Viewer), "GET", "/api/audit", None).await;
    assert_eq!(status, 200, "{audit}");
    let want: Vec<(String, String)> = [
        ("ann", "vote"),
        ("olga", "start_run"),
        ("olga", "create_job"),
        ("olga", "set_alert_rule"),
        ("root", "cancel_run"),
        ("olga", "start_run"),
        ("olga", "create_job"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(actions(&audit), want, "{audit}");
    assert_eq!(audit["entries"][0]["detail"], "approve");
    assert_eq!(audit["entries"][4]["target"], run_id.as_str());
    let (_, _, mine) = call(
        &server,
        operator,
        "GET",
        "/api/audit?actor=olga&limit=2",
        None,
    )
    .await;
    assert_eq!(
        actions(&mine),
        [
            ("olga".to_string(), "start_run".to_string()),
            ("olga".into(), "create_job".into())
        ]
    );
    let (status, _, body) = call(&server, operator, "GET", "/api/audit?limit=0", None).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("limit")));

    // Rebuilt from the log after a restart.
    let restarted = server.restart().await;
    let (_, after) = restarted.get("/api/audit").await;
    assert_eq!(actions(&after), want);
}

#[tokio::test]
async fn routine_rule_and_trace_views_say_who_changed_them() {
    let server = start(false).await;
    let (operator, admin) = (Who::Role(Role::Operator), Who::Role(Role::Admin));
    let (_, _, job) = call(&server, operator, "POST", "/api/jobs", Some(guide_job())).await;
    let (_, _, routine) = call(
        &server,
        operator,
        "POST",
        "/api/routines",
        Some(json!({"name": "nightly", "job_id": job["job_id"], "cron": "0 0 3 * * *"})),
    )
    .await;
    assert_eq!(
        (
            routine["created_by"].as_str(),
            routine["updated_by"].as_str()
        ),
        (Some("olga"), Some("olga")),
        "{routine}"
    );
    let id = routine["routine_id"].as_str().unwrap();
    let (status, _, _) = call(
        &server,
        admin,
        "POST",
        &format!("/api/routines/{id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, _, routine) = call(
        &server,
        operator,
        "GET",
        &format!("/api/routines/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (
            routine["created_by"].as_str(),
            routine["updated_by"].as_str()
        ),
        (Some("olga"), Some("root")),
        "{routine}"
    );
    assert!(routine["updated_at"].as_str() >= routine["created_at"].as_str());

    // A shipped rule names nobody until someone changes it.
    let (_, _, rule) = call(
        &server,
        operator,
        "GET",
        "/api/alerts/rules/success_rate",
        None,
    )
    .await;
    assert!(
        rule["updated_by"].is_null() && rule["updated_at"].is_null(),
        "{rule}"
    );
    let (_, _, rule) = call(
        &server,
        admin,
        "PUT",
        "/api/alerts/rules/success_rate",
        Some(json!({"threshold": 90})),
    )
    .await;
    assert_eq!(rule["updated_by"], "root", "{rule}");
    let (_, _, listed) = call(&server, operator, "GET", "/api/alerts/rules", None).await;
    let listed = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "success_rate")
        .cloned()
        .unwrap();
    assert_eq!(listed["updated_by"], "root");
    assert_eq!(listed["updated_at"], rule["updated_at"]);

    let trace = format!("/api/analytics/traces/{}", job["run_id"].as_str().unwrap());
    let (_, _, trace) = call(&server, operator, "GET", &trace, None).await;
    assert_eq!(trace["created_by"], "olga", "{trace}");

    // All of it comes back from the log.
    let restarted = server.restart().await;
    let (_, routine) = restarted.get(&format!("/api/routines/{id}")).await;
    assert_eq!(routine["updated_by"], "root");
    let (_, rule) = restarted.get("/api/alerts/rules/success_rate").await;
    assert_eq!(rule["updated_by"], "root");
}
