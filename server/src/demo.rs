//! Demo mode (`--demo`): a few sample workflows kept running on the
//! simulated backend, so a first start shows a living dashboard: a slow step
//! that is the obvious bottleneck, a parallel DAG, and flaky steps rescued by
//! retries (and, now and then, not).
//!
//! It also keeps a routine that syncs data every 30 seconds, and a release
//! job whose sign-off waits for two of alice, bob and carol to approve on
//! the Approvals page.
//!
//! The demo submits through the engine's public API, like any client; every
//! figure it causes is a real event.

use std::time::Duration;

use serde_json::json;
use ulid::Ulid;
use wire::{workflow_slug, JobRequest};

use crate::engine::{Engine, SYSTEM};

/// Runs of demo jobs in flight at most; beyond it the demo waits.
const MAX_ACTIVE: usize = 5;

fn demo_jobs() -> Vec<JobRequest> {
    // Each agent step may be tried twice, as calls to a model usually are:
    // a restart in the middle of a demo run goes on (see `engine::resume`).
    let agent = |id: &str, name: &str, role: &str, prompt: &str, latency: [u64; 2]| {
        json!({"id": id, "name": name, "role": role,
               "action": {"agent_task": {"prompt": prompt}},
               "simulation": {"latency_ms": latency},
               "retry_policy": {"max_attempts": 2}})
    };
    let mut triage_search = agent(
        "search_knowledge_base",
        "Search Knowledge Base",
        "researcher",
        "Find articles that answer the ticket",
        [700, 1_400],
    );
    triage_search["simulation"]["failure_rate"] = json!(0.3);
    triage_search["retry_policy"] = json!({"max_attempts": 3, "backoff_secs": 0.5});
    let mut sync_extract = agent(
        "extract",
        "Extract",
        "etl_agent",
        "Extract yesterday's records",
        [300, 700],
    );
    sync_extract["simulation"]["failure_rate"] = json!(0.25);
    sync_extract["retry_policy"] = json!({"max_attempts": 4, "backoff_secs": 0.3});
    let mut sync_validate = agent(
        "validate_schema",
        "Validate Schema",
        "qa_agent",
        "Check the schema",
        [200, 400],
    );
    sync_validate["simulation"]["failure_rate"] = json!(0.05);

    [
        json!({
            "name": "Monthly Report Generation",
            "workflow": {
                "steps": [
                    agent("fetch_data", "Fetch Data", "data_analyst", "Fetch monthly data", [400, 900]),
                    agent("analyze_data", "Analyze Data", "data_analyst", "Analyze the data", [800, 1_600]),
                    agent("generate_charts", "Generate Charts", "visualization_agent", "Create visualizations", [1_800, 3_200]),
                    agent("create_report", "Create Report", "report_writer", "Write final report", [600, 1_200]),
                ],
                "dependencies": {
                    "analyze_data": ["fetch_data"],
                    "generate_charts": ["analyze_data"],
                    "create_report": ["generate_charts"]
                }
            }
        }),
        json!({
            "name": "Customer Support Triage",
            "workflow": {
                "steps": [
                    agent("classify_ticket", "Classify Ticket", "triage_agent", "Classify the ticket", [200, 500]),
                    triage_search,
                    agent("check_account_history", "Check Account History", "researcher", "Summarise the account", [900, 2_000]),
                    agent("draft_reply", "Draft Reply", "support_writer", "Draft the reply", [700, 1_300]),
                    agent("quality_review", "Quality Review", "reviewer", "Review tone and facts", [300, 600]),
                ],
                "dependencies": {
                    "search_knowledge_base": ["classify_ticket"],
                    "check_account_history": ["classify_ticket"],
                    "draft_reply": ["search_knowledge_base", "check_account_history"],
                    "quality_review": ["draft_reply"]
                }
            }
        }),
        json!({
            "name": "Nightly Data Sync",
            "workflow": {
                "steps": [
                    sync_extract,
                    sync_validate,
                    agent("load_warehouse", "Load Warehouse", "etl_agent", "Load into the warehouse", [500, 1_000]),
                ],
                "dependencies": {"validate_schema": ["extract"], "load_warehouse": ["validate_schema"]}
            }
        }),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).expect("demo jobs are valid"))
    .collect()
}

fn release_job() -> JobRequest {
    serde_json::from_value(json!({
        "name": "Release Sign-off",
        "workflow": {
            "steps": [
                {"id": "build", "name": "Build", "role": "ci_agent", "action": {"agent_task": {"prompt": "Build the release"}}, "simulation": {"latency_ms": [800, 1500]}, "retry_policy": {"max_attempts": 2}},
                {"id": "sign_off", "name": "Sign-off", "action": {"manual_approval": {"approvers": ["alice", "bob", "carol"], "quorum": "majority"}}},
                {"id": "publish", "name": "Publish", "role": "ci_agent", "action": {"agent_task": {"prompt": "Publish the release"}}, "simulation": {"latency_ms": [300, 600]}, "retry_policy": {"max_attempts": 2}}
            ],
            "dependencies": {"sign_off": ["build"], "publish": ["sign_off"]}
        },
        "execute": false
    }))
    .expect("the demo release job is valid")
}

/// A routine and a pending approval, so those pages have something real.
async fn routine_and_approval(engine: &Engine, sync_job: Option<Ulid>) {
    let (has_routine, pending) = engine.journal().read(|m| {
        (
            m.routines
                .values()
                .any(|r| r.name == "Data sync every 30 s"),
            m.approvals.pending(),
        )
    });
    if let (false, Some(job_id)) = (has_routine, sync_job) {
        let routine = wire::RoutineRequest {
            name: "Data sync every 30 s".into(),
            cron: "*/30 * * * * *".into(),
            timezone: Some("UTC".into()),
            job_id: Some(job_id.to_string()),
            workflow: None,
            enabled: true,
        };
        if let Err(e) = engine.create_routine(routine, SYSTEM).await {
            tracing::warn!("demo: cannot create the routine: {e:?}");
        }
    }
    if pending == 0 {
        if let Some(job_id) = find_or_create(engine, release_job()).await {
            if let Err(e) = engine.start_run(job_id, SYSTEM).await {
                tracing::warn!("demo: cannot start the release job: {e:?}");
            }
        }
    }
}

/// The newest job of this workflow, or a new one: restarts reuse the jobs.
async fn find_or_create(engine: &Engine, job: JobRequest) -> Option<Ulid> {
    let workflow_id = workflow_slug(&job.name);
    let existing = engine
        .journal()
        .read(|m| m.jobs.list(Some(&workflow_id), 1).first().map(|j| j.job_id));
    match existing {
        Some(id) => Some(id),
        None => match engine.create_job(job, SYSTEM).await {
            Ok(created) => Some(created.job_id),
            Err(e) => {
                tracing::warn!("demo: cannot create {workflow_id}: {e:?}");
                None
            }
        },
    }
}

/// Finds or creates the demo jobs, then keeps starting runs of them.
pub async fn run(engine: Engine) {
    let mut job_ids: Vec<Ulid> = Vec::new();
    for job in demo_jobs() {
        job_ids.extend(find_or_create(&engine, job).await);
    }
    routine_and_approval(&engine, job_ids.get(2).copied()).await;
    let mut tick = tokio::time::interval(Duration::from_millis(1_500));
    for job_id in job_ids.iter().cycle() {
        tick.tick().await;
        if engine.running() >= MAX_ACTIVE {
            continue;
        }
        if let Err(e) = engine.start_run(*job_id, SYSTEM).await {
            tracing::warn!("demo: cannot start a run: {e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_jobs_pass_validation() {
        for job in super::demo_jobs().into_iter().chain([super::release_job()]) {
            crate::engine::plan::validate(&job).unwrap();
        }
    }
}
