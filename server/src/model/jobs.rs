use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;
use wire::{JobView, WorkflowSpec};

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
    /// Each distinct definition once, however many jobs share it (a client
    /// that posts the same job in a loop makes a job per run), and names
    /// likewise.
    definitions: HashMap<u64, Vec<Arc<WorkflowSpec>>>,
    names: crate::runs::Interner,
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
            let workflow = self.shared_definition(workflow);
            let entry = JobEntry {
                job_id: *job_id,
                name: self.names.intern(name),
                workflow_id: self.names.intern(workflow_id),
                description: description.clone(),
                created_at: event.at,
                workflow,
                run_count: 0,
                last_run: None,
            };
            self.by_id.insert(*job_id, entry);
        }
    }

    /// The definition as an `Arc` shared with every job of the same one.
    fn shared_definition(&mut self, record: &crate::events::Workflow) -> Arc<WorkflowSpec> {
        use std::hash::{Hash, Hasher};
        let spec = WorkflowSpec::from(record);
        // Floats are not `Hash`; the record's JSON is a faithful key.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(record)
            .unwrap_or_default()
            .hash(&mut hasher);
        let same = self.definitions.entry(hasher.finish()).or_default();
        if let Some(existing) = same.iter().find(|d| ***d == spec) {
            return existing.clone();
        }
        let shared = Arc::new(spec);
        same.push(shared.clone());
        shared
    }

    pub(super) fn record_run(&mut self, job_id: Ulid, run_id: Ulid) {
        if let Some(job) = self.by_id.get_mut(&job_id) {
            job.run_count += 1;
            job.last_run = Some(run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(seq: u64, prompt: &str) -> (Ulid, Event) {
        let job_id = Ulid::new();
        let workflow: crate::events::Workflow = serde_json::from_value(serde_json::json!({
            "steps": [{"id": "a", "action": {"agent_task": {"prompt": prompt}}, "timeout_secs": 1.5}]
        }))
        .unwrap();
        let event = Event {
            seq,
            at: chrono::Utc::now(),
            kind: EventKind::JobCreated {
                job_id,
                name: "Same Name".into(),
                workflow_id: "same_name".into(),
                description: None,
                workflow,
            },
        };
        (job_id, event)
    }

    #[test]
    fn jobs_with_the_same_definition_share_it() {
        let mut jobs = Jobs::default();
        let (a, ea) = created(1, "p");
        let (b, eb) = created(2, "p");
        let (c, ec) = created(3, "other");
        for e in [&ea, &eb, &ec] {
            jobs.apply(e);
        }
        let def = |id: &Ulid| jobs.get(id).unwrap().workflow.clone();
        assert!(Arc::ptr_eq(&def(&a), &def(&b)));
        assert!(!Arc::ptr_eq(&def(&a), &def(&c)));
        assert!(Arc::ptr_eq(
            &jobs.get(&a).unwrap().name,
            &jobs.get(&c).unwrap().name
        ));
        assert_eq!(
            jobs.get(&c).unwrap().view(true).workflow.unwrap().steps[0].timeout_secs,
            Some(1.5)
        );
    }
}
