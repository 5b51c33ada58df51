//! `GET /api/ws`: the WebSocket protocol of the guide.
//!
//! [`session`] holds the protocol (actions in, which updates a client
//! wants); [`crate::hub`] turns engine events into messages and delivers them. The
//! connection task here only moves frames and keeps the link alive: ping
//! frames when idle, a close when the peer has gone silent, and a lag notice
//! when the client could not keep up with the updates.

pub mod session;

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use tokio::time::{interval, Instant, MissedTickBehavior};
use wire::ServerMessage;

pub use session::{Session, Topic};

use crate::hub;
use crate::state::AppState;
use crate::telemetry::names::{
    WEBSOCKET_CONNECTIONS, WEBSOCKET_MESSAGES_DROPPED, WEBSOCKET_MESSAGES_SENT,
};

/// Largest message a client may send; actions are tiny. A larger one is
/// answered with an `Error` and the connection lives on.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// Largest message read at all: beyond it the connection is closed with
/// 1009 (message too big) and a reason, without buffering the rest.
pub const MAX_READ_MESSAGE: usize = 1024 * 1024;

/// A silent peer is declared dead after this many ping intervals.
const DEAD_AFTER_PINGS: u32 = 3;

/// Most pushed updates written with one flush.
const MAX_BATCH: usize = 256;

/// A client that cannot take a message for this long is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read from a client's socket at a time. tungstenite's default
/// (128 KiB) zeroes the whole buffer on every read: 4 % of the server's CPU
/// with 8 clients (`perf`), for actions of a few dozen bytes. A larger
/// message is still read whole, in several reads.
const READ_CHUNK: usize = 4 * 1024;

#[utoipa::path(
    get, path = "/api/ws", summary = "Open the WebSocket", tag = "websocket",
    description = "Upgrades to the WebSocket of the guide: JSON text frames, actions tagged by `action`, messages by `type`, described by the AsyncAPI document `/api/asyncapi.json`. Browsers authenticate with the session cookie or a ticket (`POST /api/ws/ticket`); other clients with `Authorization: Bearer`.",
    params(("ticket" = Option<String>, Query, description = "A one-use ticket from `POST /api/ws/ticket`, for clients that cannot send `Authorization`.")),
    responses(
        (status = 101, description = "Switching protocols: the connection is a WebSocket."),
        (status = 426, description = "Not a WebSocket upgrade request.", body = wire::ApiError)
    )
)]
pub async fn upgrade(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
) -> Response {
    // A plain GET (a browser tab, a fuzzer) gets a JSON answer like every
    // other API error, not axum's plain text.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            let mut response = crate::views::Failure::new(
                axum::http::StatusCode::UPGRADE_REQUIRED,
                "upgrade_required",
                format!("this is the WebSocket endpoint: {}", rejection.body_text()),
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::UPGRADE,
                axum::http::HeaderValue::from_static("websocket"),
            );
            return response;
        }
    };
    ws.max_message_size(MAX_READ_MESSAGE)
        .max_frame_size(MAX_READ_MESSAGE)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket| serve(socket, state))
}

/// Counts the connection while it lives.
struct Connected(std::sync::Arc<crate::telemetry::Registry>);

impl Connected {
    fn new(state: &AppState) -> Self {
        metrics::with_local_recorder(&*state.metrics, || {
            metrics::gauge!(WEBSOCKET_CONNECTIONS).increment(1.0)
        });
        Self(state.metrics.clone())
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::with_local_recorder(&*self.0, || {
            metrics::gauge!(WEBSOCKET_CONNECTIONS).decrement(1.0)
        });
    }
}

async fn serve(mut socket: WebSocket, state: AppState) {
    let _connected = Connected::new(&state);
    // Shutdown waits for this session to say goodbye.
    let _alive = state.sessions.token();
    let mut session = Session::new(&state);
    let ping_every = state.config.ws_ping();
    let mut heartbeat = interval(state.config.health_heartbeat());
    let mut pinger = interval(ping_every);
    for timer in [&mut heartbeat, &mut pinger] {
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        timer.reset();
    }
    let mut last_heard = Instant::now();
    let record = |f: &dyn Fn()| metrics::with_local_recorder(&*state.metrics, f);

    loop {
        tokio::select! {
            frame = socket.recv() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        close_after(&mut socket, e).await;
                        break;
                    }
                    None => break,
                };
                last_heard = Instant::now();
                let replies = match frame {
                    Message::Text(text) => session.handle_text(text.as_str(), &state).await,
                    Message::Binary(_) => vec![ServerMessage::error(
                        "binary frames are not supported; send JSON text",
                    )],
                    // axum answers pings with pongs itself; pongs only prove liveness.
                    Message::Ping(_) | Message::Pong(_) => Vec::new(),
                    Message::Close(_) => break,
                };
                for msg in &replies {
                    let text = serde_json::to_string(msg).expect("server messages serialise");
                    if send(&mut socket, text).await.is_err() {
                        return;
                    }
                }
                record(&|| metrics::counter!(WEBSOCKET_MESSAGES_SENT).increment(replies.len() as u64));
            }
            batch = session.listener.next(MAX_BATCH) => {
                if batch.dropped > 0 {
                    record(&|| metrics::counter!(WEBSOCKET_MESSAGES_DROPPED).increment(batch.dropped));
                    let notice = ServerMessage::error(format!(
                        "lagged: {} updates were dropped because this connection \
                         did not keep up; read the current state over the REST API",
                        batch.dropped
                    ));
                    let text = serde_json::to_string(&notice).expect("server messages serialise");
                    if send(&mut socket, text).await.is_err() {
                        return;
                    }
                }
                // What waited is written with one flush: one system call for
                // a burst, not one per message.
                let wanted: Vec<Message> = batch
                    .updates
                    .iter()
                    .filter(|u| session.wants(u))
                    .map(|u| Message::Text(u.json.clone()))
                    .collect();
                let sent = wanted.len() as u64;
                if sent > 0 {
                    if send_all(&mut socket, wanted).await.is_err() {
                        return;
                    }
                    record(&|| metrics::counter!(WEBSOCKET_MESSAGES_SENT).increment(sent));
                }
            }
            _ = heartbeat.tick() => {
                if session.wants_health() {
                    let msg = hub::health_update(state.health());
                    let text = serde_json::to_string(&msg).expect("server messages serialise");
                    if send(&mut socket, text).await.is_err() {
                        return;
                    }
                }
            }
            _ = state.closing.cancelled() => {
                // The server is stopping and every final update (the runs it
                // interrupted) is already in the ring: send this client its
                // share, then close as "going away" so that it reconnects.
                let wanted = session
                    .listener
                    .waiting()
                    .updates
                    .iter()
                    .filter(|u| session.wants(u))
                    .map(|u| Message::Text(u.json.clone()))
                    .collect();
                let _ = send_all(&mut socket, wanted).await;
                let close = Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "the server is shutting down".into(),
                }));
                let _ = send_frame(&mut socket, close).await;
                break;
            }
            _ = pinger.tick() => {
                let silent = last_heard.elapsed();
                if silent >= ping_every * DEAD_AFTER_PINGS {
                    tracing::debug!(?silent, "closing a silent WebSocket");
                    break;
                }
                if silent >= ping_every && send_frame(&mut socket, Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Closes the connection after a read error, saying why when the peer
/// can act on it: 1009 for a message over [`MAX_READ_MESSAGE`], 1002 for a
/// protocol violation. A connection that simply broke gets nothing.
async fn close_after(socket: &mut WebSocket, error: axum::Error) {
    use axum::extract::ws::{close_code, CloseFrame};
    let inner = error.into_inner();
    let (code, reason) = match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => (
            close_code::SIZE,
            format!("message too big: at most {MAX_CLIENT_MESSAGE} bytes"),
        ),
        Some(tungstenite::Error::Protocol(_)) => {
            (close_code::PROTOCOL, "WebSocket protocol error".to_string())
        }
        _ => {
            tracing::debug!("WebSocket read failed: {inner}");
            return;
        }
    };
    tracing::debug!(code, "closing a WebSocket: {inner}");
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = send_frame(socket, close).await;
}

/// Writes the frames with one flush, within [`SEND_TIMEOUT`].
async fn send_all(socket: &mut WebSocket, frames: Vec<Message>) -> Result<(), axum::Error> {
    let write = async {
        for frame in frames {
            socket.feed(frame).await?;
        }
        socket.flush().await
    };
    tokio::time::timeout(SEND_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(axum::Error::new("send timed out")))
}

async fn send(socket: &mut WebSocket, text: String) -> Result<(), axum::Error> {
    send_frame(socket, Message::Text(text.into())).await
}

async fn send_frame(socket: &mut WebSocket, frame: Message) -> Result<(), axum::Error> {
    tokio::time::timeout(SEND_TIMEOUT, socket.send(frame))
        .await
        .unwrap_or_else(|_| Err(axum::Error::new("send timed out")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use wire::{ErrorMessage, HealthUpdate, Subscribed, Unsubscribed};

    fn state() -> AppState {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = AppState::open(Config::for_tests(dir.path())).unwrap();
        // The log stays open through its file handle; the folder can go.
        state
    }

    #[tokio::test]
    async fn subscribe_health_answers_subscribed_then_a_health_update() {
        let state = state();
        let mut session = Session::new(&state);
        let out = session
            .handle_text(r#"{"action": "SubscribeHealth"}"#, &state)
            .await;
        assert!(
            matches!(&out[0], ServerMessage::Subscribed(Subscribed { subscription_id }) if subscription_id.len() == 26)
        );
        assert!(matches!(
            &out[1],
            ServerMessage::HealthUpdate(HealthUpdate { .. })
        ));
        assert!(session.wants_health());
    }

    #[tokio::test]
    async fn malformed_and_unknown_input_gets_an_error_and_keeps_the_session() {
        let state = state();
        let mut session = Session::new(&state);
        for (text, needle) in [
            ("{not json", "invalid JSON"),
            (r#"{"hello": 1}"#, "\"action\""),
            (r#"{"action": "Dance"}"#, "unknown variant `Dance`"),
            (
                r#"{"action": "SubscribeWorkflow"}"#,
                "missing field `run_id`",
            ),
            (
                r#"{"action": "SubscribeWorkflow", "run_id": "01JH8XYZABC123"}"#,
                "no run with id",
            ),
        ] {
            let out = session.handle_text(text, &state).await;
            match &out[..] {
                [ServerMessage::Error(ErrorMessage { message })] => {
                    assert!(message.contains(needle), "{text}: {message}")
                }
                other => panic!("{text}: expected one Error, got {other:?}"),
            }
        }
        let out = session
            .handle_text(r#"{"action": "SubscribeAll"}"#, &state)
            .await;
        assert!(matches!(
            &out[..],
            [ServerMessage::Subscribed(Subscribed { .. })]
        ));
    }

    #[tokio::test]
    async fn unsubscribe_drops_one_or_all() {
        let state = state();
        let mut session = Session::new(&state);
        let id = |out: Vec<ServerMessage>| match &out[0] {
            ServerMessage::Subscribed(Subscribed { subscription_id }) => subscription_id.clone(),
            other => panic!("{other:?}"),
        };
        let a = id(session
            .handle_text(r#"{"action":"SubscribeAll"}"#, &state)
            .await);
        let b = id(session
            .handle_text(r#"{"action":"SubscribeMetrics"}"#, &state)
            .await);
        let out = session
            .handle_text(
                &format!(r#"{{"action":"Unsubscribe","subscription_id":"{a}"}}"#),
                &state,
            )
            .await;
        assert_eq!(
            out,
            vec![ServerMessage::Unsubscribed(Unsubscribed {
                subscription_ids: vec![a]
            })]
        );
        assert_eq!(session.topics().collect::<Vec<_>>(), vec![&Topic::Metrics]);
        let out = session
            .handle_text(r#"{"action":"Unsubscribe"}"#, &state)
            .await;
        assert_eq!(
            out,
            vec![ServerMessage::Unsubscribed(Unsubscribed {
                subscription_ids: vec![b]
            })]
        );
        assert_eq!(session.topics().count(), 0);
    }

    #[tokio::test]
    async fn json_ping_gets_a_json_pong() {
        let state = state();
        let out = Session::new(&state)
            .handle_text(r#"{"action":"Ping"}"#, &state)
            .await;
        assert_eq!(out, vec![ServerMessage::Pong]);
    }
}
