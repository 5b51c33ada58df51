//! The workflow engine: accepts jobs, runs their DAGs, and reports every
//! state change as an event through the [`Journal`]. It keeps no state of its
//! own beyond what is needed to control runs in flight (their cancellation
//! handles); everything observable lives in the journal's model.

pub mod agents;
mod execute;
pub mod governance;
pub mod plan;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use app::wire::{ApiError, JobCreated, JobRequest};
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use ulid::Ulid;

use crate::events::EventKind;
use crate::journal::Journal;
use agents::AgentBackend;
use plan::Plan;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Steps executing at once, over all runs.
    pub max_concurrent_steps: usize,
    /// A step's output beyond this is cut, and marked truncated.
    pub max_output_bytes: usize,
    /// New runs are refused while this many events wait for the disk.
    pub max_log_backlog: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_steps: 256,
            max_output_bytes: 16 * 1024,
            max_log_backlog: 200_000,
        }
    }
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
    Internal(String),
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    journal: Arc<Journal>,
    agents: Arc<dyn AgentBackend>,
    slots: Arc<Semaphore>,
    plans: Mutex<HashMap<Ulid, Arc<Plan>>>,
    running: Mutex<HashMap<Ulid, CancellationToken>>,
    approvals: Mutex<governance::Waiting>,
    schedule_changed: tokio::sync::Notify,
    ids: Mutex<ulid::Generator>,
    tasks: TaskTracker,
    /// Cancelled when the server stops: runs in flight end where they are.
    stopping: CancellationToken,
    config: EngineConfig,
}

impl Engine {
    pub fn new(journal: Arc<Journal>, agents: Arc<dyn AgentBackend>, config: EngineConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                journal,
                agents,
                slots: Arc::new(Semaphore::new(config.max_concurrent_steps.max(1))),
                plans: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                approvals: Mutex::new(HashMap::new()),
                schedule_changed: tokio::sync::Notify::new(),
                ids: Mutex::new(ulid::Generator::new()),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
                config,
            }),
        }
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.inner.journal
    }

    pub fn agent_backend(&self) -> &'static str {
        self.inner.agents.name()
    }

    /// Time-ordered ids: runs created in the same millisecond still sort in
    /// creation order.
    pub(crate) fn next_id(&self) -> Ulid {
        let mut ids = self.inner.ids.lock();
        ids.generate().unwrap_or_else(|_| Ulid::new())
    }

    fn admit(&self) -> Result<(), EngineError> {
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

    /// Validates and stores a job; runs it at once if it asks to.
    pub fn create_job(&self, job: JobRequest) -> Result<JobCreated, EngineError> {
        let (workflow_id, plan) = plan::validate(&job).map_err(EngineError::Invalid)?;
        self.admit()?;
        let plan = Arc::new(plan);
        let job_id = self.next_id();
        let name = job.name.trim().to_string();
        self.inner.plans.lock().insert(job_id, plan.clone());
        self.inner.journal.publish(EventKind::JobCreated {
            job_id,
            name: name.clone(),
            workflow_id: workflow_id.clone(),
            description: job.description,
            workflow: job.workflow,
        });
        let run_id = job
            .execute
            .then(|| self.launch(job_id, &name, &workflow_id, plan));
        Ok(JobCreated {
            job_id: job_id.to_string(),
            workflow_id,
            run_id: run_id.map(|r| r.to_string()),
            status: if run_id.is_some() {
                "running"
            } else {
                "created"
            }
            .into(),
        })
    }

    /// Starts a new run of a stored job.
    pub fn start_run(&self, job_id: Ulid) -> Result<JobCreated, EngineError> {
        let job = self.inner.journal.read(|m| {
            m.jobs
                .get(&job_id)
                .map(|j| (j.name.clone(), j.workflow_id.clone(), j.workflow.clone()))
        });
        let Some((name, workflow_id, workflow)) = job else {
            return Err(EngineError::NotFound(format!("no job with id {job_id}")));
        };
        self.admit()?;
        let cached = self.inner.plans.lock().get(&job_id).cloned();
        let plan = match cached {
            Some(plan) => plan,
            None => {
                // Jobs restored from the log were validated when created.
                let plan = Arc::new(plan::compile(&workflow).map_err(EngineError::Invalid)?);
                self.inner.plans.lock().insert(job_id, plan.clone());
                plan
            }
        };
        let run_id = self.launch(job_id, &name, &workflow_id, plan);
        Ok(JobCreated {
            job_id: job_id.to_string(),
            workflow_id: workflow_id.to_string(),
            run_id: Some(run_id.to_string()),
            status: "running".into(),
        })
    }

    fn launch(&self, job_id: Ulid, name: &str, workflow_id: &str, plan: Arc<Plan>) -> Ulid {
        let run_id = self.next_id();
        let cancel = CancellationToken::new();
        self.inner.running.lock().insert(run_id, cancel.clone());
        self.inner.journal.publish(EventKind::RunCreated {
            run_id,
            job_id,
            workflow_id: workflow_id.to_string(),
            job_name: name.to_string(),
            steps: plan.planned_steps(),
        });
        let engine = self.clone();
        let stopping = self.inner.stopping.clone();
        self.inner.tasks.spawn(async move {
            // A stop drops the run where it stands (its step tasks with it);
            // `stop` then writes it down as interrupted.
            tokio::select! {
                _ = execute::drive(&engine, run_id, plan, cancel) => {}
                _ = stopping.cancelled() => {}
            }
            engine.inner.running.lock().remove(&run_id);
        });
        run_id
    }

    /// Cancels a run in flight: running steps stop, pending ones never start.
    pub fn cancel(&self, run_id: Ulid) -> Result<(), EngineError> {
        if let Some(token) = self.inner.running.lock().get(&run_id) {
            token.cancel();
            return Ok(());
        }
        match self.inner.journal.read(|m| m.runs.status(&run_id)) {
            Some(status) => Err(EngineError::Conflict(format!(
                "run {run_id} is already {}",
                status.as_str()
            ))),
            None => Err(EngineError::NotFound(format!("no run with id {run_id}"))),
        }
    }

    /// Runs in flight in this process.
    pub fn running(&self) -> usize {
        self.inner.running.lock().len()
    }

    /// Waits until every event published so far is committed.
    pub async fn flush(&self) {
        self.inner.journal.flush().await;
    }

    /// Stops for a shutdown: refuses new runs, ends every run in flight
    /// where it stands, and records each as interrupted at this moment, so
    /// that watchers get its final state and its times end at the stop, not
    /// at the next start. Returns the runs interrupted.
    pub async fn stop(&self) -> Vec<Ulid> {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        let in_flight: Vec<Ulid> = self
            .inner
            .journal
            .read(|m| m.runs.in_flight().map(|r| r.run_id).collect());
        for &run_id in &in_flight {
            self.inner.journal.publish(EventKind::RunInterrupted {
                run_id,
                stopped_at: None,
            });
        }
        in_flight
    }
}

#[cfg(test)]
mod tests;
