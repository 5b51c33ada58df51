//! The alert book: the fold of `AlertRuleSet` and `AlertChanged` events
//! (rules, each alert's state, the history), plus the recent durations the
//! latency rules measure.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use wire::{
    AlertRule, AlertState, AlertTransition, AlertView, Labels, RuleKind, RunStatus, Severity,
};

use crate::events::{Event, EventKind};
use crate::runs::Runs;

/// Transitions kept for `GET /api/alerts/history`.
pub const HISTORY: usize = 1_000;

/// Durations kept per workflow for latency rules.
const LATENCY_SAMPLES: usize = 10_000;

#[derive(Default)]
pub struct AlertBook {
    pub rules: BTreeMap<String, AlertRule>,
    /// Every alert that ever left `inactive`, as the API shows it.
    pub instances: BTreeMap<(String, Labels), AlertView>,
    /// Newest last.
    history: VecDeque<AlertTransition>,
    /// (finished at, duration) of recent executions per workflow, oldest first.
    latency: HashMap<Arc<str>, VecDeque<(DateTime<Utc>, f64)>>,
}

impl AlertBook {
    pub fn with_rules(rules: Vec<AlertRule>) -> Self {
        Self {
            rules: rules.into_iter().map(|r| (r.name.clone(), r)).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn apply(&mut self, event: &Event, runs: &Runs) {
        match &event.kind {
            EventKind::AlertRuleSet { rule, actor } => {
                let mut rule = wire::AlertRule::from(rule);
                rule.updated_at = Some(event.at);
                rule.updated_by = actor.clone();
                self.rules.insert(rule.name.clone(), rule);
            }
            EventKind::AlertChanged {
                rule,
                labels,
                from,
                to,
                severity,
                value,
                threshold,
                message,
            } => {
                let (from, to, severity): (&AlertState, &AlertState, &Severity) =
                    (&(*from).into(), &(*to).into(), &(*severity).into());
                let i = self
                    .instances
                    .entry((rule.clone(), labels.clone()))
                    .or_insert_with(|| AlertView {
                        rule: rule.clone(),
                        labels: labels.clone(),
                        state: AlertState::Inactive,
                        severity: *severity,
                        value: *value,
                        threshold: *threshold,
                        message: String::new(),
                        active_since: None,
                        fired_at: None,
                        resolved_at: None,
                    });
                if *from == AlertState::Inactive || *from == AlertState::Resolved {
                    i.active_since = Some(event.at);
                    i.fired_at = None;
                    i.resolved_at = None;
                }
                match to {
                    AlertState::Firing => i.fired_at = Some(event.at),
                    AlertState::Resolved => i.resolved_at = Some(event.at),
                    _ => {}
                }
                i.state = *to;
                i.severity = *severity;
                i.value = *value;
                i.threshold = *threshold;
                i.message = message.clone();
                if self.history.len() == HISTORY {
                    self.history.pop_front();
                }
                self.history.push_back(AlertTransition {
                    at: event.at,
                    rule: rule.clone(),
                    labels: labels.clone(),
                    from: *from,
                    to: *to,
                    severity: *severity,
                    value: *value,
                    threshold: *threshold,
                    message: message.clone(),
                });
            }
            EventKind::RunCompleted { run_id, .. } | EventKind::RunFailed { run_id, .. } => {
                let Some(run) = runs.get(run_id) else { return };
                let (Some(secs), RunStatus::Completed | RunStatus::Failed) =
                    (run.duration_secs, run.status)
                else {
                    return;
                };
                let horizon = self.latency_horizon();
                let samples = self.latency.entry(run.workflow_id.clone()).or_default();
                samples.push_back((event.at, secs));
                while samples.len() > LATENCY_SAMPLES
                    || samples
                        .front()
                        .is_some_and(|(at, _)| *at < event.at - horizon)
                {
                    samples.pop_front();
                }
            }
            _ => {}
        }
    }

    /// How far back any latency rule looks.
    fn latency_horizon(&self) -> Duration {
        let secs = self
            .rules
            .values()
            .filter(|r| r.kind == RuleKind::LatencyRegression)
            .map(|r| r.window_secs + r.baseline_secs)
            .max()
            .unwrap_or(0);
        wire::format::whole_secs(secs)
    }

    /// (finished at, duration) of each workflow's recent executions, oldest first.
    pub fn latency_samples(
        &self,
    ) -> impl Iterator<Item = (&Arc<str>, &VecDeque<(DateTime<Utc>, f64)>)> {
        self.latency.iter()
    }

    /// Every rule, by name.
    pub fn rule_list(&self) -> Vec<AlertRule> {
        self.rules.values().cloned().collect()
    }

    /// Pending and firing alerts, firing first, then by rule and labels.
    pub fn active(&self) -> Vec<AlertView> {
        let mut out: Vec<AlertView> = self
            .instances
            .values()
            .filter(|a| a.state.is_active())
            .cloned()
            .collect();
        out.sort_by_key(|a| (a.state != AlertState::Firing, std::cmp::Reverse(a.severity)));
        out
    }

    /// Every alert that ever left `inactive`, in any state.
    pub fn all(&self) -> Vec<AlertView> {
        self.instances.values().cloned().collect()
    }

    /// Newest first.
    pub fn history(&self, limit: usize) -> Vec<AlertTransition> {
        self.history.iter().rev().take(limit).cloned().collect()
    }

    /// The worst severity firing now.
    pub fn worst_firing(&self) -> Option<Severity> {
        self.instances
            .values()
            .filter(|i| i.state == AlertState::Firing)
            .map(|i| i.severity)
            .max()
    }
}
