//! Alert rules: the defaults (the guide's "Alert Rules"), the rules file,
//! and the one function that applies a change to a rule and checks it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use wire::format::number;
use wire::{AlertRule, AlertRuleUpdate, RuleKind, Severity};

pub use wire::format::span;

/// A rule change that cannot be applied: the field at fault and why.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Longest `for`, window or baseline accepted.
pub const MAX_SPAN_SECS: u64 = 7 * DAY;

/// The guide's example thresholds, plus a critical success-rate rule so that
/// health can turn `critical` on its own.
pub fn defaults() -> Vec<AlertRule> {
    let rule = |name: &str, kind, severity, threshold, for_secs, description: &str| AlertRule {
        description: description.to_string(),
        severity,
        threshold,
        for_secs,
        ..new_rule(name, kind)
    };
    let mut rules = vec![
        rule(
            "success_rate",
            RuleKind::SuccessRate,
            Severity::Warning,
            95.0,
            5 * MINUTE,
            "Success rate < 95% for 5 minutes (the guide's first rule).",
        ),
        rule(
            "success_rate_critical",
            RuleKind::SuccessRate,
            Severity::Critical,
            80.0,
            MINUTE,
            "Most executions are failing: the trouble is systemic.",
        ),
        rule(
            "latency_regression",
            RuleKind::LatencyRegression,
            Severity::Warning,
            2.0,
            5 * MINUTE,
            "A workflow's p99 duration is over twice its baseline.",
        ),
        rule(
            "pending_approvals",
            RuleKind::PendingApprovals,
            Severity::Warning,
            20.0,
            MINUTE,
            "Approvals are piling up: governance is the bottleneck.",
        ),
        rule(
            "active_workflows",
            RuleKind::ActiveWorkflows,
            Severity::Warning,
            100.0,
            MINUTE,
            "More workflows are running than the capacity limit.",
        ),
    ];
    for r in &mut rules {
        r.expression = expression(r);
    }
    rules
}

/// Applies `update` to the rule named `name` (`existing`, or a new one) and
/// checks the result.
pub fn apply_update(
    name: &str,
    existing: Option<&AlertRule>,
    update: AlertRuleUpdate,
) -> Result<AlertRule, RuleError> {
    check_name(name)?;
    let mut rule = match existing {
        Some(rule) => {
            if let Some(kind) = update.kind.filter(|k| *k != rule.kind) {
                return Err(RuleError::new(
                    "kind",
                    format!(
                        "rule {name:?} measures {}; it cannot become {}: create a rule under another name",
                        rule.kind.as_str(),
                        kind.as_str()
                    ),
                ));
            }
            rule.clone()
        }
        None => {
            let kind = update.kind.ok_or_else(|| {
                RuleError::new(
                    "kind",
                    format!(
                        "there is no rule {name:?}; to create it, give its kind ({})",
                        kinds()
                    ),
                )
            })?;
            if update.threshold.is_none() {
                return Err(RuleError::new(
                    "threshold",
                    format!("there is no rule {name:?}; to create it, give its threshold"),
                ));
            }
            new_rule(name, kind)
        }
    };
    let AlertRuleUpdate {
        kind: _,
        description,
        severity,
        threshold,
        for_secs,
        window_secs,
        baseline_secs,
        min_executions,
        enabled,
        webhook_url,
    } = update;
    set(&mut rule.description, description);
    set(&mut rule.severity, severity);
    set(&mut rule.threshold, threshold);
    set(&mut rule.for_secs, for_secs);
    set(&mut rule.window_secs, window_secs);
    set(&mut rule.baseline_secs, baseline_secs);
    set(&mut rule.min_executions, min_executions);
    set(&mut rule.enabled, enabled);
    if let Some(v) = webhook_url {
        rule.webhook_url = v.filter(|u| !u.trim().is_empty());
    }
    check(&rule)?;
    rule.expression = expression(&rule);
    Ok(rule)
}

/// Replaces `slot` when the update names a value.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A rule of `kind` with the default windows and nothing else set.
fn new_rule(name: &str, kind: RuleKind) -> AlertRule {
    AlertRule {
        name: name.to_string(),
        kind,
        description: String::new(),
        severity: Severity::Warning,
        threshold: 0.0,
        for_secs: 0,
        window_secs: 5 * MINUTE,
        baseline_secs: HOUR,
        min_executions: 10,
        enabled: true,
        webhook_url: None,
        expression: String::new(),
        updated_at: None,
        updated_by: None,
    }
}

fn kinds() -> String {
    RuleKind::ALL.map(RuleKind::as_str).join(", ")
}

/// Names travel in URLs and as the `alertname` label.
fn check_name(name: &str) -> Result<(), RuleError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name == "prometheus" {
        // `GET /api/alerts/rules/prometheus` is the rules file.
        return Err(RuleError::new(
            "name",
            "\"prometheus\" is reserved; choose another name",
        ));
    }
    if ok {
        Ok(())
    } else {
        Err(RuleError::new(
            "name",
            format!(
                "{name:?}: a rule name is 1 to 64 characters of A-Z, a-z, 0-9, '_', '-' or '.'"
            ),
        ))
    }
}

fn check(rule: &AlertRule) -> Result<(), RuleError> {
    let t = rule.threshold;
    let shown = number(t);
    if !t.is_finite() {
        return Err(RuleError::new("threshold", "must be a finite number"));
    }
    match rule.kind {
        RuleKind::SuccessRate if !(0.0..=100.0).contains(&t) => {
            return Err(RuleError::new(
                "threshold",
                format!("{shown}: a success-rate threshold is a percentage in [0, 100]"),
            ))
        }
        RuleKind::LatencyRegression if t <= 0.0 => {
            return Err(RuleError::new(
                "threshold",
                format!("{shown}: a latency threshold is a factor of the baseline, above 0"),
            ))
        }
        RuleKind::PendingApprovals
        | RuleKind::ActiveWorkflows
        | RuleKind::Cost
        | RuleKind::WorkflowCost
            if t < 0.0 =>
        {
            return Err(RuleError::new(
                "threshold",
                format!("{shown}: a count threshold is 0 or more"),
            ))
        }
        _ => {}
    }
    for (field, v) in [
        ("for_secs", rule.for_secs),
        ("window_secs", rule.window_secs),
        ("baseline_secs", rule.baseline_secs),
    ] {
        if v > MAX_SPAN_SECS {
            return Err(RuleError::new(
                field,
                format!("{v}: at most {MAX_SPAN_SECS} seconds (7 days)"),
            ));
        }
    }
    if rule.min_executions == 0
        && matches!(
            rule.kind,
            RuleKind::SuccessRate | RuleKind::LatencyRegression
        )
    {
        return Err(RuleError::new(
            "min_executions",
            "must be at least 1: a rate over no executions says nothing",
        ));
    }
    if rule.window_secs == 0 {
        return Err(RuleError::new("window_secs", "must be at least 1 second"));
    }
    if rule.baseline_secs == 0 {
        return Err(RuleError::new("baseline_secs", "must be at least 1 second"));
    }
    if rule.description.chars().count() > 1_000 {
        return Err(RuleError::new("description", "at most 1,000 characters"));
    }
    if let Some(url) = &rule.webhook_url {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(u) => {
                return Err(RuleError::new(
                    "webhook_url",
                    format!(
                        "{url:?}: expected an http or https URL, not {}:",
                        u.scheme()
                    ),
                ))
            }
            Err(e) => {
                return Err(RuleError::new(
                    "webhook_url",
                    format!("{url:?}: not a URL ({e})"),
                ))
            }
        }
    }
    Ok(())
}

/// The condition in words, for lists and notifications.
pub fn expression(rule: &AlertRule) -> String {
    let window = span(rule.window_secs);
    // A rate needs one execution at least, whatever the rule says.
    let n = rule.min_executions.max(1);
    let t = number(rule.threshold);
    match rule.kind {
        RuleKind::SuccessRate => {
            format!("success rate < {t}% over {window} (at least {n} executions)")
        }
        RuleKind::LatencyRegression => format!(
            "p99 duration over {window} > {t}× the p99 of the {} before (per workflow, at least {n} executions in each)",
            span(rule.baseline_secs)
        ),
        RuleKind::PendingApprovals => format!("pending approvals > {t}"),
        RuleKind::ActiveWorkflows => format!("active workflows > {t}"),
        RuleKind::Cost => format!("agent calls cost > ${t} over {window}"),
        RuleKind::WorkflowCost => {
            format!("agent calls cost > ${t} over {window} (per workflow)")
        }
    }
}

/// The rules file (`--alert-rules`): a TOML table of rule changes by name,
/// applied over the defaults, e.g.
///
/// ```toml
/// [rules.success_rate]
/// threshold = 90
/// webhook_url = "http://alerts.internal:9093/hook"
///
/// [rules.queue_full]
/// kind = "active_workflows"
/// threshold = 50
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: BTreeMap<String, AlertRuleUpdate>,
}

/// The defaults with the rules file, if any, applied.
pub fn load(path: Option<&Path>) -> Result<Vec<AlertRule>, String> {
    let mut rules: BTreeMap<String, AlertRule> = defaults()
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let Some(path) = path else {
        return Ok(rules.into_values().collect());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the alert rules file {}: {e}", path.display()))?;
    let file: RulesFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (name, update) in file.rules {
        let rule = apply_update(&name, rules.get(&name), update)
            .map_err(|e| format!("{}: rules.{name}.{e}", path.display()))?;
        rules.insert(name, rule);
    }
    Ok(rules.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_name(name: &str) -> AlertRule {
        defaults().into_iter().find(|r| r.name == name).unwrap()
    }

    #[test]
    fn the_defaults_are_the_guides_rules() {
        let sr = by_name("success_rate");
        assert_eq!(
            (sr.threshold, sr.window_secs, sr.for_secs),
            (95.0, 300, 300)
        );
        assert_eq!(by_name("latency_regression").threshold, 2.0);
        assert_eq!(by_name("pending_approvals").threshold, 20.0);
        assert_eq!(by_name("active_workflows").kind, RuleKind::ActiveWorkflows);
        for r in defaults() {
            assert_eq!(
                apply_update(&r.name, Some(&r), Default::default()),
                Ok(r.clone())
            );
        }
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let sr = by_name("success_rate");
        let got = apply_update(
            "success_rate",
            Some(&sr),
            AlertRuleUpdate {
                threshold: Some(90.0),
                webhook_url: Some(Some("http://127.0.0.1:9/hook".into())),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(got.threshold, 90.0);
        assert_eq!(got.webhook_url.as_deref(), Some("http://127.0.0.1:9/hook"));
        assert_eq!(got.for_secs, sr.for_secs);
        assert!(got.expression.contains("< 90%"), "{}", got.expression);
    }

    #[test]
    fn bad_changes_name_their_field() {
        let sr = by_name("success_rate");
        let field = |name: &str, existing: Option<&AlertRule>, u: AlertRuleUpdate| {
            apply_update(name, existing, u).unwrap_err().field
        };
        let u = |f: fn(&mut AlertRuleUpdate)| {
            let mut u = AlertRuleUpdate::default();
            f(&mut u);
            u
        };
        assert_eq!(
            field("success_rate", Some(&sr), u(|u| u.threshold = Some(120.0))),
            "threshold"
        );
        assert_eq!(
            field(
                "success_rate",
                Some(&sr),
                u(|u| u.threshold = Some(f64::NAN))
            ),
            "threshold"
        );
        assert_eq!(
            field(
                "success_rate",
                Some(&sr),
                u(|u| u.kind = Some(RuleKind::ActiveWorkflows))
            ),
            "kind"
        );
        assert_eq!(
            field("success_rate", Some(&sr), u(|u| u.window_secs = Some(0))),
            "window_secs"
        );
        assert_eq!(
            field(
                "success_rate",
                Some(&sr),
                u(|u| u.webhook_url = Some(Some("ftp://x/".into())))
            ),
            "webhook_url"
        );
        assert_eq!(
            field(
                "bad name!",
                None,
                u(|u| u.kind = Some(RuleKind::SuccessRate))
            ),
            "name"
        );
        assert_eq!(
            field("new_rule", None, u(|u| u.threshold = Some(1.0))),
            "kind"
        );
        assert_eq!(
            field(
                "new_rule",
                None,
                u(|u| u.kind = Some(RuleKind::ActiveWorkflows))
            ),
            "threshold"
        );
        let created = apply_update(
            "new_rule",
            None,
            u(|u| {
                u.kind = Some(RuleKind::ActiveWorkflows);
                u.threshold = Some(3.0)
            }),
        )
        .unwrap();
        assert_eq!(created.expression, "active workflows > 3");
        assert_eq!(
            field("success_rate", Some(&sr), u(|u| u.min_executions = Some(0))),
            "min_executions"
        );
        // A huge threshold reads as one, not as 309 digits.
        let huge = apply_update(
            "pending_approvals",
            Some(&by_name("pending_approvals")),
            u(|u| u.threshold = Some(1e308)),
        )
        .unwrap();
        assert_eq!(huge.expression, "pending approvals > 1e308");
        assert_eq!(
            super::super::prometheus::promql(&huge),
            "pending_approvals > 1e308"
        );
    }

    #[test]
    fn spans_read_like_prometheus_durations() {
        assert_eq!(span(300), "5m");
        assert_eq!(span(3600), "1h");
        assert_eq!(span(90), "1m30s");
        assert_eq!(span(86_400 + 1), "1d1s");
        assert_eq!(span(0), "0s");
    }

    #[test]
    fn the_rules_file_changes_and_adds_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.toml");
        std::fs::write(
            &path,
            "[rules.success_rate]\nthreshold = 90\nfor_secs = 30\n\n[rules.queue]\nkind = \"active_workflows\"\nthreshold = 5\n",
        )
        .unwrap();
        let rules = load(Some(&path)).unwrap();
        let sr = rules.iter().find(|r| r.name == "success_rate").unwrap();
        assert_eq!((sr.threshold, sr.for_secs), (90.0, 30));
        assert!(rules
            .iter()
            .any(|r| r.name == "queue" && r.threshold == 5.0));
        std::fs::write(&path, "[rules.success_rate]\nthreshold = 190\n").unwrap();
        let err = load(Some(&path)).unwrap_err();
        assert!(err.contains("rules.success_rate.threshold"), "{err}");
        std::fs::write(&path, "[rules.success_rate]\ntreshold = 1\n").unwrap();
        let err = load(Some(&path)).unwrap_err();
        assert!(err.contains("unknown field `treshold`"), "{err}");
    }
}
