//! What agent calls cost: a table of US dollars per million tokens by
//! model, shipped (`server/prices/default.toml`, which says when its prices
//! were read) and overridable (`--prices FILE`, the same format, whose
//! models replace or join the shipped ones).
//!
//! A model is looked up by the exact name the provider's answer gives: a
//! dated snapshot is not assumed to cost what its family does (they have
//! differed), so a model the table lacks has no cost — shown as unknown,
//! never guessed.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::events::records::Usage;

const SHIPPED: &str = include_str!("../prices/default.toml");

/// One model's prices, USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input read from the prompt cache; `input` when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Input written to the prompt cache; `input` when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    read_on: Option<String>,
    #[serde(default)]
    models: HashMap<String, Price>,
}

#[derive(Clone, Debug, Default)]
pub struct Prices {
    /// When the shipped prices were read (or the file's, if it says).
    pub read_on: Option<String>,
    models: HashMap<String, Price>,
}

fn parse(text: &str, origin: &str) -> Result<File, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    for (model, p) in &file.models {
        let figures = [Some(p.input), Some(p.output), p.cached_input, p.cache_write];
        if figures
            .into_iter()
            .flatten()
            .any(|f| !f.is_finite() || f < 0.0)
        {
            return Err(format!(
                "{origin}: the prices of {model:?} must be numbers of dollars, 0 or more"
            ));
        }
    }
    Ok(file)
}

impl Prices {
    /// The shipped table, with `file`'s models over it.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let shipped = parse(SHIPPED, "the shipped price table")?;
        let mut prices = Prices {
            read_on: shipped.read_on,
            models: shipped.models,
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--prices {}: {e}", path.display()))?;
            let own = parse(&text, &format!("--prices {}", path.display()))?;
            if own.read_on.is_some() {
                prices.read_on = own.read_on;
            }
            prices.models.extend(own.models);
        }
        Ok(prices)
    }

    pub fn get(&self, model: &str) -> Option<Price> {
        self.models.get(model).copied()
    }

    /// What `usage` cost, or `None` if its model or its token counts are
    /// unknown. `input_tokens` counts every input token, cached ones
    /// included (OpenAI's convention; the Anthropic backend adds its cache
    /// reads and writes in).
    /// A simulated call is priced only by the table's own `simulated`
    /// entry (a table may give one, for a demo), never as the model it
    /// stands in for.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        let model = match usage.provider.as_str() {
            "simulated" => "simulated",
            _ => &usage.model,
        };
        let p = self.get(model)?;
        let (input, output) = (usage.input_tokens?, usage.output_tokens?);
        let cached = usage.cached_input_tokens.unwrap_or(0).min(input);
        let written = usage.cache_write_tokens.unwrap_or(0).min(input - cached);
        let plain = input - cached - written;
        let dollars = plain as f64 * p.input
            + cached as f64 * p.cached_input.unwrap_or(p.input)
            + written as f64 * p.cache_write.unwrap_or(p.input)
            + output as f64 * p.output;
        // Per million, to a millionth of a cent: sums of many calls stay exact
        // enough and the JSON stays short.
        Some((dollars / 1e6 * 1e8).round() / 1e8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(model: &str, input: u64, cached: u64, written: u64, output: u64) -> Usage {
        Usage {
            provider: "openai".into(),
            model: model.into(),
            input_tokens: Some(input),
            output_tokens: Some(output),
            cached_input_tokens: Some(cached),
            cache_write_tokens: Some(written),
            ..Usage::default()
        }
    }

    #[test]
    fn the_shipped_table_reads_and_says_when_it_was_read() {
        let p = Prices::load(None).unwrap();
        assert!(p.read_on.as_deref().is_some_and(|d| d.len() == 10));
        assert_eq!(p.get("gpt-4o-mini").unwrap().input, 0.15);
        assert!(p.get("claude-sonnet-4-5").unwrap().cache_write.is_some());
    }

    #[test]
    fn cost_counts_cached_and_written_input_at_their_own_prices() {
        let p = Prices::load(None).unwrap();
        // 1M input, 1M output of gpt-4o-mini: 0.15 + 0.60.
        assert_eq!(
            p.cost(&usage("gpt-4o-mini", 1_000_000, 0, 0, 1_000_000)),
            Some(0.75)
        );
        // Half the input from the cache, at half price.
        assert_eq!(
            p.cost(&usage("gpt-4o-mini", 1_000_000, 500_000, 0, 0)),
            Some(0.1125)
        );
        // Anthropic: reads at a tenth, writes at 1.25 times.
        let c = p
            .cost(&usage("claude-sonnet-4-5", 3_000, 1_000, 1_000, 0))
            .unwrap();
        assert!(
            (c - (1_000.0 * 3.0 + 1_000.0 * 0.30 + 1_000.0 * 3.75) / 1e6).abs() < 1e-12,
            "{c}"
        );
        // Nonsense counts cannot make a cost negative.
        assert!(p.cost(&usage("gpt-4o", 10, 50, 50, 0)).unwrap() >= 0.0);
    }

    #[test]
    fn unknown_models_and_counts_have_no_cost() {
        let p = Prices::load(None).unwrap();
        assert_eq!(p.cost(&usage("gpt-4o-mini-2099-01-01", 10, 0, 0, 10)), None);
        let mut u = usage("gpt-4o", 10, 0, 0, 10);
        u.output_tokens = None;
        assert_eq!(p.cost(&u), None);
    }

    #[test]
    fn a_file_overrides_and_adds_models_and_bad_prices_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.toml");
        std::fs::write(
            &path,
            "read_on = \"2027-01-01\"\n[models.\"gpt-4o\"]\ninput = 1.0\noutput = 2.0\n[models.\"local-llama\"]\ninput = 0\noutput = 0\n",
        )
        .unwrap();
        let p = Prices::load(Some(&path)).unwrap();
        assert_eq!(p.read_on.as_deref(), Some("2027-01-01"));
        assert_eq!(p.get("gpt-4o").unwrap().input, 1.0);
        assert_eq!(p.get("local-llama").unwrap().output, 0.0);
        assert!(p.get("gpt-4o-mini").is_some(), "the shipped ones stay");
        std::fs::write(&path, "[models.x]\ninput = -1\noutput = 1\n").unwrap();
        let e = Prices::load(Some(&path)).unwrap_err();
        assert!(e.contains("\"x\""), "{e}");
        std::fs::write(&path, "[models.x]\ninput = 1\n").unwrap();
        assert!(Prices::load(Some(&path)).unwrap_err().contains("output"));
    }
}
