//! Agent calls by provider and model: how many, how many failed, tokens,
//! cost, latency and time to the first token, for all time and by period
//! (`GET /api/analytics/models`).
//!
//! A call is one attempt of an agent step; a failed call counts against
//! the model it went to. Model names come from outside (a command backend
//! names its own), so their number is bounded: beyond `MAX_MODELS`, new
//! ones are counted together as `__overflow__`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use wire::ModelStats;

use super::durations::round6;
use super::periods::{Merge, Periods, Range, Tally};
use super::sketch::Sketch;
use super::spend::{round_usd, ExecutionSpend};
use crate::events::records::Usage;

/// Distinct (provider, model) pairs kept apart.
pub const MAX_MODELS: usize = 200;
const OVERFLOW: &str = "__overflow__";

/// The calls of one model in one period (or all time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelTally {
    /// `success`/`failure` count calls; `durations` their latency.
    calls: Tally,
    ttft: Sketch,
}

impl Merge for ModelTally {
    fn merge(&mut self, other: &Self) {
        self.calls.merge(&other.calls);
        self.ttft = Sketch::merged([&self.ttft, &other.ttft]);
    }

    fn close(&mut self) {
        self.calls.close();
        self.ttft.shrink();
    }

    fn heap_bytes(&self) -> usize {
        self.calls.heap_bytes() + self.ttft.heap_bytes()
    }
}

impl ModelTally {
    fn call(&mut self, usage: &Usage, success: bool, duration_secs: f64) {
        self.calls.execution(success, Some(duration_secs), None);
        if success {
            self.calls.spend(&ExecutionSpend {
                input_tokens: usage.input_tokens.unwrap_or(0),
                output_tokens: usage.output_tokens.unwrap_or(0),
                cost_usd: usage.cost_usd,
            });
        }
        if let Some(t) = usage.time_to_first_token_secs {
            self.ttft.record(t);
        }
    }

    fn stats(&self, provider: &str, model: &str) -> ModelStats {
        let c = &self.calls;
        let r = |v: Option<f64>| v.map(round6);
        ModelStats {
            provider: provider.to_string(),
            model: model.to_string(),
            calls: c.executions(),
            failures: u64::from(c.failure),
            error_rate: super::percent(f64::from(c.failure), c.executions() as f64),
            total_input_tokens: c.input_tokens,
            total_output_tokens: c.output_tokens,
            total_cost_usd: (c.priced > 0).then(|| round_usd(c.cost_usd)),
            p50_duration_secs: r(c.durations.quantile(0.5)),
            p95_duration_secs: r(c.durations.quantile(0.95)),
            p99_duration_secs: r(c.durations.quantile(0.99)),
            p50_time_to_first_token_secs: r(self.ttft.quantile(0.5)),
            p95_time_to_first_token_secs: r(self.ttft.quantile(0.95)),
        }
    }
}

#[derive(Default)]
struct ModelAgg {
    all: ModelTally,
    periods: Periods<ModelTally>,
}

#[derive(Default)]
pub struct Models {
    by: HashMap<(String, String), ModelAgg>,
}

impl Models {
    /// One call to `usage`'s model, finished at `at`.
    pub fn call(&mut self, at: DateTime<Utc>, usage: &Usage, success: bool, duration_secs: f64) {
        let key = (usage.provider.clone(), usage.model.clone());
        let key = if self.by.len() >= MAX_MODELS && !self.by.contains_key(&key) {
            (OVERFLOW.to_string(), OVERFLOW.to_string())
        } else {
            key
        };
        let agg = self.by.entry(key).or_default();
        agg.all.call(usage, success, duration_secs);
        agg.periods
            .record(at, |t| t.call(usage, success, duration_secs));
    }

    /// Every model with calls in `range` (all time without one), most
    /// spent first, then most called.
    pub fn list(&self, range: Option<Range>) -> Vec<ModelStats> {
        let mut out: Vec<ModelStats> = self
            .by
            .iter()
            .filter_map(|((provider, model), agg)| {
                let stats = match range {
                    None => agg.all.stats(provider, model),
                    Some(r) => agg.periods.fold(r).stats(provider, model),
                };
                (stats.calls > 0).then_some(stats)
            })
            .collect();
        out.sort_by(|a, b| {
            b.total_cost_usd
                .unwrap_or(0.0)
                .total_cmp(&a.total_cost_usd.unwrap_or(0.0))
                .then_with(|| b.calls.cmp(&a.calls))
                .then_with(|| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(model: &str, input: u64, output: u64, cost: Option<f64>, ttft: Option<f64>) -> Usage {
        Usage {
            provider: "openai".into(),
            model: model.into(),
            input_tokens: Some(input),
            output_tokens: Some(output),
            cost_usd: cost,
            time_to_first_token_secs: ttft,
            ..Usage::default()
        }
    }

    #[test]
    fn calls_add_up_per_model_and_failures_make_the_error_rate() {
        let mut m = Models::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..9 {
            m.call(
                t0,
                &usage(
                    "gpt-4o-mini",
                    100,
                    20,
                    Some(0.001),
                    Some(0.1 + i as f64 / 100.0),
                ),
                true,
                1.0,
            );
        }
        m.call(t0, &usage("gpt-4o-mini", 0, 0, None, None), false, 5.0);
        m.call(t0, &usage("local", 10, 10, None, None), true, 0.5);
        let list = m.list(None);
        assert_eq!(list.len(), 2);
        let mini = &list[0];
        assert_eq!(mini.model, "gpt-4o-mini", "most spent first");
        assert_eq!((mini.calls, mini.failures, mini.error_rate), (10, 1, 10.0));
        assert_eq!(
            (mini.total_input_tokens, mini.total_output_tokens),
            (900, 180)
        );
        assert!((mini.total_cost_usd.unwrap() - 0.009).abs() < 1e-12);
        let ttft = mini.p50_time_to_first_token_secs.unwrap();
        assert!((0.1..0.2).contains(&ttft), "{ttft}");
        assert_eq!(list[1].total_cost_usd, None, "unknown, not zero");
        // Ranged: only the period's calls.
        let later = Range {
            since: t0 + chrono::Duration::hours(1),
            until: t0 + chrono::Duration::hours(2),
        };
        assert!(m.list(Some(later)).is_empty());
    }

    #[test]
    fn model_names_from_outside_are_bounded() {
        let mut m = Models::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        for i in 0..MAX_MODELS + 50 {
            m.call(t0, &usage(&format!("m{i}"), 1, 1, None, None), true, 0.1);
        }
        let list = m.list(None);
        assert_eq!(list.len(), MAX_MODELS + 1);
        let overflow = list.iter().find(|s| s.model == OVERFLOW).unwrap();
        assert_eq!(overflow.calls, 50);
    }
}
