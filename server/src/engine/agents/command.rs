use std::process::Stdio;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;

use super::{AgentBackend, AgentRequest, Answer, BackendKind, Usage};

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
        let mut command = tokio::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .env("SHIIOO_RUN_ID", req.run_id)
            .env("SHIIOO_STEP_ID", req.step_id)
            .env("SHIIOO_ROLE", req.role)
            .env("SHIIOO_ATTEMPT", req.attempt.to_string());
        // The model the step (or its role) asked for; the program decides
        // what to make of it.
        if let Some(model) = req.model {
            command.env("SHIIOO_MODEL", model);
        }
        let mut child = command
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
    fn kind(&self) -> BackendKind {
        BackendKind::Command
    }

    fn run<'a>(&'a self, req: AgentRequest<'a>) -> BoxFuture<'a, Result<Answer, String>> {
        async move { self.execute(req).await.map(|out| answer(&out)) }.boxed()
    }
}

/// The line a program may print (its last on stdout) to report usage.
pub const USAGE_PREFIX: &str = "shiioo-usage: ";

/// What the program reports of its model's usage: JSON after the prefix.
#[derive(serde::Deserialize)]
struct Reported {
    model: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cached_input_tokens: Option<u64>,
    #[serde(default)]
    cost_usd: Option<f64>,
}

/// The answer, and the usage its last line reports, if it is a usage line
/// (`shiioo-usage: {"model": …, "input_tokens": …, "output_tokens": …}`),
/// which is then no part of the answer. A line that does not read is left
/// in the answer: the program's words are never dropped.
fn answer(stdout: &str) -> Answer {
    let body = stdout.trim_end_matches(['\n', '\r']);
    let (rest, last) = match body.rfind('\n') {
        Some(i) => (&body[..i + 1], &body[i + 1..]),
        None => ("", body),
    };
    let reported = last
        .strip_prefix(USAGE_PREFIX)
        .and_then(|json| serde_json::from_str::<Reported>(json).ok())
        .filter(|r| r.cost_usd.is_none_or(|c| c.is_finite() && c >= 0.0));
    match reported {
        Some(r) => Answer {
            text: rest.to_string(),
            usage: Some(Usage {
                provider: r.provider.unwrap_or_else(|| "command".into()),
                model: r.model,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cached_input_tokens: r.cached_input_tokens,
                cost_usd: r.cost_usd,
                ..Usage::default()
            }),
        },
        None => Answer::text(stdout),
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
            agent: None,
            model: None,
        }
    }

    #[tokio::test]
    async fn the_prompt_goes_in_and_stdout_comes_out() {
        let cmd = Command::new(r#"printf '%s|%s|' "$SHIIOO_ROLE" "$SHIIOO_ATTEMPT"; tr a-z A-Z"#);
        let answer = cmd.run(req("hello")).await.unwrap();
        assert_eq!(
            (answer.text.as_str(), answer.usage),
            ("writer|2|HELLO", None)
        );
    }

    #[tokio::test]
    async fn a_usage_line_reports_usage_and_leaves_the_answer() {
        let cmd = Command::new(
            r#"echo 'the answer'; echo 'shiioo-usage: {"model": "llama3", "input_tokens": 12, "output_tokens": 40}'"#,
        );
        let got = cmd.run(req("q")).await.unwrap();
        assert_eq!(got.text, "the answer\n");
        let usage = got.usage.unwrap();
        assert_eq!(
            (
                usage.provider.as_str(),
                usage.model.as_str(),
                usage.input_tokens,
                usage.output_tokens
            ),
            ("command", "llama3", Some(12), Some(40))
        );
        // Not a usage line: all of it is the answer.
        for out in [
            "shiioo-usage: not json\n",
            "x\nshiioo-usage: {\"model\": 1}",
            "shiioo-usage: {\"model\": \"m\", \"cost_usd\": -1}",
        ] {
            assert_eq!(answer(out), Answer::text(out), "{out}");
        }
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
