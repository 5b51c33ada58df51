use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use server::Server;
use tracing_subscriber::EnvFilter;

/// mimalloc, for its speed on many small allocations (see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // The name libraries and platforms (Heroku, sqlx, Hatchet) use for it.
    if cli.server.database_url.is_none() {
        cli.server.database_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    }
    match cli.command {
        None | Some(Command::Serve) => match serve(cli.server).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        },
        Some(command) => server::cli::run(command, &cli.server).await,
    }
}

async fn serve(config: server::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let server = Server::bind(config).await?;
    // Libraries that record through the `metrics` facade land in ours too.
    let _ = metrics::set_global_recorder(server.state().metrics.clone());
    tracing::info!("Shiioo listening on http://{}", server.local_addr()?);
    server.run(shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
