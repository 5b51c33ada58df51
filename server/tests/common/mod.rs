//! Starts a real Shiioo server on a free loopback port for contract tests, and
//! talks to it over HTTP and WebSocket like any client would.

#![allow(dead_code)] // each test file uses a different part of this

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use server::config::Config;
use server::Server;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

pub struct TestServer {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Config::for_tests()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let server = Server::bind(config).await.expect("bind a free port");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn ws(&self) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/ws", self.addr))
            .await
            .expect("WebSocket handshake");
        Ws { stream }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next JSON message, skipping control frames; panics after 5 s.
    pub async fn next_json(&mut self) -> Value {
        let deadline = Duration::from_secs(5);
        loop {
            let frame = tokio::time::timeout(deadline, self.stream.next())
                .await
                .expect("a message within 5 s")
                .expect("the connection is open")
                .expect("a valid frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message of the given `type`, skipping others (e.g. heartbeats).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let msg = self.next_json().await;
            if msg["type"] == kind {
                return msg;
            }
        }
    }
}
