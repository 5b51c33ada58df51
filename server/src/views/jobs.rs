//! Jobs: the stored definitions, newest first.

use wire::{JobList, JobQuery};

use super::Failure;
use crate::model::Model;

/// The jobs a query asks for, for the API and the pages alike.
pub fn job_list(m: &Model, q: &JobQuery) -> Result<JobList, Failure> {
    let limit = super::runs::page_limit(q.limit, usize::MAX, usize::MAX)?;
    let workflow_id = q.workflow_id.as_deref().filter(|w| !w.is_empty());
    let jobs = m
        .jobs
        .list(workflow_id, limit)
        .into_iter()
        .map(|j| j.view(q.include_workflow))
        .collect();
    Ok(JobList { jobs })
}
