use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

use super::{AgentBackend, AgentRequest};

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
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            endpoint: format!("{base}/v1/chat/completions"),
            model: model.to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }

    async fn complete(&self, req: AgentRequest<'_>) -> Result<String, String> {
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": format!("You are the {} agent of a workflow. Do the task you are given.", req.role)},
                {"role": "user", "content": req.prompt},
            ],
        });
        let mut call = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key);
        }
        let resp = call
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.endpoint))?;
        let status = resp.status();
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
        value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "{}: no choices[0].message.content in the answer",
                    self.endpoint
                )
            })
    }
}

impl AgentBackend for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<String, String>> {
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
        assert_eq!(
            agent.run(req("Write final report")).await.unwrap(),
            "The report."
        );
        let seen = seen.lock().unwrap();
        let (auth, body) = &seen[0];
        assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
        assert_eq!(body["model"], "local-model");
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
}
