//! One evaluation: measure every rule against the model, step each alert's
//! state machine, and return the transitions as events to publish. Pure: the
//! caller passes the time, so tests drive the clock.

use chrono::{DateTime, Utc};
use wire::format::{number, whole_secs};
use wire::{AlertRule, AlertState, RuleKind};

use super::{rules::span, Labels};
use crate::events::EventKind;
use crate::model::Model;

/// What a rule measured for one label set.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub labels: Labels,
    pub value: f64,
    pub breached: bool,
    pub message: String,
}

/// The state an alert moves to, if it moves: the Prometheus state machine.
/// `active_since` is when the condition started holding.
pub fn next_state(
    state: AlertState,
    active_since: Option<DateTime<Utc>>,
    breached: bool,
    now: DateTime<Utc>,
    for_secs: u64,
) -> Option<AlertState> {
    use AlertState::*;
    let held_long_enough =
        |since: Option<DateTime<Utc>>| since.is_some_and(|s| now - s >= whole_secs(for_secs));
    match (state, breached) {
        (Inactive | Resolved, true) if for_secs == 0 => Some(Firing),
        (Inactive | Resolved, true) => Some(Pending),
        (Pending, true) if held_long_enough(active_since) => Some(Firing),
        (Pending, false) => Some(Inactive),
        (Firing, false) => Some(Resolved),
        _ => None,
    }
}

/// The transitions due at `now`, as `AlertChanged` events.
pub fn evaluate(model: &Model, now: DateTime<Utc>) -> Vec<EventKind> {
    let book = &model.alerts;
    let mut out = Vec::new();
    for rule in book.rules.values() {
        let readings = if rule.enabled {
            measure(rule, model, now)
        } else {
            Vec::new()
        };
        // Alerts the rule no longer reports (no data, a workflow gone quiet,
        // the rule disabled) are treated as no longer breached.
        let unreported = book
            .instances
            .range((rule.name.clone(), Labels::new())..)
            .take_while(|((name, _), _)| *name == rule.name)
            .filter(|((_, labels), i)| {
                i.state.is_active() && !readings.iter().any(|r| r.labels == *labels)
            })
            .map(|((_, labels), i)| Reading {
                labels: labels.clone(),
                value: i.value,
                breached: false,
                message: if rule.enabled {
                    format!("No longer measured: {}", i.message)
                } else {
                    format!("Rule disabled: {}", i.message)
                },
            })
            .collect::<Vec<_>>();
        for reading in readings.into_iter().chain(unreported) {
            let current = book
                .instances
                .get(&(rule.name.clone(), reading.labels.clone()));
            let (state, since) =
                current.map_or((AlertState::Inactive, None), |i| (i.state, i.active_since));
            if let Some(to) = next_state(state, since, reading.breached, now, rule.for_secs) {
                out.push(EventKind::AlertChanged {
                    rule: rule.name.clone(),
                    labels: reading.labels,
                    from: state.into(),
                    to: to.into(),
                    severity: rule.severity.into(),
                    value: reading.value,
                    threshold: rule.threshold,
                    message: reading.message,
                });
            }
        }
    }
    out
}

/// What `rule` measures now, one reading per label set; none when there is
/// too little data to judge.
pub fn measure(rule: &AlertRule, model: &Model, now: DateTime<Utc>) -> Vec<Reading> {
    let t = rule.threshold;
    let limit = number(t);
    let window = whole_secs(rule.window_secs);
    let one = |value: f64, breached: bool, message: String| {
        vec![Reading {
            labels: Labels::new(),
            value,
            breached,
            message,
        }]
    };
    match rule.kind {
        RuleKind::SuccessRate => {
            let r = model.analytics.recent_outcomes(now - window, 0);
            if r.executions < rule.min_executions.max(1) {
                return Vec::new();
            }
            let rate = crate::analytics::success_rate(r.successes, r.executions - r.successes);
            let breached = rate < t;
            let relation = if breached { "below" } else { "at or above" };
            one(
                rate,
                breached,
                format!(
                    "Success rate {rate}% over the last {} ({} executions) is {relation} {limit}%",
                    span(rule.window_secs),
                    r.executions
                ),
            )
        }
        RuleKind::PendingApprovals => {
            let n = model.approvals.pending();
            let breached = n as f64 > t;
            one(
                n as f64,
                breached,
                format!(
                    "{n} approval{} waiting for votes (limit {limit})",
                    if n == 1 { " is" } else { "s are" }
                ),
            )
        }
        RuleKind::ActiveWorkflows => {
            let n = model.runs.active();
            let breached = n as f64 > t;
            one(
                n as f64,
                breached,
                format!(
                    "{n} workflow{} running (capacity {limit})",
                    if n == 1 { " is" } else { "s are" }
                ),
            )
        }
        RuleKind::LatencyRegression => latency(rule, model, now),
        RuleKind::Cost => {
            let spent = model.analytics.spend_in(now - window, now);
            let breached = spent > t;
            let relation = if breached { "over" } else { "within" };
            one(
                spent,
                breached,
                format!(
                    "Agent calls cost {} over the last {}, {relation} the limit of {}",
                    usd(spent),
                    span(rule.window_secs),
                    usd(t)
                ),
            )
        }
        RuleKind::WorkflowCost => {
            let mut out: Vec<Reading> = model
                .analytics
                .workflow_spend_in(now - window, now)
                .into_iter()
                .map(|(workflow, spent)| {
                    let breached = spent > t;
                    let relation = if breached { "over" } else { "within" };
                    Reading {
                        labels: Labels::from([("workflow_id".to_string(), workflow.clone())]),
                        value: spent,
                        breached,
                        message: format!(
                            "Agent calls of {workflow} cost {} over the last {}, {relation} the limit of {}",
                            usd(spent),
                            span(rule.window_secs),
                            usd(t)
                        ),
                    }
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out
        }
    }
}

fn usd(v: f64) -> String {
    wire::format::usd(Some(v))
}

fn latency(rule: &AlertRule, model: &Model, now: DateTime<Utc>) -> Vec<Reading> {
    let window_start = now - whole_secs(rule.window_secs);
    let baseline_start = window_start - whole_secs(rule.baseline_secs);
    let min = rule.min_executions.max(1) as usize;
    let mut out: Vec<Reading> = model
        .alerts
        .latency_samples()
        .filter_map(|(workflow, samples)| {
            let (mut recent, mut baseline) = (Vec::new(), Vec::new());
            for (at, secs) in samples {
                if *at >= window_start {
                    recent.push(*secs);
                } else if *at >= baseline_start {
                    baseline.push(*secs);
                }
            }
            if recent.len() < min || baseline.len() < min {
                return None;
            }
            let now_p99 = p99(&mut recent);
            let base_p99 = p99(&mut baseline);
            if base_p99 <= 0.0 {
                return None;
            }
            let ratio = (now_p99 / base_p99 * 100.0).round() / 100.0;
            let breached = ratio > rule.threshold;
            Some(Reading {
                labels: Labels::from([("workflow_id".to_string(), workflow.to_string())]),
                value: ratio,
                breached,
                message: format!(
                    "p99 of {workflow} is {now_p99:.3}s over the last {}, {ratio}× its baseline of {base_p99:.3}s (limit {}×)",
                    span(rule.window_secs),
                    number(rule.threshold)
                ),
            })
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Nearest-rank 99th percentile; reorders `values`.
fn p99(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * 0.99).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use ulid::Ulid;
    use wire::Severity;
    use AlertState::*;

    fn publish(model: &mut Model, seq: &mut u64, at: DateTime<Utc>, kind: EventKind) {
        *seq += 1;
        model.apply(&Event {
            seq: *seq,
            at,
            kind,
        });
    }

    fn start_run(model: &mut Model, seq: &mut u64, at: DateTime<Utc>, workflow: &str) -> Ulid {
        let run_id = Ulid::new();
        let kind = EventKind::RunCreated {
            run_id,
            job_id: Ulid::new(),
            workflow_id: workflow.into(),
            job_name: workflow.into(),
            steps: vec![],
            actor: None,
            budget: None,
            trace: None,
            node: None,
        };
        publish(model, seq, at, kind);
        publish(model, seq, at, EventKind::RunStarted { run_id });
        run_id
    }

    fn finish(
        model: &mut Model,
        seq: &mut u64,
        at: DateTime<Utc>,
        run_id: Ulid,
        ok: bool,
        secs: f64,
    ) {
        let kind = if ok {
            EventKind::RunCompleted {
                run_id,
                duration_secs: secs,
            }
        } else {
            EventKind::RunFailed {
                run_id,
                duration_secs: secs,
                error: "boom".into(),
            }
        };
        publish(model, seq, at, kind);
    }

    fn finished(model: &mut Model, seq: &mut u64, at: DateTime<Utc>, outcomes: &[bool]) {
        for ok in outcomes {
            let run = start_run(model, seq, at, "wf");
            finish(model, seq, at, run, *ok, 1.0);
        }
    }

    fn finished_with_duration(
        model: &mut Model,
        seq: &mut u64,
        at: DateTime<Utc>,
        workflow: &str,
        secs: f64,
    ) {
        let run = start_run(model, seq, at, workflow);
        finish(model, seq, at, run, true, secs);
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn pending_fires_only_after_for_and_resolves_on_recovery() {
        // Breached at 0 with `for` 60: pending, still pending at 59, firing at 60.
        assert_eq!(next_state(Inactive, None, true, t(0), 60), Some(Pending));
        assert_eq!(next_state(Pending, Some(t(0)), true, t(59), 60), None);
        assert_eq!(
            next_state(Pending, Some(t(0)), true, t(60), 60),
            Some(Firing)
        );
        assert_eq!(next_state(Firing, Some(t(0)), true, t(600), 60), None);
        assert_eq!(
            next_state(Firing, Some(t(0)), false, t(601), 60),
            Some(Resolved)
        );
        assert_eq!(next_state(Resolved, Some(t(0)), false, t(700), 60), None);
        // A blip shorter than `for` never fires.
        assert_eq!(
            next_state(Pending, Some(t(0)), false, t(30), 60),
            Some(Inactive)
        );
        // No `for`: straight to firing, and again after a resolve.
        assert_eq!(next_state(Inactive, None, true, t(0), 0), Some(Firing));
        assert_eq!(
            next_state(Resolved, Some(t(0)), true, t(9), 0),
            Some(Firing)
        );
        assert_eq!(next_state(Inactive, None, false, t(0), 0), None);
    }

    fn rule(kind: RuleKind, threshold: f64, for_secs: u64) -> AlertRule {
        AlertRule {
            name: "r".into(),
            kind,
            description: String::new(),
            severity: Severity::Warning,
            threshold,
            for_secs,
            window_secs: 300,
            baseline_secs: 3600,
            min_executions: 3,
            enabled: true,
            webhook_url: None,
            expression: String::new(),
            updated_at: None,
            updated_by: None,
        }
    }

    /// Feeds the transitions back like the journal would.
    fn step(model: &mut Model, now: DateTime<Utc>, seq: &mut u64) -> Vec<(AlertState, AlertState)> {
        let changes = evaluate(model, now);
        let mut out = Vec::new();
        for kind in changes {
            if let EventKind::AlertChanged { from, to, .. } = &kind {
                out.push(((*from).into(), (*to).into()));
            }
            *seq += 1;
            model.apply(&Event {
                seq: *seq,
                at: now,
                kind,
            });
        }
        out
    }

    #[test]
    fn the_count_rules_walk_the_whole_state_machine() {
        let mut model =
            Model::default().with_alert_rules(vec![rule(RuleKind::ActiveWorkflows, 0.0, 30)]);
        let mut seq = 0;
        assert_eq!(step(&mut model, t(0), &mut seq), vec![]);
        let run = start_run(&mut model, &mut seq, t(0), "wf");
        assert_eq!(step(&mut model, t(1), &mut seq), vec![(Inactive, Pending)]);
        assert_eq!(step(&mut model, t(20), &mut seq), vec![]);
        assert_eq!(step(&mut model, t(31), &mut seq), vec![(Pending, Firing)]);
        let active = model.alerts.active();
        assert_eq!(active[0].state, Firing);
        assert_eq!(active[0].value, 1.0);
        assert_eq!(active[0].active_since, Some(t(1)));
        assert_eq!(model.alerts.worst_firing(), Some(Severity::Warning));
        finish(&mut model, &mut seq, t(40), run, true, 40.0);
        assert_eq!(step(&mut model, t(41), &mut seq), vec![(Firing, Resolved)]);
        assert!(model.alerts.active().is_empty());
        assert_eq!(model.alerts.history(10).len(), 3);
        assert_eq!(model.alerts.history(10)[0].to, Resolved);
    }

    #[test]
    fn success_rate_waits_for_enough_executions() {
        let mut model =
            Model::default().with_alert_rules(vec![rule(RuleKind::SuccessRate, 95.0, 0)]);
        let mut seq = 0;
        // Two failures are fewer than min_executions (3): no verdict.
        finished(&mut model, &mut seq, t(0), &[false, false]);
        assert_eq!(step(&mut model, t(1), &mut seq), vec![]);
        finished(&mut model, &mut seq, t(2), &[true]);
        assert_eq!(step(&mut model, t(3), &mut seq), vec![(Inactive, Firing)]);
        assert_eq!(model.alerts.active()[0].value, 33.33);
        // Once the failures leave the window, nothing is measured: resolved.
        assert_eq!(step(&mut model, t(400), &mut seq), vec![(Firing, Resolved)]);
    }

    #[test]
    fn latency_compares_the_window_with_the_baseline_before_it() {
        let mut model =
            Model::default().with_alert_rules(vec![rule(RuleKind::LatencyRegression, 2.0, 0)]);
        let mut seq = 0;
        let support = finished_with_duration;
        // Baseline: 1 s runs an hour ago; recent: 3 s runs.
        for i in 0..5 {
            support(&mut model, &mut seq, t(-1800 + i), "wf", 1.0);
        }
        for i in 0..2 {
            support(&mut model, &mut seq, t(-10 + i), "wf", 3.0);
        }
        assert_eq!(step(&mut model, t(0), &mut seq), vec![], "2 recent < min 3");
        support(&mut model, &mut seq, t(-1), "wf", 3.0);
        assert_eq!(step(&mut model, t(0), &mut seq), vec![(Inactive, Firing)]);
        let a = &model.alerts.active()[0];
        assert_eq!(a.labels["workflow_id"], "wf");
        assert_eq!(a.value, 3.0);
    }

    #[test]
    fn p99_is_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p99(&mut v), 99.0);
        assert_eq!(p99(&mut [5.0]), 5.0);
        assert_eq!(p99(&mut []), 0.0);
    }
}
