//! Traces: runs as time lines of attempts, recent ones from memory and old
//! ones read back from the log.

use chrono::Utc;
use ulid::Ulid;
use wire::Trace;

use super::runs::{filter, page_limit, parse_before, RunsQuery};
use super::Failure;
use crate::journal::Journal;

/// The guide's "last 50"; `?limit=` may ask for up to 200.
pub const DEFAULT_TRACES: usize = 50;
pub const MAX_TRACES: usize = 200;

/// The traces a query asks for (shared by the API and the dashboard).
pub async fn trace_list(journal: &Journal, q: &RunsQuery) -> Result<Vec<Trace>, Failure> {
    let filter = filter(q)?;
    let limit = page_limit(q.limit, DEFAULT_TRACES, MAX_TRACES)?;
    let before = parse_before(q.before.as_deref())?;
    let now = Utc::now();
    let (page, _, _) = journal.runs_page(&filter, before, limit).await?;
    // Recent runs are traced under the lock; older ones are read back from
    // the log afterwards, without holding it.
    let slots: Vec<Result<Trace, Ulid>> = journal.read(|m| {
        page.iter()
            .map(|r| r.run_id)
            .map(|id| {
                m.runs
                    .get(&id)
                    .map(|run| crate::analytics::trace(run, now))
                    .ok_or(id)
            })
            .collect()
    });
    let old: Vec<Ulid> = slots
        .iter()
        .filter_map(|s| s.as_ref().err().copied())
        .collect();
    let mut read_back = journal.load_runs(&old).await?.into_iter();
    let mut traces = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Ok(trace) => traces.push(trace),
            Err(_) => {
                if let Some(run) = read_back.next().flatten() {
                    traces.push(crate::analytics::trace(&run, now));
                }
            }
        }
    }
    Ok(traces)
}

/// One run's trace, or `None` (shared by the API and the dashboard).
pub async fn find_trace(journal: &Journal, run_id: &str) -> Result<Option<Trace>, Failure> {
    let Ok(id) = run_id.parse::<Ulid>() else {
        return Ok(None);
    };
    let run = journal.load_run(&id).await?;
    Ok(run.map(|r| crate::analytics::trace(&r, Utc::now())))
}
