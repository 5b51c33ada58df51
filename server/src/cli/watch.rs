//! `shiioo submit --watch`: a run followed live over the WebSocket, with a
//! progress bar for the run and one line per step (indicatif, on stderr;
//! plain lines when stderr is not a terminal, nothing with `--json`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use wire::{
    ClientAction, RunStatus, RunView, ServerMessage, StepStatus, StepUpdate, WorkflowUpdate,
};

use super::client::{Client, Failure};
use super::text::{inert, name_width};

/// How often a run is read again when the WebSocket is lost.
const POLL: Duration = Duration::from_millis(500);

/// Follows the run until it ends; its final state.
pub async fn follow(client: &Client, run_id: &str, show: bool) -> Result<RunView, Failure> {
    let path = format!("/api/runs/{run_id}");
    let run: RunView = client.get(&path).await?;
    let mut view = Progress::new(&run, show);
    if run.status.is_terminal() {
        view.finish();
        return Ok(run);
    }
    match client
        .live(&[ClientAction::SubscribeWorkflow {
            run_id: run_id.to_string(),
        }])
        .await
    {
        Ok(mut live) => loop {
            match live.next().await {
                Some(Ok((ServerMessage::StepUpdate(u), _))) if u.run_id == run_id => view.step(&u),
                Some(Ok((ServerMessage::WorkflowUpdate(u), _))) if u.run_id == run_id => {
                    view.run(&u);
                    if RunStatus::parse(&u.status).is_some_and(RunStatus::is_terminal) {
                        break;
                    }
                }
                Some(Ok((ServerMessage::Error(e), _))) => {
                    view.note(&format!("server: {}", inert(&e.message)))
                }
                Some(Ok(_)) => {}
                Some(Err(Failure(why))) => {
                    view.note(&format!(
                        "{why}; reading the run every {} ms",
                        POLL.as_millis()
                    ));
                    poll(client, &path).await?;
                    break;
                }
                None => {
                    view.note("the server closed the WebSocket; reading the run instead");
                    poll(client, &path).await?;
                    break;
                }
            }
        },
        Err(Failure(why)) => {
            view.note(&format!(
                "{why}; reading the run every {} ms",
                POLL.as_millis()
            ));
            poll(client, &path).await?;
        }
    }
    view.finish();
    client.get(&path).await
}

async fn poll(client: &Client, path: &str) -> Result<(), Failure> {
    loop {
        let run: RunView = client.get(path).await?;
        if run.status.is_terminal() {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the user sees while a run goes on.
struct Progress {
    bars: MultiProgress,
    run: ProgressBar,
    /// Each step's line, in the workflow's order.
    steps: Vec<StepLine>,
    /// Width of the step names' column.
    width: usize,
    /// More steps than the terminal has lines: no line per step, the run's
    /// bar says which are running.
    compact: bool,
    running: Vec<String>,
    /// stderr is no terminal: a line per update instead of bars.
    plain: bool,
    show: bool,
}

struct StepLine {
    id: String,
    bar: ProgressBar,
    /// Seen running here, so that its elapsed time is its own.
    ran: bool,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("templates are valid")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
        .progress_chars("█▉▊▋▌▍▎▏ ")
}

impl Progress {
    fn new(run: &RunView, show: bool) -> Self {
        let plain = show && !std::io::stderr().is_terminal();
        let target = if show && !plain {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bars = MultiProgress::with_draw_target(target);
        let width = name_width(run.steps.iter().map(|s| s.step_id.as_str()));
        // The run's bar, a line per step and the prompt must fit on screen.
        let rows = console::Term::stderr()
            .size_checked()
            .map_or(24, |(rows, _)| rows as usize);
        let compact = run.steps.len() + 3 > rows;
        let overall = bars.add(
            ProgressBar::new(100)
                .with_style(style(
                    "{prefix:.bold} [{bar:30.cyan/blue}] {pos:>3}%  {wide_msg}",
                ))
                .with_prefix(inert(&run.job_name)),
        );
        overall.set_position(run.progress.round() as u64);
        overall.set_message(run.status.as_str());
        let steps = run
            .steps
            .iter()
            .filter(|_| !compact)
            .map(|s| {
                let line = bars.add(
                    ProgressBar::new_spinner()
                        .with_style(style(&format!("  {{prefix:<{width}}}  {{msg:.dim}}")))
                        .with_prefix(inert(&s.step_id)),
                );
                line.set_message(match s.status {
                    StepStatus::Pending => "waiting".to_string(),
                    other => other.as_str().to_string(),
                });
                StepLine {
                    id: s.step_id.clone(),
                    bar: line,
                    ran: false,
                }
            })
            .collect();
        let this = Self {
            bars,
            run: overall,
            steps,
            width,
            compact,
            running: Vec::new(),
            plain,
            show,
        };
        if plain {
            eprintln!(
                "run {} of {}: {}",
                inert(&run.run_id),
                inert(&run.job_name),
                run.status.as_str()
            );
        }
        this
    }

    fn line(&mut self, step_id: &str) -> Option<&mut StepLine> {
        self.steps.iter_mut().find(|l| l.id == step_id)
    }

    fn step(&mut self, u: &StepUpdate) {
        if self.plain {
            eprintln!(
                "  {} {}: {}",
                inert(&u.step_id),
                inert(&u.status),
                inert(&u.message)
            );
        }
        if self.compact {
            self.running.retain(|id| *id != u.step_id);
            if matches!(u.status.as_str(), "Running" | "Retrying") {
                self.running.push(u.step_id.clone());
            }
            return;
        }
        let width = self.width;
        let Some(StepLine { bar, ran, .. }) = self.line(&u.step_id) else {
            return;
        };
        match u.status.as_str() {
            "Running" | "Retrying" => {
                if bar.is_finished() {
                    return;
                }
                if !*ran {
                    bar.reset_elapsed();
                    *ran = true;
                }
                bar.set_style(style(&format!(
                    "{{spinner:.cyan}} {{prefix:<{width}}}  {{msg}}  {{elapsed:.dim}}"
                )));
                bar.set_message(if u.status == "Retrying" {
                    format!("retrying: {}", inert(&u.message))
                } else {
                    "running".into()
                });
                bar.enable_steady_tick(Duration::from_millis(100));
            }
            status => {
                let (mark, colour) = match status {
                    "Completed" => ("✓", "green"),
                    "Failed" => ("✗", "red"),
                    "Skipped" => ("–", "dim"),
                    _ => ("⊘", "yellow"),
                };
                let took = if *ran {
                    format!("  {}", wire::format::duration(bar.elapsed().as_secs_f64()))
                } else {
                    String::new()
                };
                bar.set_style(style(&format!(
                    "{mark} {{prefix:<{width}}}  {{msg:.{colour}}}"
                )));
                bar.finish_with_message(format!("{}{took}", status.to_lowercase()));
            }
        }
    }

    fn run(&mut self, u: &WorkflowUpdate) {
        if self.plain {
            eprintln!("run {}: {}", inert(&u.status), inert(&u.message));
        }
        self.run
            .set_position(u.progress.round().clamp(0.0, 100.0) as u64);
        let mut message = inert(&u.message);
        if self.compact && !self.running.is_empty() {
            let shown: Vec<String> = self.running.iter().take(3).map(|id| inert(id)).collect();
            message.push_str(&format!("; running {}", shown.join(", ")));
            if self.running.len() > 3 {
                message.push_str(&format!(" and {} more", self.running.len() - 3));
            }
        }
        self.run.set_message(message);
    }

    fn note(&self, text: &str) {
        if self.plain {
            eprintln!("{text}");
        } else if self.show {
            let _ = self.bars.println(text);
        }
    }

    fn finish(&mut self) {
        for line in &self.steps {
            if !line.bar.is_finished() {
                line.bar.finish();
            }
        }
        self.run.finish();
    }
}
