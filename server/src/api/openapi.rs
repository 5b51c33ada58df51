//! `GET /api/openapi.json`: the API described by itself, as OpenAPI 3.1.
//!
//! The paths come from the `#[utoipa::path]` of each handler and the
//! schemas from the wire types the handlers serialise (`wire`'s `openapi`
//! feature derives them from the same serde attributes), so the document
//! cannot drift from the answers. What every route shares is added here
//! once, from the tables that decide it: the security each route needs
//! (`auth/policy.rs`), and the error answers its shape can produce (a path
//! parameter can name nothing, a body can be malformed, any request can
//! meet a refused token or an unavailable log).

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::auth::policy::{need, Need};

/// A ULID as the API writes one (26 Crockford base-32 characters).
pub const ULID: &str = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$";

/// The path parameters that name something by its ULID.
const ULID_PARAMS: [&str; 4] = ["job_id", "run_id", "routine_id", "approval_id"];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shiioo",
        description = "A workflow engine for LLM-agent workflows that you can see work: jobs and runs, \
            per-step analytics, traces, metrics, alerts, routines and approvals. Every error is a JSON \
            `ApiError` naming the problem and, where there is one, the field.",
        license(name = "MIT")
    ),
    paths(
        super::health::status,
        super::alerts::list,
        super::alerts::history,
        super::alerts::rules,
        super::alerts::prometheus_rules,
        super::alerts::rule,
        super::alerts::put_rule,
        super::analytics::workflows,
        super::analytics::workflow,
        super::analytics::steps,
        super::analytics::traces,
        super::analytics::trace,
        super::analytics::bottlenecks,
        super::analytics::heatmap,
        super::analytics::throughput,
        super::analytics::timeline,
        super::analytics::models,
        super::jobs::create,
        super::jobs::list,
        super::jobs::get,
        super::jobs::start_run,
        super::metrics::json,
        super::metrics::prometheus,
        super::runs::list,
        super::runs::get,
        super::runs::cancel,
        super::routines::create,
        super::routines::list,
        super::routines::get,
        super::routines::replace,
        super::routines::patch,
        super::routines::delete,
        super::routines::enable,
        super::routines::disable,
        super::approvals::list,
        super::approvals::get,
        super::approvals::vote,
        super::audit::list,
        crate::sign_in::whoami,
        crate::sign_in::ws_ticket,
        crate::sign_in::page,
        crate::sign_in::sign_in,
        crate::sign_in::sign_out,
        crate::ws::upgrade,
        document,
        asyncapi,
        docs,
        super::docs::asset,
    ),
    components(schemas(wire::ApiError)),
    tags(
        (name = "jobs", description = "Workflows submitted as jobs, and their runs."),
        (name = "runs", description = "Runs: their state, steps and attempts; cancelling."),
        (name = "analytics", description = "Workflow and step statistics, traces, bottlenecks, throughput."),
        (name = "metrics", description = "Every metric, as JSON or Prometheus text."),
        (name = "alerts", description = "Alerts, their history, and the rules that raise them."),
        (name = "routines", description = "Jobs run on a cron schedule."),
        (name = "approvals", description = "Manual approval steps and their votes."),
        (name = "health", description = "Overall health."),
        (name = "access", description = "Who the caller is, what was done by whom, WebSocket tickets, the dashboard's sign-in."),
        (name = "websocket", description = "Live updates; see `/api/asyncapi.json`."),
        (name = "reference", description = "This document and its browsable form."),
    )
)]
struct ApiDoc;

/// The OpenAPI document of the server, built once.
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        doc["info"]["version"] = json!(crate::VERSION);
        with_conventions(&mut doc);
        doc
    })
}

/// `GET /api/openapi.json`
#[utoipa::path(
    get, path = "/api/openapi.json", summary = "This OpenAPI document", tag = "reference",
    responses((status = 200, description = "This document: OpenAPI 3.1.", content_type = "application/json", body = Object))
)]
pub async fn document() -> impl IntoResponse {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    json_bytes(BYTES.get_or_init(|| bytes(openapi())))
}

/// `GET /api/asyncapi.json`
#[utoipa::path(
    get, path = "/api/asyncapi.json", summary = "The WebSocket's AsyncAPI document", tag = "reference",
    responses((status = 200, description = "The WebSocket `/api/ws` as an AsyncAPI 3.0 document.", content_type = "application/json", body = Object))
)]
pub async fn asyncapi() -> impl IntoResponse {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    json_bytes(BYTES.get_or_init(|| bytes(super::asyncapi::asyncapi())))
}

/// `GET /api/docs`
#[utoipa::path(
    get, path = "/api/docs", summary = "This reference", tag = "reference",
    responses((status = 200, description = "A browsable reference of this API (Swagger UI, served by the server itself).", content_type = "text/html", body = String))
)]
pub async fn docs() -> impl IntoResponse {
    super::docs::page()
}

fn bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).expect("a JSON value serialises")
}

fn json_bytes(bytes: &'static [u8]) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        axum::body::Bytes::from_static(bytes),
    )
}

/// The guide's example job (`PHASE6_GUIDE.md`), the example of `POST /api/jobs`.
pub fn guide_job() -> Value {
    json!({
        "name": "Monthly Report Generation",
        "workflow": {
            "steps": [
                {"id": "fetch_data", "name": "Fetch Data", "role": "data_analyst",
                 "action": {"agent_task": {"prompt": "Fetch monthly data"}}},
                {"id": "analyze_data", "name": "Analyze Data", "role": "data_analyst",
                 "action": {"agent_task": {"prompt": "Analyze the data"}}},
                {"id": "generate_charts", "name": "Generate Charts", "role": "visualization_agent",
                 "action": {"agent_task": {"prompt": "Create visualizations"}}},
                {"id": "create_report", "name": "Create Report", "role": "report_writer",
                 "action": {"agent_task": {"prompt": "Write final report"}}}
            ],
            "dependencies": {
                "analyze_data": ["fetch_data"],
                "generate_charts": ["analyze_data"],
                "create_report": ["generate_charts"]
            }
        },
        "execute": true
    })
}

/// The guide's example answers (by path) and WebSocket messages (by name),
/// copied from `PHASE6_GUIDE.md`.
pub(super) fn guide_examples() -> &'static Value {
    static EXAMPLES: OnceLock<Value> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        serde_json::from_str(include_str!("guide_examples.json")).expect("the examples are JSON")
    })
}

/// The error answers every route can give, by name in `components.responses`.
fn shared_responses() -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}
        })
    };
    let mut slow = error(
        "Too many failed authentications from this address (`too_many_failures`); `Retry-After` says when to try again.",
    );
    slow["headers"] =
        json!({"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}});
    let mut unauthorized = error("No token, or one this server does not know (`unauthorized`).");
    unauthorized["headers"] = json!({"WWW-Authenticate": {"description": "`Bearer realm=\"shiioo\"`", "schema": {"type": "string"}}});
    json!({
        "BadRequest": error("A malformed query parameter, path parameter or body; `field` names it."),
        "Unauthorized": unauthorized,
        "Forbidden": error("The caller's role may not do this (`forbidden`), or the request comes from another site (`origin_not_allowed`, `host_not_allowed`)."),
        "NotFound": error("Nothing has that id or name (`not_found`)."),
        "PayloadTooLarge": error("The body is over 1 MiB (`payload_too_large`)."),
        "UnsupportedMediaType": error("The body is not `application/json` (`unsupported_media_type`)."),
        "Unprocessable": error("Well-formed JSON of the wrong shape or with invalid values; `field` names it."),
        "TooManyRequests": slow,
        "Unavailable": error("The event log cannot be read or written just now (`log_unavailable`, `shutting_down`): nothing was changed."),
    })
}

/// Adds what every operation shares: its security and its error answers.
fn with_conventions(doc: &mut Value) {
    doc["components"]["responses"] = shared_responses();
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A token of the server's `--auth-tokens` file. A server without one is open to anyone on loopback."},
        "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::session::COOKIE_NAME,
                    "description": "The dashboard's session, from `POST /sign-in`."}
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if let Some(example) = guide_examples()["responses"].get(path) {
            let answer = &mut item["get"]["responses"]["200"]["content"]["application/json"];
            if answer.is_object() {
                answer["example"] = example.clone();
            }
        }
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Ok(method) = method.to_uppercase().parse::<axum::http::Method>() else {
                continue;
            };
            decorate(&method, path, op);
        }
    }
    // Prometheus's conventional scrape path answers what the API's does.
    if let Some(mut root) = paths.get("/api/metrics/prometheus").cloned() {
        root["get"]["operationId"] = json!("scrape_metrics");
        paths.insert("/metrics".into(), root);
    }
}

/// An operation's id, from its summary ("Get a run" → `get_run`): names a
/// client generator can use, unique because the summaries are.
fn operation_id(summary: &str) -> String {
    summary
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .filter(|w| !matches!(w.as_str(), "a" | "an" | "the" | "of" | "as" | "for"))
        .collect::<Vec<_>>()
        .join("_")
}

fn decorate(method: &axum::http::Method, path: &str, op: &mut Value) {
    let needs = need(method, path, false);
    let has_path_params = path.contains('{');
    let has_query = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let has_body = op.get("requestBody").is_some();
    let json_body = op["requestBody"]["content"]
        .as_object()
        .is_some_and(|c| c.contains_key("application/json"));
    let Some(op) = op.as_object_mut() else {
        return;
    };
    if let Some(summary) = op.get("summary").and_then(Value::as_str) {
        let id = operation_id(summary);
        op.insert("operationId".into(), json!(id));
    }
    // Ids are ULIDs: say so once, for every operation that takes one.
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            let is_id = p["name"].as_str().is_some_and(|n| ULID_PARAMS.contains(&n));
            if p["in"] == "path" && is_id {
                p["schema"]["pattern"] = json!(ULID);
            }
        }
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let mut add = |status: &str, name: &str| {
        responses
            .entry(status)
            .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
    };
    if has_path_params || has_query || has_body {
        add("400", "BadRequest");
    }
    if has_path_params {
        add("404", "NotFound");
    }
    if json_body {
        add("413", "PayloadTooLarge");
        add("415", "UnsupportedMediaType");
        add("422", "Unprocessable");
    }
    add("403", "Forbidden");
    add("503", "Unavailable");
    match needs {
        Need::Anyone => {
            op.insert("security".into(), json!([]));
        }
        Need::Role(role) => {
            add("401", "Unauthorized");
            add("429", "TooManyRequests");
            op.insert("security".into(), json!([{"bearer": []}, {"session": []}]));
            op.insert("x-shiioo-role".into(), json!(role.as_str()));
            let line = format!(
                "Needs the `{}` role (or any above it) when the server asks for tokens.",
                role.as_str()
            );
            let description = match op.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
                _ => line,
            };
            op.insert("description".into(), json!(description));
        }
    }
}

/// The `$ref`s of `doc` that point at nothing in it (for the tests of both
/// documents).
#[cfg(test)]
pub(super) fn dangling_refs(doc: &Value) -> Vec<String> {
    let text = serde_json::to_string(doc).expect("a JSON value serialises");
    text.split("\"$ref\":\"")
        .skip(1)
        .filter_map(|reference| reference.split('"').next())
        .filter(|target| doc.pointer(target.trim_start_matches('#')).is_none())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::policy::{routes_in_source, OPEN};

    /// Every (METHOD, path) the document describes.
    fn described() -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, item) in openapi()["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_described_and_every_description_routed() {
        let described = described();
        let mut routed = routes_in_source(include_str!("mod.rs"));
        routed.extend(OPEN.iter().map(|(m, p)| (m.to_string(), p.to_string())));
        routed.push(("GET".into(), "/metrics".into()));
        for route in &routed {
            assert!(
                described.contains(route),
                "{} {} is routed but the OpenAPI document does not describe it: give its handler a #[utoipa::path] and list it in api/openapi.rs",
                route.0,
                route.1
            );
        }
        for op in &described {
            assert!(
                routed.contains(op),
                "the OpenAPI document describes {} {}, which nothing routes",
                op.0,
                op.1
            );
        }
    }

    #[test]
    fn operations_have_unique_ids_from_their_summaries() {
        assert_eq!(operation_id("Get a run"), "get_run");
        assert_eq!(operation_id("Start a run of a job"), "start_run_job");
        let mut ids = std::collections::BTreeSet::new();
        for item in openapi()["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"]
                    .as_str()
                    .expect("every operation has an id");
                assert!(op["summary"].is_string(), "{id} has no summary");
                assert!(ids.insert(id.to_string()), "{id} twice");
            }
        }
        // The links name operations that exist.
        let text = serde_json::to_string(openapi()).unwrap();
        for linked in text.split("\"operationId\":\"").skip(1) {
            let id = linked.split('"').next().unwrap();
            assert!(ids.contains(id), "a link names {id}, which is no operation");
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_security_and_errors() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.1.0");
        let create = &doc["paths"]["/api/jobs"]["post"];
        assert_eq!(create["x-shiioo-role"], "operator");
        assert_eq!(create["security"][0]["bearer"], json!([]));
        for status in [
            "201", "400", "401", "403", "413", "415", "422", "429", "503",
        ] {
            assert!(create["responses"].get(status).is_some(), "{status}");
        }
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["example"]["name"],
            "Monthly Report Generation"
        );
        assert!(create["responses"]["201"]["links"]["GetRun"].is_object());
        let sign_in = &doc["paths"]["/sign-in"]["post"];
        assert_eq!(sign_in["security"], json!([]));
        assert!(doc["paths"]["/api/runs/{run_id}"]["get"]["responses"]["404"].is_object());
        assert_eq!(dangling_refs(doc), Vec::<String>::new());
        for path in guide_examples()["responses"].as_object().unwrap().keys() {
            assert!(
                doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
                    ["example"]
                    .is_object(),
                "the guide's example of {path} is not shown"
            );
        }
    }
}
