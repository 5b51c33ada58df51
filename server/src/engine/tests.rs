//! Engine behaviour, driven through its public API with the simulated
//! backend on tokio's paused clock: deterministic, and instant to run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use ulid::Ulid;
use wire::{JobRequest, RunStatus, StepStatus};

use super::agents::{RoleSimulation, Simulated};
use super::{Engine, EngineConfig, EngineError};
use crate::events::{EventKind, SharedEvent};
use crate::journal::{Journal, Replayed};
use crate::model::Model;
use crate::store::MemoryLog;

fn engine_with(config: EngineConfig) -> Engine {
    engine_on(&MemoryLog::default(), config).0
}

/// An engine on `log`, with what its replay found.
fn engine_on(log: &MemoryLog, config: EngineConfig) -> (Engine, Replayed) {
    let (journal, replayed) = Journal::open(
        Box::new(log.clone()),
        Box::new(log.clone()),
        Model::with_recent_runs(100),
        vec![],
    )
    .unwrap();
    let agents = Simulated::new(
        7,
        RoleSimulation {
            latency_ms: [100, 100],
            failure_rate: 0.0,
        },
        HashMap::new(),
    );
    (
        Engine::new(Arc::new(journal), Arc::new(agents), config),
        replayed,
    )
}

/// A config whose price table prices simulated calls by its own entry, so
/// that every call costs something.
fn priced() -> EngineConfig {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("prices.toml");
    std::fs::write(
        &table,
        "[models.simulated]\ninput = 1000.0\noutput = 1000.0\n",
    )
    .unwrap();
    EngineConfig {
        prices: Arc::new(crate::prices::Prices::load(Some(&table)).unwrap()),
        ..EngineConfig::default()
    }
}

/// A budget the first priced call spends, after which Ana is asked.
fn ask_ana_when_spent<T: serde::de::DeserializeOwned>() -> T {
    serde_json::from_value(json!({"max_cost_usd": 0.000001, "on_exceed": "approval", "approval": {"approvers": ["ana"]}}))
        .unwrap()
}

/// Stops `engine` as `kill -9` would: its runs stop where they stand, and
/// nothing more is written of them.
async fn crash(engine: Engine) {
    engine.inner.stopping.cancel();
    engine.inner.tasks.close();
    engine.inner.tasks.wait().await;
    engine.flush().await;
}

/// Waits for the first event of `run_id` that `f` picks.
async fn wait_for<T>(
    live: &mut tokio::sync::broadcast::Receiver<SharedEvent>,
    run_id: Ulid,
    f: impl Fn(&EventKind) -> Option<T>,
) -> T {
    loop {
        let event = live.recv().await.unwrap();
        if event.kind.run_id() == Some(run_id) {
            if let Some(found) = f(&event.kind) {
                return found;
            }
        }
    }
}

fn engine() -> Engine {
    engine_with(EngineConfig::default())
}

fn step(id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut s = json!({"id": id, "name": id, "role": "worker", "action": {"agent_task": {"prompt": format!("do {id}")}}});
    s.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    s
}

fn job(steps: Vec<serde_json::Value>, deps: serde_json::Value) -> JobRequest {
    serde_json::from_value(json!({
        "name": "Test Flow",
        "workflow": {"steps": steps, "dependencies": deps},
        "execute": true
    }))
    .unwrap()
}

/// Submits `job` and collects the run's events until it finishes.
async fn run_to_end(engine: &Engine, job: JobRequest) -> (Ulid, Vec<SharedEvent>) {
    let mut live = engine.journal().subscribe();
    let created = engine.create_job(job, "tester").await.unwrap();
    let run_id: Ulid = created.run_id.unwrap();
    (run_id, collect_until_end(&mut live, run_id).await)
}

async fn collect_until_end(
    live: &mut tokio::sync::broadcast::Receiver<SharedEvent>,
    run_id: Ulid,
) -> Vec<SharedEvent> {
    let mut events = Vec::new();
    loop {
        let event = live.recv().await.unwrap();
        if event.kind.run_id() != Some(run_id) {
            continue;
        }
        let end = matches!(
            event.kind,
            EventKind::RunCompleted { .. }
                | EventKind::RunFailed { .. }
                | EventKind::RunCancelled { .. }
        );
        events.push(event);
        if end {
            return events;
        }
    }
}

fn names(events: &[SharedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.kind {
            EventKind::StepStarted {
                step_id, attempt, ..
            } => format!("start {step_id}#{attempt}"),
            EventKind::StepCompleted { step_id, .. } => format!("done {step_id}"),
            EventKind::StepRetrying {
                step_id, attempt, ..
            } => format!("retry {step_id}#{attempt}"),
            EventKind::StepFailed { step_id, .. } => format!("fail {step_id}"),
            EventKind::StepSkipped { step_id, .. } => format!("skip {step_id}"),
            EventKind::StepCancelled { step_id, .. } => format!("cancel {step_id}"),
            other => other.name().to_string(),
        })
        .collect()
}

fn status(engine: &Engine, run_id: Ulid) -> RunStatus {
    engine.journal().read(|m| m.runs.status(&run_id)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_chain_runs_in_dependency_order() {
    let engine = engine();
    let (run_id, events) = run_to_end(
        &engine,
        job(
            vec![
                step("c", json!({})),
                step("a", json!({})),
                step("b", json!({})),
            ],
            json!({"b": ["a"], "c": ["b"]}),
        ),
    )
    .await;
    assert_eq!(
        names(&events),
        [
            "RunCreated",
            "RunStarted",
            "start a#0",
            "done a",
            "start b#0",
            "done b",
            "start c#0",
            "done c",
            "RunCompleted",
        ]
    );
    assert_eq!(status(&engine, run_id), RunStatus::Completed);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq strictly increases"
    );
}

#[tokio::test(start_paused = true)]
async fn independent_branches_run_concurrently() {
    let engine = engine();
    let t0 = Instant::now();
    let (run_id, events) = run_to_end(
        &engine,
        job(
            vec![
                step("a", json!({})),
                step("b", json!({})),
                step("c", json!({})),
                step("d", json!({})),
            ],
            json!({"b": ["a"], "c": ["a"], "d": ["b", "c"]}),
        ),
    )
    .await;
    let order = names(&events);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(
        pos("start b#0") < pos("done c") && pos("start c#0") < pos("done b"),
        "{order:?}"
    );
    assert!(pos("start d#0") > pos("done b") && pos("start d#0") > pos("done c"));
    // Three levels of 100 ms, not four steps of 100 ms.
    assert_eq!(t0.elapsed().as_millis() / 10, 30);
    assert_eq!(status(&engine, run_id), RunStatus::Completed);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_over_all_runs() {
    let engine = engine_with(EngineConfig {
        max_concurrent_steps: 2,
        ..EngineConfig::default()
    });
    let steps = (0..6).map(|i| step(&format!("s{i}"), json!({}))).collect();
    let (_, events) = run_to_end(&engine, job(steps, json!({}))).await;
    let mut running = 0i32;
    let mut peak = 0;
    for n in names(&events) {
        if n.starts_with("start") {
            running += 1;
        } else if n.starts_with("done") {
            running -= 1;
        }
        peak = peak.max(running);
    }
    assert_eq!(peak, 2);
}

#[tokio::test(start_paused = true)]
async fn a_flaky_step_is_retried_with_exponential_backoff() {
    let engine = engine();
    let t0 = Instant::now();
    let flaky = json!({
        "retry_policy": {"max_attempts": 3, "backoff_secs": 1.0},
        "simulation": {"fail_first_attempts": 2, "latency_ms": [0, 0]}
    });
    let (run_id, events) = run_to_end(&engine, job(vec![step("flaky", flaky)], json!({}))).await;
    assert_eq!(
        names(&events)[2..],
        [
            "start flaky#0",
            "retry flaky#0",
            "start flaky#1",
            "retry flaky#1",
            "start flaky#2",
            "done flaky",
            "RunCompleted"
        ]
    );
    let backoffs: Vec<f64> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StepRetrying { backoff_secs, .. } => Some(backoff_secs),
            _ => None,
        })
        .collect();
    assert_eq!(backoffs, [1.0, 2.0]);
    assert!(t0.elapsed() >= Duration::from_secs(3));
    let run = engine
        .journal()
        .read(|m| m.runs.get(&run_id).unwrap().view());
    assert_eq!(run.status, RunStatus::Completed);
    let attempts = &run.steps[0].attempts;
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("simulated failure"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_step_fails_the_run_and_skips_only_what_depends_on_it() {
    let engine = engine();
    let broken = json!({"retry_policy": {"max_attempts": 2}, "simulation": {"failure_rate": 1.0}});
    let (run_id, events) = run_to_end(
        &engine,
        job(
            vec![
                step("a", json!({})),
                step("broken", broken),
                step("after", json!({})),
                step("after_after", json!({})),
                step("side", json!({"simulation": {"latency_ms": [500, 500]}})),
            ],
            json!({"broken": ["a"], "after": ["broken"], "after_after": ["after"], "side": ["a"]}),
        ),
    )
    .await;
    let order = names(&events);
    for expected in [
        "retry broken#0",
        "fail broken",
        "skip after",
        "skip after_after",
        "done side",
        "RunFailed",
    ] {
        assert!(
            order.contains(&expected.to_string()),
            "{expected} missing from {order:?}"
        );
    }
    assert!(!order.iter().any(|n| n == "start after#0"));
    let run = engine
        .journal()
        .read(|m| m.runs.get(&run_id).unwrap().view());
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().contains("step broken failed"));
    let by_id: HashMap<_, _> = run
        .steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.status))
        .collect();
    assert_eq!(by_id["after"], StepStatus::Skipped);
    assert_eq!(by_id["side"], StepStatus::Completed);
    assert_eq!(run.progress, 100.0);
}

#[tokio::test(start_paused = true)]
async fn attempts_time_out() {
    let engine = engine();
    let slow = json!({"timeout_secs": 1.0, "retry_policy": {"max_attempts": 2}, "simulation": {"latency_ms": [5000, 5000]}});
    let t0 = Instant::now();
    let (_, events) = run_to_end(&engine, job(vec![step("slow", slow)], json!({}))).await;
    assert!(t0.elapsed() < Duration::from_secs(3));
    let timed_out: Vec<bool> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepRetrying {
                timed_out, error, ..
            }
            | EventKind::StepFailed {
                timed_out, error, ..
            } => {
                assert!(error.contains("timed out after 1s"), "{error}");
                Some(*timed_out)
            }
            _ => None,
        })
        .collect();
    assert_eq!(timed_out, [true, true]);
}

// Real time: the cancel waits for its event's commit on the writer thread,
// and a paused clock would jump past the long step meanwhile.
#[tokio::test]
async fn cancelling_stops_running_steps_and_never_starts_the_rest() {
    let engine = engine();
    let mut live = engine.journal().subscribe();
    let created = engine
        .create_job(
            job(
                vec![
                    step(
                        "long",
                        json!({"simulation": {"latency_ms": [60000, 60000]}}),
                    ),
                    step("next", json!({})),
                ],
                json!({"next": ["long"]}),
            ),
            "tester",
        )
        .await
        .unwrap();
    let run_id: Ulid = created.run_id.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    engine.cancel(run_id, "tester").await.unwrap();
    let events = collect_until_end(&mut live, run_id).await;
    assert_eq!(
        names(&events)[3..],
        [
            "RunCancelRequested",
            "cancel long",
            "cancel next",
            "RunCancelled"
        ]
    );
    match &events[4].kind {
        EventKind::StepCancelled { attempt, .. } => assert_eq!(*attempt, Some(0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&engine, run_id), RunStatus::Cancelled);
    tokio::task::yield_now().await;
    assert!(matches!(
        engine.cancel(run_id, "tester").await,
        Err(EngineError::Conflict(_))
    ));
    assert!(matches!(
        engine.cancel(Ulid::new(), "tester").await,
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test]
async fn replay_restores_history_and_interrupts_runs_left_in_flight() {
    let log = MemoryLog::default();
    let (journal, _) = Journal::open(
        Box::new(log.clone()),
        Box::new(log.clone()),
        Model::with_recent_runs(100),
        vec![],
    )
    .unwrap();
    let journal = Arc::new(journal);
    let engine = Engine::new(
        journal.clone(),
        Arc::new(Simulated::new(
            1,
            RoleSimulation {
                latency_ms: [0, 0],
                failure_rate: 0.0,
            },
            HashMap::new(),
        )),
        EngineConfig::default(),
    );
    let (done, _) = run_to_end(&engine, job(vec![step("a", json!({}))], json!({}))).await;
    // A run that "was in flight" when the process died: created, never finished.
    let stuck = Ulid::new();
    journal.publish(EventKind::RunCreated {
        run_id: stuck,
        job_id: Ulid::new(),
        workflow_id: "w".into(),
        job_name: "W".into(),
        steps: vec![],
        actor: None,
        budget: None,
        trace: None,
        node: None,
    });
    let last = journal.publish(EventKind::RunStarted { run_id: stuck }).at;
    journal.flush().await;
    drop(engine);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let (engine, replayed) = engine_on(&log, EngineConfig::default());
    let recovered = engine.recover(replayed.stopped_at).await;
    assert_eq!(recovered.interrupted, vec![stuck], "its job is unknown");
    assert!(recovered.resumed.is_empty());
    let reopened = engine.journal();
    reopened.read(|m| {
        assert_eq!(m.runs.status(&done), Some(RunStatus::Completed));
        assert_eq!(m.runs.status(&stuck), Some(RunStatus::Interrupted));
        let run = m.runs.get(&stuck).unwrap();
        assert_eq!(
            run.completed_at,
            Some(last),
            "ended with the last event the old process wrote"
        );
        assert_eq!(run.duration_secs, Some(0.0));
        assert_eq!(m.jobs.len(), 1);
        assert_eq!(m.executions.completed, 1);
        assert_eq!(m.executions.interrupted, 1);
    });
}

#[tokio::test]
async fn compiled_plans_are_a_bounded_cache_and_evicted_jobs_still_run() {
    let engine = engine();
    let mut first = None;
    for _ in 0..super::MAX_CACHED_PLANS + 50 {
        let mut j = job(vec![step("a", json!({}))], json!({}));
        j.execute = false;
        let created = engine.create_job(j, "tester").await.unwrap();
        first.get_or_insert(created.job_id);
    }
    assert!(engine.inner.plans.lock().len() <= super::MAX_CACHED_PLANS);
    // Whichever plans went, every job still runs: its plan is compiled again.
    let job_id: Ulid = first.unwrap();
    let created = engine.start_run(job_id, "tester").await.unwrap();
    assert!(created.run_id.is_some());
}

/// A job long out of memory (older than the newest jobs the model keeps)
/// can still be run, and named by a routine, which shows its workflow.
#[tokio::test(start_paused = true)]
async fn old_jobs_out_of_memory_still_run_and_routines_name_them() {
    let engine = engine();
    let mut first = job(vec![step("a", json!({}))], json!({}));
    first.name = "Oldest Flow".into();
    first.execute = false;
    let oldest = engine.create_job(first, "tester").await.unwrap().job_id;
    for _ in 0..crate::model::KEPT_JOBS + 1_000 {
        let mut j = job(vec![step("a", json!({}))], json!({}));
        j.execute = false;
        engine.create_job(j, "tester").await.unwrap();
    }
    assert!(engine.journal().read(|m| m.jobs.get(&oldest).is_none()));

    let started = engine.start_run(oldest, "tester").await.unwrap();
    assert_eq!(started.workflow_id, "oldest_flow");
    let routine: wire::RoutineRequest = serde_json::from_value(json!({
        "name": "nightly", "cron": "0 0 3 * * *", "job_id": oldest.to_string()
    }))
    .unwrap();
    let routine_id = engine.create_routine(routine, "tester").await.unwrap();
    let view = engine
        .journal()
        .read(|m| crate::views::routines::routine_view(m, m.routines.get(&routine_id).unwrap()));
    assert_eq!(view.workflow_id, "oldest_flow");
    assert_eq!(view.job_id, oldest.to_string());
}

#[tokio::test(start_paused = true)]
async fn steps_that_find_the_budget_spent_share_one_question_and_go_on_when_approved() {
    let engine = engine_with(priced());
    let mut request = job(
        vec![
            step("a", json!({})),
            step("b", json!({})),
            step("c", json!({})),
        ],
        json!({"b": ["a"], "c": ["a"]}),
    );
    request.budget = Some(ask_ana_when_spent());
    let mut live = engine.journal().subscribe();
    let run_id = engine
        .create_job(request, "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    // "a" spends the budget; "b" and "c" both find it spent.
    let approval_id = loop {
        let event = live.recv().await.unwrap();
        if let EventKind::ApprovalRequested {
            approval_id,
            reason,
            ..
        } = &event.kind
        {
            assert!(reason.as_deref().unwrap().contains("budget exceeded"));
            break *approval_id;
        }
    };
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let asked = engine
        .journal()
        .read(|m| m.approvals.values().filter(|a| a.run_id == run_id).count());
    assert_eq!(asked, 1, "one question for both steps");
    assert_eq!(status(&engine, run_id), RunStatus::Running);
    let vote: wire::VoteRequest = serde_json::from_value(json!({"decision": "approve"})).unwrap();
    engine.vote(approval_id, "ana", vote).await.unwrap();
    let events = collect_until_end(&mut live, run_id).await;
    let order = names(&events);
    assert!(
        order.contains(&"done b".to_string()) && order.contains(&"done c".to_string()),
        "{order:?}"
    );
    assert_eq!(status(&engine, run_id), RunStatus::Completed);
}

// On the real clock: a paused one jumps to the next timer (the step's end)
// whenever the test waits for the writer's thread.
#[tokio::test]
async fn a_restart_retries_the_attempt_a_crash_cut_short_and_keeps_what_completed() {
    let log = MemoryLog::default();
    let (engine, _) = engine_on(&log, EngineConfig::default());
    let slow =
        json!({"retry_policy": {"max_attempts": 3}, "simulation": {"latency_ms": [300, 300]}});
    let request = job(
        vec![
            step("a", json!({"simulation": {"latency_ms": [0, 0]}})),
            step("b", slow),
            step("c", json!({"simulation": {"latency_ms": [0, 0]}})),
        ],
        json!({"b": ["a"], "c": ["b"]}),
    );
    // A second run whose step in flight may not run twice: no retries.
    let once = job(
        vec![step("x", json!({"simulation": {"latency_ms": [300, 300]}}))],
        json!({}),
    );
    let mut live = engine.journal().subscribe();
    let run_id = engine
        .create_job(request, "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    let started = |step: &'static str| {
        move |k: &EventKind| {
            matches!(k, EventKind::StepStarted { step_id, .. } if step_id == step).then_some(())
        }
    };
    wait_for(&mut live, run_id, started("b")).await;
    let single = engine
        .create_job(once, "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    wait_for(&mut live, single, started("x")).await;
    crash(engine).await;

    let (engine, replayed) = engine_on(&log, EngineConfig::default());
    let mut live = engine.journal().subscribe();
    let recovered = engine.recover(replayed.stopped_at).await;
    assert_eq!(recovered.resumed, vec![run_id]);
    assert_eq!(recovered.interrupted, vec![single]);
    let events = collect_until_end(&mut live, run_id).await;
    assert_eq!(
        names(&events),
        [
            "retry b#0",
            "start b#1",
            "done b",
            "start c#0",
            "done c",
            "RunCompleted"
        ]
    );
    let run = engine
        .journal()
        .read(|m| m.runs.get(&run_id).cloned())
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    let attempts = |i: usize| {
        run.steps[i]
            .attempts
            .iter()
            .map(|a| (a.attempt, a.status, a.error.clone()))
            .collect::<Vec<_>>()
    };
    use wire::AttemptStatus::{Completed, Failed};
    assert_eq!(
        attempts(0),
        [(0, Completed, None)],
        "a completed before the crash and stays so"
    );
    assert_eq!(
        attempts(1),
        [(0, Failed, Some("node lost".into())), (1, Completed, None)]
    );
    assert_eq!(attempts(2), [(0, Completed, None)]);
    assert_eq!(status(&engine, single), RunStatus::Interrupted);
}

// On the real clock: a paused one jumps to the next timer (the step's end)
// whenever the test waits for the writer's thread.
#[tokio::test]
async fn a_shutdown_records_its_attempts_stopped_and_the_next_start_goes_on() {
    let log = MemoryLog::default();
    let (engine, _) = engine_on(&log, EngineConfig::default());
    let slow =
        json!({"retry_policy": {"max_attempts": 2}, "simulation": {"latency_ms": [300, 300]}});
    let mut live = engine.journal().subscribe();
    let run_id = engine
        .create_job(job(vec![step("a", slow)], json!({})), "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    wait_for(&mut live, run_id, |k| {
        matches!(k, EventKind::StepStarted { .. }).then_some(())
    })
    .await;
    let stopped = engine.stop().await;
    assert_eq!(
        (stopped.resumed, stopped.interrupted),
        (vec![run_id], vec![])
    );
    assert_eq!(
        status(&engine, run_id),
        RunStatus::Running,
        "it goes on at the next start"
    );
    engine.flush().await;

    let (engine, replayed) = engine_on(&log, EngineConfig::default());
    let mut live = engine.journal().subscribe();
    assert_eq!(
        engine.recover(replayed.stopped_at).await.resumed,
        vec![run_id]
    );
    let events = collect_until_end(&mut live, run_id).await;
    assert_eq!(names(&events), ["start a#1", "done a", "RunCompleted"]);
    let run = engine
        .journal()
        .read(|m| m.runs.get(&run_id).cloned())
        .unwrap();
    assert_eq!(
        run.steps[0].attempts[0].error.as_deref(),
        Some("node stopped")
    );
}

// On the real clock: a paused one jumps to the next timer (the step's end)
// whenever the test waits for the writer's thread.
#[tokio::test]
async fn an_approval_asked_before_a_crash_is_waited_for_again_with_its_votes() {
    let log = MemoryLog::default();
    let (engine, _) = engine_on(&log, EngineConfig::default());
    let approve = json!({"id": "ok", "name": "ok", "action": {"manual_approval": {"approvers": ["ana", "bo"], "quorum": "unanimous"}}});
    let mut live = engine.journal().subscribe();
    let run_id = engine
        .create_job(job(vec![approve], json!({})), "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    let approval_id = wait_for(&mut live, run_id, |k| match k {
        EventKind::ApprovalRequested { approval_id, .. } => Some(*approval_id),
        _ => None,
    })
    .await;
    let vote =
        |d: &str| serde_json::from_value::<wire::VoteRequest>(json!({"decision": d})).unwrap();
    engine
        .vote(approval_id, "ana", vote("approve"))
        .await
        .unwrap();
    crash(engine).await;

    let (engine, replayed) = engine_on(&log, EngineConfig::default());
    let mut live = engine.journal().subscribe();
    assert_eq!(
        engine.recover(replayed.stopped_at).await.resumed,
        vec![run_id]
    );
    // Ana's vote stands: she may not vote again, and Bo's decides.
    assert!(matches!(
        engine.vote(approval_id, "ana", vote("approve")).await,
        Err(EngineError::Conflict(_))
    ));
    engine
        .vote(approval_id, "bo", vote("approve"))
        .await
        .unwrap();
    let events = collect_until_end(&mut live, run_id).await;
    assert_eq!(
        names(&events),
        ["VoteCast", "ApprovalResolved", "done ok", "RunCompleted"]
    );
    let asked = engine
        .journal()
        .read(|m| m.approvals.values().filter(|a| a.run_id == run_id).count());
    assert_eq!(asked, 1, "the question is not asked twice");
}

// On the real clock, as above.
#[tokio::test]
async fn a_budget_question_asked_before_a_crash_holds_the_run_after_it_without_asking_again() {
    let config = priced();
    let log = MemoryLog::default();
    let (engine, _) = engine_on(&log, config.clone());
    let mut request = job(
        vec![step("a", json!({})), step("b", json!({}))],
        json!({"b": ["a"]}),
    );
    request.budget = Some(ask_ana_when_spent());
    let mut live = engine.journal().subscribe();
    let run_id = engine
        .create_job(request, "tester")
        .await
        .unwrap()
        .run_id
        .unwrap();
    // "a" spends the budget; "b" asks to spend more.
    let approval_id = wait_for(&mut live, run_id, |k| match k {
        EventKind::ApprovalRequested { approval_id, .. } => Some(*approval_id),
        _ => None,
    })
    .await;
    crash(engine).await;

    let (engine, replayed) = engine_on(&log, config);
    let mut live = engine.journal().subscribe();
    assert_eq!(
        engine.recover(replayed.stopped_at).await.resumed,
        vec![run_id]
    );
    // Held, not asked again: the one question is still the one to answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(&engine, run_id), RunStatus::Running);
    let asked = || {
        engine
            .journal()
            .read(|m| m.approvals.values().filter(|a| a.run_id == run_id).count())
    };
    assert_eq!(asked(), 1);
    let vote: wire::VoteRequest = serde_json::from_value(json!({"decision": "approve"})).unwrap();
    engine.vote(approval_id, "ana", vote).await.unwrap();
    let events = collect_until_end(&mut live, run_id).await;
    let order = names(&events);
    assert!(order.contains(&"done b".to_string()), "{order:?}");
    assert_eq!(status(&engine, run_id), RunStatus::Completed);
    assert_eq!(asked(), 1, "the question was not asked twice");
}
