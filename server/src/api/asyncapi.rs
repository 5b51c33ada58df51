//! `GET /api/asyncapi.json`: the WebSocket `/api/ws` as an AsyncAPI 3.0
//! document. The payload schemas are those of `wire::ClientAction` and
//! `wire::ServerMessage`, generated like the OpenAPI document's; each
//! variant is a message of its own, named by its tag (`action` for what a
//! client sends, `type` for what the server pushes).

use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(components(schemas(wire::ClientAction, wire::ServerMessage)))]
struct WsSchemas;

/// What each message is for, by its tag.
const SUMMARIES: &[(&str, &str)] = &[
    ("SubscribeAll", "Every run's updates from now on."),
    (
        "SubscribeWorkflow",
        "One run's updates; answered at once with its current state.",
    ),
    ("SubscribeMetrics", "Metric samples as they change."),
    ("SubscribeHealth", "Health changes, and alert changes."),
    (
        "SubscribeAlerts",
        "Alert state changes, starting with every active alert.",
    ),
    (
        "Unsubscribe",
        "Drops one subscription, or all without `subscription_id`.",
    ),
    (
        "Ping",
        "An application-level heartbeat; answered by `Pong`.",
    ),
    ("Subscribed", "A subscription was made; its id."),
    ("Unsubscribed", "Subscriptions were dropped."),
    ("WorkflowUpdate", "A run changed status or progress."),
    ("StepUpdate", "A step of a run changed status."),
    ("HealthUpdate", "Overall health changed."),
    ("MetricsUpdate", "A metric sample."),
    ("AlertUpdate", "An alert changed state."),
    ("Pong", "The answer to `Ping`."),
    (
        "Error",
        "An action could not be understood or done; the connection lives on.",
    ),
];

/// The tag value a variant's schema fixes (`{"properties": {tag: {"enum": [v]}}}`,
/// possibly inside an `allOf`).
fn tag_of(schema: &Value, tag: &str) -> Option<String> {
    if let Some(v) = schema["properties"][tag]["enum"][0].as_str() {
        return Some(v.to_string());
    }
    schema["allOf"]
        .as_array()?
        .iter()
        .find_map(|part| tag_of(part, tag))
}

/// One message per variant of the enum schema `name`, tagged by `tag`.
fn messages(schemas: &Value, name: &str, tag: &str) -> Vec<(String, Value)> {
    schemas[name]["oneOf"]
        .as_array()
        .map(|variants| {
            variants
                .iter()
                .filter_map(|variant| {
                    let message = tag_of(variant, tag)?;
                    let summary = SUMMARIES
                        .iter()
                        .find(|(m, _)| *m == message)
                        .map_or("", |(_, s)| s);
                    let mut described = json!({
                        "name": message,
                        "title": message,
                        "summary": summary,
                        "contentType": "application/json",
                        "payload": variant,
                    });
                    if let Some(example) =
                        super::openapi::guide_examples()["messages"].get(&message)
                    {
                        described["examples"] = json!([{"name": "guide", "payload": example}]);
                    }
                    Some((message, described))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn asyncapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> Value {
    let doc = serde_json::to_value(WsSchemas::openapi()).expect("schemas serialise");
    let schemas = doc["components"]["schemas"].clone();
    let actions = messages(&schemas, "ClientAction", "action");
    let pushed = messages(&schemas, "ServerMessage", "type");
    let mut all = Map::new();
    let mut channel_messages = Map::new();
    for (name, message) in actions.iter().chain(&pushed) {
        all.insert(name.clone(), message.clone());
        channel_messages.insert(
            name.clone(),
            json!({"$ref": format!("#/components/messages/{name}")}),
        );
    }
    let refs = |list: &[(String, Value)]| -> Vec<Value> {
        list.iter()
            .map(|(name, _)| json!({"$ref": format!("#/channels/live/messages/{name}")}))
            .collect()
    };
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Shiioo live updates",
            "version": crate::VERSION,
            "description": "The WebSocket of `GET /api/ws`: JSON text frames. A client sends actions \
                (tagged by `action`) and the server pushes messages (tagged by `type`). A message \
                the server cannot read is answered with an `Error` and the connection lives on. \
                Authentication as for the REST API: `Authorization: Bearer`, the dashboard's session \
                cookie, or a one-use ticket from `POST /api/ws/ticket` as `?ticket=`.",
            "license": {"name": "MIT"}
        },
        "defaultContentType": "application/json",
        "channels": {
            "live": {
                "address": "/api/ws",
                "title": "Live updates",
                "messages": channel_messages
            }
        },
        "operations": {
            "receiveAction": {
                "action": "receive",
                "channel": {"$ref": "#/channels/live"},
                "summary": "Actions the server takes from a client.",
                "messages": refs(&actions)
            },
            "sendUpdate": {
                "action": "send",
                "channel": {"$ref": "#/channels/live"},
                "summary": "What the server pushes to a client.",
                "messages": refs(&pushed)
            }
        },
        "components": {
            "messages": all,
            "schemas": schemas
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_and_message_is_a_message_of_the_channel() {
        let doc = asyncapi();
        assert_eq!(doc["asyncapi"], "3.0.0");
        let names: Vec<&String> = doc["components"]["messages"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        for (name, _) in SUMMARIES {
            assert!(
                names.iter().any(|n| n == name),
                "{name} is not in the document: {names:?}"
            );
        }
        assert_eq!(names.len(), SUMMARIES.len(), "{names:?}");
        assert_eq!(
            super::super::openapi::dangling_refs(doc),
            Vec::<String>::new()
        );
    }
}
