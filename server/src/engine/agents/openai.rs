use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::sse::{Lines, Text};
use super::{AgentBackend, AgentRequest, Answer, BackendKind, Usage};

/// Any server speaking OpenAI's chat completions API: OpenAI itself, Ollama,
/// vLLM, llama.cpp's server. The step's role becomes the system prompt.
pub struct OpenAi {
    client: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<String>,
}

impl OpenAi {
    /// `base_url` is the server's root, e.g. `https://api.openai.com` or
    /// `http://localhost:11434` (a trailing `/v1` is accepted too).
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Result<Self, String> {
        let (client, endpoint) = super::sse::client(base_url, "/v1/chat/completions")?;
        Ok(Self {
            client,
            endpoint,
            model: model.to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }

    async fn post(&self, body: &Value) -> Result<reqwest::Response, String> {
        let mut call = self.client.post(&self.endpoint).json(body);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key);
        }
        call.send()
            .await
            .map_err(|e| format!("{}: {e}", self.endpoint))
    }

    async fn complete(&self, req: AgentRequest<'_>) -> Result<Answer, String> {
        let model = req.model.unwrap_or(&self.model);
        // Streamed, so that the time to the first token is measured; the
        // last chunk carries the usage (`include_usage`). A server that
        // answers in one piece anyway is read as such.
        let mut body = json!({
            "model": model,
            "messages": [
                {"role": "system", "content": format!("You are the {} agent of a workflow. Do the task you are given.", req.role)},
                {"role": "user", "content": req.prompt},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let started = Instant::now();
        let mut resp = self.post(&body).await?;
        // A server that refuses to stream (an older one, that knows no
        // `stream_options`) is asked again in one piece.
        if matches!(resp.status().as_u16(), 400 | 422) {
            if let Some(b) = body.as_object_mut() {
                b.remove("stream");
                b.remove("stream_options");
            }
            resp = self.post(&body).await?;
        }
        let status = resp.status();
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !status.is_success() || !streamed {
            let text = resp
                .text()
                .await
                .map_err(|e| format!("{}: reading the answer: {e}", self.endpoint))?;
            if !status.is_success() {
                let detail: String = text.chars().take(300).collect();
                return Err(format!(
                    "{} answered HTTP {status}: {detail}",
                    self.endpoint
                ));
            }
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: the answer is not JSON: {e}", self.endpoint))?;
            let text = value["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "{}: no choices[0].message.content in the answer",
                        self.endpoint
                    )
                })?;
            return Ok(Answer {
                text,
                usage: usage(&value, model, None),
            });
        }
        let mut stream = Stream::default();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("{}: reading the stream: {e}", self.endpoint))?
        {
            stream
                .feed(&chunk, || started.elapsed().as_secs_f64())
                .map_err(|e| format!("{}: {e}", self.endpoint))?;
        }
        stream
            .finish()
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        let first = stream.answer.first_token_secs;
        let usage = stream
            .usage
            .as_ref()
            .and_then(|u| usage(u, model, first))
            .or_else(|| {
                // No usage chunk (an older server): the model and the
                // time to the first token are still known.
                Some(Usage {
                    provider: "openai".into(),
                    model: stream.model.clone().unwrap_or_else(|| model.to_string()),
                    time_to_first_token_secs: first,
                    ..Usage::default()
                })
            });
        Ok(Answer {
            text: stream.answer.text,
            usage,
        })
    }
}

/// The usage of an answer (or of a stream's last chunk), from its `usage`
/// and `model`; `None` without `usage`.
fn usage(answer: &Value, configured_model: &str, first_token_secs: Option<f64>) -> Option<Usage> {
    let u = answer.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        provider: "openai".into(),
        model: answer["model"]
            .as_str()
            .unwrap_or(configured_model)
            .to_string(),
        input_tokens: u["prompt_tokens"].as_u64(),
        output_tokens: u["completion_tokens"].as_u64(),
        cached_input_tokens: u["prompt_tokens_details"]["cached_tokens"].as_u64(),
        time_to_first_token_secs: first_token_secs.map(|s| (s * 1e6).round() / 1e6),
        ..Usage::default()
    })
}

/// A chat-completions stream being read: one `data: {json}` chunk per
/// event, ending with `data: [DONE]`.
#[derive(Default)]
struct Stream {
    lines: Lines,
    answer: Text,
    model: Option<String>,
    /// The last chunk's `usage`, with its `model`.
    usage: Option<Value>,
    done: bool,
}

impl Stream {
    fn feed(&mut self, bytes: &[u8], now: impl Fn() -> f64) -> Result<(), String> {
        let mut lines = std::mem::take(&mut self.lines);
        let fed = lines.feed(bytes, |data| self.chunk(data, &now));
        self.lines = lines;
        fed
    }

    fn chunk(&mut self, data: &str, now: &impl Fn() -> f64) -> Result<(), String> {
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| format!("a stream chunk is not JSON: {e}"))?;
        if let Some(error) = chunk.get("error") {
            let message = error["message"].as_str().unwrap_or("unknown error");
            return Err(format!("the stream ended in an error: {message}"));
        }
        if let Some(model) = chunk["model"].as_str() {
            self.model = Some(model.to_string());
        }
        if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
            self.answer.push(piece, now)?;
        }
        if chunk["usage"].is_object() {
            self.usage = Some(chunk);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        let mut lines = std::mem::take(&mut self.lines);
        lines.finish(|data| self.chunk(data, &|| 0.0))?;
        if self.done || self.usage.is_some() || !self.answer.text.is_empty() {
            Ok(())
        } else {
            Err("the stream ended before any answer".into())
        }
    }
}

impl AgentBackend for OpenAi {
    fn kind(&self) -> BackendKind {
        BackendKind::Openai
    }

    fn model<'s>(&'s self, req: &AgentRequest<'s>) -> Option<(&'s str, &'s str)> {
        Some(("openai", req.model.unwrap_or(&self.model)))
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>> {
        self.complete(req).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use axum::{Json, Router};
    use std::sync::{Arc, Mutex};

    /// A local server speaking the chat-completions protocol; records requests.
    async fn fake_llm(
        answer: Value,
        status: u16,
    ) -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route(
            "/v1/chat/completions",
            post({
                let seen = seen.clone();
                move |headers: axum::http::HeaderMap, Json(body): Json<Value>| {
                    let seen = seen.clone();
                    let answer = answer.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string());
                        seen.lock().unwrap().push((auth, body));
                        (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            Json(answer),
                        )
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
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

    #[tokio::test]
    async fn sends_a_chat_completion_and_returns_the_message() {
        let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "The report."}}]});
        let (base, seen) = fake_llm(answer, 200).await;
        let agent = OpenAi::new(
            &format!("{base}/v1/"),
            "local-model",
            Some("sk-test".into()),
        )
        .unwrap();
        let answer = agent.run(req("Write final report")).await.unwrap();
        assert_eq!(answer.text, "The report.");
        assert_eq!(answer.usage, None, "no usage in that answer: none claimed");
        let seen = seen.lock().unwrap();
        let (auth, body) = &seen[0];
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        assert_eq!(body["model"], "local-model");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(
            body["messages"][1],
            json!({"role": "user", "content": "Write final report"})
        );
        assert!(body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("report_writer"));
    }

    #[tokio::test]
    async fn http_errors_and_odd_answers_fail_the_attempt_with_a_reason() {
        let (base, _) = fake_llm(json!({"error": {"message": "model not loaded"}}), 503).await;
        let agent = OpenAi::new(&base, "m", None).unwrap();
        let err = agent.run(req("x")).await.unwrap_err();
        assert!(
            err.contains("503") && err.contains("model not loaded"),
            "{err}"
        );

        let (base, _) = fake_llm(json!({"choices": []}), 200).await;
        let agent = OpenAi::new(&base, "m", None).unwrap();
        assert!(agent
            .run(req("x"))
            .await
            .unwrap_err()
            .contains("no choices[0].message.content"));
    }

    /// A local server streaming a chat completion as OpenAI does: chunks of
    /// `data: {…}` lines, `delay_ms` apart, the usage in the last one.
    async fn streaming_llm(chunks: Vec<String>, delay_ms: u64) -> String {
        super::super::sse::fake_stream("/v1/chat/completions", 200, chunks, delay_ms)
            .await
            .0
    }

    fn sse(v: Value) -> String {
        format!("data: {v}\n\n")
    }

    #[tokio::test]
    async fn a_streamed_answer_gives_its_usage_and_time_to_first_token() {
        let delta = |c: &str| json!({"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "delta": {"content": c}}]});
        let chunks = vec![
            ": keep-alive\n\n".to_string(),
            sse(
                json!({"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            ),
            sse(delta("The ")),
            // A line split across two reads.
            sse(delta("report."))[..20].to_string(),
            sse(delta("report."))[20..].to_string(),
            sse(
                json!({"model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38, "prompt_tokens_details": {"cached_tokens": 16}}}),
            ),
            "data: [DONE]\n\n".to_string(),
        ];
        let base = streaming_llm(chunks, 40).await;
        let agent = OpenAi::new(&base, "gpt-4o-mini", None).unwrap();
        let answer = agent.run(req("Write final report")).await.unwrap();
        assert_eq!(answer.text, "The report.");
        let usage = answer.usage.unwrap();
        assert_eq!(
            (usage.provider.as_str(), usage.model.as_str()),
            ("openai", "gpt-4o-mini-2024-07-18"),
            "the model the answer names"
        );
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens
            ),
            (Some(31), Some(7), Some(16))
        );
        // The first token came after three chunks of 40 ms (the keep-alive
        // and the empty role chunk are not tokens), the answer after seven.
        let first = usage.time_to_first_token_secs.unwrap();
        assert!((0.11..1.0).contains(&first), "{first}");
    }

    #[tokio::test]
    async fn a_server_that_refuses_to_stream_is_asked_in_one_piece() {
        let app = Router::new().route(
            "/v1/chat/completions",
            post(|Json(body): Json<Value>| async move {
                if body.get("stream_options").is_some() {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        Json(json!({"error": {"message": "unknown field stream_options"}})),
                    );
                }
                let answer = json!({"model": "old", "choices": [{"message": {"content": "fine"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}});
                (axum::http::StatusCode::OK, Json(answer))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let agent = OpenAi::new(&format!("http://{addr}"), "old", None).unwrap();
        let answer = agent.run(req("x")).await.unwrap();
        assert_eq!(answer.text, "fine");
        let u = answer.usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.time_to_first_token_secs),
            (Some(3), Some(1), None)
        );
    }

    #[tokio::test]
    async fn an_error_in_the_stream_fails_the_attempt() {
        let chunks = vec![sse(
            json!({"error": {"message": "context length exceeded"}}),
        )];
        let base = streaming_llm(chunks, 0).await;
        let agent = OpenAi::new(&base, "m", None).unwrap();
        let err = agent.run(req("x")).await.unwrap_err();
        assert!(err.contains("context length exceeded"), "{err}");
        let base = streaming_llm(vec![": nothing\n\n".into()], 0).await;
        let err = OpenAi::new(&base, "m", None)
            .unwrap()
            .run(req("x"))
            .await
            .unwrap_err();
        assert!(err.contains("before any answer"), "{err}");
    }
}
