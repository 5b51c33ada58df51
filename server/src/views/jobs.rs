//! Jobs: the stored definitions, newest first; recent ones from memory,
//! older ones from the store's index.

use std::collections::HashMap;

use ulid::Ulid;
use wire::{JobList, JobQuery, JobView, WorkflowSpec};

use super::Failure;
use crate::journal::Journal;
use crate::store::JobRecord;

/// Jobs read from the index at a time.
const INDEX_PAGE: usize = 500;

/// The jobs a query asks for, for the API and the pages alike.
pub async fn job_list(journal: &Journal, q: &JobQuery) -> Result<JobList, Failure> {
    let limit = super::runs::page_limit(q.limit, usize::MAX, usize::MAX)?;
    let workflow_id = q.workflow_id.clone().filter(|w| !w.is_empty());
    let (mut jobs, floor): (Vec<JobView>, Ulid) = journal.read(|m| {
        let jobs = m
            .jobs
            .list(workflow_id.as_deref(), limit)
            .into_iter()
            .map(|j| j.view(q.include_workflow))
            .collect();
        (jobs, m.jobs.floor())
    });
    // Older jobs, from the index, a page at a time, their runs counted in
    // one query per page.
    let mut below = floor;
    while jobs.len() < limit && below > Ulid(0) {
        let wanted = (limit - jobs.len()).min(INDEX_PAGE);
        let w = workflow_id.clone();
        let older = journal
            .read_store(move |store| store.jobs(w.as_deref(), below, wanted))
            .await?;
        let Some(oldest) = older.last() else {
            break;
        };
        below = oldest.job_id;
        let fewer = older.len() < wanted;
        jobs.extend(indexed_views(journal, older, q.include_workflow).await?);
        if fewer {
            break;
        }
    }
    Ok(JobList { jobs })
}

/// One job, from memory or the index; `None` if there is no such job.
pub async fn job(
    journal: &Journal,
    job_id: Ulid,
    include_workflow: bool,
) -> Result<Option<JobView>, Failure> {
    if let Some(view) = journal.read(|m| m.jobs.get(&job_id).map(|j| j.view(include_workflow))) {
        return Ok(Some(view));
    }
    let record = journal.indexed_job_record(job_id).await?;
    match record {
        Some(record) => Ok(indexed_views(journal, vec![record], include_workflow)
            .await?
            .pop()),
        None => Ok(None),
    }
}

/// Jobs only the index holds: their runs counted from memory and the index
/// both, their definitions read back from their events when asked for.
async fn indexed_views(
    journal: &Journal,
    records: Vec<JobRecord>,
    include_workflow: bool,
) -> Result<Vec<JobView>, Failure> {
    let ids: Vec<Ulid> = records.iter().map(|r| r.job_id).collect();
    let (in_memory, floor, except) = journal.read(|m| m.runs.runs_of_jobs(&ids));
    let indexed = journal
        .read_store(move |store| store.job_runs(&ids, floor, &except))
        .await?;
    let indexed: HashMap<Ulid, (u64, Ulid)> = indexed
        .into_iter()
        .map(|(j, n, last)| (j, (n, last)))
        .collect();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let (mem_n, mem_last) = in_memory
            .get(&record.job_id)
            .copied()
            .unwrap_or((0, Ulid(0)));
        let (idx_n, idx_last) = indexed.get(&record.job_id).copied().unwrap_or((0, Ulid(0)));
        let last = mem_last.max(idx_last);
        // The budget is stored with the definition: read with it.
        let (workflow, budget) = match include_workflow {
            true => {
                let (workflow, budget) = journal.job_definition(&record).await?;
                (Some(WorkflowSpec::from(&workflow)), budget.map(Into::into))
            }
            false => (None, None),
        };
        out.push(JobView {
            job_id: record.job_id.to_string(),
            name: record.name.to_string(),
            workflow_id: record.workflow_id.to_string(),
            description: record.description,
            created_at: record.created_at,
            workflow,
            run_count: mem_n + idx_n,
            last_run_id: (last > Ulid(0)).then(|| last.to_string()),
            budget,
        });
    }
    Ok(out)
}
