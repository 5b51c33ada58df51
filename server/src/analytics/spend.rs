//! What executions spent on agent calls: tokens and dollars, per step and
//! per workflow series, for all time (with a p95 of tokens per execution)
//! and by period (sums, in the tallies).
//!
//! An execution's spend is the sum over its attempts (a retried step paid
//! for every try). Its cost is the sum of the calls whose model the price
//! table knows; calls of unknown models add tokens but no dollars, and an
//! execution none of whose calls was priced has no cost (not a zero one).

use hdrhistogram::Histogram;
use wire::{AttemptView, StepStats, WorkflowStats};

use super::periods::Tally;

/// One execution's agent calls, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExecutionSpend {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// `None` when no call's cost is known.
    pub cost_usd: Option<f64>,
}

impl ExecutionSpend {
    /// The attempts' usage summed; `None` if none of them has any.
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a AttemptView>) -> Option<Self> {
        let mut out: Option<ExecutionSpend> = None;
        for u in attempts.into_iter().filter_map(|a| a.usage.as_ref()) {
            let s = out.get_or_insert_with(ExecutionSpend::default);
            s.input_tokens = s.input_tokens.saturating_add(u.input_tokens.unwrap_or(0));
            s.output_tokens = s.output_tokens.saturating_add(u.output_tokens.unwrap_or(0));
            if let Some(c) = u.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
                s.cost_usd = Some(s.cost_usd.unwrap_or(0.0) + c);
            }
        }
        out
    }

    pub fn add(&mut self, other: &ExecutionSpend) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        if let Some(c) = other.cost_usd {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c);
        }
    }

    fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// Highest token count the histogram tells apart; more counts as this.
const MAX_TOKENS: u64 = 1 << 40;

/// A series' spend over all time.
#[derive(Debug, Default)]
pub struct Spend {
    input_tokens: u64,
    output_tokens: u64,
    cost_usd: f64,
    /// Executions with a known cost.
    priced: u64,
    /// Tokens per execution, made at the first execution that has any: a
    /// series without agent calls (approvals) holds none.
    tokens: Option<Box<Histogram<u64>>>,
}

impl Spend {
    pub fn record(&mut self, s: &ExecutionSpend) {
        self.input_tokens = self.input_tokens.saturating_add(s.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(s.output_tokens);
        if let Some(c) = s.cost_usd {
            self.cost_usd += c;
            self.priced += 1;
        }
        let h = self.tokens.get_or_insert_with(|| {
            Box::new(Histogram::new_with_bounds(1, MAX_TOKENS, 2).expect("valid HDR bounds"))
        });
        // Zero tokens (a backend that reports none) is recorded as one:
        // the histogram starts at 1.
        h.saturating_record(s.tokens().clamp(1, MAX_TOKENS));
    }

    fn p95_tokens(&self) -> Option<u64> {
        self.tokens
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.95))
    }
}

/// The spend figures of statistics: (input, output, total cost, average
/// cost, p95 tokens).
type Figures = (u64, u64, Option<f64>, Option<f64>, Option<u64>);

fn all_time(s: &Spend) -> Figures {
    let cost = (s.priced > 0).then(|| round_usd(s.cost_usd));
    let avg = (s.priced > 0).then(|| round_usd(s.cost_usd / s.priced as f64));
    (s.input_tokens, s.output_tokens, cost, avg, s.p95_tokens())
}

/// By period only sums are kept: no p95 of tokens.
fn ranged(t: &Tally) -> Figures {
    let cost = (t.priced > 0).then(|| round_usd(t.cost_usd));
    let avg = (t.priced > 0).then(|| round_usd(t.cost_usd / t.priced as f64));
    (t.input_tokens, t.output_tokens, cost, avg, None)
}

/// Dollars to a millionth of a cent, as the price table prices calls.
pub fn round_usd(v: f64) -> f64 {
    (v * 1e8).round() / 1e8
}

macro_rules! set_figures {
    ($stats:expr, $figures:expr) => {{
        let (input, output, cost, avg, p95) = $figures;
        $stats.total_input_tokens = input;
        $stats.total_output_tokens = output;
        $stats.total_cost_usd = cost;
        $stats.avg_cost_usd = avg;
        $stats.p95_tokens = p95;
    }};
}

pub fn step_all_time(stats: &mut StepStats, s: &Spend) {
    set_figures!(stats, all_time(s));
}

pub fn step_ranged(stats: &mut StepStats, t: &Tally) {
    set_figures!(stats, ranged(t));
}

pub fn workflow_all_time(stats: &mut WorkflowStats, s: &Spend) {
    set_figures!(stats, all_time(s));
}

pub fn workflow_ranged(stats: &mut WorkflowStats, t: &Tally) {
    set_figures!(stats, ranged(t));
}
