//! A finished run as OpenTelemetry spans: one root span for the run, one
//! child for every step attempt (retries are siblings, each with its
//! attempt number), an approval's wait as a span of its own. Agent
//! attempts carry the GenAI semantic conventions' attributes
//! (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
//! `gen_ai.usage.*`); every span carries Shiioo's own (`shiioo.*`).
//!
//! Ids are derived, not drawn: the trace id is the caller's or the run's
//! ULID, span ids hash the run, step and attempt. The same run gives the
//! same spans whenever it is built, so a span sent twice is one span to the
//! collector, and a link from the dashboard can name a span without storing
//! it.

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span, Status};
use sha2::{Digest, Sha256};
use wire::{AttemptStatus, AttemptView, RunStatus, StepKind};

use super::context;
use crate::events::records::ApprovalStatus;
use crate::runs::{BudgetAsk, RunState, StepState};
// The lowercase names the read index stores are the attribute's values too.
use crate::store::index::status_code as run_status;

/// `SpanFlags` bits (trace.proto): whether the parent's remoteness is
/// known, and that it is remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;
/// The W3C `sampled` trace flag, the low byte of `flags`.
const SAMPLED: u32 = 0x01;

/// How many spans [`run_spans`] makes of the run, without making them.
pub fn count(run: &RunState) -> usize {
    if run.trace.as_deref().is_some_and(|t| !t.sampled) {
        return 0;
    }
    1 + run.steps.iter().map(|s| s.attempts.len()).sum::<usize>() + run.budget_asks.len()
}

/// The run's spans, root first, appended to `out`; nothing if the run's
/// caller did not sample its trace.
pub fn run_spans(run: &RunState, out: &mut Vec<Span>) {
    let caller = run.trace.as_deref();
    if caller.is_some_and(|t| !t.sampled) {
        return;
    }
    let trace_id = caller
        .and_then(|t| context::bytes::<16>(&t.trace_id))
        .unwrap_or(run.run_id.0.to_be_bytes())
        .to_vec();
    let trace_state = caller.and_then(|t| t.state.clone()).unwrap_or_default();
    let root_id = span_id(run, None);
    let end = run.completed_at.unwrap_or_else(Utc::now);
    let mut attributes = vec![
        string("shiioo.run_id", run.run_id.to_string()),
        string("shiioo.job_id", run.job_id.to_string()),
        string("shiioo.job_name", &*run.job_name),
        string("shiioo.workflow_id", &*run.workflow_id),
        string("shiioo.run.status", run_status(run.status)),
    ];
    if let Some(who) = &run.created_by {
        attributes.push(string("shiioo.created_by", &**who));
    }
    if let Some(cost) = run.cost_usd() {
        attributes.push(double("shiioo.cost_usd", cost));
    }
    if let Some(budget) = &run.budget {
        attributes.push(double("shiioo.budget.max_cost_usd", budget.max_cost_usd));
    }
    out.push(Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        trace_state: trace_state.clone(),
        parent_span_id: caller
            .and_then(|t| context::bytes::<8>(&t.parent_span_id))
            .map(Vec::from)
            .unwrap_or_default(),
        flags: SAMPLED | HAS_IS_REMOTE | if caller.is_some() { IS_REMOTE } else { 0 },
        name: format!("run {}", run.workflow_id),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: nanos(run.created_at),
        end_time_unix_nano: nanos(end),
        attributes,
        status: Some(match run.status {
            RunStatus::Completed => ok(),
            RunStatus::Cancelled => Status::default(),
            _ => error(run.error.as_deref().unwrap_or(run_status(run.status))),
        }),
        ..Span::default()
    });
    for step in &run.steps {
        for attempt in &step.attempts {
            out.push(Span {
                trace_id: trace_id.clone(),
                span_id: span_id(run, Some((step, attempt.attempt))),
                trace_state: trace_state.clone(),
                parent_span_id: root_id.clone(),
                flags: SAMPLED | HAS_IS_REMOTE,
                name: match step.kind {
                    StepKind::AgentTask => format!("step {}", step.id),
                    StepKind::ManualApproval => format!("approval {}", step.id),
                },
                kind: match step.kind {
                    // A call to a model's server.
                    StepKind::AgentTask => SpanKind::Client,
                    StepKind::ManualApproval => SpanKind::Internal,
                } as i32,
                start_time_unix_nano: nanos(attempt.started_at),
                end_time_unix_nano: nanos(attempt.completed_at.unwrap_or(end)),
                attributes: attempt_attributes(run, step, attempt),
                status: Some(match attempt.status {
                    AttemptStatus::Completed => ok(),
                    AttemptStatus::Cancelled => Status::default(),
                    // Still running when its run ended: the process stopped.
                    AttemptStatus::Running => error("interrupted"),
                    _ => error(attempt.error.as_deref().unwrap_or(attempt.status.as_str())),
                }),
                ..Span::default()
            });
        }
    }
    for ask in &run.budget_asks {
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: budget_span_id(run, ask),
            trace_state: trace_state.clone(),
            parent_span_id: root_id.clone(),
            flags: SAMPLED | HAS_IS_REMOTE,
            name: format!("budget approval {}", ask.step_id),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: nanos(ask.asked_at),
            end_time_unix_nano: nanos(ask.resolved_at.unwrap_or(end)),
            attributes: vec![
                string("shiioo.workflow_id", &*run.workflow_id),
                string("shiioo.run_id", run.run_id.to_string()),
                string("shiioo.step_id", &ask.step_id),
                string("shiioo.approval_id", ask.approval_id.to_string()),
                string(
                    "shiioo.approval.status",
                    wire::ApprovalStatus::from(ask.status).as_str(),
                ),
            ],
            status: Some(match ask.status {
                ApprovalStatus::Approved => ok(),
                ApprovalStatus::Cancelled => Status::default(),
                ApprovalStatus::Pending => error("interrupted"),
                ApprovalStatus::Rejected | ApprovalStatus::Expired => {
                    error(wire::ApprovalStatus::from(ask.status).as_str())
                }
            }),
            ..Span::default()
        });
    }
}

fn attempt_attributes(run: &RunState, step: &StepState, attempt: &AttemptView) -> Vec<KeyValue> {
    let mut a = vec![
        string("shiioo.workflow_id", &*run.workflow_id),
        string("shiioo.run_id", run.run_id.to_string()),
        string("shiioo.step_id", &step.id),
        string("shiioo.step.name", &step.name),
        string("shiioo.step.role", &step.role),
        string(
            "shiioo.step.kind",
            match step.kind {
                StepKind::AgentTask => "agent_task",
                StepKind::ManualApproval => "manual_approval",
            },
        ),
        int("shiioo.attempt", attempt.attempt.into()),
    ];
    if let Some(q) = attempt.queued_secs {
        a.push(double("shiioo.queued_secs", q));
    }
    if step.kind == StepKind::AgentTask {
        a.push(string("gen_ai.operation.name", "chat"));
        if let Some(u) = &attempt.usage {
            a.push(string("gen_ai.provider.name", &u.provider));
            a.push(string("gen_ai.request.model", &u.model));
            a.push(string("gen_ai.response.model", &u.model));
            let tokens = [
                ("gen_ai.usage.input_tokens", u.input_tokens),
                ("gen_ai.usage.output_tokens", u.output_tokens),
                (
                    "gen_ai.usage.cache_read.input_tokens",
                    u.cached_input_tokens,
                ),
            ];
            for (key, n) in tokens {
                if let Some(n) = n {
                    a.push(int(key, n.min(i64::MAX as u64) as i64));
                }
            }
            if let Some(c) = u.cost_usd {
                a.push(double("shiioo.cost_usd", c));
            }
            if let Some(t) = u.time_to_first_token_secs {
                a.push(double("shiioo.time_to_first_token_secs", t));
            }
        }
    }
    match attempt.status {
        AttemptStatus::TimedOut => a.push(string("error.type", "timeout")),
        AttemptStatus::Failed | AttemptStatus::Interrupted | AttemptStatus::Running => {
            a.push(string("error.type", "_OTHER"))
        }
        AttemptStatus::Completed | AttemptStatus::Cancelled => {}
    }
    a
}

/// 8 bytes of SHA-256 over the run's id and, for an attempt, its step and
/// number: stable across releases and processes, unlike a `Hasher`.
fn span_id(run: &RunState, attempt: Option<(&StepState, u32)>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(run.run_id.0.to_be_bytes());
    if let Some((step, n)) = attempt {
        h.update(step.id.as_bytes());
        h.update([0]);
        h.update(n.to_be_bytes());
    }
    first_eight(h)
}

/// A budget question's span id: the run's and the approval's ids hashed.
fn budget_span_id(run: &RunState, ask: &BudgetAsk) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(run.run_id.0.to_be_bytes());
    h.update(b"budget");
    h.update(ask.approval_id.0.to_be_bytes());
    first_eight(h)
}

fn first_eight(h: Sha256) -> Vec<u8> {
    let mut id = h.finalize()[..8].to_vec();
    if id.iter().all(|b| *b == 0) {
        // All zeros is the invalid span id.
        id[7] = 1;
    }
    id
}

fn nanos(t: DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt().unwrap_or(0).max(0) as u64
}

fn ok() -> Status {
    Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    }
}

fn error(message: &str) -> Status {
    Status {
        code: StatusCode::Error as i32,
        message: message.to_string(),
    }
}

pub(super) fn string(key: &str, value: impl Into<String>) -> KeyValue {
    attribute(key, Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

fn double(key: &str, value: f64) -> KeyValue {
    attribute(key, Value::DoubleValue(value))
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::records::{TraceParent, Usage};
    use crate::events::{Event, EventKind, PlannedStep};
    use ulid::Ulid;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::milliseconds(ms)
    }

    /// A run of `a` (failed once, then done) and approval `g`, folded from
    /// its events.
    fn run(trace: Option<TraceParent>) -> RunState {
        let run_id = Ulid(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let planned = |id: &str| PlannedStep {
            id: id.into(),
            name: id.to_uppercase(),
            role: "writer".into(),
            depends_on: vec![],
        };
        let usage = |input| Usage {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            input_tokens: input,
            output_tokens: input.map(|n| n / 2),
            cost_usd: input.map(|_| 0.25),
            ..Usage::default()
        };
        let s = |step: &str| step.to_string();
        let kinds = vec![
            EventKind::RunCreated {
                run_id,
                job_id: Ulid(1),
                workflow_id: "w".into(),
                job_name: "W".into(),
                steps: vec![planned("a"), planned("g")],
                actor: Some("alice".into()),
                budget: None,
                trace,
                node: None,
            },
            EventKind::RunStarted { run_id },
            EventKind::StepStarted {
                run_id,
                step_id: s("a"),
                attempt: 1,
                queued_secs: Some(0.5),
            },
            EventKind::StepRetrying {
                run_id,
                step_id: s("a"),
                attempt: 1,
                error: "HTTP 500".into(),
                timed_out: false,
                duration_secs: 1.0,
                backoff_secs: 0.0,
                usage: Some(usage(None)),
            },
            EventKind::StepStarted {
                run_id,
                step_id: s("a"),
                attempt: 2,
                queued_secs: None,
            },
            EventKind::StepCompleted {
                run_id,
                step_id: s("a"),
                attempt: 2,
                duration_secs: 1.0,
                output: "ok".into(),
                output_truncated: false,
                usage: Some(usage(Some(100))),
            },
            EventKind::StepStarted {
                run_id,
                step_id: s("g"),
                attempt: 1,
                queued_secs: None,
            },
            EventKind::StepFailed {
                run_id,
                step_id: s("g"),
                attempt: 1,
                error: "rejected by bob".into(),
                timed_out: false,
                duration_secs: 1.0,
                usage: None,
            },
            EventKind::RunFailed {
                run_id,
                duration_secs: 7.0,
                error: "step g failed".into(),
            },
        ];
        let events: Vec<Event> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Event {
                seq: i as u64,
                at: at(1000 * i as i64),
                kind,
            })
            .collect();
        let mut run = RunState::fold(&events).unwrap();
        run.steps[1].kind = StepKind::ManualApproval;
        run
    }

    fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn a_spent_budget_s_question_is_a_span_of_its_own() {
        let mut run = run(None);
        let approval_id = Ulid(42);
        let event = |ms, kind| Event {
            seq: 0,
            at: at(ms),
            kind,
        };
        run.apply(&event(
            2500,
            EventKind::ApprovalRequested {
                approval_id,
                run_id: run.run_id,
                step_id: "a".into(),
                approvers: vec!["ana".into()],
                quorum: crate::events::Quorum::Unanimous,
                expires_at: None,
                reason: Some("budget exceeded".into()),
            },
        ));
        run.apply(&event(
            2900,
            EventKind::ApprovalResolved {
                approval_id,
                run_id: run.run_id,
                status: ApprovalStatus::Approved,
            },
        ));
        assert_eq!(
            run.steps[0].kind,
            StepKind::AgentTask,
            "it stays an agent step"
        );
        let mut spans = Vec::new();
        run_spans(&run, &mut spans);
        assert_eq!(spans.len(), 5);
        assert_eq!(count(&run), 5);
        let ask = spans.last().unwrap();
        assert_eq!(ask.name, "budget approval a");
        assert_eq!(ask.parent_span_id, spans[0].span_id);
        assert_eq!(
            (ask.start_time_unix_nano, ask.end_time_unix_nano),
            (nanos(at(2500)), nanos(at(2900)))
        );
        assert_eq!(
            attr(ask, "shiioo.approval.status"),
            Some(&Value::StringValue("approved".into()))
        );
        assert_eq!(ask.status.as_ref().unwrap().code, StatusCode::Ok as i32);
        let ids: std::collections::HashSet<_> = spans.iter().map(|s| &s.span_id).collect();
        assert_eq!(ids.len(), 5, "span ids are distinct");
    }

    #[test]
    fn a_run_is_a_root_span_with_one_child_per_attempt() {
        let run = run(None);
        let mut spans = Vec::new();
        run_spans(&run, &mut spans);
        assert_eq!(spans.len(), 4, "root, a#1, a#2, g#1");
        assert_eq!(count(&run), spans.len());
        let root = &spans[0];
        assert_eq!(root.trace_id, run.run_id.0.to_be_bytes().to_vec());
        assert_eq!(hex(&root.trace_id), run.trace_id());
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.name, "run w");
        assert_eq!(root.start_time_unix_nano, nanos(at(0)));
        assert_eq!(root.end_time_unix_nano, nanos(at(8000)));
        let status = root.status.as_ref().unwrap();
        assert_eq!(
            (status.code, status.message.as_str()),
            (StatusCode::Error as i32, "step g failed")
        );
        assert_eq!(
            attr(root, "shiioo.cost_usd"),
            Some(&Value::DoubleValue(0.25))
        );
        for child in &spans[1..] {
            assert_eq!(child.parent_span_id, root.span_id);
            assert_eq!(child.trace_id, root.trace_id);
        }
        let ids: std::collections::HashSet<_> = spans.iter().map(|s| &s.span_id).collect();
        assert_eq!(ids.len(), 4, "span ids are distinct");
        // Retries are siblings, numbered.
        let (first, second) = (&spans[1], &spans[2]);
        assert_eq!(first.name, "step a");
        assert_eq!(attr(first, "shiioo.attempt"), Some(&Value::IntValue(1)));
        assert_eq!(attr(second, "shiioo.attempt"), Some(&Value::IntValue(2)));
        assert_eq!(
            first.status.as_ref().unwrap().code,
            StatusCode::Error as i32
        );
        assert_eq!(
            attr(first, "error.type"),
            Some(&Value::StringValue("_OTHER".into()))
        );
        // A failed call names its model but has no counts.
        assert_eq!(
            attr(first, "gen_ai.request.model"),
            Some(&Value::StringValue("gpt-4o-mini".into()))
        );
        assert_eq!(attr(first, "gen_ai.usage.input_tokens"), None);
        assert_eq!(
            attr(first, "shiioo.queued_secs"),
            Some(&Value::DoubleValue(0.5))
        );
        assert_eq!(second.status.as_ref().unwrap().code, StatusCode::Ok as i32);
        assert_eq!(second.kind, SpanKind::Client as i32);
        for (key, value) in [
            ("gen_ai.operation.name", Value::StringValue("chat".into())),
            ("gen_ai.provider.name", Value::StringValue("openai".into())),
            ("gen_ai.usage.input_tokens", Value::IntValue(100)),
            ("gen_ai.usage.output_tokens", Value::IntValue(50)),
            ("shiioo.workflow_id", Value::StringValue("w".into())),
            ("shiioo.step_id", Value::StringValue("a".into())),
        ] {
            assert_eq!(attr(second, key), Some(&value), "{key}");
        }
        // The approval's wait is a span of its own, without GenAI attributes.
        let gate = &spans[3];
        assert_eq!(gate.name, "approval g");
        assert_eq!(gate.kind, SpanKind::Internal as i32);
        assert_eq!(attr(gate, "gen_ai.operation.name"), None);
        assert_eq!(
            gate.status.as_ref().unwrap().message,
            "rejected by bob".to_string()
        );
    }

    #[test]
    fn a_callers_trace_is_joined_and_an_unsampled_one_is_not_exported() {
        let caller = TraceParent {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            parent_span_id: "00f067aa0ba902b7".into(),
            sampled: true,
            state: Some("congo=t61rcWkgMzE".into()),
        };
        let run = run(Some(caller.clone()));
        assert_eq!(run.trace_id(), caller.trace_id);
        let mut spans = Vec::new();
        run_spans(&run, &mut spans);
        assert_eq!(hex(&spans[0].trace_id), caller.trace_id);
        assert_eq!(hex(&spans[0].parent_span_id), caller.parent_span_id);
        assert_eq!(spans[0].flags, SAMPLED | HAS_IS_REMOTE | IS_REMOTE);
        assert!(spans.iter().all(|s| s.trace_state == "congo=t61rcWkgMzE"));
        // Built twice, the same spans: ids are derived, not drawn.
        let mut again = Vec::new();
        run_spans(&run, &mut again);
        assert_eq!(spans, again);

        let run = self::run(Some(TraceParent {
            sampled: false,
            ..caller
        }));
        let mut spans = Vec::new();
        run_spans(&run, &mut spans);
        assert!(spans.is_empty());
        assert_eq!(count(&run), 0);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
