//! `GET /api/ws`: the WebSocket protocol of the guide.
//!
//! Each connection holds a set of subscriptions. Client actions are parsed and
//! answered by [`Session::handle_text`], a plain function of the session's
//! state; the connection task around it only moves frames and keeps the link
//! alive (ping frames when idle, a close when the peer has gone silent).

use std::collections::BTreeMap;
use std::time::Duration;

use app::wire::{ClientAction, ServerMessage};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::state::AppState;

/// Largest frame or message a client may send; actions are tiny.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;

/// A silent peer is declared dead after this many ping intervals.
const DEAD_AFTER_PINGS: u32 = 3;

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state))
}

/// What one subscription asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    All,
    Workflow(String),
    Metrics,
    Health,
}

/// The protocol state of one connection.
#[derive(Debug, Default)]
pub struct Session {
    subscriptions: BTreeMap<String, Topic>,
}

impl Session {
    pub fn subscriptions(&self) -> impl Iterator<Item = &Topic> {
        self.subscriptions.values()
    }

    pub fn wants_health(&self) -> bool {
        self.subscriptions().any(|t| *t == Topic::Health)
    }

    /// Answers one text frame. Bad input yields an `Error` message; it never
    /// ends the session.
    pub fn handle_text(&mut self, text: &str, state: &AppState) -> Vec<ServerMessage> {
        let action = match parse_action(text) {
            Ok(action) => action,
            Err(message) => return vec![ServerMessage::Error { message }],
        };
        match action {
            ClientAction::SubscribeAll => vec![self.subscribe(Topic::All)],
            ClientAction::SubscribeMetrics => vec![self.subscribe(Topic::Metrics)],
            ClientAction::SubscribeHealth => {
                vec![self.subscribe(Topic::Health), health_update(state)]
            }
            ClientAction::SubscribeWorkflow { run_id } => {
                // The engine's run registry answers this once runs exist.
                vec![ServerMessage::Error {
                    message: format!("no run with id {run_id:?}"),
                }]
            }
            ClientAction::Unsubscribe { subscription_id } => match subscription_id {
                None => {
                    let dropped = std::mem::take(&mut self.subscriptions);
                    vec![ServerMessage::Unsubscribed {
                        subscription_ids: dropped.into_keys().collect(),
                    }]
                }
                Some(id) => match self.subscriptions.remove(&id) {
                    Some(_) => vec![ServerMessage::Unsubscribed {
                        subscription_ids: vec![id],
                    }],
                    None => vec![ServerMessage::Error {
                        message: format!("no subscription with id {id:?} on this connection"),
                    }],
                },
            },
            ClientAction::Ping => vec![ServerMessage::Pong],
        }
    }

    fn subscribe(&mut self, topic: Topic) -> ServerMessage {
        let subscription_id = ulid::Ulid::new().to_string();
        self.subscriptions.insert(subscription_id.clone(), topic);
        ServerMessage::Subscribed { subscription_id }
    }
}

/// Parses an action, turning serde's complaint into a message a person can act on.
fn parse_action(text: &str) -> Result<ClientAction, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if value.get("action").and_then(|a| a.as_str()).is_none() {
        return Err(
            "expected an object with a string field \"action\" (SubscribeAll, \
             SubscribeWorkflow, SubscribeMetrics, SubscribeHealth, Unsubscribe, Ping)"
                .into(),
        );
    }
    serde_json::from_value(value).map_err(|e| format!("invalid action: {e}"))
}

pub fn health_update(state: &AppState) -> ServerMessage {
    let h = crate::health::status(state);
    ServerMessage::HealthUpdate {
        status: h.status,
        active_workflows: h.active_workflows,
        active_routines: h.active_routines,
        pending_approvals: h.pending_approvals,
        uptime_secs: h.uptime_secs,
    }
}

async fn serve(mut socket: WebSocket, state: AppState) {
    let mut session = Session::default();
    let ping_every = state.config.ws_ping();
    let mut heartbeat = interval(state.config.health_heartbeat());
    let mut pinger = interval(ping_every);
    for timer in [&mut heartbeat, &mut pinger] {
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        timer.reset();
    }
    let mut last_heard = Instant::now();

    loop {
        let outgoing: Vec<ServerMessage> = tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(frame)) = frame else { break };
                last_heard = Instant::now();
                match frame {
                    Message::Text(text) => session.handle_text(text.as_str(), &state),
                    Message::Binary(_) => vec![ServerMessage::Error {
                        message: "binary frames are not supported; send JSON text".into(),
                    }],
                    // axum answers pings with pongs itself; pongs only prove liveness.
                    Message::Ping(_) | Message::Pong(_) => Vec::new(),
                    Message::Close(_) => break,
                }
            }
            _ = heartbeat.tick() => {
                if session.wants_health() { vec![health_update(&state)] } else { Vec::new() }
            }
            _ = pinger.tick() => {
                let silent = last_heard.elapsed();
                if silent >= ping_every * DEAD_AFTER_PINGS {
                    tracing::debug!(?silent, "closing a silent WebSocket");
                    break;
                }
                if silent >= ping_every
                    && socket.send(Message::Ping(Default::default())).await.is_err()
                {
                    break;
                }
                Vec::new()
            }
        };
        for msg in outgoing {
            if send(&mut socket, &msg).await.is_err() {
                return;
            }
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).expect("server messages always serialise");
    tokio::time::timeout(
        Duration::from_secs(10),
        socket.send(Message::Text(text.into())),
    )
    .await
    .unwrap_or_else(|_| Err(axum::Error::new("send timed out")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn state() -> AppState {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = AppState::open(Config::for_tests(dir.path())).unwrap();
        // The log stays open through its file handle; the folder can go.
        state
    }

    #[test]
    fn subscribe_health_answers_subscribed_then_a_health_update() {
        let mut session = Session::default();
        let out = session.handle_text(r#"{"action": "SubscribeHealth"}"#, &state());
        assert!(
            matches!(&out[0], ServerMessage::Subscribed { subscription_id } if subscription_id.len() == 26)
        );
        assert!(matches!(&out[1], ServerMessage::HealthUpdate { .. }));
        assert!(session.wants_health());
    }

    #[test]
    fn malformed_and_unknown_input_gets_an_error_and_keeps_the_session() {
        let mut session = Session::default();
        let state = state();
        for (text, needle) in [
            ("{not json", "invalid JSON"),
            (r#"{"hello": 1}"#, "\"action\""),
            (r#"{"action": "Dance"}"#, "unknown variant `Dance`"),
            (
                r#"{"action": "SubscribeWorkflow"}"#,
                "missing field `run_id`",
            ),
        ] {
            let out = session.handle_text(text, &state);
            match &out[..] {
                [ServerMessage::Error { message }] => {
                    assert!(message.contains(needle), "{text}: {message}")
                }
                other => panic!("{text}: expected one Error, got {other:?}"),
            }
        }
        let out = session.handle_text(r#"{"action": "SubscribeAll"}"#, &state);
        assert!(matches!(&out[..], [ServerMessage::Subscribed { .. }]));
    }

    #[test]
    fn unsubscribe_drops_one_or_all() {
        let mut session = Session::default();
        let state = state();
        let id = |out: Vec<ServerMessage>| match &out[0] {
            ServerMessage::Subscribed { subscription_id } => subscription_id.clone(),
            other => panic!("{other:?}"),
        };
        let a = id(session.handle_text(r#"{"action":"SubscribeAll"}"#, &state));
        let b = id(session.handle_text(r#"{"action":"SubscribeMetrics"}"#, &state));
        let out = session.handle_text(
            &format!(r#"{{"action":"Unsubscribe","subscription_id":"{a}"}}"#),
            &state,
        );
        assert_eq!(
            out,
            vec![ServerMessage::Unsubscribed {
                subscription_ids: vec![a]
            }]
        );
        assert_eq!(
            session.subscriptions().collect::<Vec<_>>(),
            vec![&Topic::Metrics]
        );
        let out = session.handle_text(r#"{"action":"Unsubscribe"}"#, &state);
        assert_eq!(
            out,
            vec![ServerMessage::Unsubscribed {
                subscription_ids: vec![b]
            }]
        );
        assert_eq!(session.subscriptions().count(), 0);
    }

    #[test]
    fn json_ping_gets_a_json_pong() {
        let out = Session::default().handle_text(r#"{"action":"Ping"}"#, &state());
        assert_eq!(out, vec![ServerMessage::Pong]);
    }
}
