use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use ulid::Ulid;

use super::{EventLog, IndexRow, JobRecord, RunQuery, RunRecord, StoreError};
use crate::events::Event;

/// A log in memory, for tests and benchmarks of what sits above the disk.
/// Clones share the same events, like two connections to one database.
#[derive(Clone, Default)]
pub struct MemoryLog {
    inner: Arc<Mutex<Stored>>,
}

#[derive(Default)]
struct Stored {
    events: Vec<Event>,
    runs: BTreeMap<Ulid, RunRecord>,
    jobs: BTreeMap<Ulid, JobRecord>,
    approvals: BTreeMap<Ulid, Ulid>,
    indexed_through: u64,
}

impl Stored {
    fn index(&mut self, rows: &[&IndexRow]) {
        for row in rows {
            match row {
                IndexRow::Run(r) => {
                    self.runs.insert(r.run_id, r.clone());
                }
                IndexRow::Job(j) => {
                    self.jobs.insert(j.job_id, j.clone());
                }
                IndexRow::Approval(a) => {
                    self.approvals.insert(a.approval_id, a.run_id);
                }
            }
        }
    }
}

impl EventLog for MemoryLog {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn append(&mut self, events: &[&Event]) -> Result<u64, StoreError> {
        let mut s = self.inner.lock();
        s.events.extend(events.iter().map(|e| (*e).clone()));
        Ok(events.first().map_or(0, |e| e.seq))
    }

    fn replay(&mut self, f: &mut dyn FnMut(Event)) -> Result<u64, StoreError> {
        let events = self.inner.lock().events.clone();
        let count = events.len() as u64;
        events.into_iter().for_each(f);
        Ok(count)
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .inner
            .lock()
            .events
            .iter()
            .filter(|e| e.kind.run_id().is_some_and(|r| r.to_string() == run_id))
            .cloned()
            .collect())
    }

    fn event(&mut self, seq: u64) -> Result<Option<Event>, StoreError> {
        let s = self.inner.lock();
        Ok(s.events.iter().find(|e| e.seq == seq).cloned())
    }

    fn indexed_through(&mut self) -> Result<u64, StoreError> {
        Ok(self.inner.lock().indexed_through)
    }

    fn write_index(&mut self, rows: &[&IndexRow], through: u64) -> Result<(), StoreError> {
        let mut s = self.inner.lock();
        s.index(rows);
        s.indexed_through = s.indexed_through.max(through);
        Ok(())
    }

    fn runs(&mut self, q: &RunQuery) -> Result<Vec<RunRecord>, StoreError> {
        let s = self.inner.lock();
        Ok(s.runs
            .range(..q.below)
            .rev()
            .map(|(_, r)| r)
            .filter(|r| q.admits(r))
            .take(q.limit)
            .cloned()
            .collect())
    }

    fn count_runs(&mut self, q: &RunQuery) -> Result<u64, StoreError> {
        let s = self.inner.lock();
        Ok(s.runs.range(..q.below).filter(|(_, r)| q.admits(r)).count() as u64)
    }

    fn job(&mut self, job_id: Ulid) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.inner.lock().jobs.get(&job_id).cloned())
    }

    fn job_runs(
        &mut self,
        jobs: &[Ulid],
        below: Ulid,
        except: &[Ulid],
    ) -> Result<Vec<(Ulid, u64, Ulid)>, StoreError> {
        let s = self.inner.lock();
        let mut out: BTreeMap<Ulid, (u64, Ulid)> = BTreeMap::new();
        for r in s.runs.range(..below).map(|(_, r)| r) {
            if jobs.contains(&r.job_id) && !except.contains(&r.run_id) {
                let e = out.entry(r.job_id).or_insert((0, r.run_id));
                e.0 += 1;
                e.1 = e.1.max(r.run_id);
            }
        }
        Ok(out.into_iter().map(|(j, (n, last))| (j, n, last)).collect())
    }

    fn approval_run(&mut self, approval_id: Ulid) -> Result<Option<Ulid>, StoreError> {
        Ok(self.inner.lock().approvals.get(&approval_id).copied())
    }

    fn jobs(
        &mut self,
        workflow_id: Option<&str>,
        below: Ulid,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let s = self.inner.lock();
        Ok(s.jobs
            .range(..below)
            .rev()
            .map(|(_, j)| j)
            .filter(|j| workflow_id.is_none_or(|w| *j.workflow_id == *w))
            .take(limit)
            .cloned()
            .collect())
    }
}
