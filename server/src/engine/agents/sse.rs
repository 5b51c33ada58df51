//! Server-sent events as LLM APIs stream their answers: `data:` lines of
//! JSON, one event each (OpenAI's stream ends with `data: [DONE]`;
//! Anthropic's names each event on an `event:` line, which its JSON repeats
//! as `type`). Read from byte chunks as they arrive, in bounded memory: a
//! server that sends a line or an answer too long fails the attempt.

/// An HTTP client for an LLM API, and the URL of `path` on `base_url` (its
/// root, e.g. `https://api.openai.com`; a trailing `/v1` is accepted too).
pub fn client(base_url: &str, path: &str) -> Result<(reqwest::Client, String), String> {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok((client, format!("{base}{path}")))
}

/// Longest line, and longest answer, read.
pub const MAX_LINE: usize = 1 << 20;
pub const MAX_ANSWER: usize = 8 << 20;

/// Lines being cut out of the stream's bytes.
#[derive(Debug, Default)]
pub struct Lines {
    /// Bytes of a line not complete yet.
    pending: Vec<u8>,
}

impl Lines {
    /// Calls `each` with the `data:` payload of every line `bytes` completes
    /// (comments such as `: keep-alive`, `event:` lines and the blank lines
    /// between events are skipped).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut each: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() > MAX_LINE && !self.pending.contains(&b'\n') {
            return Err(format!("a stream line is over {MAX_LINE} bytes"));
        }
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            data(&String::from_utf8_lossy(&line), &mut each)?;
        }
        Ok(())
    }

    /// The last line, if the stream ended without its newline.
    pub fn finish(
        &mut self,
        mut each: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        let rest = std::mem::take(&mut self.pending);
        data(&String::from_utf8_lossy(&rest), &mut each)
    }
}

fn data(line: &str, each: &mut impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    match line.trim_end_matches(['\n', '\r']).strip_prefix("data:") {
        Some(payload) => each(payload.trim()),
        None => Ok(()),
    }
}

/// An answer's text as it streams in, and when its first piece came.
#[derive(Debug, Default)]
pub struct Text {
    pub text: String,
    pub first_token_secs: Option<f64>,
}

impl Text {
    /// A piece of the answer, `now()` seconds into the call.
    pub fn push(&mut self, piece: &str, now: impl Fn() -> f64) -> Result<(), String> {
        if piece.is_empty() {
            return Ok(());
        }
        if self.first_token_secs.is_none() {
            self.first_token_secs = Some(now());
        }
        if self.text.len() + piece.len() > MAX_ANSWER {
            return Err(format!("the answer is over {MAX_ANSWER} bytes"));
        }
        self.text.push_str(piece);
        Ok(())
    }
}

/// For the backends' tests: a local server streaming `chunks`, `delay_ms`
/// apart, on `POST path` with `status`; it records each request's headers
/// and body.
#[cfg(test)]
pub async fn fake_stream(
    path: &'static str,
    status: u16,
    chunks: Vec<String>,
    delay_ms: u64,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, serde_json::Value)>>>,
) {
    use futures::StreamExt;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = axum::Router::new().route(
        path,
        axum::routing::post({
            let seen = seen.clone();
            move |headers: axum::http::HeaderMap,
                  axum::Json(body): axum::Json<serde_json::Value>| {
                let (seen, chunks) = (seen.clone(), chunks.clone());
                async move {
                    seen.lock().unwrap().push((headers, body));
                    let body = futures::stream::iter(chunks).then(move |c| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                        Ok::<_, std::convert::Infallible>(c)
                    });
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                        axum::body::Body::from_stream(body),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_are_cut_across_chunks_and_the_rest_skipped() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        let stream =
            "event: ping\ndata: {\"a\":1}\n\n: keep-alive\r\ndata:{\"b\":2}\r\n\ndata: [DONE]";
        for chunk in stream.as_bytes().chunks(5) {
            lines
                .feed(chunk, |d| {
                    seen.push(d.to_string());
                    Ok(())
                })
                .unwrap();
        }
        lines
            .finish(|d| {
                seen.push(d.to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn a_stream_without_end_of_line_or_end_of_answer_cannot_fill_memory() {
        let mut lines = Lines::default();
        let chunk = vec![b'x'; 64 * 1024];
        let failed = (0..40).find_map(|_| lines.feed(&chunk, |_| Ok(())).err());
        assert!(failed.is_some_and(|e| e.contains("over")));
        let mut text = Text::default();
        let piece = "y".repeat(1 << 20);
        let failed = (0..10).find_map(|_| text.push(&piece, || 0.5).err());
        assert!(failed.is_some_and(|e| e.contains("over")));
        assert_eq!(text.first_token_secs, Some(0.5));
    }
}
