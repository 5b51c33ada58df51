//! A client of a Shiioo server's REST API and WebSocket, decoding the wire
//! types the server writes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use wire::{ApiError, ClientAction, ServerMessage};

/// Why a command could not do its work; shown as `error: …`.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `Bearer <token>`, for the WebSocket's handshake too.
    authorization: Option<reqwest::header::HeaderValue>,
}

impl Client {
    pub fn new(args: &super::ClientArgs) -> Result<Self, Failure> {
        let base = args.url.trim().trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| Failure(format!("--url {base:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Failure(format!(
                "--url {base:?}: expected http:// or https://"
            )));
        }
        let authorization = match &args.token {
            Some(token) => {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                        .map_err(|_| Failure("--token: not a valid header value".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = &authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value.clone());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("shiioo-cli/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| Failure(e.to_string()))?;
        Ok(Self {
            http,
            base,
            authorization,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let answer = request
            .send()
            .await
            .map_err(|e| Failure(format!("cannot reach {}: {}", self.base, root_cause(&e))))?;
        let status = answer.status();
        let body = answer
            .bytes()
            .await
            .map_err(|e| Failure(format!("reading the answer: {e}")))?;
        if !status.is_success() {
            return Err(Failure(match serde_json::from_slice::<ApiError>(&body) {
                Ok(error) => format!("the server answered {}: {error}", status.as_u16()),
                Err(_) => format!("the server answered {}", status),
            }));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Failure(format!("an answer this client cannot read: {e}")))
    }

    /// A WebSocket connection that has sent `actions`.
    pub async fn live(&self, actions: &[ClientAction]) -> Result<Live, Failure> {
        let ws_url = match self.base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}/api/ws"),
            None => format!("ws://{}/api/ws", self.base.trim_start_matches("http://")),
        };
        let mut request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure(format!("{ws_url}: {e}")))?;
        if let Some(value) = &self.authorization {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::header::AUTHORIZATION,
                tokio_tungstenite::tungstenite::http::HeaderValue::from_bytes(value.as_bytes())
                    .expect("a valid header stays valid"),
            );
        }
        let (mut stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| Failure(format!("cannot open {ws_url}: {e}")))?;
        for action in actions {
            let text = serde_json::to_string(action).expect("actions serialise");
            stream
                .send(Message::text(text))
                .await
                .map_err(|e| Failure(format!("WebSocket: {e}")))?;
        }
        Ok(Live { stream })
    }
}

/// The innermost error (reqwest's outer one says only "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Live {
    stream: Stream,
}

impl Live {
    /// The next message from the server, with its text; `None` once the
    /// connection is closed.
    pub async fn next(&mut self) -> Option<Result<(ServerMessage, String), Failure>> {
        loop {
            let frame = match self.stream.next().await? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(Failure(format!("WebSocket: {e}")))),
            };
            match frame {
                Message::Text(text) => {
                    let text = text.as_str().to_string();
                    return Some(
                        serde_json::from_str(&text)
                            .map(|m| (m, text.clone()))
                            .map_err(|e| {
                                Failure(format!("a message this client cannot read ({e}): {text}"))
                            }),
                    );
                }
                Message::Close(_) => return None,
                // Pings are answered by tungstenite itself.
                _ => continue,
            }
        }
    }
}
