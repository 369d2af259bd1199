//! The flags every command that talks to a running server takes.

use std::time::Duration;

/// Which server, how long to wait, and whether to print JSON.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// The Tributary server to talk to.
    #[arg(
        long,
        env = "TRIBUTARY_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub(crate) server: String,

    /// Print JSON instead of text: the server's answer, or the shape `--help` of the command
    /// describes. API errors are printed to stdout as the server's error body too.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// How long to wait for each answer of the server.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub(crate) timeout: Duration,
}
