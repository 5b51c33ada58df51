//! Contract tests of the OpenTelemetry export: a local OTLP/HTTP receiver,
//! in this test, decodes what the server posts with the protobuf types
//! generated from the official OTLP definitions (opentelemetry-proto) and
//! checks the span tree and its attributes; a W3C `traceparent` on
//! `POST /api/jobs` makes the run join the caller's trace; a collector
//! that is down costs a counter, never a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{eventually, step, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode as SpanStatus, Span};
use parking_lot::Mutex;
use prost::Message;
use serde_json::{json, Value};
use server::config::Config;

/// What the receiver was sent: each request's headers and decoded body.
#[derive(Default)]
struct Received {
    requests: Vec<(HeaderMap, ExportTraceServiceRequest)>,
    /// Requests still to refuse with 503, as a collector under load does.
    refuse: usize,
    refused: usize,
}

async fn receive(
    State(got): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let mut got = got.lock();
    if got.refuse > 0 {
        got.refuse -= 1;
        got.refused += 1;
        return (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
    }
    assert_eq!(
        headers["content-type"], "application/x-protobuf",
        "OTLP/HTTP protobuf"
    );
    let request = ExportTraceServiceRequest::decode(body).expect("a valid protobuf request");
    got.requests.push((headers, request));
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

async fn collector(refuse: usize) -> (String, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received {
        refuse,
        ..Received::default()
    }));
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

fn exporting(data: &tempfile::TempDir, endpoint: &str) -> Config {
    let mut config = Config::for_tests(data.path());
    config.otlp_endpoint = Some(endpoint.to_string());
    config.otlp_schedule_delay_ms = 50;
    config.otlp_headers = "authorization=Bearer%20collector-token".into();
    config.otel_service_name = "agents-under-test".into();
    config.otel_resource_attributes = "deployment.environment=test".into();
    config
}

fn spans(got: &Received) -> Vec<Span> {
    got.requests
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect()
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(span: &Span, key: &str) -> String {
    match attr(span, key) {
        Some(Any::StringValue(s)) => s.clone(),
        other => panic!("{key} on {}: {other:?}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_run_is_exported_as_one_trace_in_its_callers_trace() {
    // The collector is busy at first: the batch is retried, not lost.
    let (endpoint, got) = collector(1).await;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_with(exporting(&data, &endpoint), data).await;
    let job = json!({
        "name": "Traced",
        "workflow": {
            "steps": [
                step("draft", json!({"simulation": {"latency_ms": [5, 10], "fail_first_attempts": 1},
                                     "retry_policy": {"max_attempts": 3, "backoff_secs": 0}})),
                {"id": "sign_off", "action": {"manual_approval": {"approvers": ["alice"], "quorum": "unanimous"}}},
            ],
            "dependencies": {"sign_off": ["draft"]}
        },
        "execute": true
    });
    let answer = server
        .http
        .post(server.url("/api/jobs"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .header("tracestate", "congo=t61rcWkgMzE")
        .json(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let created: Value = answer.json().await.unwrap();
    assert_eq!(created["trace_id"], CALLER_TRACE, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_string();

    let approval = eventually("the approval is asked for", async || {
        let (_, list) = server.get("/api/approvals?status=pending").await;
        list["approvals"]
            .as_array()?
            .iter()
            .find(|a| a["run_id"] == run_id.as_str())
            .cloned()
    })
    .await;
    let (status, _) = server
        .post(
            &format!(
                "/api/approvals/{}/vote",
                approval["approval_id"].as_str().unwrap()
            ),
            json!({"voter": "alice", "decision": "approve"}),
        )
        .await;
    assert_eq!(status, 200);
    let run = server.wait_for_run(&run_id).await;
    assert_eq!(run["status"], "Completed", "{run}");
    assert_eq!(run["trace_id"], CALLER_TRACE);

    let spans = eventually("the run's spans reach the collector", async || {
        let got = got.lock();
        let spans = spans(&got);
        (spans.len() >= 4).then_some(spans)
    })
    .await;
    // Read under the receiver's lock, released before the next await.
    {
        let got = got.lock();
        assert_eq!(got.refused, 1, "the first request was refused");
        assert_eq!(spans.len(), 4, "root, draft ×2, sign_off: {spans:#?}");
        let (headers, request) = &got.requests[0];
        assert_eq!(headers["authorization"], "Bearer collector-token");
        let resource = request.resource_spans[0].resource.as_ref().unwrap();
        let resource_attr = |key: &str| {
            resource
                .attributes
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone()?.value)
        };
        assert_eq!(
            resource_attr("service.name"),
            Some(Any::StringValue("agents-under-test".into()))
        );
        assert_eq!(
            resource_attr("deployment.environment"),
            Some(Any::StringValue("test".into()))
        );

        // One root, under the caller's span, in the caller's trace.
        let roots: Vec<&Span> = spans
            .iter()
            .filter(|s| hex(&s.parent_span_id) == CALLER_SPAN)
            .collect();
        assert_eq!(roots.len(), 1, "{spans:#?}");
        let root = roots[0];
        assert_eq!(root.name, "run traced");
        assert_eq!(text(root, "shiioo.run_id"), run_id);
        assert_eq!(root.status.as_ref().unwrap().code, SpanStatus::Ok as i32);
        for span in &spans {
            assert_eq!(hex(&span.trace_id), CALLER_TRACE, "{}", span.name);
            assert_eq!(span.trace_state, "congo=t61rcWkgMzE");
            assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
            if span.span_id != root.span_id {
                assert_eq!(span.parent_span_id, root.span_id, "{}", span.name);
                assert!(span.start_time_unix_nano >= root.start_time_unix_nano);
                assert!(span.end_time_unix_nano <= root.end_time_unix_nano);
            }
        }
        // The retried step: two sibling attempts, the first failed.
        let mut drafts: Vec<&Span> = spans.iter().filter(|s| s.name == "step draft").collect();
        drafts.sort_by_key(|s| s.start_time_unix_nano);
        assert_eq!(drafts.len(), 2);
        for (n, span) in drafts.iter().enumerate() {
            // Numbered as in the API: the first attempt is 0.
            assert_eq!(attr(span, "shiioo.attempt"), Some(&Any::IntValue(n as i64)));
            assert_eq!(text(span, "shiioo.workflow_id"), "traced");
            assert_eq!(text(span, "shiioo.step_id"), "draft");
            assert_eq!(text(span, "gen_ai.operation.name"), "chat");
            assert_eq!(text(span, "gen_ai.provider.name"), "simulated");
            assert_eq!(text(span, "gen_ai.request.model"), "simulated");
        }
        assert_eq!(
            drafts[0].status.as_ref().unwrap().code,
            SpanStatus::Error as i32
        );
        assert_eq!(text(drafts[0], "error.type"), "_OTHER");
        assert_eq!(
            drafts[1].status.as_ref().unwrap().code,
            SpanStatus::Ok as i32
        );
        // The completed call's tokens are the run's, as the API says.
        let usage = &run["steps"][0]["attempts"][1]["usage"];
        for (key, field) in [
            ("gen_ai.usage.input_tokens", "input_tokens"),
            ("gen_ai.usage.output_tokens", "output_tokens"),
        ] {
            assert_eq!(
                attr(drafts[1], key),
                Some(&Any::IntValue(usage[field].as_i64().unwrap())),
                "{key}"
            );
        }
        // The approval's wait is a span of its own, with no GenAI attributes.
        let gate = spans
            .iter()
            .find(|s| s.name == "approval sign_off")
            .unwrap();
        assert_eq!(text(gate, "shiioo.step.kind"), "manual_approval");
        assert_eq!(attr(gate, "gen_ai.operation.name"), None);
    }

    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains("otlp_spans_exported_total 4"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("otlp"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_run_without_a_caller_has_a_trace_of_its_own_and_an_unsampled_caller_none() {
    let (endpoint, got) = collector(0).await;
    let data = Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_with(exporting(&data, &endpoint), data).await;
    let job = |name: &str| json!({"name": name, "workflow": {"steps": [step("only", json!({"simulation": {"latency_ms": [1, 2]}}))]}, "execute": true});
    // A malformed traceparent is ignored: the run has a trace of its own.
    let answer = server
        .http
        .post(server.url("/api/jobs"))
        .header("traceparent", "00-not-a-trace-01")
        .json(&job("Own"))
        .send()
        .await
        .unwrap();
    let own: Value = answer.json().await.unwrap();
    let own_run = own["run_id"].as_str().unwrap().to_string();
    let own_trace = own["trace_id"].as_str().unwrap().to_string();
    assert_eq!(own_trace.len(), 32);
    assert_ne!(own_trace, "0".repeat(32));
    // Sampled out by its caller: run, but not exported.
    let answer = server
        .http
        .post(server.url("/api/jobs"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00"))
        .json(&job("Unsampled"))
        .send()
        .await
        .unwrap();
    let unsampled: Value = answer.json().await.unwrap();
    let unsampled_run = unsampled["run_id"].as_str().unwrap().to_string();
    server.wait_for_run(&unsampled_run).await;
    let run = server.wait_for_run(&own_run).await;
    assert_eq!(run["trace_id"], own_trace.as_str());
    let spans = eventually("the run's spans arrive", async || {
        let spans = spans(&got.lock());
        (spans.len() >= 2).then_some(spans)
    })
    .await;
    // A little longer, for spans that should not come.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = spans_len(&got);
    assert_eq!(all, 2, "only the sampled run: {spans:#?}");
    let root = spans.iter().find(|s| s.parent_span_id.is_empty()).unwrap();
    assert_eq!(hex(&root.trace_id), own_trace);
    assert_eq!(text(root, "shiioo.run_id"), own_run);
    server.shutdown().await;
}

fn spans_len(got: &Mutex<Received>) -> usize {
    spans(&got.lock()).len()
}

#[tokio::test]
async fn a_dead_collector_costs_a_counter_not_a_run() {
    // Nothing listens on this port.
    let port = common::free_port();
    let data = Arc::new(tempfile::tempdir().unwrap());
    let mut config = exporting(&data, &format!("http://127.0.0.1:{port}"));
    // A queue of 8 spans: the second run's 2 do not fit while the first
    // batches are still being retried.
    config.otlp_max_queue_spans = 8;
    config.otlp_max_batch_spans = 8;
    let server = TestServer::start_with(config, data).await;
    let mut runs = Vec::new();
    for i in 0..12 {
        let (status, created) = server
            .post(
                "/api/jobs",
                json!({"name": format!("Dark {i}"), "workflow": {"steps": [step("only", json!({"simulation": {"latency_ms": [1, 2]}}))]}, "execute": true}),
            )
            .await;
        assert_eq!(status, 201);
        runs.push(created["run_id"].as_str().unwrap().to_string());
    }
    for run_id in &runs {
        assert_eq!(server.wait_for_run(run_id).await["status"], "Completed");
    }
    let dropped = eventually("dropped spans are counted", async || {
        let metrics = server.text("/metrics").await;
        let line = metrics
            .lines()
            .find(|l| l.starts_with("otlp_spans_dropped_total "))?
            .to_string();
        let n: f64 = line.rsplit(' ').next()?.parse().ok()?;
        (n >= 16.0).then_some(n)
    })
    .await;
    assert!(dropped <= 24.0, "12 runs of 2 spans: {dropped}");
    let metrics = server.text("/metrics").await;
    assert!(metrics.contains("otlp_spans_exported_total 0"), "{metrics}");
    // Health does not depend on a collector.
    let (_, health) = server.get("/api/health/status").await;
    assert_eq!(health["status"], "healthy", "{health}");
    server.shutdown().await;
}
