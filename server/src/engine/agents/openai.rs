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
