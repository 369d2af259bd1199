use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};

mod catalog;
mod quality;
mod replay;
mod schema;
mod server_args;

/// Tributary: one front door for events — validated, scored, cataloged and replayable.
#[derive(Debug, Parser)]
#[command(name = "tributary", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: gateway, registry, catalog and APIs on one port.
    ///
    /// With nothing configured it keeps events in an embedded log and metadata in SQLite under
    /// ./tributary-data/ and listens on 127.0.0.1:8080. Settings come from tributary.toml
    /// (or --config), then TRIBUTARY_* variables, then flags, each overriding the one before.
    #[command(after_long_help = SERVE_FILE_SETTINGS)]
    Serve(ServeArgs),
    /// Work with the schemas of a running server: register, check, diff, get, list.
    Schema(schema::SchemaArgs),
    /// An event type's quality from a running server: summary with sparklines, rules.
    Quality(quality::QualityArgs),
    /// The catalog of a running server: search event types.
    Catalog(catalog::CatalogArgs),
    /// Replay retained events: jobs on a running server (create, watch, list, pause, resume,
    /// cancel), `run` standalone against Kafka, and `verify` an audit export.
    Replay(replay::ReplayArgs),
    /// Apply the metadata database's migrations (the server also applies them at start).
    Migrate(MigrateArgs),
    /// Print the version of Tributary and of the libraries it is built with.
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The settings only the file (or `TRIBUTARY_SECTION__KEY`) can set, for `serve --help`.
const SERVE_FILE_SETTINGS: &str = "\
Settings in tributary.toml sections (environment: TRIBUTARY_<SECTION>__<KEY>, e.g. TRIBUTARY_EVENTLOG__FSYNC=never):

[eventlog]
  default_partitions = 3           partitions of a new topic when none is named (1-1024)
  default_retention = \"7d\"         retention of a new topic when none is named
  fsync = \"always\"                 embedded log: fsync before acknowledging (always | never)
  segment_size = \"64MiB\"           embedded log: size at which a segment file is rolled
  retention_check_interval = \"1m\"  embedded log: how often expired segments are deleted

[kafka_client]                     (used when --kafka is set)
  append_timeout = \"30s\"           how long an append may wait for the broker
  max_in_flight = \"64MiB\"          bytes awaiting the broker before appends wait
  linger = \"1ms\"                   how long the producer waits to fill a batch (0ms-1s)
  replication_factor = 3           of topics Tributary creates [default: the broker's]
  connect_timeout = \"10s\"          how long to wait for the broker at start-up
  [kafka_client.properties]        extra librdkafka properties (security.protocol, sasl.*, ssl.*);
                                   acks and enable.idempotence are fixed

[database]
  connect_timeout = \"10s\"          how long to wait for the metadata database at start-up

[server]
  shutdown_timeout = \"30s\"         after SIGTERM, how long in-flight requests may take

[gateway]
  max_request_size = \"10MiB\"       largest request body as sent; beyond: 413
  max_decompressed_size = \"64MiB\"  largest body after gzip/zstd; beyond: 413
  max_events_per_request = 10000   beyond: 413
  max_event_size = \"1MiB\"          largest event unless its event type sets max_event_bytes;
                                   beyond: that event is rejected too_large
  max_in_flight = \"256MiB\"         request bytes held at once by the gateway; beyond: 503
  request_timeout = \"30s\"          end to end per publish request; beyond: 503
  metadata_ttl = \"5s\"              how long event-type and latest-schema answers are cached;
                                   one request reads them again after half of it
  idempotency_window = \"10m\"       how long event ids are remembered for deduplication (\"off\")
  idempotency_max_entries = 100000 most remembered ids (oldest forgotten first)
  producer_rate_limit = 100.0      events per second per producer (none by default); beyond: 429
  producer_burst = 1000.0          events a producer may send at once [default: rate × 10]

[quality]
  scoring = true                   score every event and keep the quality history
  flush_interval = \"10s\"          how often counted verdicts are written to the history
  rollup_after = \"48h\"            age at which minute rows become hourly rows
  retention = \"90d\"               how long hourly history is kept
  maintenance_interval = \"5m\"     how often rollup and pruning run
  alert_interval = \"15s\"          how often alert thresholds are evaluated
  webhook_timeout = \"5s\"          per webhook delivery attempt
  webhook_attempts = 5             attempts per alert notification (doubling back-off from 1s)

[auth]
  mode = \"off\"                     off: callers name themselves in the Tributary-Principal header
                                   (admin | team:NAME | producer:NAME; none = local admin);
                                   allowed only while listening on loopback
                                   keys: every request carries an API key (Authorization: Bearer,
                                   or HTTP Basic with the key as password); see docs/producers-and-keys.md
  admin_key = \"…\"                  keys mode: the admin's key, at least 32 characters; better set
                                   as TRIBUTARY_AUTH__ADMIN_KEY than written in the file
";

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file [default: ./tributary.toml when it exists].
    #[arg(long, env = "TRIBUTARY_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) settings: Settings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// Only compare the applied migrations with those this binary ships; change nothing.
    /// Exits 1 when the database is not current.
    #[arg(long)]
    pub(crate) check: bool,

    #[command(flatten)]
    pub(crate) serve: ServeArgs,
}

/// Why the process stops with a non-zero status: one line for stderr, and the status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) exit_code: u8,
}

impl Failure {
    /// A problem with the configuration or the command line (status 2, like clap's).
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            exit_code: 2,
        }
    }

    /// A runtime failure (status 1).
    pub(crate) fn runtime(message: impl std::fmt::Display) -> Self {
        Failure {
            message: message.to_string(),
            exit_code: 1,
        }
    }
}

pub(crate) async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve(args) => {
            let config =
                config::load(args.config.as_deref(), &args.settings).map_err(Failure::usage)?;
            crate::serve::run(config).await
        }
        Command::Migrate(args) => {
            let config = config::load(args.serve.config.as_deref(), &args.serve.settings)
                .map_err(Failure::usage)?;
            crate::migrate::run(&config, args.check).await
        }
        Command::Schema(args) => schema::run(args).await,
        Command::Quality(args) => quality::run(args).await,
        Command::Catalog(args) => catalog::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Version { json } => {
            print_version(json);
            Ok(())
        }
    }
}

fn print_version(json: bool) {
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    let commit = option_env!("BUILD_GIT_COMMIT").unwrap_or("unknown");
    if json {
        let doc = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": commit,
            "librdkafka": librdkafka,
            "target": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        });
        println!("{doc}");
    } else {
        println!("tributary {} ({commit})", env!("CARGO_PKG_VERSION"));
        println!("librdkafka {librdkafka}");
    }
}
