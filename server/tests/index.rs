//! Memory bounded in the number of runs: old runs and jobs leave the model
//! and are listed from the store's read index, with the same answers as if
//! memory held them all; a log without an index gets one at start-up.

use server::events::{EventKind, PlannedStep, Workflow};
use server::journal::Journal;
use server::model::{Model, KEPT_JOBS, KEPT_RESOLVED};
use server::runs::{RunFilter, KEPT_SUMMARIES};
use server::store::{EventLog, MemoryLog, SqliteLog};
use ulid::Ulid;
use wire::RunStatus;

/// More runs than memory keeps summaries or jobs of.
const RUNS: usize = 12_000;

fn workflow() -> Workflow {
    serde_json::from_value(serde_json::json!({
        "steps": [{"id": "a", "action": {"agent_task": {"prompt": "one"}}}]
    }))
    .unwrap()
}

/// Job `i` and its run: every seventh fails, every eleventh is still
/// running; workflows alternate between two.
fn publish_run(journal: &Journal, i: usize) -> (Ulid, Ulid) {
    let job_id = Ulid::new();
    let run_id = Ulid::new();
    let workflow_id = if i.is_multiple_of(2) { "even" } else { "odd" };
    journal.publish(EventKind::JobCreated {
        job_id,
        name: format!("Job {i}"),
        workflow_id: workflow_id.into(),
        description: None,
        workflow: workflow(),
        actor: None,
        budget: None,
    });
    journal.publish(EventKind::RunCreated {
        run_id,
        job_id,
        workflow_id: workflow_id.into(),
        job_name: format!("Job {i}"),
        steps: vec![PlannedStep {
            id: "a".into(),
            name: "a".into(),
            role: "agent".into(),
            depends_on: vec![],
        }],
        actor: None,
        budget: None,
        trace: None,
        node: None,
    });
    journal.publish(EventKind::RunStarted { run_id });
    if i.is_multiple_of(11) {
        return (job_id, run_id);
    }
    journal.publish(if i.is_multiple_of(7) {
        EventKind::RunFailed {
            run_id,
            duration_secs: 0.5,
            error: "no".into(),
        }
    } else {
        EventKind::RunCompleted {
            run_id,
            duration_secs: 0.25,
        }
    });
    (job_id, run_id)
}

/// After a restart, runs left in flight are interrupted (see `check`'s caller).
fn expected_status(i: usize, restarted: bool) -> RunStatus {
    if i.is_multiple_of(11) && restarted {
        RunStatus::Interrupted
    } else if i.is_multiple_of(11) {
        RunStatus::Running
    } else if i.is_multiple_of(7) {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    }
}

/// Every page of `filter`, 100 at a time, newest first: ids and the totals
/// each page gave.
async fn all_pages(journal: &Journal, filter: &RunFilter) -> (Vec<Ulid>, Vec<u64>) {
    let (mut ids, mut totals, mut before) = (Vec::new(), Vec::new(), None);
    loop {
        let (page, total, next) = journal.runs_page(filter, before, 100).await.unwrap();
        ids.extend(page.iter().map(|r| r.run_id));
        totals.push(total);
        match next {
            Some(n) => before = Some(n),
            None => return (ids, totals),
        }
    }
}

fn open(log: MemoryLog) -> Journal {
    Journal::open(
        Box::new(log.clone()),
        Box::new(log),
        Model::with_recent_runs(100),
        vec![],
    )
    .unwrap()
    .0
}

async fn check(journal: &Journal, runs: &[(Ulid, Ulid)], restarted: bool) {
    // Memory holds a bounded part only.
    let held = journal.read(|m| m.runs.plan_page(&RunFilter::default(), None, usize::MAX));
    assert!(
        held.from_memory.len() < KEPT_SUMMARIES + 3_000,
        "{} summaries in memory",
        held.from_memory.len()
    );
    assert!(held.from_memory.len() < RUNS);

    let newest_first: Vec<Ulid> = {
        let mut ids: Vec<Ulid> = runs.iter().map(|(_, r)| *r).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    };
    let (ids, totals) = all_pages(journal, &RunFilter::default()).await;
    assert_eq!(ids, newest_first, "every run once, newest first");
    assert!(totals.iter().all(|t| *t == RUNS as u64), "{totals:?}");

    for (status, workflow) in [
        (Some(RunStatus::Failed), None),
        (Some(expected_status(11, restarted)), Some("odd")),
        (None, Some("even")),
    ] {
        let filter = RunFilter {
            status,
            workflow_id: workflow.map(String::from),
            ..RunFilter::default()
        };
        let want: Vec<Ulid> = {
            let mut v: Vec<Ulid> = runs
                .iter()
                .enumerate()
                .filter(|(i, _)| status.is_none_or(|s| s == expected_status(*i, restarted)))
                .filter(|(i, _)| {
                    workflow.is_none_or(|w| w == if i.is_multiple_of(2) { "even" } else { "odd" })
                })
                .map(|(_, (_, r))| *r)
                .collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v
        };
        let (ids, totals) = all_pages(journal, &filter).await;
        assert_eq!(ids, want, "{filter:?}");
        assert!(totals.iter().all(|t| *t == want.len() as u64), "{filter:?}");
    }

    // The oldest job is no longer in memory, yet it and its run are found.
    let (job_id, run_id) = runs[1];
    assert!(journal.read(|m| m.jobs.get(&job_id).is_none()));
    let filter = RunFilter {
        job_id: Some(job_id),
        ..RunFilter::default()
    };
    let (page, total, next) = journal.runs_page(&filter, None, 10).await.unwrap();
    assert_eq!((total, next), (1, None));
    assert_eq!(page[0].run_id, run_id);
    assert_eq!(page[0].status, RunStatus::Completed);
    let (record, workflow, budget) = journal.indexed_job(job_id).await.unwrap().unwrap();
    assert_eq!(budget, None);
    assert_eq!(&*record.name, "Job 1");
    assert_eq!(workflow, self::workflow());
    let view = server::views::jobs::job(journal, job_id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.run_count, 1);
    assert_eq!(view.last_run_id, Some(run_id.to_string()));
    assert_eq!(view.workflow.unwrap().steps.len(), 1);
    // Every job listed once, newest first, each with its one run.
    let query = wire::JobQuery {
        workflow_id: None,
        limit: None,
        include_workflow: false,
    };
    let listed = server::views::jobs::job_list(journal, &query)
        .await
        .unwrap()
        .jobs;
    let mut want: Vec<(String, String)> = runs
        .iter()
        .map(|(j, r)| (j.to_string(), r.to_string()))
        .collect();
    want.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    let got: Vec<(String, String)> = listed
        .iter()
        .map(|j| (j.job_id.clone(), j.last_run_id.clone().unwrap_or_default()))
        .collect();
    assert_eq!(got, want);
    assert!(listed.iter().all(|j| j.run_count == 1));
    let query = wire::JobQuery {
        workflow_id: Some("odd".into()),
        limit: Some(4_000),
        include_workflow: false,
    };
    let odd = server::views::jobs::job_list(journal, &query)
        .await
        .unwrap()
        .jobs;
    assert_eq!(odd.len(), 4_000);
    assert!(odd.iter().all(|j| j.workflow_id == "odd"));
    let old = journal.load_run(&run_id).await.unwrap().unwrap();
    assert_eq!(old.status, RunStatus::Completed);
    if !restarted {
        // A run still in flight however old stays in memory.
        assert!(journal.read(|m| m.runs.get(&runs[0].1).is_some()));
    }
    assert!(journal.read(|m| m.jobs.len()) == RUNS);
    assert!(journal.read(|m| m.jobs.list(None, usize::MAX).len()) <= KEPT_JOBS + 1_000);
}

#[tokio::test]
async fn old_runs_and_jobs_are_listed_from_the_index_as_from_memory() {
    let log = MemoryLog::default();
    let journal = open(log.clone());
    let runs: Vec<(Ulid, Ulid)> = (0..RUNS)
        .map(|i| {
            let run = publish_run(&journal, i);
            if i == 5 {
                // A routine runs this job: memory keeps it, however old.
                journal.publish(EventKind::RoutineCreated {
                    routine_id: Ulid::new(),
                    name: "nightly".into(),
                    cron: "0 0 3 * * *".into(),
                    timezone: "UTC".into(),
                    job_id: run.0,
                    enabled: false,
                    workflow_id: Some("odd".into()),
                    actor: None,
                });
            }
            run
        })
        .collect();
    journal.flush().await;
    assert!(journal.read(|m| m.jobs.get(&runs[5].0).is_some()));
    check(&journal, &runs, false).await;
    journal.writer().close();
    drop(journal);
    // After a restart the replay rebuilds the same bounded memory; the
    // runs left in flight end as the engine ends those it cannot resume
    // (`Engine::recover`; these have no job it could run), and the index
    // follows.
    let journal = open(log);
    let in_flight: Vec<Ulid> = journal.read(|m| m.runs.in_flight().map(|r| r.run_id).collect());
    assert_eq!(in_flight.len(), RUNS.div_ceil(11));
    for run_id in in_flight {
        journal.publish(EventKind::RunInterrupted {
            run_id,
            stopped_at: None,
        });
    }
    journal.flush().await;
    check(&journal, &runs, true).await;
}

#[tokio::test]
async fn a_log_without_an_index_gets_one_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let (runs, events) = {
        let log = MemoryLog::default();
        let journal = open(log.clone());
        let runs: Vec<(Ulid, Ulid)> = (0..RUNS).map(|i| publish_run(&journal, i)).collect();
        journal.flush().await;
        let mut events = Vec::new();
        let mut log = log;
        log.replay(&mut |e| events.push(e)).unwrap();
        (runs, events)
    };
    // The events alone, as an older release wrote them.
    {
        let mut sqlite = SqliteLog::open(&path, server::store::Durability::Normal).unwrap();
        sqlite.append(&events.iter().collect::<Vec<_>>()).unwrap();
        drop(sqlite);
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "DELETE FROM run_index; DELETE FROM job_index; UPDATE index_state SET through = 0",
        )
        .unwrap();
        drop(raw);
        let mut sqlite = SqliteLog::open(&path, server::store::Durability::Normal).unwrap();
        assert_eq!(sqlite.indexed_through().unwrap(), 0);
    }
    let (journal, _) = Journal::open_sqlite(
        &path,
        server::store::Durability::Normal,
        Model::with_recent_runs(100),
        vec![],
    )
    .unwrap();
    let (ids, totals) = all_pages(&journal, &RunFilter::default()).await;
    assert_eq!(ids.len(), RUNS);
    assert!(totals.iter().all(|t| *t == RUNS as u64));
    let (job_id, _) = runs[3];
    assert!(journal.indexed_job(job_id).await.unwrap().is_some());
}

#[tokio::test]
async fn old_resolved_approvals_leave_memory_and_are_folded_back_by_id() {
    use server::events::{ApprovalStatus, Quorum};
    let journal = open(MemoryLog::default());
    let count = KEPT_RESOLVED + 500;
    let mut ids = Vec::new();
    for i in 0..count {
        let (_, run_id) = publish_run(&journal, i);
        let approval_id = Ulid::new();
        journal.publish(EventKind::ApprovalRequested {
            approval_id,
            run_id,
            step_id: "gate".into(),
            approvers: vec!["ana".into()],
            quorum: Quorum::Unanimous,
            expires_at: None,
            reason: None,
        });
        journal.publish(EventKind::ApprovalResolved {
            approval_id,
            run_id,
            status: ApprovalStatus::Approved,
        });
        ids.push(approval_id);
    }
    // One still pending, older than all of them: it stays.
    let (_, run_id) = publish_run(&journal, count);
    let pending = Ulid::from_parts(1, 1);
    journal.publish(EventKind::ApprovalRequested {
        approval_id: pending,
        run_id,
        step_id: "gate".into(),
        approvers: vec!["bo".into()],
        quorum: Quorum::Unanimous,
        expires_at: None,
        reason: None,
    });
    journal.flush().await;
    let listed = journal.read(|m| server::views::approvals::approvals(m, None));
    assert_eq!(listed.approvals.len(), KEPT_RESOLVED + 1);
    assert_eq!(listed.approvals[0].approval_id, pending.to_string());
    assert_eq!(listed.approvals[0].job_name, format!("Job {count}"));
    // The oldest, gone from memory, is folded back from its run's events.
    let old = server::views::approvals::approval(&journal, ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.status, wire::ApprovalStatus::Approved);
    assert_eq!(old.job_name, "Job 0");
    assert_eq!(old.workflow_id, "even");
    assert!(server::views::approvals::approval(&journal, Ulid::new())
        .await
        .unwrap()
        .is_none());
}
