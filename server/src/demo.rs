//! Demo mode (`--demo`): a few sample workflows kept running on the
//! simulated backend, so a first start shows a living dashboard: a slow step
//! that is the obvious bottleneck, a parallel DAG, and flaky steps rescued by
//! retries (and, now and then, not).
//!
//! The demo submits through the engine's public API, like any client; every
//! figure it causes is a real event.

use std::time::Duration;

use app::wire::{workflow_slug, JobRequest};
use serde_json::json;
use ulid::Ulid;

use crate::engine::Engine;

/// Runs of demo jobs in flight at most; beyond it the demo waits.
const MAX_ACTIVE: usize = 4;

fn demo_jobs() -> Vec<JobRequest> {
    let agent = |id: &str, name: &str, role: &str, prompt: &str, latency: [u64; 2]| {
        json!({"id": id, "name": name, "role": role,
               "action": {"agent_task": {"prompt": prompt}},
               "simulation": {"latency_ms": latency}})
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

/// Finds or creates the demo jobs, then keeps starting runs of them.
pub async fn run(engine: Engine) {
    let mut job_ids: Vec<Ulid> = Vec::new();
    for job in demo_jobs() {
        let workflow_id = workflow_slug(&job.name);
        let existing = engine.journal().read(|m| {
            m.jobs
                .newest_first()
                .into_iter()
                .find(|j| *j.workflow_id == *workflow_id)
                .map(|j| j.job_id)
        });
        let id = match existing {
            Some(id) => id,
            None => match engine.create_job(job) {
                Ok(created) => created.job_id.parse().expect("engine ids are ULIDs"),
                Err(e) => {
                    tracing::warn!("demo: cannot create {workflow_id}: {e:?}");
                    continue;
                }
            },
        };
        job_ids.push(id);
    }
    let mut tick = tokio::time::interval(Duration::from_millis(1_500));
    for job_id in job_ids.iter().cycle() {
        tick.tick().await;
        if engine.running() >= MAX_ACTIVE {
            continue;
        }
        if let Err(e) = engine.start_run(*job_id) {
            tracing::warn!("demo: cannot start a run: {e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_jobs_pass_validation() {
        for job in super::demo_jobs() {
            crate::engine::plan::validate(&job).unwrap();
        }
    }
}
