use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{AgentBackend, AgentRequest, Answer, BackendKind, Usage};

/// The length of the system prompt a real backend would send
/// ("You are the … agent of a workflow. Do the task you are given."),
/// without the role.
const SYSTEM_CHARS: usize = 52;
use wire::Simulation;

/// Latency and failure behaviour of a role.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoleSimulation {
    pub latency_ms: [u64; 2],
    pub failure_rate: f64,
}

/// A stand-in for real agents: each attempt sleeps for a latency drawn from
/// its role's range and fails with its role's probability.
///
/// Draws are a pure function of `(seed, run, step, attempt)`, not of timing
/// or scheduling order, so the same seed replays the same story.
pub struct Simulated {
    seed: u64,
    default: RoleSimulation,
    roles: HashMap<String, RoleSimulation>,
}

impl Simulated {
    pub fn new(seed: u64, default: RoleSimulation, roles: HashMap<String, RoleSimulation>) -> Self {
        Self {
            seed,
            default,
            roles,
        }
    }

    /// What this attempt will do: its latency, and whether it fails.
    pub fn decide(&self, req: &AgentRequest<'_>) -> (Duration, bool) {
        let (latency, fails, _) = self.draw(req);
        (latency, fails)
    }

    /// The attempt's latency, whether it fails, and what it "used": input
    /// tokens from the prompt's length (about four characters a token, as
    /// for English), output tokens a seeded multiple of them, and a time to
    /// the first token a seeded share of the latency. The provider is
    /// `simulated`, so these are never mistaken for a real model's (nor
    /// priced); the model is the one asked for, else `simulated`.
    fn draw(&self, req: &AgentRequest<'_>) -> (Duration, bool, Usage) {
        let role = self.roles.get(req.role).copied().unwrap_or(self.default);
        let step = req.simulation.copied().unwrap_or(Simulation::default());
        let [lo, hi] = step.latency_ms.unwrap_or(role.latency_ms);
        let failure_rate = step.failure_rate.unwrap_or(role.failure_rate);
        let mut rng = SplitMix::new(
            self.seed
                ^ fnv1a(req.run_id.as_bytes())
                ^ fnv1a(req.step_id.as_bytes()).rotate_left(17)
                ^ u64::from(req.attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let latency = lo.saturating_add((rng.unit() * (hi.saturating_sub(lo) as f64 + 1.0)) as u64);
        let forced = req.attempt < step.fail_first_attempts.unwrap_or(0);
        let fails = forced || rng.unit() < failure_rate;
        let latency = Duration::from_millis(latency.min(hi));
        // Drawn after the rest, so that latencies and failures stay what
        // they were for a given seed.
        let input = (SYSTEM_CHARS + req.role.len() + req.prompt.chars().count()).div_ceil(4) as u64;
        let output = 16 + (input as f64 * (0.5 + 2.5 * rng.unit())) as u64;
        let first_token = latency.as_secs_f64() * (0.15 + 0.2 * rng.unit());
        let usage = Usage {
            provider: "simulated".into(),
            model: req.model.unwrap_or("simulated").into(),
            input_tokens: Some(input),
            output_tokens: Some(output),
            time_to_first_token_secs: Some((first_token * 1e6).round() / 1e6),
            ..Usage::default()
        };
        (latency, fails, usage)
    }
}

impl AgentBackend for Simulated {
    fn kind(&self) -> BackendKind {
        BackendKind::Simulated
    }

    fn model<'s>(&'s self, req: &AgentRequest<'s>) -> Option<(&'s str, &'s str)> {
        Some(("simulated", req.model.unwrap_or("simulated")))
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>> {
        let (latency, fails, usage) = self.draw(&req);
        async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            if fails {
                Err(format!(
                    "simulated failure of {} (attempt {})",
                    req.role,
                    // People count attempts from 1, as the dashboard does.
                    u64::from(req.attempt) + 1
                ))
            } else {
                Ok(Answer {
                    text: format!(
                        "[{}] {} — done in {} ms (simulated)",
                        req.role,
                        req.prompt,
                        latency.as_millis()
                    ),
                    usage: Some(usage),
                })
            }
        }
        .boxed()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: tiny, fast, and good enough to draw latencies.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(failure_rate: f64) -> Simulated {
        Simulated::new(
            42,
            RoleSimulation {
                latency_ms: [100, 200],
                failure_rate,
            },
            HashMap::from([(
                "slow".to_string(),
                RoleSimulation {
                    latency_ms: [1_000, 1_000],
                    failure_rate: 0.0,
                },
            )]),
        )
    }

    fn req<'a>(
        run: &'a str,
        role: &'a str,
        attempt: u32,
        sim: Option<&'a Simulation>,
    ) -> AgentRequest<'a> {
        AgentRequest {
            run_id: run,
            step_id: "s",
            role,
            prompt: "p",
            attempt,
            simulation: sim,
            agent: None,
            model: None,
        }
    }

    #[test]
    fn draws_are_deterministic_and_within_range() {
        let b = backend(0.5);
        for i in 0..200 {
            let run = format!("run{i}");
            let first = b.decide(&req(&run, "any", 0, None));
            assert_eq!(first, b.decide(&req(&run, "any", 0, None)));
            assert!((100..=200).contains(&(first.0.as_millis() as u64)));
        }
        assert_eq!(
            b.decide(&req("r", "slow", 0, None)).0,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn failure_rate_is_honoured_statistically() {
        let b = backend(0.2);
        let failures = (0..10_000)
            .filter(|i| b.decide(&req(&format!("run{i}"), "any", 0, None)).1)
            .count();
        assert!((1_700..2_300).contains(&failures), "{failures} of 10000");
    }

    #[test]
    fn step_overrides_win_and_first_attempts_can_be_forced_to_fail() {
        let b = backend(0.0);
        let sim = Simulation {
            latency_ms: Some([0, 0]),
            failure_rate: None,
            fail_first_attempts: Some(2),
        };
        assert_eq!(
            b.decide(&req("r", "slow", 0, Some(&sim))),
            (Duration::ZERO, true)
        );
        assert_eq!(
            b.decide(&req("r", "slow", 1, Some(&sim))),
            (Duration::ZERO, true)
        );
        assert_eq!(
            b.decide(&req("r", "slow", 2, Some(&sim))),
            (Duration::ZERO, false)
        );
    }
}
