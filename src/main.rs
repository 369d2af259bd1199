//! The `tributary` binary: command-line parsing, configuration and wiring. No domain logic
//! lives here; every capability comes from a workspace crate.

mod cli;
mod config;
mod eventlog;
mod migrate;
mod openapi;
mod reingest;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc's malloc: the gateway allocates and frees many small objects per
/// event (parsed JSON, records, answers) on many threads at once, where glibc's allocator spent
/// over a third of the CPU in a profile under load; jemalloc beat mimalloc on throughput and
/// peak memory in the same benchmark (see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
