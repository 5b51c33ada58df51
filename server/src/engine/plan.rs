//! Validation of a job, and the execution plan it compiles to.
//!
//! Everything is checked before anything is created: a job that fails here
//! leaves no trace. Each error names the offending field by its path in the
//! request (`workflow.steps[2].id`).

use std::collections::HashMap;

use wire::{workflow_slug, ApiError, JobRequest, OnExceed, StepAction, StepSpec, WorkflowSpec};

use super::agents::{missing, Agents};
use crate::events::PlannedStep;

pub const MAX_STEPS: usize = 1_000;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_ID_CHARS: usize = 128;
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;
pub const MAX_ATTEMPTS: u32 = 100;
pub const MAX_BACKOFF_SECS: f64 = 3_600.0;

/// A validated workflow: steps by index, with edges both ways.
#[derive(Clone, Debug)]
pub struct Plan {
    pub steps: Vec<StepSpec>,
    /// `deps[i]`: the steps `i` waits for.
    pub deps: Vec<Vec<usize>>,
    /// `dependants[i]`: the steps waiting for `i`.
    pub dependants: Vec<Vec<usize>>,
}

impl Plan {
    pub fn planned_steps(&self) -> Vec<PlannedStep> {
        self.steps
            .iter()
            .zip(&self.deps)
            .map(|(s, deps)| PlannedStep {
                id: s.id.clone(),
                name: s.display_name().to_string(),
                role: s.role_or_default().to_string(),
                depends_on: deps.iter().map(|&d| self.steps[d].id.clone()).collect(),
            })
            .collect()
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::new("invalid_job", message).with_field(field)
}

/// Checks a job request; returns its workflow id and plan.
pub fn validate(job: &JobRequest) -> Result<(String, Plan), ApiError> {
    let name = job.name.trim();
    if name.is_empty() {
        return Err(invalid("name", "the job needs a non-empty name"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "name",
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let workflow_id = workflow_slug(name);
    if workflow_id.is_empty() {
        return Err(invalid(
            "name",
            "the name needs at least one letter or digit (it becomes the workflow id)",
        ));
    }
    if let Some(b) = &job.budget {
        if !(b.max_cost_usd.is_finite() && b.max_cost_usd > 0.0 && b.max_cost_usd <= 1e9) {
            return Err(invalid(
                "budget.max_cost_usd",
                "a budget is a number of dollars, more than 0 and at most 1e9",
            ));
        }
        match (&b.approval, b.on_exceed) {
            (None, OnExceed::Approval) => {
                return Err(invalid(
                    "budget.approval",
                    "on_exceed \"approval\" needs an approval: {\"approvers\": [...]}",
                ))
            }
            (Some(_), OnExceed::Fail) => {
                return Err(invalid(
                    "budget.approval",
                    "an approval is asked only with on_exceed \"approval\"",
                ))
            }
            (Some(a), OnExceed::Approval) => {
                check_approvers("budget.approval", &a.approvers, a.quorum)?;
                if let Some(t) = a.timeout_secs {
                    if !(t > 0.0 && t <= MAX_TIMEOUT_SECS) {
                        return Err(invalid(
                            "budget.approval.timeout_secs",
                            format!("{t}: must be above 0 and at most {MAX_TIMEOUT_SECS}"),
                        ));
                    }
                }
            }
            (None, OnExceed::Fail) => {}
        }
    }
    Ok((workflow_id, compile(&job.workflow)?))
}

/// Checks that this server has the backend each agent step asks for.
pub fn check_backends(plan: &Plan, agents: &Agents) -> Result<(), ApiError> {
    for (i, step) in plan.steps.iter().enumerate() {
        if let StepAction::AgentTask { .. } = step.action {
            if let Err(kind) = agents.pick(step.role_or_default(), step.agent.as_ref()) {
                let field = match step.agent.as_ref().and_then(|a| a.backend) {
                    Some(_) => format!("workflow.steps[{i}].agent.backend"),
                    None => format!("workflow.steps[{i}].role"),
                };
                return Err(invalid(field, missing(kind)));
            }
        }
    }
    Ok(())
}

pub fn compile(workflow: &WorkflowSpec) -> Result<Plan, ApiError> {
    let steps = &workflow.steps;
    if steps.is_empty() {
        return Err(invalid(
            "workflow.steps",
            "a workflow needs at least one step",
        ));
    }
    if steps.len() > MAX_STEPS {
        return Err(invalid(
            "workflow.steps",
            format!("{} steps; at most {MAX_STEPS} are allowed", steps.len()),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        check_step(i, step)?;
        if let Some(first) = index.insert(step.id.as_str(), i) {
            return Err(invalid(
                format!("workflow.steps[{i}].id"),
                format!(
                    "duplicate step id {:?} (also workflow.steps[{first}])",
                    step.id
                ),
            ));
        }
    }
    let mut deps = vec![Vec::new(); steps.len()];
    let mut dependants = vec![Vec::new(); steps.len()];
    for (step_id, waits_for) in &workflow.dependencies {
        let field = format!("workflow.dependencies.{step_id}");
        let Some(&i) = index.get(step_id.as_str()) else {
            return Err(invalid(field, format!("unknown step {step_id:?}")));
        };
        for (k, dep) in waits_for.iter().enumerate() {
            let Some(&d) = index.get(dep.as_str()) else {
                return Err(invalid(
                    format!("{field}[{k}]"),
                    format!("{step_id:?} depends on unknown step {dep:?}"),
                ));
            };
            if d == i {
                return Err(invalid(
                    format!("{field}[{k}]"),
                    format!("{step_id:?} depends on itself"),
                ));
            }
            if !deps[i].contains(&d) {
                deps[i].push(d);
                dependants[d].push(i);
            }
        }
    }
    if let Some(cycle) = find_cycle(&deps) {
        let names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
        return Err(ApiError::new(
            "cycle",
            format!("the dependencies form a cycle: {}", names.join(" → ")),
        )
        .with_field("workflow.dependencies"));
    }
    Ok(Plan {
        steps: steps.iter().map(normalised).collect(),
        deps,
        dependants,
    })
}

/// A step as it runs: approvers' names trimmed, as voters' are.
fn normalised(step: &StepSpec) -> StepSpec {
    let mut step = step.clone();
    if let StepAction::ManualApproval { approvers, .. } = &mut step.action {
        for a in approvers.iter_mut() {
            if a.trim().len() != a.len() {
                *a = a.trim().to_string();
            }
        }
    }
    step
}

/// An approval's approvers and quorum (a step's or a budget's), errors
/// naming the fields under `path`.
fn check_approvers(path: &str, approvers: &[String], quorum: wire::Quorum) -> Result<(), ApiError> {
    if approvers.is_empty() {
        return Err(invalid(
            format!("{path}.approvers"),
            "an approval needs at least one approver",
        ));
    }
    if approvers.len() > 100 {
        return Err(invalid(
            format!("{path}.approvers"),
            "at most 100 approvers",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, a) in approvers.iter().enumerate() {
        if a.trim().is_empty() || a.chars().count() > MAX_ID_CHARS {
            return Err(invalid(
                format!("{path}.approvers[{k}]"),
                format!("{a:?}: approvers are non-empty names of up to {MAX_ID_CHARS} characters"),
            ));
        }
        // Votes are matched on the trimmed name, so " ops-lead " and
        // "ops-lead" are one approver, who could never vote twice.
        if !seen.insert(a.trim()) {
            return Err(invalid(
                format!("{path}.approvers[{k}]"),
                format!("{:?} is listed twice", a.trim()),
            ));
        }
    }
    if let wire::Quorum::Count(n) = quorum {
        if n == 0 || n as usize > approvers.len() {
            return Err(invalid(
                format!("{path}.quorum.count"),
                format!(
                    "{n}: must be from 1 to the number of approvers ({})",
                    approvers.len()
                ),
            ));
        }
    }
    Ok(())
}

fn check_step(i: usize, step: &StepSpec) -> Result<(), ApiError> {
    let at = |f: &str| format!("workflow.steps[{i}].{f}");
    if step.id.is_empty() {
        return Err(invalid(at("id"), "a step needs a non-empty id"));
    }
    if step.id.chars().count() > MAX_ID_CHARS
        || !step
            .id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid(
            at("id"),
            format!(
                "{:?}: ids are up to {MAX_ID_CHARS} letters, digits, '_', '-' or '.'",
                step.id
            ),
        ));
    }
    match &step.action {
        StepAction::ManualApproval { approvers, quorum } => {
            check_approvers(&at("action.manual_approval"), approvers, *quorum)?;
            if step.agent.is_some() {
                return Err(invalid(
                    at("agent"),
                    "an approval step is decided by people, not an agent",
                ));
            }
        }
        StepAction::AgentTask { prompt } => {
            if prompt.trim().is_empty() {
                return Err(invalid(
                    at("action.agent_task.prompt"),
                    "the prompt is empty",
                ));
            }
            if prompt.len() > MAX_PROMPT_BYTES {
                return Err(invalid(
                    at("action.agent_task.prompt"),
                    format!("{} bytes; at most {MAX_PROMPT_BYTES}", prompt.len()),
                ));
            }
        }
    }
    if let Some(model) = step.agent.as_ref().and_then(|a| a.model.as_deref()) {
        if model.trim().is_empty()
            || model.trim() != model
            || model.chars().count() > MAX_NAME_CHARS
        {
            return Err(invalid(
                at("agent.model"),
                format!("{model:?}: a model is a name of up to {MAX_NAME_CHARS} characters, without spaces around it"),
            ));
        }
    }
    if let Some(t) = step.timeout_secs {
        if !(t > 0.0 && t <= MAX_TIMEOUT_SECS) {
            return Err(invalid(
                at("timeout_secs"),
                format!("{t}: must be above 0 and at most {MAX_TIMEOUT_SECS}"),
            ));
        }
    }
    if let Some(p) = step.retry_policy {
        if !(1..=MAX_ATTEMPTS).contains(&p.max_attempts) {
            return Err(invalid(
                at("retry_policy.max_attempts"),
                format!(
                    "{}: must be from 1 to {MAX_ATTEMPTS} (it counts the first attempt)",
                    p.max_attempts
                ),
            ));
        }
        if !(0.0..=MAX_BACKOFF_SECS).contains(&p.backoff_secs) {
            return Err(invalid(
                at("retry_policy.backoff_secs"),
                format!("{}: must be from 0 to {MAX_BACKOFF_SECS}", p.backoff_secs),
            ));
        }
    }
    if let Some(sim) = step.simulation {
        if let Some(rate) = sim.failure_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(
                    at("simulation.failure_rate"),
                    format!("{rate}: must be in [0, 1]"),
                ));
            }
        }
        if let Some([lo, hi]) = sim.latency_ms {
            if lo > hi || hi > 3_600_000 {
                return Err(invalid(
                    at("simulation.latency_ms"),
                    format!("[{lo}, {hi}]: needs min ≤ max ≤ 3600000"),
                ));
            }
        }
    }
    Ok(())
}

/// A cycle in the dependency graph, as a closed path (first == last), if any.
fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    // Iterative DFS: deep chains of 1000 steps must not overflow the stack.
    for root in 0..deps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut path: Vec<usize> = vec![root];
        let mut next_edge: Vec<usize> = vec![0];
        mark[root] = Mark::OnPath;
        while let Some(&node) = path.last() {
            let edge = next_edge.last_mut().expect("parallel stacks");
            if let Some(&dep) = deps[node].get(*edge) {
                *edge += 1;
                match mark[dep] {
                    Mark::OnPath => {
                        let start = path.iter().position(|&n| n == dep).expect("on path");
                        // Written in execution order: dep runs first.
                        let mut cycle: Vec<usize> = path[start..].to_vec();
                        cycle.push(dep);
                        cycle.reverse();
                        return Some(cycle);
                    }
                    Mark::New => {
                        mark[dep] = Mark::OnPath;
                        path.push(dep);
                        next_edge.push(0);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
                next_edge.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(value: serde_json::Value) -> JobRequest {
        serde_json::from_value(value).unwrap()
    }

    fn step(id: &str) -> serde_json::Value {
        json!({"id": id, "name": id, "role": "r", "action": {"agent_task": {"prompt": "do it"}}})
    }

    fn err(value: serde_json::Value) -> ApiError {
        validate(&job(value)).unwrap_err()
    }

    #[test]
    fn the_guides_job_compiles_to_a_chain() {
        let (workflow_id, plan) = validate(&job(json!({
            "name": "Monthly Report Generation",
            "workflow": {
                "steps": [step("fetch_data"), step("analyze_data"), step("generate_charts"), step("create_report")],
                "dependencies": {
                    "analyze_data": ["fetch_data"],
                    "generate_charts": ["analyze_data"],
                    "create_report": ["generate_charts"]
                }
            },
            "execute": true
        })))
        .unwrap();
        assert_eq!(workflow_id, "monthly_report_generation");
        assert_eq!(plan.deps, vec![vec![], vec![0], vec![1], vec![2]]);
        assert_eq!(plan.dependants, vec![vec![1], vec![2], vec![3], vec![]]);
        assert_eq!(plan.planned_steps()[3].depends_on, vec!["generate_charts"]);
    }

    #[test]
    fn each_problem_is_named_with_its_field() {
        let cases = [
            (
                json!({"name": " ", "workflow": {"steps": [step("a")]}}),
                "name",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": []}}),
                "workflow.steps",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [step("a"), step("a")]}}),
                "workflow.steps[1].id",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [step("a")], "dependencies": {"b": ["a"]}}}),
                "workflow.dependencies.b",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [step("a")], "dependencies": {"a": ["zzz"]}}}),
                "workflow.dependencies.a[0]",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [step("a")], "dependencies": {"a": ["a"]}}}),
                "workflow.dependencies.a[0]",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [step("a b")]}}),
                "workflow.steps[0].id",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [{"id": "a", "action": {"agent_task": {"prompt": ""}}}]}}),
                "workflow.steps[0].action.agent_task.prompt",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [{"id": "a", "timeout_secs": 0, "action": {"agent_task": {"prompt": "p"}}}]}}),
                "workflow.steps[0].timeout_secs",
                "invalid_job",
            ),
            (
                json!({"name": "x", "workflow": {"steps": [{"id": "a", "retry_policy": {"max_attempts": 0}, "action": {"agent_task": {"prompt": "p"}}}]}}),
                "workflow.steps[0].retry_policy.max_attempts",
                "invalid_job",
            ),
        ];
        for (body, field, code) in cases {
            let e = err(body.clone());
            assert_eq!(e.field.as_deref(), Some(field), "{body}: {e}");
            assert_eq!(e.error, code, "{body}");
        }
    }

    #[test]
    fn approvers_are_one_person_whatever_the_spaces_around_their_name() {
        let approval = |approvers: serde_json::Value| json!({"name": "x", "workflow": {"steps": [{"id": "gate", "action": {"manual_approval": {"approvers": approvers, "quorum": "unanimous"}}}]}});
        let e = err(approval(json!([" ops-lead ", "ops-lead"])));
        assert_eq!(
            e.field.as_deref(),
            Some("workflow.steps[0].action.manual_approval.approvers[1]")
        );
        assert!(
            e.message.contains("\"ops-lead\" is listed twice"),
            "{}",
            e.message
        );
        let (_, plan) = validate(&job(approval(json!([" ops-lead ", "dba\t"])))).unwrap();
        match &plan.steps[0].action {
            StepAction::ManualApproval { approvers, .. } => {
                assert_eq!(approvers, &["ops-lead", "dba"])
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cycle_is_refused_and_named() {
        let e = err(json!({
            "name": "loop",
            "workflow": {
                "steps": [step("a"), step("b"), step("c"), step("d")],
                "dependencies": {"b": ["a", "c"], "c": ["b"], "d": ["c"]}
            }
        }));
        assert_eq!(e.error, "cycle");
        assert!(
            e.message.ends_with("b → c → b") || e.message.ends_with("c → b → c"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_deep_chain_is_fine() {
        let steps: Vec<_> = (0..MAX_STEPS).map(|i| step(&format!("s{i}"))).collect();
        let deps: serde_json::Map<String, serde_json::Value> = (1..MAX_STEPS)
            .map(|i| (format!("s{i}"), json!([format!("s{}", i - 1)])))
            .collect();
        let (_, plan) = validate(&job(
            json!({"name": "deep", "workflow": {"steps": steps, "dependencies": deps}}),
        ))
        .unwrap();
        assert_eq!(plan.steps.len(), MAX_STEPS);
    }
}
