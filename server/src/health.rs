//! System health: the figures of `GET /api/health/status` and the rule that
//! turns them into `healthy` / `degraded` / `critical`.

use app::wire::{HealthState, HealthStatus};

use crate::state::AppState;

/// Success-rate thresholds (percent) below which health degrades.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub degraded_below: f64,
    pub critical_below: f64,
}

impl Default for Thresholds {
    /// The guide's alerting example fires below 95 %; below 80 % a majority
    /// of the trouble is systemic.
    fn default() -> Self {
        Self {
            degraded_below: 95.0,
            critical_below: 80.0,
        }
    }
}

/// Percentage of finished executions that succeeded, two decimals; 100 when
/// nothing has finished, since no failure has been observed.
pub fn success_rate(successes: u64, failures: u64) -> f64 {
    let finished = successes + failures;
    if finished == 0 {
        return 100.0;
    }
    (successes as f64 * 10_000.0 / finished as f64).round() / 100.0
}

pub fn classify(success_rate: f64, thresholds: Thresholds) -> HealthState {
    if success_rate < thresholds.critical_below {
        HealthState::Critical
    } else if success_rate < thresholds.degraded_below {
        HealthState::Degraded
    } else {
        HealthState::Healthy
    }
}

/// The current health. Execution counts, routines and approvals are wired in
/// as the engine, routines and approvals land; until then they are truly 0.
pub fn status(state: &AppState) -> HealthStatus {
    let (successes, failures) = (0, 0);
    let rate = success_rate(successes, failures);
    HealthStatus {
        status: classify(rate, Thresholds::default()),
        uptime_secs: state.uptime_secs(),
        active_routines: 0,
        total_routines: 0,
        pending_approvals: 0,
        total_workflow_executions: successes + failures,
        successful_executions: successes,
        failed_executions: failures,
        success_rate: rate,
        active_workflows: 0,
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
}
