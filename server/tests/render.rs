//! Every dashboard page, rendered on the server through the real page
//! router, for generated data: empty and enormous lists, zero, negative and
//! extreme durations and floats, times at the ends of chrono's range,
//! 1,000-step DAGs, Unicode, markup and whitespace in names. Each answer
//! must be a complete HTML page: no data may make a page panic (which the
//! server would answer with a 500) or cut it short.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::api::{Backend, ListQuery, Window};
use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Duration, Utc};
use futures::future::{BoxFuture, FutureExt};
use leptos::config::LeptosOptions;
use proptest::prelude::*;
use tower::ServiceExt;
use wire::*;

/// What the generated data is built from; each list is read cyclically.
#[derive(Clone, Debug)]
struct Knobs {
    names: Vec<String>,
    figures: Vec<f64>,
    times: Vec<DateTime<Utc>>,
    counts: Vec<u64>,
    /// Steps of the trace shown in full, and whether they form a chain.
    trace_steps: usize,
    chain: bool,
    items: usize,
}

impl Knobs {
    fn name(&self, i: usize) -> String {
        self.names[i % self.names.len()].clone()
    }
    fn figure(&self, i: usize) -> f64 {
        self.figures[i % self.figures.len()]
    }
    fn time(&self, i: usize) -> DateTime<Utc> {
        self.times[i % self.times.len()]
    }
    fn count(&self, i: usize) -> u64 {
        self.counts[i % self.counts.len()]
    }
    fn maybe_figure(&self, i: usize) -> Option<f64> {
        (!i.is_multiple_of(5)).then(|| self.figure(i))
    }
    fn maybe_time(&self, i: usize) -> Option<DateTime<Utc>> {
        (!i.is_multiple_of(4)).then(|| self.time(i))
    }
    fn maybe_name(&self, i: usize) -> Option<String> {
        (!i.is_multiple_of(3)).then(|| self.name(i))
    }
}

fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_string()),
        Just("  spaced  name ".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("ünïcödé 名前 🚀 \u{202e}txet".to_string()),
        Just("x".repeat(400)),
        Just("monthly_report_generation".to_string()),
        "\\PC{0,24}",
    ]
}

fn figures() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1e-9),
        Just(0.001),
        Just(59.999),
        Just(3_600.0),
        Just(1e12),
        Just(1e308),
        Just(-1.0),
        Just(-1e308),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(f64::INFINITY),
        Just(f64::NAN),
        -1e6..1e6f64,
    ]
}

fn times() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        Just(DateTime::<Utc>::UNIX_EPOCH),
        (0i64..4_000_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        Just(Utc::now()),
    ]
}

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop::collection::vec(names(), 1..6),
        prop::collection::vec(figures(), 1..8),
        prop::collection::vec(times(), 1..6),
        prop::collection::vec(
            prop_oneof![Just(0u64), Just(1), Just(u64::MAX), 0..5_000u64],
            1..5,
        ),
        prop_oneof![Just(0usize), Just(1), Just(2), 3..40usize, Just(1_000)],
        any::<bool>(),
        prop_oneof![Just(0usize), 1..8usize, Just(60)],
    )
        .prop_map(
            |(names, figures, times, counts, trace_steps, chain, items)| Knobs {
                names,
                figures,
                times,
                counts,
                trace_steps,
                chain,
                items,
            },
        )
}

const RUN: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

fn run_status(i: usize) -> RunStatus {
    use RunStatus::*;
    [Pending, Running, Completed, Failed, Cancelled, Interrupted][i % 6]
}

fn step_status(i: usize) -> StepStatus {
    use StepStatus::*;
    [
        Pending,
        Running,
        Retrying,
        Completed,
        Failed,
        Skipped,
        Cancelled,
        Interrupted,
    ][i % 8]
}

fn trace(k: &Knobs, run_id: String, steps: usize, offset: usize) -> Trace {
    let ids: Vec<String> = (0..steps)
        .map(|i| format!("s{i}_{}", k.name(i + offset)))
        .collect();
    let steps_list = (0..steps)
        .map(|i| {
            let depends_on = match (k.chain, i) {
                (_, 0) => vec![],
                (true, _) => vec![ids[i - 1].clone()],
                // A diamond-ish DAG: up to two earlier steps, one of them
                // possibly unknown.
                (false, _) => vec![ids[i / 2].clone(), k.name(i)],
            };
            TraceStep {
                step_id: ids[i].clone(),
                started_at: k.maybe_time(i + offset),
                completed_at: k.maybe_time(i + offset + 1),
                duration_secs: k.maybe_figure(i + offset),
                status: step_status(i).as_str().to_string(),
                attempt: (!i.is_multiple_of(3)).then_some([0, 1, 2, u32::MAX][i % 4]),
                error: (i.is_multiple_of(2)).then(|| k.name(i + 2)),
                step_status: step_status(i + offset),
                depends_on,
                queued_secs: k.maybe_figure(i + offset + 2),
                kind: [StepKind::AgentTask, StepKind::ManualApproval][(i + offset) % 2],
                usage: (!i.is_multiple_of(3)).then(|| Usage {
                    provider: k.name(i + offset),
                    model: k.name(i + offset + 1),
                    input_tokens: Some(k.count(i)),
                    output_tokens: Some(k.count(i + 1)),
                    cached_input_tokens: (i.is_multiple_of(2)).then(|| k.count(i + 2)),
                    cost_usd: k.maybe_figure(i + offset + 3),
                    time_to_first_token_secs: k.maybe_figure(i + offset + 4),
                }),
            }
        })
        .collect();
    Trace {
        run_id,
        workflow_id: k.name(offset),
        job_name: k.name(offset + 1),
        started_at: k.maybe_time(offset),
        completed_at: k.maybe_time(offset + 1),
        duration_secs: k.maybe_figure(offset),
        status: run_status(offset),
        progress: k.figure(offset + 2),
        steps: steps_list,
        bottleneck: (steps > 0).then(|| TraceBottleneck {
            step_id: ids[steps / 2].clone(),
            duration_secs: k.figure(offset + 3),
            percentage_of_total: k.figure(offset + 4),
        }),
        critical_path: ids.iter().step_by(2).cloned().collect(),
        created_by: k.maybe_name(offset + 1),
        cancelled_by: k.maybe_name(offset + 2),
        approval_wait_secs: k.maybe_figure(offset + 5),
        budget: k.maybe_figure(offset + 6).map(|max_cost_usd| Budget {
            max_cost_usd,
            on_exceed: OnExceed::Fail,
            approval: None,
        }),
        cost_usd: k.maybe_figure(offset + 7),
        trace_id: k.maybe_name(offset + 3),
    }
}

fn run_summaries(k: &Knobs) -> Vec<RunSummaryView> {
    (0..k.items)
        .map(|i| RunSummaryView {
            run_id: format!("{RUN}{i}"),
            job_id: k.name(i),
            job_name: k.name(i + 1),
            workflow_id: k.name(i + 2),
            status: run_status(i),
            created_at: k.time(i),
            completed_at: k.maybe_time(i),
            duration_secs: k.maybe_figure(i),
            progress: k.figure(i),
            current_step: (i.is_multiple_of(2)).then(|| k.name(i + 3)),
        })
        .collect()
}

fn workflow_stats(k: &Knobs, i: usize) -> WorkflowStats {
    WorkflowStats {
        workflow_id: k.name(i),
        execution_count: k.count(i),
        success_count: k.count(i + 1),
        failure_count: k.count(i + 2),
        total_duration_secs: k.figure(i),
        min_duration_secs: k.maybe_figure(i + 1),
        max_duration_secs: k.maybe_figure(i + 2),
        avg_duration_secs: k.maybe_figure(i + 3),
        last_execution: k.maybe_time(i),
        p50_duration_secs: k.maybe_figure(i + 4),
        p95_duration_secs: k.maybe_figure(i + 5),
        p99_duration_secs: k.maybe_figure(i + 6),
        recent_runs: (0..(k.items % 12))
            .map(|r| RecentRun {
                run_id: format!("{RUN}{r}"),
                status: run_status(r),
                duration_secs: k.maybe_figure(r),
                completed_at: k.time(r),
            })
            .collect(),
        durations: (0..k.items).map(|d| k.figure(d + i)).collect(),
        total_input_tokens: k.count(i + 4),
        total_output_tokens: k.count(i + 5),
        total_cost_usd: k.maybe_figure(i + 8),
        avg_cost_usd: k.maybe_figure(i + 9),
        p95_tokens: (!i.is_multiple_of(3)).then(|| k.count(i + 6)),
    }
}

fn step_stats(k: &Knobs, i: usize) -> StepStats {
    StepStats {
        workflow_id: k.name(i),
        step_id: k.name(i + 1),
        execution_count: k.count(i),
        success_count: k.count(i + 1),
        failure_count: k.count(i + 2),
        retry_count: k.count(i + 3),
        total_duration_secs: k.figure(i),
        min_duration_secs: k.maybe_figure(i + 1),
        max_duration_secs: k.maybe_figure(i + 2),
        avg_duration_secs: k.maybe_figure(i + 3),
        p50_duration_secs: k.maybe_figure(i + 4),
        p95_duration_secs: k.maybe_figure(i + 5),
        p99_duration_secs: k.maybe_figure(i + 6),
        durations: (0..k.items).map(|d| k.figure(d)).collect(),
        avg_queued_secs: k.maybe_figure(i + 7),
        kind: [StepKind::AgentTask, StepKind::ManualApproval][i % 2],
        total_input_tokens: k.count(i + 4),
        total_output_tokens: k.count(i + 5),
        total_cost_usd: k.maybe_figure(i + 8),
        avg_cost_usd: k.maybe_figure(i + 9),
        p95_tokens: (!i.is_multiple_of(3)).then(|| k.count(i + 6)),
    }
}

fn labels(k: &Knobs, i: usize) -> BTreeMap<String, String> {
    (0..(i % 3))
        .map(|j| (k.name(i + j), k.name(i + j + 1)))
        .collect()
}

fn alert_view(k: &Knobs, i: usize) -> AlertView {
    use AlertState::*;
    AlertView {
        rule: k.name(i),
        labels: labels(k, i),
        state: [Inactive, Pending, Firing, Resolved][i % 4],
        severity: if i.is_multiple_of(2) {
            Severity::Warning
        } else {
            Severity::Critical
        },
        value: k.figure(i),
        threshold: k.figure(i + 1),
        message: k.name(i + 2),
        active_since: k.maybe_time(i),
        fired_at: k.maybe_time(i + 1),
        resolved_at: k.maybe_time(i + 2),
    }
}

/// Every answer the pages read, generated from the knobs.
struct World {
    k: Knobs,
    trace: Trace,
}

impl World {
    fn new(k: Knobs) -> Self {
        let trace = trace(&k, RUN.to_string(), k.trace_steps, 0);
        Self { k, trace }
    }
}

impl Backend for World {
    fn health(&self) -> HealthStatus {
        let k = &self.k;
        HealthStatus {
            status: [
                HealthState::Healthy,
                HealthState::Degraded,
                HealthState::Critical,
            ][k.items % 3],
            uptime_secs: k.count(0),
            active_routines: k.count(1),
            total_routines: k.count(2),
            pending_approvals: k.count(3),
            total_workflow_executions: k.count(4),
            successful_executions: k.count(5),
            failed_executions: k.count(6),
            success_rate: k.figure(0),
            active_workflows: k.count(7),
            recent_success_rate: k.figure(1),
            recent_executions: k.count(8),
            alerts: (0..k.items % 4)
                .map(|i| Alert {
                    severity: k.name(i),
                    rule: k.name(i + 1),
                    message: k.name(i + 2),
                })
                .collect(),
            event_log: EventLogHealth {
                status: k.name(3),
                error: (!k.items.is_multiple_of(2)).then(|| k.name(4)),
                backlog: k.count(9),
                store: k.name(6),
            },
            node_id: k.name(5),
            cluster: None,
        }
    }

    fn workflows(&self, _: &Window) -> Result<WorkflowStatsList, ApiError> {
        Ok(WorkflowStatsList {
            workflows: (0..self.k.items)
                .map(|i| workflow_stats(&self.k, i))
                .collect(),
        })
    }

    fn workflow(&self, _: &str, _: &Window) -> Result<Option<WorkflowStats>, ApiError> {
        Ok((!self.k.items.is_multiple_of(3)).then(|| workflow_stats(&self.k, 1)))
    }

    fn steps(&self, _: Option<&str>, _: &Window) -> Result<StepStatsList, ApiError> {
        Ok(StepStatsList {
            steps: (0..self.k.items).map(|i| step_stats(&self.k, i)).collect(),
        })
    }

    fn models(&self, _: &Window) -> Result<ModelStatsList, ApiError> {
        let k = &self.k;
        Ok(ModelStatsList {
            models: (0..k.items)
                .map(|i| ModelStats {
                    provider: ["simulated", "openai", "anthropic", "command"][i % 4].to_string(),
                    model: k.name(i),
                    calls: k.count(i),
                    failures: k.count(i + 1),
                    error_rate: k.figure(i),
                    total_input_tokens: k.count(i + 2),
                    total_output_tokens: k.count(i + 3),
                    total_cost_usd: k.maybe_figure(i + 1),
                    p50_duration_secs: k.maybe_figure(i + 2),
                    p95_duration_secs: k.maybe_figure(i + 3),
                    p99_duration_secs: k.maybe_figure(i + 4),
                    p50_time_to_first_token_secs: k.maybe_figure(i + 5),
                    p95_time_to_first_token_secs: k.maybe_figure(i + 6),
                })
                .collect(),
        })
    }

    fn heatmap(&self, workflow_id: &str, _: &Window) -> Result<Option<Heatmap>, ApiError> {
        let k = &self.k;
        Ok((!k.items.is_multiple_of(4)).then(|| Heatmap {
            workflow_id: workflow_id.to_string(),
            bucket_secs: k.count(0),
            buckets: (0..k.items).map(|i| k.time(i)).collect(),
            steps: (0..k.items)
                .map(|i| HeatmapRow {
                    step_id: k.name(i),
                    total_duration_secs: k.figure(i),
                    // Rows of any length, whatever the buckets say.
                    cells: (0..(k.items + i) % 7)
                        .map(|j| HeatmapCell {
                            executions: k.count(i + j),
                            failures: k.count(i + j + 1),
                            p95_duration_secs: k.maybe_figure(i + j),
                            avg_queued_secs: k.maybe_figure(i + j + 1),
                        })
                        .collect(),
                })
                .collect(),
        }))
    }

    fn bottlenecks(
        &self,
        workflow_id: &str,
        _: &Window,
    ) -> Result<Option<BottleneckReport>, ApiError> {
        let k = &self.k;
        Ok((k.items.is_multiple_of(2)).then(|| BottleneckReport {
            workflow_id: workflow_id.to_string(),
            total_executions: k.count(0),
            avg_duration_secs: k.figure(0),
            bottlenecks: (0..k.items * 3)
                .map(|i| StepShare {
                    step_id: k.name(i),
                    avg_duration_secs: k.figure(i),
                    percentage_of_workflow: k.figure(i + 1),
                    execution_count: k.count(i),
                    critical_path_percentage: k.figure(i + 2),
                    avg_queued_secs: k.maybe_figure(i + 3),
                    diagnosis: k.name(i + 1),
                    kind: [StepKind::AgentTask, StepKind::ManualApproval][(i + 1) % 2],
                })
                .collect(),
            critical_path: (!k.items.is_multiple_of(4)).then(|| CriticalPath {
                steps: (0..k.items)
                    .map(|i| CriticalStep {
                        step_id: k.name(i),
                        avg_duration_secs: k.figure(i),
                        percentage_of_run: k.figure(i + 1),
                    })
                    .collect(),
                runs: k.count(1),
                percentage_of_runs: k.figure(2),
                avg_run_duration_secs: k.figure(3),
            }),
        }))
    }

    fn runs(&self, _: ListQuery) -> BoxFuture<'static, Result<RunList, ApiError>> {
        let runs = RunList {
            runs: run_summaries(&self.k),
            total: self.k.count(0),
            next_before: None,
        };
        async move { Ok(runs) }.boxed()
    }

    fn timeline(&self, _: ListQuery) -> BoxFuture<'static, Result<Timeline, ApiError>> {
        let k = &self.k;
        // Any two times, in either order: the page must cope with both.
        let timeline = Timeline {
            since: k.time(1),
            until: k.time(2),
            runs: run_summaries(k),
            total: k.count(3),
        };
        async move { Ok(timeline) }.boxed()
    }

    fn jobs(&self, _: JobQuery) -> BoxFuture<'static, Result<JobList, ApiError>> {
        let k = self.k.clone();
        let jobs = JobList {
            jobs: (0..k.items.min(20))
                .map(|i| JobView {
                    job_id: k.name(i),
                    name: k.name(i + 1),
                    workflow_id: k.name(i + 2),
                    description: (i.is_multiple_of(2)).then(|| k.name(i + 3)),
                    created_at: k.time(i),
                    workflow: None,
                    run_count: k.count(i),
                    last_run_id: (i.is_multiple_of(3)).then(|| RUN.to_string()),
                    budget: None,
                })
                .collect(),
        };
        async move { Ok(jobs) }.boxed()
    }

    fn metrics(&self) -> MetricsSnapshot {
        let k = &self.k;
        MetricsSnapshot {
            counters: (0..k.items)
                .map(|i| CounterSample {
                    name: k.name(i),
                    value: k.count(i),
                    labels: labels(k, i),
                    last_updated: k.time(i),
                })
                .collect(),
            gauges: (0..k.items)
                .map(|i| GaugeSample {
                    name: k.name(i + 1),
                    value: k.figure(i),
                    labels: labels(k, i + 1),
                    last_updated: k.time(i + 1),
                })
                .collect(),
            histograms: (0..k.items)
                .map(|i| {
                    // Buckets and counts of different lengths, as a bug
                    // elsewhere might send them.
                    let buckets: Vec<f64> = (0..(i % 5)).map(|b| k.figure(b)).collect();
                    HistogramSample {
                        name: k.name(i + 2),
                        counts: (0..(i % 4)).map(|c| k.count(c)).collect(),
                        buckets,
                        sum: k.figure(i),
                        count: k.count(i),
                        labels: labels(k, i + 2),
                        last_updated: k.time(i + 2),
                    }
                })
                .collect(),
        }
    }

    fn throughput(&self, _: &Window) -> Result<Throughput, ApiError> {
        let k = &self.k;
        Ok(Throughput {
            points: (0..k.items)
                .map(|i| ThroughputPoint {
                    at: k.time(i),
                    completed: k.count(i),
                    failed: k.count(i + 1),
                    cost_usd: k.maybe_figure(i),
                })
                .collect(),
            bucket_secs: k.count(2),
        })
    }

    fn routines(&self) -> RoutineList {
        let k = &self.k;
        RoutineList {
            routines: (0..k.items)
                .map(|i| RoutineView {
                    routine_id: format!("{RUN}{i}"),
                    name: k.name(i),
                    cron: k.name(i + 1),
                    timezone: k.name(i + 2),
                    job_id: k.name(i + 3),
                    workflow_id: k.name(i + 4),
                    enabled: i.is_multiple_of(2),
                    created_at: k.time(i),
                    created_by: k.maybe_name(i + 1),
                    updated_at: k.time(i + 1),
                    updated_by: k.maybe_name(i + 2),
                    next_fires: (0..(i % 6)).map(|f| k.time(f)).collect(),
                    history: (0..(i % 25))
                        .map(|h| RoutineFire {
                            run_id: k.name(h),
                            fired_at: k.time(h),
                            scheduled_for: k.time(h + 1),
                            missed: h.is_multiple_of(3),
                            status: (h.is_multiple_of(2)).then(|| run_status(h)),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn approvals(&self) -> ApprovalList {
        let k = &self.k;
        ApprovalList {
            approvals: (0..k.items)
                .map(|i| {
                    use ApprovalStatus::*;
                    ApprovalView {
                        approval_id: format!("{RUN}{i}"),
                        run_id: k.name(i),
                        step_id: k.name(i + 1),
                        workflow_id: k.name(i + 2),
                        job_name: k.name(i + 3),
                        approvers: (0..(i % 4)).map(|a| k.name(a)).collect(),
                        quorum: [Quorum::Unanimous, Quorum::Majority, Quorum::Count(u32::MAX)]
                            [i % 3],
                        needed: k.count(i) as usize,
                        status: [Pending, Approved, Rejected, Expired, Cancelled][i % 5],
                        votes: (0..(i % 5))
                            .map(|v| VoteView {
                                voter: k.name(v),
                                decision: if v.is_multiple_of(2) {
                                    Decision::Approve
                                } else {
                                    Decision::Reject
                                },
                                comment: (v % 2 == 1).then(|| k.name(v + 1)),
                                at: k.time(v),
                            })
                            .collect(),
                        created_at: k.time(i),
                        expires_at: k.maybe_time(i + 1),
                        resolved_at: k.maybe_time(i + 2),
                        reason: k.maybe_name(i + 4),
                    }
                })
                .collect(),
        }
    }

    fn alerts(&self) -> AlertList {
        AlertList {
            alerts: (0..self.k.items).map(|i| alert_view(&self.k, i)).collect(),
        }
    }

    fn alert_rules(&self) -> AlertRuleList {
        let k = &self.k;
        AlertRuleList {
            rules: (0..k.items)
                .map(|i| AlertRule {
                    name: k.name(i),
                    kind: RuleKind::ALL[i % RuleKind::ALL.len()],
                    description: k.name(i + 1),
                    severity: Severity::Critical,
                    threshold: k.figure(i),
                    for_secs: k.count(i),
                    window_secs: k.count(i + 1),
                    baseline_secs: k.count(i + 2),
                    min_executions: k.count(i + 3),
                    enabled: i % 2 == 1,
                    webhook_url: (i.is_multiple_of(2)).then(|| k.name(i + 2)),
                    expression: k.name(i + 3),
                    updated_at: k.maybe_time(i + 1),
                    updated_by: k.maybe_name(i + 4),
                })
                .collect(),
        }
    }

    fn alert_history(&self, limit: usize) -> AlertHistory {
        let k = &self.k;
        AlertHistory {
            transitions: (0..k.items.min(limit))
                .map(|i| {
                    let a = alert_view(k, i);
                    AlertTransition {
                        at: k.time(i),
                        rule: a.rule,
                        labels: a.labels,
                        from: a.state,
                        to: alert_view(k, i + 1).state,
                        severity: a.severity,
                        value: a.value,
                        threshold: a.threshold,
                        message: a.message,
                    }
                })
                .collect(),
        }
    }

    fn traces(&self, _: ListQuery) -> BoxFuture<'static, Result<TraceList, ApiError>> {
        let k = self.k.clone();
        async move {
            Ok(TraceList {
                traces: (0..k.items)
                    .map(|i| trace(&k, format!("{RUN}{i}"), i % 7, i))
                    .collect(),
            })
        }
        .boxed()
    }

    fn trace(&self, run_id: String) -> BoxFuture<'static, Result<Option<Trace>, ApiError>> {
        let found = (run_id == RUN).then(|| self.trace.clone());
        async move { Ok(found) }.boxed()
    }
}

const PAGES: [&str; 25] = [
    "/",
    "/workflows",
    "/workflows?sort=p95&dir=asc",
    "/workflows?sort=success",
    "/workflows/monthly_report_generation",
    "/workflows/%E5%90%8D%E5%89%8D",
    "/steps",
    "/steps?sort=p99&workflow_id=x",
    "/traces",
    "/traces?status=Failed&workflow_id=%3Cb%3E",
    "/traces/01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "/traces/unknown",
    "/metrics",
    "/run",
    "/routines",
    "/approvals",
    "/alerts",
    "/timeline",
    "/models",
    "/models?since=24h",
    "/timeline?since=24h&workflow_id=x",
    "/workflows?since=1h",
    "/workflows/x?since=15m",
    "/steps?since=7d",
    "/traces?since=1h&status=Failed",
];

async fn render_all(router: axum::Router) -> Result<(), TestCaseError> {
    for path in PAGES {
        let resp = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&body);
        prop_assert!(
            status == 200 || status == 404,
            "{path} answered {status}: {}",
            &html[..html.len().min(300)]
        );
        prop_assert!(html.starts_with("<!DOCTYPE html>"), "{path}: no document");
        // The resources' data follows the document in scripts.
        prop_assert!(
            html.contains("</main>") && html.contains("</body>") && html.contains("</html>"),
            "{path}: cut short: …{}",
            &html[html.len().saturating_sub(300)..]
        );
        // Names are text, never markup.
        prop_assert!(
            !html.contains("<script>alert(1)"),
            "{path}: markup was not escaped"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(40),
        // A failing case is shrunk; keep that bounded on two cores. Its
        // input is printed; no regression file is written into the tree.
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_page_renders_whole_for_any_data(k in knobs()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let options = LeptosOptions::builder()
            .output_name("shiioo")
            .site_root("target/site")
            .site_pkg_dir("pkg")
            .build();
        let result = runtime.block_on(async {
            let router = server::ssr::pages(&options, Arc::new(World::new(k)))
                .with_state(options.clone());
            render_all(router).await
        });
        result?;
    }
}

/// The worst cases at once, every run: a 1,000-step chain, NaN and
/// huge figures, the last representable time, empty names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worst_data_at_once_renders_whole() {
    for (figure, time) in [
        (f64::NAN, DateTime::<Utc>::MAX_UTC),
        (-1e308, DateTime::<Utc>::MIN_UTC),
        (0.0, Utc::now()),
    ] {
        let k = Knobs {
            names: vec![String::new(), "  ".into()],
            figures: vec![figure, 1e-9, f64::INFINITY],
            times: vec![
                time,
                time.checked_sub_signed(Duration::milliseconds(1))
                    .unwrap_or(time),
            ],
            counts: vec![u64::MAX, 0],
            trace_steps: 1_000,
            chain: true,
            items: 60,
        };
        let world = World::new(k);
        assert_eq!(world.trace.steps.len(), 1_000);
        let options = LeptosOptions::builder()
            .output_name("shiioo")
            .site_root("target/site")
            .site_pkg_dir("pkg")
            .build();
        let router = server::ssr::pages(&options, Arc::new(world)).with_state(options.clone());
        render_all(router).await.unwrap();
    }
}
