//! Approvals: steps that wait for people. The step asks and waits for the
//! quorum (or its timeout, or its run's cancellation); votes resolve it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;
use wire::{ApiError, ApprovalStatus, Decision, Quorum, StepSpec, VoteRequest};

use super::{secs, Engine, EngineError, Outcome};
use crate::events::EventKind;

/// Decisions awaited by approval steps, by approval id.
pub(super) type Waiting = HashMap<Ulid, oneshot::Sender<ApprovalStatus>>;

/// How long a vote cast at one node waits for the node that runs the run
/// to resolve the approval it decided, before answering the decision.
const RESOLVED_ELSEWHERE_WAIT: Duration = Duration::from_secs(2);

/// What a run asks its approvers.
pub(super) struct Question<'a> {
    /// The approval step, or the agent step a spent budget holds back.
    pub step_id: &'a str,
    pub approvers: &'a [String],
    pub quorum: Quorum,
    pub timeout: Option<Duration>,
    /// Why, when it is not an approval step's own question.
    pub reason: Option<String>,
}

/// How a question ended.
pub(super) enum Answer {
    /// By these approvers, comma-separated.
    Approved(String),
    Refused {
        error: String,
        timed_out: bool,
    },
    Cancelled,
}

/// A question in the log, with when it expires.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asked {
    pub approval_id: Ulid,
    pub expires_at: Option<DateTime<Utc>>,
    /// The timeout it was asked with, for the words of an expiry.
    pub timeout: Option<Duration>,
}

impl Asked {
    /// The question a previous process asked, to wait for again.
    pub(crate) fn of(approval: &crate::model::ApprovalState) -> Asked {
        Asked {
            approval_id: approval.approval_id,
            expires_at: approval.expires_at,
            timeout: approval
                .expires_at
                .and_then(|e| (e - approval.created_at).to_std().ok()),
        }
    }
}

/// Asks and waits for the quorum (or the timeout, or the run's
/// cancellation); the approval is resolved in the log whichever comes first.
pub(super) async fn ask(
    engine: &Engine,
    run_id: Ulid,
    question: Question<'_>,
    cancel: &CancellationToken,
) -> Answer {
    let approval_id = engine.next_id();
    let timeout = question.timeout;
    let expires_at = timeout
        .and_then(|t| chrono::Duration::from_std(t).ok())
        .and_then(|t| Utc::now().checked_add_signed(t));
    let asked = Asked {
        approval_id,
        expires_at,
        timeout,
    };
    let rx = listen(engine, approval_id);
    engine.inner.journal.publish(EventKind::ApprovalRequested {
        approval_id,
        run_id,
        step_id: question.step_id.to_string(),
        approvers: question.approvers.to_vec(),
        quorum: question.quorum.into(),
        expires_at,
        reason: question.reason,
    });
    wait(engine, run_id, asked, rx, cancel).await
}

/// Waits again for a question asked before this process took the run
/// over: the votes cast meanwhile stand, and its expiry is the one it was
/// asked with.
pub(super) async fn rejoin(
    engine: &Engine,
    run_id: Ulid,
    asked: Asked,
    cancel: &CancellationToken,
) -> Answer {
    let rx = listen(engine, asked.approval_id);
    // Decided while nobody waited (on a server alone a vote is resolved
    // where it is cast): the answer is in the model, not on the channel.
    let decided = engine.inner.journal.read(|m| {
        m.approvals
            .get(&asked.approval_id)
            .map(|a| a.status)
            .filter(|s| *s != ApprovalStatus::Pending)
    });
    if let Some(status) = decided {
        engine.inner.approvals.lock().remove(&asked.approval_id);
        return answer(engine, run_id, asked, Some(status), false);
    }
    // Or the votes cast while the run had nobody to run it (its node died)
    // decide it now.
    engine.resolve_if_decided(asked.approval_id);
    wait(engine, run_id, asked, rx, cancel).await
}

fn listen(engine: &Engine, approval_id: Ulid) -> oneshot::Receiver<ApprovalStatus> {
    let (tx, rx) = oneshot::channel();
    engine.inner.approvals.lock().insert(approval_id, tx);
    rx
}

async fn wait(
    engine: &Engine,
    run_id: Ulid,
    asked: Asked,
    rx: oneshot::Receiver<ApprovalStatus>,
    cancel: &CancellationToken,
) -> Answer {
    let expiry = async {
        match asked.expires_at {
            Some(at) => tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()).await,
            None => std::future::pending().await,
        }
    };
    let decided = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        status = rx => status.ok(),
        _ = expiry => Some(ApprovalStatus::Expired),
    };
    // Whoever got here first, nobody else may resolve it now.
    let still_waiting = engine
        .inner
        .approvals
        .lock()
        .remove(&asked.approval_id)
        .is_some();
    answer(engine, run_id, asked, decided, still_waiting)
}

/// What a decision (`None`: the run was cancelled) means for the run; an
/// approval nobody resolved yet (`unresolved`) is resolved by it here.
fn answer(
    engine: &Engine,
    run_id: Ulid,
    asked: Asked,
    decided: Option<ApprovalStatus>,
    unresolved: bool,
) -> Answer {
    let journal = &engine.inner.journal;
    let approval_id = asked.approval_id;
    let voters = |decision: Decision| {
        journal.read(|m| {
            m.approvals.get(&approval_id).map_or_else(Vec::new, |a| {
                a.votes
                    .iter()
                    .filter(|v| v.decision == decision)
                    .map(|v| match (&v.comment, decision) {
                        (Some(c), Decision::Reject) => format!("{} ({c})", v.voter),
                        _ => v.voter.clone(),
                    })
                    .collect::<Vec<_>>()
            })
        })
    };
    match decided {
        None => {
            if unresolved {
                journal.publish(EventKind::ApprovalResolved {
                    approval_id,
                    run_id,
                    status: ApprovalStatus::Cancelled.into(),
                });
            }
            Answer::Cancelled
        }
        Some(ApprovalStatus::Approved) => Answer::Approved(voters(Decision::Approve).join(", ")),
        Some(ApprovalStatus::Cancelled) => Answer::Refused {
            error: "the approval was cancelled".into(),
            timed_out: false,
        },
        Some(status) => {
            let timed_out = status == ApprovalStatus::Expired;
            if timed_out && unresolved {
                journal.publish(EventKind::ApprovalResolved {
                    approval_id,
                    run_id,
                    status: status.into(),
                });
            }
            let error = if timed_out {
                format!(
                    "approval timed out after {}s",
                    asked.timeout.map_or(0.0, |t| t.as_secs_f64())
                )
            } else {
                format!("rejected by {}", voters(Decision::Reject).join(", "))
            };
            Answer::Refused { error, timed_out }
        }
    }
}

/// Runs an approval step: asks, waits for the quorum (or the step's
/// `timeout_secs`, or the run's cancellation), and ends the step by it.
/// `asked`: the question a previous process asked for it, waited for again.
#[allow(clippy::too_many_arguments)]
pub(super) async fn await_approval(
    engine: &Engine,
    run_id: Ulid,
    index: usize,
    spec: &StepSpec,
    approvers: &[String],
    quorum: Quorum,
    asked: Option<(Asked, DateTime<Utc>)>,
    cancel: CancellationToken,
) -> (usize, Outcome) {
    let journal = &engine.inner.journal;
    let step_id = spec.id.clone();
    let answer = match asked {
        Some((asked, since)) => {
            let started = super::resume::instant_of(since);
            (rejoin(engine, run_id, asked, &cancel).await, started)
        }
        None => {
            let started = Instant::now();
            journal.publish(EventKind::StepStarted {
                run_id,
                step_id: step_id.clone(),
                attempt: 0,
                queued_secs: None,
            });
            let question = Question {
                step_id: &step_id,
                approvers,
                quorum,
                timeout: spec.timeout_secs.map(Duration::from_secs_f64),
                reason: None,
            };
            (ask(engine, run_id, question, &cancel).await, started)
        }
    };
    let (answer, started) = answer;
    let duration_secs = secs(started.elapsed());
    match answer {
        Answer::Cancelled => {
            journal.publish(EventKind::StepCancelled {
                run_id,
                step_id,
                attempt: Some(0),
                duration_secs: Some(duration_secs),
            });
            (index, Outcome::Cancelled)
        }
        Answer::Approved(by) => {
            journal.publish(EventKind::StepCompleted {
                run_id,
                step_id,
                attempt: 0,
                duration_secs,
                output: format!("approved by {by}"),
                output_truncated: false,
                usage: None,
            });
            (index, Outcome::Completed)
        }
        Answer::Refused { error, timed_out } => {
            journal.publish(EventKind::StepFailed {
                run_id,
                step_id,
                attempt: 0,
                error: error.clone(),
                timed_out,
                duration_secs,
                // People, not a model: nothing used.
                usage: None,
            });
            (index, Outcome::Failed(error))
        }
    }
}

impl Engine {
    /// Records a vote; resolves the approval when the quorum decides.
    /// Answers once the vote (and the decision) is committed.
    /// `voter` casts `vote` (its own `voter` field is the API's business:
    /// see `api::approvals::vote`).
    pub async fn vote(
        &self,
        approval_id: Ulid,
        voter: &str,
        vote: VoteRequest,
    ) -> Result<ApprovalStatus, EngineError> {
        let journal = &self.inner.journal;
        if journal.read(|m| m.approvals.get(&approval_id).is_none()) {
            // Memory keeps every pending approval; one only the index knows
            // was resolved long ago.
            let indexed = journal
                .read_store(move |store| store.approval_run(approval_id))
                .await
                .map_err(EngineError::unreadable)?;
            if indexed.is_some() {
                return Err(EngineError::Conflict(format!(
                    "approval {approval_id} is already resolved"
                )));
            }
        }
        // Subscribed before the vote: its resolution may come at once.
        let mut resolutions =
            journal.subscribe_where(|k| matches!(k, EventKind::ApprovalResolved { .. }));
        let (status, seq, elsewhere) = self.vote_now(approval_id, voter, vote)?;
        self.acknowledge(seq).await?;
        let Some(expected) = elsewhere else {
            return Ok(status);
        };
        // The vote decides an approval another node resolves: answer what
        // it resolves, as it arrives here (or the decision this vote
        // makes, should that node be slow to).
        let resolved = tokio::time::timeout(RESOLVED_ELSEWHERE_WAIT, async {
            loop {
                match resolutions.recv().await {
                    Ok(event) => {
                        if let EventKind::ApprovalResolved {
                            approval_id: id,
                            status,
                            ..
                        } = &event.kind
                        {
                            if *id == approval_id {
                                return Some(ApprovalStatus::from(*status));
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return None,
                }
            }
        })
        .await;
        Ok(match resolved {
            Ok(Some(status)) => status,
            _ => expected,
        })
    }

    /// Casts the vote: answers the approval's status, the `seq` to wait
    /// for, and when another node resolves it, what the votes decide.
    fn vote_now(
        &self,
        approval_id: Ulid,
        voter: &str,
        vote: VoteRequest,
    ) -> Result<(ApprovalStatus, u64, Option<ApprovalStatus>), EngineError> {
        let voter = voter.trim().to_string();
        if voter.is_empty() {
            return Err(EngineError::Invalid(
                ApiError::new("invalid_vote", "the voter's name is empty").with_field("voter"),
            ));
        }
        // One vote at a time: two votes must not both resolve an approval.
        let mut waiting = self.inner.approvals.lock();
        let journal = &self.inner.journal;
        let (run_id, status, approvers, voted) = journal
            .read(|m| {
                m.approvals.get(&approval_id).map(|a| {
                    (
                        a.run_id,
                        a.status,
                        a.approvers.clone(),
                        a.votes.iter().any(|v| v.voter == voter),
                    )
                })
            })
            .ok_or_else(|| EngineError::NotFound(format!("no approval with id {approval_id}")))?;
        if status != ApprovalStatus::Pending {
            return Err(EngineError::Conflict(format!(
                "approval {approval_id} is already {}",
                status.as_str()
            )));
        }
        if !approvers.contains(&voter) {
            return Err(EngineError::Forbidden(format!(
                "{voter:?} is not an approver of this step (approvers: {})",
                approvers.join(", ")
            )));
        }
        if voted {
            return Err(EngineError::Conflict(format!(
                "{voter:?} has already voted"
            )));
        }
        self.admit()?;
        let cast = journal.publish(EventKind::VoteCast {
            approval_id,
            run_id,
            voter,
            decision: vote.decision.into(),
            comment: vote.comment.filter(|c| !c.trim().is_empty()),
        });
        // In a cluster the approval is resolved by the node that runs its
        // run, as it folds the votes in the log's order: two votes cast at
        // two nodes at once cannot both resolve it.
        let elsewhere = journal.read(|m| {
            m.runs
                .get(&run_id)
                .and_then(|r| r.node.clone())
                .is_some_and(|node| Some(&*node) != journal.node())
        });
        if elsewhere {
            let decided = journal.read(|m| m.approvals.get(&approval_id).and_then(decision));
            return Ok((ApprovalStatus::Pending, cast.seq, decided));
        }
        match self.resolve_in(&mut waiting, approval_id) {
            Some((status, seq)) => Ok((status, seq, None)),
            None => Ok((ApprovalStatus::Pending, cast.seq, None)),
        }
    }

    /// Resolves the approval if its votes decide it, unless it is resolved
    /// already; answers the decision and its event's `seq`.
    pub(super) fn resolve_if_decided(&self, approval_id: Ulid) -> Option<(ApprovalStatus, u64)> {
        let mut waiting = self.inner.approvals.lock();
        self.resolve_in(&mut waiting, approval_id)
    }

    fn resolve_in(
        &self,
        waiting: &mut Waiting,
        approval_id: Ulid,
    ) -> Option<(ApprovalStatus, u64)> {
        let journal = &self.inner.journal;
        let (run_id, status) = journal.read(|m| {
            m.approvals
                .get(&approval_id)
                .filter(|a| a.status == ApprovalStatus::Pending)
                .and_then(|a| Some((a.run_id, decision(a)?)))
        })?;
        let resolved = journal.publish(EventKind::ApprovalResolved {
            approval_id,
            run_id,
            status: status.into(),
        });
        if let Some(step) = waiting.remove(&approval_id) {
            let _ = step.send(status);
        }
        Some((status, resolved.seq))
    }
}

/// What an approval's votes decide, if they do yet.
fn decision(a: &crate::model::ApprovalState) -> Option<ApprovalStatus> {
    let (yes, no) = a.tally();
    a.quorum.decide(a.approvers.len(), yes, no)
}
