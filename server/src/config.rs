//! Runtime configuration: command-line flags, each with an environment
//! variable, each with an embedded default, so that `shiioo` with no argument
//! runs a complete server on localhost:8080.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Clone, Debug, Parser)]
#[command(
    name = "shiioo",
    version,
    about = "Observable workflow engine for LLM-agent workflows"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SHIIOO_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Folder holding the dashboard's compiled assets (pkg/shiioo.{js,wasm,css}).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Interval of the health heartbeat pushed to WebSocket subscribers.
    #[arg(long, env = "SHIIOO_HEALTH_HEARTBEAT_MS", default_value_t = 5_000)]
    pub health_heartbeat_ms: u64,

    /// Interval at which idle WebSocket connections are pinged; a connection
    /// silent for three intervals is closed as dead.
    #[arg(long, env = "SHIIOO_WS_PING_MS", default_value_t = 20_000)]
    pub ws_ping_ms: u64,
}

impl Config {
    /// Defaults for tests: everything embedded, any free port.
    pub fn for_tests() -> Self {
        Self::parse_from(["shiioo", "--addr", "127.0.0.1:0"])
    }

    pub fn health_heartbeat(&self) -> Duration {
        Duration::from_millis(self.health_heartbeat_ms.max(100))
    }

    pub fn ws_ping(&self) -> Duration {
        Duration::from_millis(self.ws_ping_ms.max(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_localhost_8080() {
        let config = Config::parse_from(["shiioo"]);
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.health_heartbeat(), Duration::from_secs(5));
    }

    #[test]
    fn intervals_have_a_floor() {
        let config = Config::parse_from(["shiioo", "--ws-ping-ms", "0"]);
        assert_eq!(config.ws_ping(), Duration::from_millis(100));
    }
}
