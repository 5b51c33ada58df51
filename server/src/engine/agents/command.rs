use std::process::Stdio;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;

use super::{AgentBackend, AgentRequest};

/// A local program as the agent: run through `sh -c`, the prompt on its
/// stdin, its stdout the answer; a non-zero exit fails the attempt with its
/// stderr. The step is described in `SHIIOO_RUN_ID`, `SHIIOO_STEP_ID`,
/// `SHIIOO_ROLE` and `SHIIOO_ATTEMPT`. The process is killed if the attempt
/// is cancelled or times out.
pub struct Command {
    command: String,
}

impl Command {
    pub fn new(command: &str) -> Self {
        Self {
            command: command.to_string(),
        }
    }

    async fn execute(&self, req: AgentRequest<'_>) -> Result<String, String> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .env("SHIIOO_RUN_ID", req.run_id)
            .env("SHIIOO_STEP_ID", req.step_id)
            .env("SHIIOO_ROLE", req.role)
            .env("SHIIOO_ATTEMPT", req.attempt.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.command))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A program that ignores its input may close stdin early; that is fine.
            let _ = stdin.write_all(req.prompt.as_bytes()).await;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| format!("{:?}: {e}", self.command))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            let detail: String = stderr.chars().take(500).collect();
            Err(format!(
                "{:?} exited with {}: {detail}",
                self.command, out.status
            ))
        }
    }
}

impl AgentBackend for Command {
    fn name(&self) -> &'static str {
        "command"
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<String, String>> {
        self.execute(req).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: &str) -> AgentRequest<'_> {
        AgentRequest {
            run_id: "r1",
            step_id: "s1",
            role: "writer",
            prompt,
            attempt: 2,
            simulation: None,
        }
    }

    #[tokio::test]
    async fn the_prompt_goes_in_and_stdout_comes_out() {
        let cmd = Command::new(r#"printf '%s|%s|' "$SHIIOO_ROLE" "$SHIIOO_ATTEMPT"; tr a-z A-Z"#);
        assert_eq!(cmd.run(req("hello")).await.unwrap(), "writer|2|HELLO");
    }

    #[tokio::test]
    async fn a_non_zero_exit_fails_with_stderr() {
        let cmd = Command::new("echo broken >&2; exit 3");
        let err = cmd.run(req("x")).await.unwrap_err();
        assert!(
            err.contains("exit status: 3") && err.contains("broken"),
            "{err}"
        );
    }
}
