//! The `tributary` binary: command-line parsing, configuration and wiring. No domain logic
//! lives here; every capability comes from a workspace crate.

mod cli;
mod config;
mod eventlog;
mod migrate;
mod openapi;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tributary: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // Background tasks (metrics upkeep, retention) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tributary: {}", failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}
