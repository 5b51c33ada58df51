use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::events::records::Budget;
use wire::{JobView, WorkflowSpec};

use crate::events::{Event, EventKind};
use crate::store::{IndexRow, JobRecord};

/// Jobs kept in memory: the newest; older ones are read back from the
/// store's index (a client that posts a job per run makes millions).
pub const KEPT_JOBS: usize = 5_000;
/// Jobs leave memory in batches of this many.
const JOB_BATCH: usize = 1_000;

pub struct JobEntry {
    pub job_id: Ulid,
    pub name: Arc<str>,
    pub workflow_id: Arc<str>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub workflow: Arc<WorkflowSpec>,
    pub run_count: u64,
    pub last_run: Option<Ulid>,
    pub budget: Option<Budget>,
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
            budget: self.budget.clone().map(Into::into),
        }
    }
}

#[derive(Default)]
pub struct Jobs {
    /// The newest jobs.
    by_id: BTreeMap<Ulid, JobEntry>,
    /// Jobs ever created.
    total: usize,
    /// Every job below it that is not in `by_id` is in the index.
    floor: Ulid,
    /// Jobs routines run: kept in memory whatever their age.
    pinned: std::collections::HashSet<Ulid>,
    index_rows: Vec<IndexRow>,
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

    /// Memory's newest jobs (ULIDs sort by creation time), of one workflow
    /// or all, at most `limit`; older ones are listed from the index, below
    /// [`floor`](Self::floor) (where every job is, those memory keeps for
    /// routines too).
    pub fn list(&self, workflow_id: Option<&str>, limit: usize) -> Vec<&JobEntry> {
        self.by_id
            .range(self.floor..)
            .rev()
            .map(|(_, j)| j)
            .filter(|j| workflow_id.is_none_or(|w| *j.workflow_id == *w))
            .take(limit)
            .collect()
    }

    /// Jobs below it that memory does not hold are in the index.
    pub fn floor(&self) -> Ulid {
        self.floor
    }

    /// Whether a job unknown to memory may be in the index.
    pub fn may_be_indexed(&self, job_id: &Ulid) -> bool {
        *job_id < self.floor && !self.by_id.contains_key(job_id)
    }

    /// Jobs ever created.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Keeps a job in memory: a routine runs it.
    pub(super) fn pin(&mut self, job_id: Ulid) {
        self.pinned.insert(job_id);
    }

    /// Rows for the index made since the last call.
    pub fn drain_index(&mut self, out: &mut Vec<IndexRow>) {
        out.append(&mut self.index_rows);
    }

    pub(super) fn apply(&mut self, event: &Event) {
        if let EventKind::JobCreated {
            job_id,
            name,
            workflow_id,
            description,
            workflow,
            budget,
            ..
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
                budget: budget.clone(),
            };
            self.index_rows.push(IndexRow::Job(JobRecord {
                job_id: *job_id,
                name: entry.name.clone(),
                workflow_id: entry.workflow_id.clone(),
                description: description.clone(),
                created_at: event.at,
                seq: event.seq,
            }));
            self.by_id.insert(*job_id, entry);
            self.total += 1;
            if self.by_id.len() > KEPT_JOBS + JOB_BATCH {
                self.evict();
            }
        }
    }

    /// Drops the oldest jobs down to [`KEPT_JOBS`], and the definitions
    /// only they used. Their rows, committed with their `JobCreated` (which
    /// a client's answer waited for), are in the index.
    fn evict(&mut self) {
        let mut kept = Vec::new();
        while self.by_id.len() > KEPT_JOBS {
            let Some((id, job)) = self.by_id.pop_first() else {
                break;
            };
            if self.pinned.contains(&id) {
                kept.push((id, job));
                continue;
            }
            self.floor = self.floor.max(Ulid(id.0 + 1));
            // Held by `definitions` (or the interner) and this job only.
            if Arc::strong_count(&job.workflow) == 2 {
                let key = definition_key(&job.workflow);
                if let Some(same) = self.definitions.get_mut(&key) {
                    same.retain(|d| !Arc::ptr_eq(d, &job.workflow));
                    if same.is_empty() {
                        self.definitions.remove(&key);
                    }
                }
            }
            self.names.release(job.name);
            self.names.release(job.workflow_id);
        }
        self.by_id.extend(kept);
    }

    /// The definition as an `Arc` shared with every job of the same one.
    fn shared_definition(&mut self, record: &crate::events::Workflow) -> Arc<WorkflowSpec> {
        let spec = WorkflowSpec::from(record);
        let same = self.definitions.entry(definition_key(&spec)).or_default();
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

/// Floats are not `Hash`; the definition's JSON is a faithful key.
fn definition_key(spec: &WorkflowSpec) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(spec)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
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
                actor: None,
                budget: None,
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
