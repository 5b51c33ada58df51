//! The state every handler can reach, passed explicitly through axum.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    /// When this process started serving; uptime is measured from here.
    pub started: Instant,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let leptos_options = LeptosOptions::builder()
            .output_name("shiioo")
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(config.addr)
            .build();
        Self {
            config: Arc::new(config),
            leptos_options,
            started: Instant::now(),
        }
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
