//! Jobs: the stored definitions, newest first; recent ones from memory,
//! older ones from the store's index.

use ulid::Ulid;
use wire::{JobList, JobQuery, JobView, WorkflowSpec};

use super::Failure;
use crate::journal::Journal;
use crate::runs::RunFilter;
use crate::store::JobRecord;

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
    if jobs.len() < limit && floor > Ulid(0) {
        let wanted = limit - jobs.len();
        let older = journal
            .read_store(move |store| store.jobs(workflow_id.as_deref(), floor, wanted))
            .await
            .map_err(internal)?;
        for record in older {
            // A job memory still holds (created late, below the floor) is
            // listed once.
            if journal.read(|m| m.jobs.get(&record.job_id).is_some()) {
                continue;
            }
            jobs.push(indexed_view(journal, record, q.include_workflow).await?);
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
    if !journal.read(|m| m.jobs.may_be_indexed(&job_id)) {
        return Ok(None);
    }
    let record = journal
        .read_store(move |store| store.job(job_id))
        .await
        .map_err(internal)?;
    match record {
        Some(record) => Ok(Some(indexed_view(journal, record, include_workflow).await?)),
        None => Ok(None),
    }
}

/// A job only the index holds: its runs counted from memory and the index
/// both, its definition read back from its event when asked for.
async fn indexed_view(
    journal: &Journal,
    record: JobRecord,
    include_workflow: bool,
) -> Result<JobView, Failure> {
    let filter = RunFilter {
        job_id: Some(record.job_id),
        ..RunFilter::default()
    };
    let (latest, run_count, _) = journal
        .runs_page(&filter, None, 1)
        .await
        .map_err(internal)?;
    let workflow = match include_workflow {
        true => Some(WorkflowSpec::from(
            &journal.job_workflow(&record).await.map_err(internal)?,
        )),
        false => None,
    };
    Ok(JobView {
        job_id: record.job_id.to_string(),
        name: record.name.to_string(),
        workflow_id: record.workflow_id.to_string(),
        description: record.description,
        created_at: record.created_at,
        workflow,
        run_count,
        last_run_id: latest.first().map(|r| r.run_id.to_string()),
    })
}

fn internal(e: crate::store::StoreError) -> Failure {
    Failure::internal(e.to_string())
}
