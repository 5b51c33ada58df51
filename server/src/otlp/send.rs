//! One batch of spans to the collector: an `ExportTraceServiceRequest` in
//! protobuf, posted as the OTLP/HTTP spec says, and retried when the spec
//! calls the failure transient (429, 502, 503, 504, or no answer), with
//! exponential backoff or the collector's `Retry-After`.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use super::spans::string;
use super::Settings;

/// Attempts of one batch, the first included.
const ATTEMPTS: u32 = 4;
/// The first retry's wait; it doubles, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

pub struct Sender {
    client: reqwest::Client,
    url: String,
    resource: Resource,
    scope: InstrumentationScope,
}

impl Sender {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        for (k, v) in &settings.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("OTLP header name `{k}` is not a valid header name"))?;
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                format!("the value of OTLP header `{k}` is not a valid header value")
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            .user_agent(concat!("shiioo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            url: settings.url.clone(),
            resource: Resource {
                attributes: settings
                    .resource
                    .iter()
                    .map(|(k, v)| string(k, v.as_str()))
                    .collect(),
                ..Resource::default()
            },
            scope: InstrumentationScope {
                name: "shiioo".into(),
                version: crate::VERSION.into(),
                ..InstrumentationScope::default()
            },
        })
    }

    /// The request body for `spans`.
    fn encode(&self, spans: Vec<Span>) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
        .encode_to_vec()
    }

    /// Sends a batch; answers how many spans the collector rejected (its
    /// `partial_success`). Without `retry` (at shutdown), one attempt.
    pub async fn send(&self, spans: Vec<Span>, retry: bool) -> Result<u64, String> {
        let body = self.encode(spans);
        let attempts = if retry { ATTEMPTS } else { 1 };
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let failure = match self.client.post(&self.url).body(body.clone()).send().await {
                Ok(answer) if answer.status().is_success() => {
                    let bytes = answer.bytes().await.unwrap_or_default();
                    let rejected = ExportTraceServiceResponse::decode(bytes)
                        .ok()
                        .and_then(|r| r.partial_success)
                        .map_or(0, |p| {
                            if p.rejected_spans > 0 {
                                tracing::warn!(
                                    "the collector rejected {} spans: {}",
                                    p.rejected_spans,
                                    p.error_message
                                );
                            }
                            p.rejected_spans.max(0) as u64
                        });
                    return Ok(rejected);
                }
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let wait = answer
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s).min(MAX_BACKOFF));
                    let message = format!("{} answered HTTP {status}", self.url);
                    if !matches!(status, 429 | 502 | 503 | 504) {
                        return Err(message);
                    }
                    (message, wait)
                }
                Err(e) => (format!("{}: {}", self.url, without_url(&e)), None),
            };
            if attempt >= attempts {
                return Err(failure.0);
            }
            tokio::time::sleep(failure.1.unwrap_or(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

/// reqwest's error, without the URL it prints again.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind.to_string(),
    }
}
