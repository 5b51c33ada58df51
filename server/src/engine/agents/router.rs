//! Which backend and model perform a step, so that one workflow can mix
//! models: the step's own `agent` first, then its role's default
//! (`--role-agent`), then the server's `--agent-backend` with the model
//! configured for it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use wire::{AgentChoice, BackendKind};

use super::{AgentBackend, AgentRequest, Answer};

/// A role's default backend, and the model to ask it for (the backend's
/// configured one if none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleAgent {
    pub backend: BackendKind,
    pub model: Option<String>,
}

/// The backends this server can reach, and how a step picks one.
pub struct Agents {
    /// The `--agent-backend` one, first; then every other configured one.
    backends: Vec<Arc<dyn AgentBackend>>,
    roles: HashMap<String, RoleAgent>,
}

impl<T: AgentBackend> From<Arc<T>> for Agents {
    /// Only this backend, for every step.
    fn from(backend: Arc<T>) -> Self {
        Agents::new(backend, Vec::new(), HashMap::new())
    }
}

impl Agents {
    /// `others` are reachable by a step or a role that names them;
    /// `default` performs the rest.
    pub fn new(
        default: Arc<dyn AgentBackend>,
        others: Vec<Arc<dyn AgentBackend>>,
        roles: HashMap<String, RoleAgent>,
    ) -> Self {
        let mut backends = vec![default];
        for b in others {
            if backends.iter().all(|have| have.kind() != b.kind()) {
                backends.push(b);
            }
        }
        Agents { backends, roles }
    }

    pub fn default_kind(&self) -> BackendKind {
        self.backends[0].kind()
    }

    /// The backends a step may name.
    pub fn kinds(&self) -> impl Iterator<Item = BackendKind> + '_ {
        self.backends.iter().map(|b| b.kind())
    }

    /// The backend and the model (`None`: the backend's own) for a step of
    /// `role` that chose `choice`; `Err` names a backend this server has not.
    pub fn pick<'a>(
        &'a self,
        role: &str,
        choice: Option<&'a AgentChoice>,
    ) -> Result<(&'a dyn AgentBackend, Option<&'a str>), BackendKind> {
        let by_role = self.roles.get(role);
        let kind = choice
            .and_then(|c| c.backend)
            .or(by_role.map(|r| r.backend))
            .unwrap_or(self.default_kind());
        let model = choice.and_then(|c| c.model.as_deref()).or_else(|| {
            // The role's model goes with the role's backend only.
            by_role
                .filter(|r| r.backend == kind)
                .and_then(|r| r.model.as_deref())
        });
        let backend = self
            .backends
            .iter()
            .find(|b| b.kind() == kind)
            .ok_or(kind)?;
        Ok((&**backend, model))
    }

    /// The provider and model `request` goes to, when known before it does.
    pub fn model<'s>(&'s self, request: &AgentRequest<'s>) -> Option<(&'s str, &'s str)> {
        let (backend, model) = self.pick(request.role, request.agent).ok()?;
        backend.model(&AgentRequest { model, ..*request })
    }

    /// The agent's answer, or why the attempt failed.
    pub fn run<'a>(&'a self, request: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>> {
        match self.pick(request.role, request.agent) {
            Ok((backend, model)) => backend.run(AgentRequest { model, ..request }),
            // Checked when the job was submitted; a log from a server
            // configured otherwise may still name one.
            Err(kind) => Box::pin(std::future::ready(Err(missing(kind)))),
        }
    }
}

/// Why a step naming `kind` cannot run here.
pub fn missing(kind: BackendKind) -> String {
    let how = match kind {
        BackendKind::Command => " (start it with --agent-command)",
        _ => "",
    };
    format!("this server has no {} backend{how}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::agents::{Command, RoleSimulation, Simulated};

    fn agents() -> Agents {
        let simulated = Arc::new(Simulated::new(
            1,
            RoleSimulation {
                latency_ms: [0, 0],
                failure_rate: 0.0,
            },
            HashMap::new(),
        ));
        let command = Arc::new(Command::new("cat"));
        let roles = HashMap::from([
            (
                "reviewer".to_string(),
                RoleAgent {
                    backend: BackendKind::Command,
                    model: Some("big".into()),
                },
            ),
            (
                "drafter".to_string(),
                RoleAgent {
                    backend: BackendKind::Simulated,
                    model: None,
                },
            ),
        ]);
        Agents::new(simulated, vec![command], roles)
    }

    fn choice(backend: Option<BackendKind>, model: Option<&str>) -> AgentChoice {
        AgentChoice {
            backend,
            model: model.map(str::to_string),
        }
    }

    fn picked(a: &Agents, role: &str, c: Option<&AgentChoice>) -> (BackendKind, Option<String>) {
        let (b, m) = a.pick(role, c).unwrap();
        (b.kind(), m.map(str::to_string))
    }

    #[test]
    fn the_step_chooses_over_its_role_and_its_role_over_the_server() {
        use BackendKind::*;
        let a = agents();
        assert_eq!(picked(&a, "anyone", None), (Simulated, None));
        assert_eq!(
            picked(&a, "reviewer", None),
            (Command, Some("big".into())),
            "the role's default, its model with it"
        );
        let small = choice(None, Some("small"));
        assert_eq!(
            picked(&a, "reviewer", Some(&small)),
            (Command, Some("small".into())),
            "a model alone keeps the role's backend"
        );
        let sim = choice(Some(Simulated), None);
        assert_eq!(
            picked(&a, "reviewer", Some(&sim)),
            (Simulated, None),
            "another backend does not take the role's model along"
        );
        let cmd = choice(Some(Command), Some("x"));
        assert_eq!(
            picked(&a, "drafter", Some(&cmd)),
            (Command, Some("x".into()))
        );
    }

    #[test]
    fn a_backend_the_server_has_not_is_named() {
        let a = agents();
        let openai = choice(Some(BackendKind::Openai), None);
        assert_eq!(a.pick("x", Some(&openai)).err(), Some(BackendKind::Openai));
        assert_eq!(
            a.kinds().collect::<Vec<_>>(),
            [BackendKind::Simulated, BackendKind::Command]
        );
    }
}
