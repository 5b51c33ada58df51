use std::collections::HashMap;
use std::sync::Arc;

use app::wire::{JobView, WorkflowSpec};
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::events::{Event, EventKind};

pub struct JobEntry {
    pub job_id: Ulid,
    pub name: Arc<str>,
    pub workflow_id: Arc<str>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub workflow: Arc<WorkflowSpec>,
    pub run_count: u64,
    pub last_run: Option<Ulid>,
}

impl JobEntry {
    pub fn view(&self, include_workflow: bool) -> JobView {
        JobView {
            job_id: self.job_id.to_string(),
            name: self.name.to_string(),
            workflow_id: self.workflow_id.to_string(),
            description: self.description.clone(),
            created_at: self.created_at,
            workflow: include_workflow.then(|| (*self.workflow).clone()),
            run_count: self.run_count,
            last_run_id: self.last_run.map(|r| r.to_string()),
        }
    }
}

#[derive(Default)]
pub struct Jobs {
    by_id: HashMap<Ulid, JobEntry>,
}

impl Jobs {
    pub fn get(&self, job_id: &Ulid) -> Option<&JobEntry> {
        self.by_id.get(job_id)
    }

    /// Newest first (ULIDs sort by creation time), of one workflow or all,
    /// at most `limit`.
    pub fn list(&self, workflow_id: Option<&str>, limit: usize) -> Vec<&JobEntry> {
        let mut jobs: Vec<_> = self
            .by_id
            .values()
            .filter(|j| workflow_id.is_none_or(|w| *j.workflow_id == *w))
            .collect();
        jobs.sort_unstable_by_key(|j| std::cmp::Reverse(j.job_id));
        jobs.truncate(limit);
        jobs
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(super) fn apply(&mut self, event: &Event) {
        if let EventKind::JobCreated {
            job_id,
            name,
            workflow_id,
            description,
            workflow,
        } = &event.kind
        {
            self.by_id.insert(
                *job_id,
                JobEntry {
                    job_id: *job_id,
                    name: name.as_str().into(),
                    workflow_id: workflow_id.as_str().into(),
                    description: description.clone(),
                    created_at: event.at,
                    workflow: Arc::new(workflow.into()),
                    run_count: 0,
                    last_run: None,
                },
            );
        }
    }

    pub(super) fn record_run(&mut self, job_id: Ulid, run_id: Ulid) {
        if let Some(job) = self.by_id.get_mut(&job_id) {
            job.run_count += 1;
            job.last_run = Some(run_id);
        }
    }
}
