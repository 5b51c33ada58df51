//! The engine benchmarks' workload: a 3-step sequential workflow whose
//! simulated steps take no time, so that what is measured is the engine.

use std::collections::HashMap;
use std::sync::Arc;

use server::engine::agents::{RoleSimulation, Simulated};
use server::engine::{Engine, EngineConfig};
use server::journal::Journal;
use wire::JobRequest;

pub fn job() -> JobRequest {
    serde_json::from_value(serde_json::json!({
        "name": "Bench Flow",
        "workflow": {
            "steps": [
                {"id": "a", "action": {"agent_task": {"prompt": "one"}}},
                {"id": "b", "action": {"agent_task": {"prompt": "two"}}},
                {"id": "c", "action": {"agent_task": {"prompt": "three"}}}
            ],
            "dependencies": {"b": ["a"], "c": ["b"]}
        },
        "execute": true
    }))
    .unwrap()
}

/// An engine on `journal` whose simulated agents answer at once.
pub fn engine(journal: Arc<Journal>) -> Engine {
    let instant = RoleSimulation {
        latency_ms: [0, 0],
        failure_rate: 0.0,
    };
    Engine::new(
        journal,
        Arc::new(Simulated::new(1, instant, HashMap::new())),
        EngineConfig::default(),
    )
}
