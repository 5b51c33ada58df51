//! The rules as a Prometheus rules file (`GET /api/alerts/rules/prometheus`),
//! over the metrics `/api/metrics/prometheus` exports, so that users who run
//! Prometheus get the same alerts there.

use std::fmt::Write;

use wire::format::number;
use wire::{AlertRule, RuleKind};

use super::rules::span;

pub const CONTENT_TYPE: &str = "application/yaml; charset=utf-8";

/// Executions with an outcome, as `workflow_executions_total` labels them.
const EXECUTED: &str = r#"status=~"success|failure|interrupted""#;

/// The PromQL expression of a rule.
pub fn promql(rule: &AlertRule) -> String {
    let w = span(rule.window_secs);
    let t = number(rule.threshold);
    // As the evaluator judges: a rate needs one execution at least.
    let n = rule.min_executions.max(1);
    match rule.kind {
        RuleKind::SuccessRate => format!(
            "100 * sum(increase(workflow_executions_total{{status=\"success\"}}[{w}])) \
             / sum(increase(workflow_executions_total{{{EXECUTED}}}[{w}])) < {t} \
             and sum(increase(workflow_executions_total{{{EXECUTED}}}[{w}])) >= {n}"
        ),
        RuleKind::LatencyRegression => {
            let b = span(rule.baseline_secs);
            format!(
                "histogram_quantile(0.99, sum by (workflow_id, le) (rate(workflow_duration_seconds_bucket[{w}]))) \
                 > {t} * histogram_quantile(0.99, sum by (workflow_id, le) (rate(workflow_duration_seconds_bucket[{b}] offset {w}))) \
                 and on (workflow_id) sum by (workflow_id) (increase(workflow_duration_seconds_count[{w}])) >= {n}"
            )
        }
        RuleKind::PendingApprovals => format!("pending_approvals > {t}"),
        RuleKind::ActiveWorkflows => format!("active_workflows > {t}"),
        RuleKind::Cost => format!("sum(increase(llm_cost_usd_total[{w}])) > {t}"),
        RuleKind::WorkflowCost => {
            format!("sum by (workflow_id) (increase(llm_cost_usd_total[{w}])) > {t}")
        }
    }
}

/// A rules file with one group holding every enabled rule. Strings are
/// written as JSON strings, which YAML reads as the same strings.
pub fn rules_file(rules: &[AlertRule]) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut out = String::from("# Shiioo's alert rules, generated from GET /api/alerts/rules.\ngroups:\n  - name: shiioo\n    rules:\n");
    for rule in rules.iter().filter(|r| r.enabled) {
        let _ = write!(
            out,
            "      - alert: {}\n        expr: {}\n        for: {}\n        labels:\n          severity: {}\n        annotations:\n          summary: {}\n          description: {}\n",
            q(&rule.name),
            q(&promql(rule)),
            span(rule.for_secs),
            q(rule.severity.as_str()),
            q(&rule.expression),
            q(&rule.description),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_lists_enabled_rules_with_quoted_strings() {
        let mut rules = super::super::rules::defaults();
        rules[0].description = "a \"quoted\" description: with colons".into();
        rules[1].enabled = false;
        let text = rules_file(&rules);
        assert!(text.starts_with("# Shiioo"));
        assert_eq!(text.matches("- alert: ").count(), rules.len() - 1);
        assert!(text.contains(r#"description: "a \"quoted\" description: with colons""#));
        assert!(text.contains("for: 5m\n"));
        assert!(text.contains("expr: \"pending_approvals > 20\""));
    }
}
