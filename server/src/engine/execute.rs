//! Running one workflow: steps start as soon as everything they depend on
//! has completed; independent branches run side by side. A step that fails
//! after its retries fails the run and skips everything downstream of it,
//! while branches that do not depend on it run to their end (as in Airflow).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use parking_lot::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use super::agents::{AgentRequest, Usage};
use super::approvals::{self, Answer, Asked, Question};
use super::plan::Plan;
use super::resume::{self, ResumePoint, StepPoint};
use super::{secs, Engine, Outcome};
use crate::events::records::{Budget, OnExceed};
use crate::events::EventKind;

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Waiting,
    Started,
    Done,
    Skipped,
}

/// What a run's priced agent calls have cost so far, against its budget:
/// shared by its step tasks, checked before each attempt starts.
struct Spend {
    budget: Option<Budget>,
    tally: Mutex<Tally>,
    /// One question at a time: steps that find the budget spent while the
    /// approvers decide wait for that answer instead of asking again.
    asking: tokio::sync::Mutex<()>,
    /// The question a previous process asked, answered before any new one.
    asked: Mutex<Option<Asked>>,
}

struct Tally {
    spent_usd: f64,
    /// The budget; each approval to spend more moves it to what is spent
    /// then, plus the budget again.
    limit_usd: f64,
    /// Why no agent step may start any more, once the approvers said no.
    refused: Option<String>,
}

/// Whether an agent call may start.
enum Gate {
    Open,
    Closed(String),
    Cancelled,
}

impl Spend {
    fn new(budget: Option<Budget>) -> Spend {
        Spend {
            tally: Mutex::new(Tally {
                spent_usd: 0.0,
                limit_usd: budget.as_ref().map_or(f64::INFINITY, |b| b.max_cost_usd),
                refused: None,
            }),
            budget,
            asking: tokio::sync::Mutex::new(()),
            asked: Mutex::new(None),
        }
    }

    /// The spend of a run picked up again: its calls so far, and its budget
    /// raised once per approval. (An approval raised it from what was spent
    /// at that moment, which the log does not keep; this is at most that.)
    fn resumed(budget: Option<Budget>, point: &ResumePoint) -> Spend {
        let spend = Spend::new(budget);
        {
            let mut tally = spend.tally.lock();
            tally.spent_usd = point.spent_usd;
            tally.limit_usd += spend.raise() * f64::from(point.approved_asks);
        }
        *spend.asked.lock() = point.budget_ask;
        spend
    }

    fn add(&self, cost: Option<f64>) {
        if let Some(c) = cost.filter(|c| c.is_finite() && *c > 0.0) {
            self.tally.lock().spent_usd += c;
        }
    }

    /// What is spent of what may be, if that is all of it.
    fn exceeded(&self) -> Option<String> {
        let tally = self.tally.lock();
        (tally.spent_usd >= tally.limit_usd).then(|| {
            format!(
                "budget exceeded: agent calls have cost ${:.6} of the run's ${:.6}",
                tally.spent_usd, tally.limit_usd
            )
        })
    }

    /// Whether an agent call may start now. Once the budget is spent, with
    /// `on_exceed: "approval"` this asks the approvers (or waits for the
    /// answer to a question another step asked) before it says.
    async fn gate(
        &self,
        engine: &Engine,
        run_id: Ulid,
        step_id: &str,
        cancel: &CancellationToken,
    ) -> Gate {
        let Some(spent) = self.exceeded() else {
            return Gate::Open;
        };
        let approval = match self.budget.as_ref() {
            Some(Budget {
                on_exceed: OnExceed::Approval,
                approval: Some(approval),
                ..
            }) => approval,
            _ => return Gate::Closed(format!("{spent}, so no further agent step starts")),
        };
        let _asking = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Gate::Cancelled,
            asking = self.asking.lock() => asking,
        };
        // The answer to a question asked while this step waited its turn.
        if let Some(refused) = self.tally.lock().refused.clone() {
            return Gate::Closed(refused);
        }
        let Some(spent) = self.exceeded() else {
            return Gate::Open;
        };
        let question = Question {
            step_id,
            approvers: &approval.approvers,
            quorum: approval.quorum.into(),
            timeout: approval.timeout_secs.map(Duration::from_secs_f64),
            reason: Some(format!(
                "{spent}; approve to let it spend ${:.6} more",
                self.raise()
            )),
        };
        let asked = self.asked.lock().take();
        let answer = match asked {
            Some(asked) => approvals::rejoin(engine, run_id, asked, cancel).await,
            None => approvals::ask(engine, run_id, question, cancel).await,
        };
        match answer {
            Answer::Approved(_) => {
                // From what is spent now: calls that ended while people
                // decided count against the old limit, not the new one.
                let mut tally = self.tally.lock();
                tally.limit_usd = tally.spent_usd.max(tally.limit_usd) + self.raise();
                Gate::Open
            }
            Answer::Refused { error, .. } => {
                let refused = format!("{spent}, and spending more was not approved: {error}");
                self.tally.lock().refused = Some(refused.clone());
                Gate::Closed(refused)
            }
            Answer::Cancelled => Gate::Cancelled,
        }
    }

    /// What one approval lets the run spend more: its budget again.
    fn raise(&self) -> f64 {
        self.budget.as_ref().map_or(0.0, |b| b.max_cost_usd)
    }
}

/// Where a step task begins.
#[derive(Clone, Copy)]
enum Start {
    Attempt(u32),
    /// An approval step's question, asked at the time given.
    Rejoin(Asked, DateTime<Utc>),
}

/// Runs a run to its end: from its start, or (`resume`) from where the
/// process that ran it stopped.
pub(super) async fn drive(
    engine: &Engine,
    run_id: Ulid,
    plan: Arc<Plan>,
    budget: Option<Budget>,
    cancel: CancellationToken,
    resume: Option<ResumePoint>,
) {
    let journal = &engine.inner.journal;
    let n = plan.steps.len();
    let mut slots = vec![Slot::Waiting; n];
    let mut starts = vec![Start::Attempt(0); n];
    let mut failure: Option<String> = None;
    let (spend, started) = match &resume {
        Some(point) => (
            Spend::resumed(budget, point),
            point.started_at.map(resume::instant_of),
        ),
        None => (Spend::new(budget), None),
    };
    let spend = Arc::new(spend);
    let started = started.unwrap_or_else(|| {
        journal.publish(EventKind::RunStarted { run_id });
        Instant::now()
    });
    let mut failed = Vec::new();
    if let Some(point) = resume {
        for (i, step) in point.steps.into_iter().enumerate() {
            match step {
                StepPoint::Waiting => {}
                StepPoint::Attempt(a) => starts[i] = Start::Attempt(a),
                StepPoint::Approval(asked, since) => starts[i] = Start::Rejoin(asked, since),
                StepPoint::Completed => slots[i] = Slot::Done,
                StepPoint::Failed(error) => {
                    slots[i] = Slot::Done;
                    let failed_id = &plan.steps[i].id;
                    failure.get_or_insert_with(|| format!("step {failed_id} failed: {error}"));
                    failed.push(i);
                }
                StepPoint::Skipped => slots[i] = Slot::Skipped,
            }
        }
    }
    // A step waits for those it depends on that have not completed.
    let mut waiting_on: Vec<usize> = plan
        .deps
        .iter()
        .map(|deps| {
            deps.iter()
                .filter(|&&d| slots[d] != Slot::Done || failed.contains(&d))
                .count()
        })
        .collect();
    // What a failure the previous process recorded left to skip.
    for i in failed {
        skip_downstream(engine, run_id, &plan, i, &mut slots);
    }
    let mut tasks: JoinSet<(usize, Outcome)> = JoinSet::new();
    let mut cancelled = false;

    for i in 0..n {
        if waiting_on[i] != 0 || slots[i] != Slot::Waiting {
            continue;
        }
        slots[i] = Slot::Started;
        tasks.spawn(run_step(
            engine.clone(),
            run_id,
            plan.clone(),
            i,
            starts[i],
            spend.clone(),
            cancel.clone(),
        ));
    }

    while let Some(joined) = tasks.join_next().await {
        let (i, outcome) = match joined {
            Ok(done) => done,
            // A panicking backend must not take the run down with it silently.
            Err(e) => {
                tracing::error!(%run_id, "step task ended abnormally: {e}");
                failure.get_or_insert_with(|| format!("a step task ended abnormally: {e}"));
                continue;
            }
        };
        slots[i] = Slot::Done;
        match outcome {
            Outcome::Completed => {
                for &d in &plan.dependants[i] {
                    waiting_on[d] -= 1;
                    if waiting_on[d] == 0 && slots[d] == Slot::Waiting && !cancel.is_cancelled() {
                        slots[d] = Slot::Started;
                        tasks.spawn(run_step(
                            engine.clone(),
                            run_id,
                            plan.clone(),
                            d,
                            starts[d],
                            spend.clone(),
                            cancel.clone(),
                        ));
                    }
                }
            }
            Outcome::Failed(error) => {
                let failed_id = &plan.steps[i].id;
                failure.get_or_insert_with(|| format!("step {failed_id} failed: {error}"));
                skip_downstream(engine, run_id, &plan, i, &mut slots);
            }
            Outcome::Cancelled => cancelled = true,
        }
    }

    let duration_secs = secs(started.elapsed());
    if cancelled || cancel.is_cancelled() {
        for (i, slot) in slots.iter().enumerate() {
            if *slot == Slot::Waiting {
                journal.publish(EventKind::StepCancelled {
                    run_id,
                    step_id: plan.steps[i].id.clone(),
                    attempt: None,
                    duration_secs: None,
                });
            }
        }
        journal.publish(EventKind::RunCancelled {
            run_id,
            duration_secs,
            stopped_at: None,
        });
    } else if let Some(error) = failure {
        journal.publish(EventKind::RunFailed {
            run_id,
            duration_secs,
            error,
        });
    } else {
        journal.publish(EventKind::RunCompleted {
            run_id,
            duration_secs,
        });
    }
}

/// Marks every step downstream of `failed` as skipped, naming the cause.
fn skip_downstream(engine: &Engine, run_id: Ulid, plan: &Plan, failed: usize, slots: &mut [Slot]) {
    let cause = &plan.steps[failed].id;
    let mut stack: Vec<usize> = plan.dependants[failed].clone();
    while let Some(d) = stack.pop() {
        if slots[d] != Slot::Waiting {
            continue;
        }
        slots[d] = Slot::Skipped;
        engine.inner.journal.publish(EventKind::StepSkipped {
            run_id,
            step_id: plan.steps[d].id.clone(),
            reason: format!("upstream step {cause} failed"),
        });
        stack.extend(plan.dependants[d].iter().copied());
    }
}

/// Runs one step through its attempts.
async fn run_step(
    engine: Engine,
    run_id: Ulid,
    plan: Arc<Plan>,
    index: usize,
    start: Start,
    spend: Arc<Spend>,
    cancel: CancellationToken,
) -> (usize, Outcome) {
    let inner = &engine.inner;
    let journal = &inner.journal;
    let spec = &plan.steps[index];
    let step_id = spec.id.as_str();
    let run_str = run_id.to_string();
    let prompt = match &spec.action {
        wire::StepAction::AgentTask { prompt } => prompt,
        wire::StepAction::ManualApproval { approvers, quorum } => {
            let asked = match start {
                Start::Rejoin(asked, since) => Some((asked, since)),
                Start::Attempt(_) => None,
            };
            return super::approvals::await_approval(
                &engine, run_id, index, spec, approvers, *quorum, asked, cancel,
            )
            .await;
        }
    };
    let max_attempts = spec.max_attempts();
    let timeout = spec.timeout_secs.map(Duration::from_secs_f64);
    let cancelled = |attempt: Option<u32>, duration: Option<Duration>| {
        journal.publish(EventKind::StepCancelled {
            run_id,
            step_id: step_id.to_string(),
            attempt,
            duration_secs: duration.map(secs),
        });
        (index, Outcome::Cancelled)
    };

    let first = match start {
        Start::Attempt(a) => a,
        Start::Rejoin(..) => 0,
    };
    for attempt in first..max_attempts {
        // Hold a slot for the attempt only, not through backoffs (nor
        // while people decide whether the run may spend more).
        let mut ready = Instant::now();
        let permit = loop {
            let permit = tokio::select! {
                biased;
                _ = cancel.cancelled() => return cancelled(None, None),
                permit = inner.slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            // Checked with the slot in hand, the moment before the call: the
            // spend of calls that ended while this one waited counts.
            if spend.exceeded().is_none() {
                break permit;
            }
            drop(permit);
            match spend.gate(&engine, run_id, step_id, &cancel).await {
                // The approval's wait is its own span, not queueing.
                Gate::Open => ready = Instant::now(),
                Gate::Closed(reason) => {
                    journal.publish(EventKind::StepSkipped {
                        run_id,
                        step_id: step_id.to_string(),
                        reason: reason.clone(),
                    });
                    return (index, Outcome::Failed(reason));
                }
                Gate::Cancelled => return cancelled(None, None),
            }
        };
        journal.publish(EventKind::StepStarted {
            run_id,
            step_id: step_id.to_string(),
            attempt,
            queued_secs: Some(secs(ready.elapsed())),
        });
        let t0 = Instant::now();
        let request = AgentRequest {
            run_id: &run_str,
            step_id,
            role: spec.role_or_default(),
            prompt,
            attempt,
            simulation: spec.simulation.as_ref(),
            agent: spec.agent.as_ref(),
            model: None,
        };
        let call = inner.agents.run(request);
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(Some(attempt), Some(t0.elapsed())),
            result = with_timeout(call, timeout) => result,
        };
        drop(permit);
        let duration_secs = secs(t0.elapsed());
        let (error, timed_out) = match result {
            Ok(Ok(answer)) => {
                let (output, output_truncated) =
                    truncate(answer.text, inner.config.max_output_bytes);
                let usage = answer.usage.map(|mut u| {
                    if u.cost_usd.is_none() {
                        u.cost_usd = inner.config.prices.cost(&u);
                    }
                    u
                });
                spend.add(usage.as_ref().and_then(|u| u.cost_usd));
                journal.publish(EventKind::StepCompleted {
                    run_id,
                    step_id: step_id.to_string(),
                    attempt,
                    duration_secs,
                    output,
                    output_truncated,
                    usage,
                });
                return (index, Outcome::Completed);
            }
            Ok(Err(error)) => (error, false),
            Err(limit) => (format!("timed out after {}s", limit.as_secs_f64()), true),
        };
        // A failed call is counted against the model it went to.
        let usage = inner.agents.model(&request).map(|(provider, model)| Usage {
            provider: provider.to_string(),
            model: model.to_string(),
            ..Usage::default()
        });
        if attempt + 1 >= max_attempts {
            journal.publish(EventKind::StepFailed {
                run_id,
                step_id: step_id.to_string(),
                attempt,
                error: error.clone(),
                timed_out,
                duration_secs,
                usage,
            });
            return (index, Outcome::Failed(error));
        }
        let backoff_secs = spec.retry_policy.map_or(0.0, |p| p.backoff_after(attempt));
        journal.publish(EventKind::StepRetrying {
            run_id,
            step_id: step_id.to_string(),
            attempt,
            error,
            timed_out,
            duration_secs,
            backoff_secs,
            usage,
        });
        if backoff_secs > 0.0 {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return cancelled(None, None),
                _ = tokio::time::sleep(Duration::from_secs_f64(backoff_secs)) => {}
            }
        }
    }
    unreachable!("a step starts below its max_attempts (at least 1; a resume checks), and the last attempt always returns")
}

async fn with_timeout<T>(
    fut: impl std::future::Future<Output = T>,
    limit: Option<Duration>,
) -> Result<T, Duration> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, fut).await.map_err(|_| limit),
        None => Ok(fut.await),
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s, true)
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo".into(), 2), ("h".into(), true));
        assert_eq!(truncate("hello".into(), 5), ("hello".into(), false));
    }
}
