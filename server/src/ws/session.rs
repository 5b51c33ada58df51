//! The protocol state of one connection, as plain functions: what a client
//! action is answered with, and which pushed updates the client wants.

use std::collections::BTreeMap;

use ulid::Ulid;
use wire::{ClientAction, ServerMessage, Subscribed, Unsubscribed};

use crate::hub::{self, Channel, Interest, Listener, Update};
use crate::state::AppState;

/// What one subscription asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    /// Every run's workflow and step updates.
    All,
    /// One run's updates after event `after` (its snapshot covered the rest).
    Workflow {
        run_id: Ulid,
        after: u64,
    },
    Metrics,
    Health,
    /// Alert updates after event `after` (its snapshot covered the rest).
    Alerts {
        after: u64,
    },
}

pub struct Session {
    subscriptions: BTreeMap<String, Topic>,
    /// Where the hub delivers what the subscriptions ask for.
    pub listener: Listener,
}

impl Session {
    pub fn new(state: &AppState) -> Self {
        Self {
            subscriptions: BTreeMap::new(),
            listener: state.hub.connect(),
        }
    }

    /// What the subscriptions listen to, as the hub routes it.
    fn interest(&self) -> Interest {
        let mut interest = Interest::default();
        for topic in self.topics() {
            match topic {
                Topic::All => interest.every_run = true,
                Topic::Workflow { run_id, .. } => interest.add_run(*run_id),
                Topic::Metrics => interest.metrics = true,
                Topic::Health => interest.health = true,
                Topic::Alerts { .. } => interest.alerts = true,
            }
        }
        interest
    }

    /// Routes what the subscriptions ask for, and `extra` with it: listening
    /// starts before a snapshot is read, so that no update falls between.
    fn listen(&self, extra: impl FnOnce(&mut Interest)) {
        let mut interest = self.interest();
        extra(&mut interest);
        self.listener.listen(interest);
    }

    pub fn topics(&self) -> impl Iterator<Item = &Topic> {
        self.subscriptions.values()
    }

    pub fn wants_health(&self) -> bool {
        self.topics().any(|t| *t == Topic::Health)
    }

    /// Whether a pushed update is for this client.
    pub fn wants(&self, update: &Update) -> bool {
        self.topics().any(|t| match (t, update.channel) {
            (Topic::All, Channel::Run(_)) => true,
            (Topic::Workflow { run_id, after }, Channel::Run(id)) => {
                *run_id == id && update.seq > *after
            }
            (Topic::Health, Channel::Health | Channel::Alerts) => true,
            (Topic::Alerts { after }, Channel::Alerts) => update.seq > *after,
            (Topic::Metrics, Channel::Metrics) => true,
            _ => false,
        })
    }

    /// Answers one text frame. Bad input yields an `Error` message; it never
    /// ends the session.
    pub async fn handle_text(&mut self, text: &str, state: &AppState) -> Vec<ServerMessage> {
        if text.len() > super::MAX_CLIENT_MESSAGE {
            return vec![ServerMessage::error(format!(
                "a message of {} bytes is over the limit of {} bytes; actions are small JSON objects",
                text.len(),
                super::MAX_CLIENT_MESSAGE
            ))];
        }
        let action = match parse_action(text) {
            Ok(action) => action,
            Err(message) => return vec![ServerMessage::error(message)],
        };
        match action {
            ClientAction::SubscribeAll => vec![self.subscribe(Topic::All)],
            ClientAction::SubscribeMetrics => vec![self.subscribe(Topic::Metrics)],
            ClientAction::SubscribeHealth => {
                vec![
                    self.subscribe(Topic::Health),
                    hub::health_update(state.health()),
                ]
            }
            ClientAction::SubscribeAlerts => {
                self.listen(|i| i.alerts = true);
                let (snapshot, after) = state
                    .engine
                    .journal()
                    .read_at(|m, seq| (hub::alert_snapshot(m), seq));
                let mut out = vec![self.subscribe(Topic::Alerts { after })];
                out.extend(snapshot);
                out
            }
            ClientAction::SubscribeWorkflow { run_id } => {
                self.subscribe_workflow(&run_id, state).await
            }
            ClientAction::Unsubscribe { subscription_id } => match subscription_id {
                None => {
                    let dropped = std::mem::take(&mut self.subscriptions);
                    self.listen(|_| ());
                    vec![ServerMessage::Unsubscribed(Unsubscribed {
                        subscription_ids: dropped.into_keys().collect(),
                    })]
                }
                Some(id) => match self.subscriptions.remove(&id) {
                    Some(_) => {
                        self.listen(|_| ());
                        vec![ServerMessage::Unsubscribed(Unsubscribed {
                            subscription_ids: vec![id],
                        })]
                    }
                    None => vec![ServerMessage::error(format!(
                        "no subscription with id {id:?} on this connection"
                    ))],
                },
            },
            ClientAction::Ping => vec![ServerMessage::Pong],
        }
    }

    /// Subscribes to one run, answering with its current state at once.
    async fn subscribe_workflow(&mut self, raw: &str, state: &AppState) -> Vec<ServerMessage> {
        let unknown = || vec![ServerMessage::error(format!("no run with id {raw:?}"))];
        let Ok(run_id) = raw.parse::<Ulid>() else {
            return unknown();
        };
        self.listen(|i| i.add_run(run_id));
        let journal = state.engine.journal();
        // The snapshot and the sequence number it reflects, read together.
        let snapshot = journal.read_at(|m, last_seq| {
            m.runs.get(&run_id).map(|run| {
                let mut out = vec![hub::workflow_update(run)];
                out.extend(hub::step_snapshot(run, Some(&m.approvals)));
                (out, last_seq)
            })
        });
        let (current, after) = match snapshot {
            Some(found) => found,
            // Old runs are no longer in memory but are finished: their state is final.
            None if journal.read(|m| m.runs.may_exist(&run_id)) => {
                match journal.load_run(&run_id).await {
                    Ok(Some(run)) => {
                        let mut out = vec![hub::workflow_update(&run)];
                        out.extend(hub::step_snapshot(&run, None));
                        (out, u64::MAX)
                    }
                    _ => {
                        self.listen(|_| ());
                        return unknown();
                    }
                }
            }
            None => {
                self.listen(|_| ());
                return unknown();
            }
        };
        let mut out = vec![self.subscribe(Topic::Workflow { run_id, after })];
        out.extend(current);
        out
    }

    fn subscribe(&mut self, topic: Topic) -> ServerMessage {
        let subscription_id = Ulid::new().to_string();
        self.subscriptions.insert(subscription_id.clone(), topic);
        self.listen(|_| ());
        ServerMessage::Subscribed(Subscribed { subscription_id })
    }
}

/// Parses an action, turning serde's complaint into a message a person can act on.
fn parse_action(text: &str) -> Result<ClientAction, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if value.get("action").and_then(|a| a.as_str()).is_none() {
        return Err(
            "expected an object with a string field \"action\" (SubscribeAll, \
             SubscribeWorkflow, SubscribeMetrics, SubscribeHealth, SubscribeAlerts, \
             Unsubscribe, Ping)"
                .into(),
        );
    }
    serde_json::from_value(value).map_err(|e| format!("invalid action: {e}"))
}
