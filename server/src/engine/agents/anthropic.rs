use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::sse::{Lines, Text};
use super::{AgentBackend, AgentRequest, Answer, BackendKind, Usage};

/// The API version this backend speaks (`anthropic-version`).
pub const API_VERSION: &str = "2023-06-01";

/// Anthropic's Messages API: `POST {base}/v1/messages`, streamed, so that
/// the time to the first token is measured. The step's role becomes the
/// system prompt. Usage comes from the stream: input and cache tokens with
/// `message_start`, output tokens with `message_delta`.
pub struct Anthropic {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
    max_tokens: u32,
}

impl Anthropic {
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        max_tokens: u32,
    ) -> Result<Self, String> {
        let (client, endpoint) = super::sse::client(base_url, "/v1/messages")?;
        Ok(Self {
            client,
            endpoint,
            model: model.to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            max_tokens: max_tokens.max(1),
        })
    }

    async fn complete(&self, req: AgentRequest<'_>) -> Result<Answer, String> {
        let model = req.model.unwrap_or(&self.model);
        let body = json!({
            "model": model,
            "max_tokens": self.max_tokens,
            "system": format!("You are the {} agent of a workflow. Do the task you are given.", req.role),
            "messages": [{"role": "user", "content": req.prompt}],
            "stream": true,
        });
        let mut call = self
            .client
            .post(&self.endpoint)
            .header("anthropic-version", API_VERSION)
            .json(&body);
        if let Some(key) = &self.api_key {
            call = call.header("x-api-key", key);
        }
        let started = Instant::now();
        let mut resp = call
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let detail: String = text.chars().take(300).collect();
            return Err(format!(
                "{} answered HTTP {status}: {detail}",
                self.endpoint
            ));
        }
        let mut stream = Stream::default();
        let mut lines = Lines::default();
        let now = || started.elapsed().as_secs_f64();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("{}: reading the stream: {e}", self.endpoint))?
        {
            lines
                .feed(&chunk, |data| stream.event(data, &now))
                .map_err(|e| format!("{}: {e}", self.endpoint))?;
        }
        lines
            .finish(|data| stream.event(data, &now))
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        if !stream.started {
            return Err(format!(
                "{}: the stream ended before any answer",
                self.endpoint
            ));
        }
        let usage = stream.usage(model);
        Ok(Answer {
            text: stream.answer.text,
            usage: Some(usage),
        })
    }
}

/// A Messages stream being read.
#[derive(Default)]
struct Stream {
    started: bool,
    answer: Text,
    model: Option<String>,
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    output: Option<u64>,
}

impl Stream {
    fn event(&mut self, data: &str, now: &impl Fn() -> f64) -> Result<(), String> {
        let event: Value =
            serde_json::from_str(data).map_err(|e| format!("a stream event is not JSON: {e}"))?;
        match event["type"].as_str().unwrap_or("") {
            "message_start" => {
                self.started = true;
                let message = &event["message"];
                self.model = message["model"].as_str().map(str::to_string);
                self.read_usage(&message["usage"]);
            }
            "content_block_delta" => {
                if let Some(piece) = event["delta"]["text"].as_str() {
                    self.answer.push(piece, now)?;
                }
            }
            // Cumulative counts, the output's final one last.
            "message_delta" => self.read_usage(&event["usage"]),
            "error" => {
                let message = event["error"]["message"]
                    .as_str()
                    .unwrap_or("unknown error");
                return Err(format!("the stream ended in an error: {message}"));
            }
            _ => {}
        }
        Ok(())
    }

    fn read_usage(&mut self, u: &Value) {
        let set = |slot: &mut Option<u64>, key: &str| {
            if let Some(n) = u[key].as_u64() {
                *slot = Some(n);
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_write, "cache_creation_input_tokens");
        set(&mut self.output, "output_tokens");
    }

    /// Anthropic counts cache reads and writes apart from `input_tokens`;
    /// Shiioo's `input_tokens` counts every input token, cached included.
    fn usage(&self, configured_model: &str) -> Usage {
        let (read, write) = (self.cache_read.unwrap_or(0), self.cache_write.unwrap_or(0));
        Usage {
            provider: "anthropic".into(),
            model: self
                .model
                .clone()
                .unwrap_or_else(|| configured_model.to_string()),
            input_tokens: self.input.map(|i| i + read + write),
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            time_to_first_token_secs: self
                .answer
                .first_token_secs
                .map(|s| (s * 1e6).round() / 1e6),
            ..Usage::default()
        }
    }
}

impl AgentBackend for Anthropic {
    fn kind(&self) -> BackendKind {
        BackendKind::Anthropic
    }

    fn model<'s>(&'s self, req: &AgentRequest<'s>) -> Option<(&'s str, &'s str)> {
        Some(("anthropic", req.model.unwrap_or(&self.model)))
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>> {
        self.complete(req).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local server speaking the Messages API's stream, 20 ms an event;
    /// it records what it was sent (its headers and body).
    async fn fake_claude(
        events: Vec<Value>,
        status: u16,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Value)>>>,
    ) {
        let chunks = events
            .into_iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect();
        super::super::sse::fake_stream("/v1/messages", status, chunks, 20).await
    }

    fn req(prompt: &str) -> AgentRequest<'_> {
        AgentRequest {
            run_id: "r",
            step_id: "s",
            role: "report_writer",
            prompt,
            attempt: 0,
            simulation: None,
            agent: None,
            model: None,
        }
    }

    fn answer_events() -> Vec<Value> {
        vec![
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 25, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "report."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}}),
            json!({"type": "message_stop"}),
        ]
    }

    #[tokio::test]
    async fn streams_a_message_and_counts_its_cache_and_output_tokens() {
        let (base, seen) = fake_claude(answer_events(), 200).await;
        let agent =
            Anthropic::new(&base, "claude-sonnet-4-5", Some("sk-ant-test".into()), 512).unwrap();
        let answer = agent.run(req("Write final report")).await.unwrap();
        assert_eq!(answer.text, "The report.");
        let u = answer.usage.unwrap();
        assert_eq!(
            (u.provider.as_str(), u.model.as_str()),
            ("anthropic", "claude-sonnet-4-5")
        );
        // Every input token: 25 plain, 1,000 read from the cache, 100 written to it.
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (Some(1125), Some(1000), Some(100), Some(42))
        );
        // The first text came with the fourth event, 20 ms apart.
        let first = u.time_to_first_token_secs.unwrap();
        assert!((0.07..1.0).contains(&first), "{first}");
        let seen = seen.lock().unwrap();
        let (headers, body) = &seen[0];
        assert_eq!(headers["x-api-key"], "sk-ant-test");
        assert_eq!(headers["anthropic-version"], API_VERSION);
        assert_eq!(
            (
                body["model"].as_str(),
                body["max_tokens"].as_u64(),
                body["stream"].as_bool()
            ),
            (Some("claude-sonnet-4-5"), Some(512), Some(true))
        );
        assert!(body["system"].as_str().unwrap().contains("report_writer"));
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "content": "Write final report"})
        );
    }

    #[tokio::test]
    async fn errors_fail_the_attempt_with_their_reason() {
        let overloaded = vec![
            json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 1}}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ];
        let (base, _) = fake_claude(overloaded, 200).await;
        let err = Anthropic::new(&base, "m", None, 16)
            .unwrap()
            .run(req("x"))
            .await
            .unwrap_err();
        assert!(err.contains("Overloaded"), "{err}");
        let (base, _) = fake_claude(
            vec![json!({"type": "error", "error": {"message": "bad key"}})],
            401,
        )
        .await;
        let err = Anthropic::new(&base, "m", None, 16)
            .unwrap()
            .run(req("x"))
            .await
            .unwrap_err();
        assert!(err.contains("401"), "{err}");
        let (base, _) = fake_claude(vec![json!({"type": "ping"})], 200).await;
        let err = Anthropic::new(&base, "m", None, 16)
            .unwrap()
            .run(req("x"))
            .await
            .unwrap_err();
        assert!(err.contains("before any answer"), "{err}");
    }
}
