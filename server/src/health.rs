//! System health: the figures of `GET /api/health/status` and the rule that
//! turns them into `healthy` / `degraded` / `critical`.

use wire::{HealthState, HealthStatus};

use chrono::{DateTime, Utc};

use crate::analytics::success_rate;
use crate::model::Model;

/// Success-rate thresholds (percent) below which health degrades.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub degraded_below: f64,
    pub critical_below: f64,
}

impl Default for Thresholds {
    /// The guide's alerting example fires below 95 %; below 80 % the trouble
    /// is systemic.
    fn default() -> Self {
        Self {
            degraded_below: 95.0,
            critical_below: 80.0,
        }
    }
}

/// Fewest executions health judges by; with fewer in the window, it looks
/// at this many of the latest ones.
pub const MIN_SAMPLES: usize = 5;

pub fn classify(success_rate: f64, thresholds: Thresholds) -> HealthState {
    if success_rate < thresholds.critical_below {
        HealthState::Critical
    } else if success_rate < thresholds.degraded_below {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    }
}

/// What health is judged by.
#[derive(Clone, Copy, Debug)]
pub struct HealthRules {
    pub thresholds: Thresholds,
    /// Executions finished within this window are judged.
    pub window: chrono::Duration,
}

/// The current health. `status` is the worst of three verdicts: the
/// *recent* success rate (see [`MIN_SAMPLES`] and `--health-window-secs`),
/// so that a system that has recovered is healthy again and a fresh failure
/// streak shows at once; the alerts firing now (`degraded` while a warning
/// fires, `critical` while a critical one does); and the event log
/// (`critical` while it cannot be written). `success_rate` is all-time, as
/// in the guide.
///
/// An execution is a run that finished with an outcome: `Completed` is a
/// success; `Failed` and `Interrupted` (the server stopped under it) are
/// failures. `Cancelled` runs are neither and are not counted.
pub fn assess(
    model: &Model,
    rules: &HealthRules,
    uptime_secs: u64,
    now: DateTime<Utc>,
    event_log: wire::EventLogHealth,
) -> HealthStatus {
    let executions = model.executions;
    let recent = model
        .analytics
        .recent_outcomes(now - rules.window, MIN_SAMPLES);
    let successes = executions.completed;
    let failures = executions.failed + executions.interrupted;
    let rate = success_rate(successes, failures);
    let recent_rate = success_rate(recent.successes, recent.executions - recent.successes);
    let by_rate = classify(recent_rate, rules.thresholds);
    let by_alerts = match model.alerts.worst_firing() {
        Some(wire::Severity::Critical) => HealthState::Critical,
        Some(wire::Severity::Warning) => HealthState::Degraded,
        None => HealthState::Healthy,
    };
    // A log that takes no writes accepts no change: nothing works.
    let by_log = if event_log.failing() {
        HealthState::Critical
    } else {
        HealthState::Healthy
    };
    HealthStatus {
        status: by_rate.max(by_alerts).max(by_log),
        uptime_secs,
        active_routines: model.routines.enabled() as u64,
        total_routines: model.routines.len() as u64,
        pending_approvals: model.approvals.pending() as u64,
        total_workflow_executions: successes + failures,
        successful_executions: successes,
        failed_executions: failures,
        success_rate: rate,
        active_workflows: model.runs.active() as u64,
        recent_success_rate: recent_rate,
        recent_executions: recent.executions,
        alerts: crate::alerts::firing_now(model, now),
        event_log,
        // The caller's to say (`AppState::health`).
        node_id: String::new(),
        cluster: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_matches_the_guides_example() {
        assert_eq!(success_rate(1498, 25), 98.36);
        assert_eq!(success_rate(0, 0), 100.0);
        assert_eq!(success_rate(0, 3), 0.0);
    }

    #[test]
    fn thresholds_split_the_three_states() {
        let t = Thresholds::default();
        assert_eq!(classify(100.0, t), HealthState::Healthy);
        assert_eq!(classify(95.0, t), HealthState::Healthy);
        assert_eq!(classify(94.99, t), HealthState::Degraded);
        assert_eq!(classify(80.0, t), HealthState::Degraded);
        assert_eq!(classify(79.9, t), HealthState::Critical);
    }

    #[test]
    fn the_worse_verdict_wins() {
        use HealthState::*;
        assert_eq!(Healthy.max(Degraded), Degraded);
        assert_eq!(Critical.max(Degraded), Critical);
    }
}
