//! Agent backends: what actually performs an `agent_task`.
//!
//! - [`Simulated`] (the default): seeded, deterministic latency and failures
//!   per role, overridable per step, for demos and tests;
//! - [`OpenAi`]: any server speaking OpenAI's `/v1/chat/completions`
//!   (OpenAI, Ollama, vLLM, llama.cpp);
//! - [`Anthropic`]: Anthropic's Messages API (`/v1/messages`);
//! - [`Command`]: a local program, prompt on stdin, answer on stdout.

mod anthropic;
mod command;
mod openai;
mod router;
mod simulated;
mod sse;

use futures::future::BoxFuture;

pub use crate::events::records::Usage;

pub use anthropic::Anthropic;
pub use command::Command;
pub use openai::OpenAi;
pub use router::{missing, Agents, RoleAgent};
pub use simulated::{RoleSimulation, Simulated};
use wire::{AgentChoice, BackendKind, Simulation};

/// One attempt of one step, as a backend sees it.
#[derive(Clone, Copy, Debug)]
pub struct AgentRequest<'a> {
    pub run_id: &'a str,
    pub step_id: &'a str,
    pub role: &'a str,
    pub prompt: &'a str,
    pub attempt: u32,
    pub simulation: Option<&'a Simulation>,
    /// The step's own backend and model, if it chose.
    pub agent: Option<&'a AgentChoice>,
    /// The model to ask for, over the backend's configured one (set by
    /// [`Agents`] from the step's choice and its role's default).
    pub model: Option<&'a str>,
}

/// What an agent said, and what saying it used (when the backend knows).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    /// Without `cost_usd`: the engine prices it from its table.
    pub usage: Option<Usage>,
}

impl Answer {
    pub fn text(text: impl Into<String>) -> Self {
        Answer {
            text: text.into(),
            usage: None,
        }
    }
}

pub trait AgentBackend: Send + Sync + 'static {
    fn kind(&self) -> BackendKind;

    /// The provider and model a request goes to, when the backend knows
    /// before it answers: what a failed call is counted against.
    fn model<'s>(&'s self, request: &AgentRequest<'s>) -> Option<(&'s str, &'s str)> {
        let _ = request;
        None
    }

    /// The agent's answer, or why the attempt failed.
    fn run<'a>(&'a self, request: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>>;
}
