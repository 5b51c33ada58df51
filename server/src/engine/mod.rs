//! The workflow engine: accepts jobs, runs their DAGs, and reports every
//! state change as an event through the [`Journal`]. It keeps no state of its
//! own beyond what is needed to control runs in flight (their cancellation
//! handles); everything observable lives in the journal's model.

pub mod agents;
mod approvals;
mod cluster;
mod execute;
pub mod plan;
pub mod resume;
pub mod routines;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ulid::Ulid;
use wire::{ApiError, JobCreated, JobRequest, WorkflowSpec};

use crate::events::records::{Budget, TraceParent};

use crate::events::EventKind;
use crate::journal::Journal;
use agents::Agents;
use plan::Plan;
use resume::ResumePoint;

use crate::runs::RunState;

/// Compiled plans kept; see `Inner::plans`.
const MAX_CACHED_PLANS: usize = 1_024;

/// The actor of what the engine does by itself (a routine's runs).
pub const SYSTEM: &str = "system";

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Steps executing at once, over all runs.
    pub max_concurrent_steps: usize,
    /// A step's output beyond this is cut, and marked truncated.
    pub max_output_bytes: usize,
    /// New runs are refused while this many events wait for the disk.
    pub max_log_backlog: usize,
    /// What agent calls cost, by model.
    pub prices: Arc<crate::prices::Prices>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_steps: 256,
            max_output_bytes: 16 * 1024,
            max_log_backlog: 200_000,
            prices: Arc::new(
                crate::prices::Prices::load(None).expect("the shipped price table reads"),
            ),
        }
    }
}

/// How a step task ended.
pub(crate) enum Outcome {
    Completed,
    Failed(String),
    Cancelled,
}

/// Seconds at microsecond resolution: what the log stores and every
/// projection reports, so that all of them agree to the digit.
pub(crate) fn secs(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// What starting a run of a job needs of it.
pub(crate) struct JobToRun {
    job_id: Ulid,
    name: Arc<str>,
    workflow_id: Arc<str>,
    workflow: Arc<WorkflowSpec>,
    budget: Option<Budget>,
}

/// What creating a job (and maybe its run) or starting a run made: typed
/// ids inside the server; [`Created::wire`] is the API's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub job_id: Ulid,
    pub workflow_id: String,
    pub run_id: Option<Ulid>,
    /// The trace the caller's `traceparent` named, if any.
    pub caller_trace: Option<String>,
}

impl Created {
    pub fn wire(&self) -> JobCreated {
        JobCreated {
            job_id: self.job_id.to_string(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.map(|r| r.to_string()),
            trace_id: self
                .run_id
                .map(|r| crate::runs::trace_id(r, self.caller_trace.as_deref())),
            status: if self.run_id.is_some() {
                "running"
            } else {
                "created"
            }
            .into(),
        }
    }
}

/// Who asked for a run, and inside which trace.
struct Origin<'a> {
    actor: &'a str,
    trace: Option<TraceParent>,
}

/// Why the engine refused a request.
#[derive(Debug)]
pub enum EngineError {
    /// The request is well-formed but cannot be run (422).
    Invalid(ApiError),
    NotFound(String),
    /// The request conflicts with the current state (409).
    Conflict(String),
    /// The caller may not do this (403).
    Forbidden(String),
    /// The engine sheds load (503).
    Overloaded(String),
    /// The event log cannot be written, so nothing can be acknowledged (503).
    Unavailable(String),
    Internal(String),
}

impl EngineError {
    /// The log could not be read: a 503, like a log that cannot be written.
    pub fn unreadable(e: crate::store::StoreError) -> Self {
        tracing::error!("reading the event log: {e}");
        EngineError::Unavailable(format!("the event log could not be read ({e}); try again"))
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    journal: Arc<Journal>,
    agents: Agents,
    slots: Arc<Semaphore>,
    /// Compiled plans of recently used jobs; any other is compiled again
    /// from its stored definition (a workload that makes a job per run must
    /// not keep a plan per run).
    plans: Mutex<HashMap<Ulid, Arc<Plan>>>,
    running: Mutex<HashMap<Ulid, CancellationToken>>,
    approvals: Mutex<approvals::Waiting>,
    schedule_changed: tokio::sync::Notify,
    ids: Mutex<ulid::Generator>,
    tasks: TaskTracker,
    /// Cancelled when the server stops: runs in flight end where they are.
    stopping: CancellationToken,
    /// Cancelled when another node of the cluster took this one over.
    fenced: CancellationToken,
    /// The cluster's nodes as last read (renewing the lease), in one.
    cluster: Mutex<Option<wire::ClusterHealth>>,
    config: EngineConfig,
}

impl Engine {
    pub fn new(journal: Arc<Journal>, agents: impl Into<Agents>, config: EngineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                journal,
                agents: agents.into(),
                slots: Arc::new(Semaphore::new(config.max_concurrent_steps.max(1))),
                plans: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                approvals: Mutex::new(HashMap::new()),
                schedule_changed: tokio::sync::Notify::new(),
                ids: Mutex::new(ulid::Generator::new()),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
                fenced: CancellationToken::new(),
                cluster: Mutex::new(None),
                config,
            }),
        }
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.inner.journal
    }

    pub fn agent_backend(&self) -> &'static str {
        self.inner.agents.default_kind().as_str()
    }

    /// Time-ordered ids: runs created in the same millisecond still sort in
    /// creation order.
    pub(crate) fn next_id(&self) -> Ulid {
        let mut ids = self.inner.ids.lock();
        ids.generate().unwrap_or_else(|_| Ulid::new())
    }

    /// Whether a request that changes state may proceed now.
    fn admit(&self) -> Result<(), EngineError> {
        if let Some(cause) = self.inner.journal.log_failing() {
            return Err(EngineError::Unavailable(format!(
                "the event log cannot be written ({cause}); nothing is accepted until it can"
            )));
        }
        if self.inner.stopping.is_cancelled() {
            return Err(EngineError::Overloaded(
                "the server is shutting down; try again when it is back".into(),
            ));
        }
        let backlog = self.inner.journal.log_backlog();
        if backlog > self.inner.config.max_log_backlog {
            return Err(EngineError::Overloaded(format!(
                "{backlog} events are waiting for the disk; try again shortly"
            )));
        }
        Ok(())
    }

    /// The seq a request that changed nothing waits for: everything already
    /// published, so that what it answers with is durable too.
    fn settled(&self) -> u64 {
        self.inner.journal.read_at(|_, seq| seq)
    }

    /// Answers a request that changed state once its last event, `seq`, is
    /// committed: acknowledged means durable. Events commit in order, so
    /// the last one covers the rest.
    async fn acknowledge(&self, seq: u64) -> Result<(), EngineError> {
        self.inner.journal.durable(seq).await.map_err(|e| {
            EngineError::Unavailable(format!(
                "the event log cannot be written ({e}); the change was not acknowledged \
                 and is stored only if the log recovers"
            ))
        })
    }

    /// Validates and stores a job; runs it at once if it asks to. Answers
    /// once both are committed.
    /// `actor` did it (see `EventKind::JobCreated`).
    pub async fn create_job(&self, job: JobRequest, actor: &str) -> Result<Created, EngineError> {
        self.create_job_traced(job, actor, None).await
    }

    /// `create_job` for a caller inside a trace: its run joins that trace.
    pub async fn create_job_traced(
        &self,
        job: JobRequest,
        actor: &str,
        trace: Option<TraceParent>,
    ) -> Result<Created, EngineError> {
        let (created, seq) = self.create_job_now(job, actor, trace)?;
        self.acknowledge(seq).await?;
        Ok(created)
    }

    /// `create_job` without waiting for the disk; with the `seq` to wait for.
    fn create_job_now(
        &self,
        job: JobRequest,
        actor: &str,
        trace: Option<TraceParent>,
    ) -> Result<(Created, u64), EngineError> {
        let (workflow_id, plan) = plan::validate(&job).map_err(EngineError::Invalid)?;
        plan::check_backends(&plan, &self.inner.agents).map_err(EngineError::Invalid)?;
        self.admit()?;
        let plan = Arc::new(plan);
        let job_id = self.next_id();
        let name = job.name.trim().to_string();
        let budget = job.budget.map(Budget::from);
        self.cache_plan(job_id, plan.clone());
        let mut seq = self
            .inner
            .journal
            .publish(EventKind::JobCreated {
                job_id,
                name: name.clone(),
                workflow_id: workflow_id.clone(),
                description: job.description,
                workflow: (&job.workflow).into(),
                actor: Some(actor.to_string()),
                budget: budget.clone(),
            })
            .seq;
        let caller_trace = trace.as_ref().map(|t| t.trace_id.clone());
        let run_id = job.execute.then(|| {
            let (run_id, run_seq) = self.launch(
                job_id,
                &name,
                &workflow_id,
                plan,
                budget,
                Origin { actor, trace },
            );
            seq = run_seq;
            run_id
        });
        let created = Created {
            job_id,
            workflow_id,
            run_id,
            caller_trace: run_id.and(caller_trace),
        };
        Ok((created, seq))
    }

    /// Starts a new run of a stored job; answers once it is committed.
    pub async fn start_run(&self, job_id: Ulid, actor: &str) -> Result<Created, EngineError> {
        self.start_run_traced(job_id, actor, None).await
    }

    /// `start_run` for a caller inside a trace.
    pub async fn start_run_traced(
        &self,
        job_id: Ulid,
        actor: &str,
        trace: Option<TraceParent>,
    ) -> Result<Created, EngineError> {
        let job = self.job(job_id).await?;
        let (created, seq) = self.start_run_now(job, actor, trace)?;
        self.acknowledge(seq).await?;
        Ok(created)
    }

    /// A job to run: from memory, or read back from the store's index.
    pub(crate) async fn job(&self, job_id: Ulid) -> Result<JobToRun, EngineError> {
        let recent = || {
            self.inner.journal.read(|m| {
                m.jobs.get(&job_id).map(|j| JobToRun {
                    job_id,
                    name: j.name.clone(),
                    workflow_id: j.workflow_id.clone(),
                    workflow: j.workflow.clone(),
                    budget: j.budget.clone(),
                })
            })
        };
        if let Some(job) = recent() {
            return Ok(job);
        }
        // In a cluster the job may have been created at another node a
        // moment ago, its event not folded here yet: read the log first.
        if self.inner.journal.shared().is_some() {
            let journal = self.inner.journal.clone();
            let caught_up = tokio::task::spawn_blocking(move || journal.catch_up()).await;
            if let Ok(Err(e)) = caught_up {
                return Err(EngineError::unreadable(e));
            }
            if let Some(job) = recent() {
                return Ok(job);
            }
        }
        match self.inner.journal.indexed_job(job_id).await {
            Ok(Some((record, workflow, budget))) => Ok(JobToRun {
                job_id,
                name: record.name,
                workflow_id: record.workflow_id,
                workflow: Arc::new(WorkflowSpec::from(&workflow)),
                budget,
            }),
            Ok(None) => Err(EngineError::NotFound(format!("no job with id {job_id}"))),
            Err(e) => Err(EngineError::unreadable(e)),
        }
    }

    /// `start_run` without waiting for the disk.
    fn start_run_now(
        &self,
        job: JobToRun,
        actor: &str,
        trace: Option<TraceParent>,
    ) -> Result<(Created, u64), EngineError> {
        let JobToRun {
            job_id,
            name,
            workflow_id,
            workflow,
            budget,
        } = job;
        self.admit()?;
        let plan = self.plan(job_id, &workflow)?;
        let caller_trace = trace.as_ref().map(|t| t.trace_id.clone());
        let (run_id, seq) = self.launch(
            job_id,
            &name,
            &workflow_id,
            plan,
            budget,
            Origin { actor, trace },
        );
        let created = Created {
            job_id,
            workflow_id: workflow_id.to_string(),
            run_id: Some(run_id),
            caller_trace,
        };
        Ok((created, seq))
    }

    /// The compiled plan of a job: cached, or compiled again.
    fn plan(&self, job_id: Ulid, workflow: &WorkflowSpec) -> Result<Arc<Plan>, EngineError> {
        let cached = self.inner.plans.lock().get(&job_id).cloned();
        match cached {
            Some(plan) => Ok(plan),
            None => {
                // Jobs restored from the log were validated when created.
                let plan = Arc::new(plan::compile(workflow).map_err(EngineError::Invalid)?);
                self.cache_plan(job_id, plan.clone());
                Ok(plan)
            }
        }
    }

    fn cache_plan(&self, job_id: Ulid, plan: Arc<Plan>) {
        let mut plans = self.inner.plans.lock();
        if plans.len() >= MAX_CACHED_PLANS && !plans.contains_key(&job_id) {
            // Any one goes: it is recompiled if its job runs again.
            if let Some(old) = plans.keys().next().copied() {
                plans.remove(&old);
            }
        }
        plans.insert(job_id, plan);
    }

    /// Creates a run and starts it (or, in a cluster, has the node with
    /// the most free step slots start it when this one has none); returns
    /// its id and its `RunCreated` seq.
    fn launch(
        &self,
        job_id: Ulid,
        name: &str,
        workflow_id: &str,
        plan: Arc<Plan>,
        budget: Option<Budget>,
        Origin { actor, trace }: Origin<'_>,
    ) -> (Ulid, u64) {
        let run_id = self.next_id();
        let node = self.placement();
        let here = node.as_deref() == self.inner.journal.node();
        let cancel = CancellationToken::new();
        if here {
            self.inner.running.lock().insert(run_id, cancel.clone());
        }
        let seq = self
            .inner
            .journal
            .publish(EventKind::RunCreated {
                run_id,
                job_id,
                workflow_id: workflow_id.to_string(),
                job_name: name.to_string(),
                steps: plan.planned_steps(),
                actor: Some(actor.to_string()),
                budget: budget.clone(),
                trace,
                node,
            })
            .seq;
        if here {
            self.drive(run_id, plan, budget, cancel, None);
        }
        (run_id, seq)
    }

    /// Runs a run in a task of its own, until it ends or the server stops.
    fn drive(
        &self,
        run_id: Ulid,
        plan: Arc<Plan>,
        budget: Option<Budget>,
        cancel: CancellationToken,
        resume: Option<ResumePoint>,
    ) {
        let engine = self.clone();
        let stopping = self.inner.stopping.clone();
        self.inner.tasks.spawn(async move {
            // A stop drops the run where it stands (its step tasks with it);
            // `stop` then writes down where it stood.
            tokio::select! {
                _ = execute::drive(&engine, run_id, plan, budget, cancel, resume) => {}
                _ = stopping.cancelled() => {}
            }
            engine.inner.running.lock().remove(&run_id);
        });
    }

    /// How each run in flight in the log goes on in this process, its
    /// attempts in flight found lost at `lost_at` (`why`: see [`resume`]);
    /// `None` for one that cannot (see [`resume::assess`]).
    /// Only the runs `which` picks are assessed.
    async fn assess_in_flight(
        &self,
        lost_at: chrono::DateTime<chrono::Utc>,
        why: &str,
        which: impl Fn(&RunState) -> bool,
    ) -> Vec<Assessed> {
        let runs: Vec<RunState> = self
            .inner
            .journal
            .read(|m| m.runs.in_flight().filter(|r| which(r)).cloned().collect());
        let mut assessed = Vec::with_capacity(runs.len());
        for run in runs {
            let plan = match self.job(run.job_id).await {
                Ok(job) => self.plan(run.job_id, &job.workflow).ok(),
                Err(e) => {
                    tracing::warn!(run_id = %run.run_id, "the job of a run in flight is unknown: {e:?}");
                    None
                }
            };
            let point = plan.and_then(|plan| {
                let point = self
                    .inner
                    .journal
                    .read(|m| resume::assess(&run, &plan, m, lost_at, why))?;
                Some((plan, point))
            });
            assessed.push((run, point));
        }
        assessed
    }

    /// Picks up the runs a previous process left in flight (it stopped at
    /// `stopped`, the time of the last event it wrote): each goes on where
    /// it was, or ends interrupted when it cannot ([`resume`]).
    pub async fn recover(&self, stopped: Option<chrono::DateTime<chrono::Utc>>) -> Recovered {
        let at = stopped.unwrap_or_else(chrono::Utc::now);
        let mut recovered = Recovered::default();
        // A lost attempt ends now, when it is found lost: when the process
        // under it died is not known (its last event, the lower bound, may
        // be the attempt's own start), and its run waited until now anyway.
        let journal = self.inner.journal.clone();
        let assessed = self
            .assess_in_flight(chrono::Utc::now(), resume::NODE_LOST, |run| {
                journal.resumes(run.node.as_deref())
            })
            .await;
        self.go_on(assessed, at, stopped.is_some(), &mut recovered);
        recovered
    }

    /// Resumes each assessed run where it can, and ends the others (at
    /// `at`; `stopped`: that is when their process stopped).
    fn go_on(
        &self,
        assessed: Vec<Assessed>,
        at: chrono::DateTime<chrono::Utc>,
        stopped: bool,
        recovered: &mut Recovered,
    ) {
        for (run, point) in assessed {
            match point {
                Some((plan, mut point)) => {
                    for lost in std::mem::take(&mut point.lost) {
                        self.inner.journal.publish(lost);
                    }
                    let cancel = CancellationToken::new();
                    self.inner.running.lock().insert(run.run_id, cancel.clone());
                    self.drive(run.run_id, plan, run.budget.clone(), cancel, Some(point));
                    recovered.resumed.push(run.run_id);
                }
                None => {
                    self.inner.journal.publish(run.ending(at, stopped));
                    recovered.interrupted.push(run.run_id);
                }
            }
        }
    }

    /// Cancels a run in flight: running steps stop, pending ones never start.
    /// The request is an event of its own, answered once committed; should
    /// the process die before the run has stopped, the next start records
    /// the run cancelled, not interrupted.
    pub async fn cancel(&self, run_id: Ulid, actor: &str) -> Result<(), EngineError> {
        let token = self.inner.running.lock().get(&run_id).cloned();
        // A run another node of the cluster runs: that node cancels it as
        // it folds the request (or the node that takes it over, at once).
        let elsewhere = token.is_none()
            && self.inner.journal.node().is_some()
            && self
                .inner
                .journal
                .read(|m| m.runs.get(&run_id).is_some_and(|r| !r.status.is_terminal()));
        if token.is_some() || elsewhere {
            self.admit()?;
            let seq = self
                .inner
                .journal
                .publish(EventKind::RunCancelRequested {
                    run_id,
                    actor: Some(actor.to_string()),
                })
                .seq;
            if let Some(token) = token {
                token.cancel();
            }
            return self.acknowledge(seq).await;
        }
        match self.inner.journal.read(|m| m.runs.status(&run_id)) {
            Some(status) => Err(EngineError::Conflict(format!(
                "run {run_id} is already {}",
                status.as_str()
            ))),
            None => Err(EngineError::NotFound(format!("no run with id {run_id}"))),
        }
    }

    /// Creates or changes an alert rule; answers once that is committed.
    pub async fn set_alert_rule(
        &self,
        name: &str,
        update: wire::AlertRuleUpdate,
        actor: &str,
    ) -> Result<crate::alerts::RuleChange, EngineError> {
        self.admit()?;
        let change =
            crate::alerts::set_rule(&self.inner.journal, name, update, actor).map_err(|e| {
                EngineError::Invalid(ApiError::new("invalid_rule", e.message).with_field(e.field))
            })?;
        let seq = change.seq.unwrap_or_else(|| self.settled());
        self.acknowledge(seq).await?;
        Ok(change)
    }

    /// Runs in flight in this process.
    pub fn running(&self) -> usize {
        self.inner.running.lock().len()
    }

    /// Waits until every event published so far is committed.
    pub async fn flush(&self) {
        self.inner.journal.flush().await;
    }

    /// Stops for a shutdown: refuses new runs and drops every run in flight
    /// where it stands. Each attempt in flight is recorded as failed now
    /// ([`resume::NODE_STOPPED`]), so that its time ends at the stop, and
    /// its run goes on at the next start; a run that cannot ([`resume`])
    /// ends interrupted at this moment. Watchers get those updates.
    pub async fn stop(&self) -> Recovered {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        if self.inner.fenced.is_cancelled() {
            // Its runs are another node's now: nothing of them is written.
            return Recovered::default();
        }
        let now = chrono::Utc::now();
        let mut stopped = Recovered::default();
        let journal = self.inner.journal.clone();
        for (run, point) in self
            .assess_in_flight(now, resume::NODE_STOPPED, |run| {
                run.node.as_deref() == journal.node()
            })
            .await
        {
            match point {
                Some((_, point)) => {
                    for lost in point.lost {
                        self.inner.journal.publish(lost);
                    }
                    stopped.resumed.push(run.run_id);
                }
                None => {
                    self.inner.journal.publish(run.ending(now, false));
                    stopped.interrupted.push(run.run_id);
                }
            }
        }
        stopped
    }
}

/// A run in flight, and how it goes on (`None`: it cannot).
type Assessed = (RunState, Option<(Arc<Plan>, ResumePoint)>);

/// What became of the runs in flight when a process stopped.
#[derive(Debug, Default)]
pub struct Recovered {
    /// They go on (at a stop: at the next start).
    pub resumed: Vec<Ulid>,
    /// They ended interrupted (or cancelled, if that was asked).
    pub interrupted: Vec<Ulid>,
}

#[cfg(test)]
mod tests;
