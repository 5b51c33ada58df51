//! The command-line client, a subcommand of the binary: `shiioo submit
//! job.json --watch`, `shiioo runs`, `shiioo trace RUN_ID`, `shiioo tail`,
//! and `shiioo backup FILE` beside the server. The client commands talk to a
//! server (`--url`) over the REST API and the WebSocket like any client,
//! decoding the wire types the server writes; what they print is made by
//! plain functions ([`text`]).

mod client;
pub mod text;
mod watch;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use wire::{ClientAction, JobCreated, RunList, RunStatus, ServerMessage, Trace};

use crate::config::Config;
use client::{Client, Failure};
use text::{inert, Paint};

/// `shiioo [OPTIONS] [COMMAND]`: the server's options, then what to do
/// (the server, when no command is given).
#[derive(Debug, clap::Parser)]
#[command(
    name = "shiioo",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SHIIOO_COMMIT"), ")"),
    about = "Observable workflow engine for LLM-agent workflows: the server, and a client of it",
    args_conflicts_with_subcommands = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub server: Config,
}

#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Run the server (what `shiioo` alone does).
    Serve,
    /// Submit a job and start a run of it (--watch: follow it live).
    ///
    /// FILE is the job as `POST /api/jobs` takes it (JSON), or `-` for
    /// stdin. With --watch, the run is followed live and the command exits
    /// with its outcome: 0 completed, 1 failed, 3 cancelled, 4 interrupted
    /// (2: the command itself failed).
    Submit {
        file: PathBuf,
        /// Follow the run live (a progress bar per step), then draw its trace.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Recent runs, newest first.
    Runs {
        /// Only runs in this status (Pending, Running, Completed, Failed, …).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A run's execution trace as a waterfall.
    Trace {
        run_id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every run's updates, and alerts, live as they happen (Ctrl-C stops).
    Tail {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// An online backup of the event log into FILE.
    ///
    /// Copies the SQLite log of --data-dir while the server runs (one
    /// consistent snapshot, compacted) and checks the copy; FILE must not
    /// exist. To restore, stop the server and put FILE in place of
    /// `shiioo.db` (removing any `shiioo.db-wal` and `shiioo.db-shm`).
    Backup { file: PathBuf },
}

#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// The server's URL.
    #[arg(long, env = "SHIIOO_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A token of the server's --auth-tokens file (sent as
    /// `Authorization: Bearer`); prefer the environment to the command line.
    #[arg(long, env = "SHIIOO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// JSON for scripts instead of text (for tail: one message per line).
    #[arg(long)]
    pub json: bool,
}

/// Exit statuses beyond 0 and 1.
const EXIT_ERROR: u8 = 2;
const EXIT_CANCELLED: u8 = 3;
const EXIT_INTERRUPTED: u8 = 4;

/// Runs a command other than `serve`.
pub async fn run(command: Command, config: &Config) -> ExitCode {
    let result = match command {
        Command::Serve => unreachable!("main serves"),
        Command::Backup { file } => backup(config, &file),
        Command::Submit {
            file,
            watch,
            client,
        } => submit(&file, watch, &client).await,
        Command::Runs {
            status,
            workflow,
            limit,
            client,
        } => runs(status, workflow, limit, &client).await,
        Command::Trace { run_id, client } => trace(&run_id, &client).await,
        Command::Tail { client } => tail(&client).await,
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn backup(config: &Config, file: &std::path::Path) -> Result<ExitCode, Failure> {
    if config.database_url.is_some() {
        return Err(Failure(
            "the event log is in PostgreSQL: back it up with PostgreSQL's own tools \
             (pg_dump, or continuous archiving)"
                .into(),
        ));
    }
    let db = config.db_path();
    let copy = crate::store::backup::backup(&db, file).map_err(Failure)?;
    println!(
        "backed up {} events (through seq {}) from {} to {} ({:.1} MiB)",
        copy.events,
        copy.last_seq,
        db.display(),
        file.display(),
        copy.bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(ExitCode::SUCCESS)
}

/// The exit status that tells a run's outcome.
fn outcome(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Completed => ExitCode::SUCCESS,
        RunStatus::Failed => ExitCode::FAILURE,
        RunStatus::Cancelled => ExitCode::from(EXIT_CANCELLED),
        RunStatus::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        // Not finished (a watch that lost its server says so as an error).
        RunStatus::Pending | RunStatus::Running => ExitCode::from(EXIT_ERROR),
    }
}

fn paint() -> Paint {
    Paint(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

/// Columns of the terminal on stdout (80 when it is not one).
fn columns() -> usize {
    console::Term::stdout()
        .size_checked()
        .map_or(80, |(_, cols)| cols as usize)
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("wire types serialise")
    );
}

async fn submit(
    file: &std::path::Path,
    watch: bool,
    args: &ClientArgs,
) -> Result<ExitCode, Failure> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("reading stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure(format!("{}: {e}", file.display())))?
    };
    let mut job: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure(format!("{}: not JSON: {e}", file.display())))?;
    let Some(fields) = job.as_object_mut() else {
        return Err(Failure(format!(
            "{}: expected a JSON object (a job)",
            file.display()
        )));
    };
    // Submitting means running: the server checks everything else.
    fields.insert("execute".into(), true.into());
    let client = Client::new(args)?;
    let created: JobCreated = client.post("/api/jobs", &job).await?;
    let run_id = created
        .run_id
        .clone()
        .ok_or_else(|| Failure("the server started no run".into()))?;
    if !watch {
        if args.json {
            print_json(&created);
        } else {
            println!(
                "run {} of job {} ({}) started: shiioo trace {}",
                inert(&run_id),
                inert(&created.job_id),
                inert(&created.workflow_id),
                inert(&run_id)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let run = watch::follow(&client, &run_id, !args.json).await?;
    if args.json {
        print_json(&run);
    } else {
        let trace: Trace = client
            .get(&format!("/api/analytics/traces/{run_id}"))
            .await?;
        print!(
            "{}",
            text::waterfall(&trace, bar_width(), chrono::Utc::now(), paint())
        );
        if let Some(error) = &run.error {
            println!("{}", inert(error));
        }
    }
    Ok(outcome(run.status))
}

/// Bars as wide as the terminal allows beside names and figures.
fn bar_width() -> usize {
    columns().saturating_sub(60).clamp(20, 80)
}

async fn runs(
    status: Option<String>,
    workflow: Option<String>,
    limit: u32,
    args: &ClientArgs,
) -> Result<ExitCode, Failure> {
    let client = Client::new(args)?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    if let Some(status) = &status {
        query.append_pair("status", status);
    }
    if let Some(workflow) = &workflow {
        query.append_pair("workflow_id", workflow);
    }
    let list: RunList = client.get(&format!("/api/runs?{}", query.finish())).await?;
    if args.json {
        print_json(&list);
    } else {
        print!("{}", text::runs_table(&list, chrono::Utc::now(), paint()));
    }
    Ok(ExitCode::SUCCESS)
}

async fn trace(run_id: &str, args: &ClientArgs) -> Result<ExitCode, Failure> {
    let client = Client::new(args)?;
    let path = format!(
        "/api/analytics/traces/{}",
        form_urlencoded::byte_serialize(run_id.as_bytes()).collect::<String>()
    );
    let trace: Trace = client.get(&path).await?;
    if args.json {
        print_json(&trace);
    } else {
        print!(
            "{}",
            text::waterfall(&trace, bar_width(), chrono::Utc::now(), paint())
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn tail(args: &ClientArgs) -> Result<ExitCode, Failure> {
    let client = Client::new(args)?;
    let mut live = client
        .live(&[ClientAction::SubscribeAll, ClientAction::SubscribeAlerts])
        .await?;
    let paint = paint();
    if !args.json {
        eprintln!("following every run on {} (Ctrl-C stops)", args.url);
    }
    let mut out = std::io::stdout().lock();
    loop {
        let next = tokio::select! {
            next = live.next() => next,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let Some(message) = next else {
            if !args.json {
                eprintln!("the server closed the connection");
            }
            return Ok(ExitCode::SUCCESS);
        };
        let (message, raw) = message?;
        let line = if args.json {
            Some(raw)
        } else {
            text::tail_line(&message, chrono::Utc::now(), paint)
        };
        if let Some(line) = line {
            // A closed pipe (`shiioo tail | head`) ends the command quietly.
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        if let ServerMessage::Error(e) = &message {
            if !args.json {
                eprintln!("server: {}", inert(&e.message));
            }
        }
    }
}
