//! Configuration: `tributary.toml` < `TRIBUTARY_*` environment < command-line flags.
//!
//! The file and the environment are parsed into [`Settings`], which refuses unknown keys;
//! flags are laid over it; then [`Config::from_layers`] validates everything into runtime
//! types that cannot hold an invalid value. Every error names the key and what it allows.

mod quality;

pub(crate) use quality::{QualityConfig, QualitySection};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The config file read when `--config` is not given (if it exists).
pub(crate) const DEFAULT_CONFIG_FILE: &str = "tributary.toml";

/// Top-level `TRIBUTARY_*` variables that are not serve settings but are still ours.
const OTHER_ENV: &[&str] = &["CONFIG", "LOG", "SERVER"];

/// Everything `tributary.toml` may contain. Top-level keys also have a flag and a
/// `TRIBUTARY_*` variable (see `tributary serve --help`); sections can be set from the
/// environment with a double underscore: `TRIBUTARY_EVENTLOG__FSYNC=never`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Address and port to serve on.
    #[arg(long, env = "TRIBUTARY_LISTEN", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) listen: Option<String>,

    /// Where the embedded event log and the SQLite file live [default: ./tributary-data].
    #[arg(long, env = "TRIBUTARY_DATA_DIR", value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Kafka bootstrap servers (host:port,…); when set, events live in Kafka instead of the
    /// embedded log.
    #[arg(long, env = "TRIBUTARY_KAFKA", value_name = "SERVERS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kafka: Option<String>,

    /// Metadata database: sqlite://PATH or postgres://USER:PASS@HOST/DB [default: SQLite file
    /// in the data directory].
    #[arg(long, env = "TRIBUTARY_DATABASE_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) database_url: Option<String>,

    /// Online feature store: `embedded` or redis://HOST:PORT [default: embedded].
    #[arg(long, env = "TRIBUTARY_ONLINE_STORE", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) online_store: Option<String>,

    /// Prefix put before every event type to name its topic [default: none].
    #[arg(long, env = "TRIBUTARY_TOPIC_PREFIX", value_name = "PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) topic_prefix: Option<String>,

    /// Log output: `text` or `json` [default: text]. Levels come from TRIBUTARY_LOG
    /// (e.g. `info,tributary_eventlog=debug`).
    #[arg(long, env = "TRIBUTARY_LOG_FORMAT", value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_format: Option<String>,

    /// Event-log settings shared by both backends.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) eventlog: EventLogSection,
    /// Settings of the Kafka client (used when `kafka` is set).
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) kafka_client: KafkaSection,
    /// Metadata-database settings.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) database: DatabaseSection,
    /// HTTP server settings.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) server: ServerSection,
    /// How callers prove who they are.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) auth: AuthSection,
    /// Publishing limits.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) gateway: GatewaySection,
    /// Quality scoring, history and alerts.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub(crate) quality: QualitySection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewaySection {
    /// Largest request body as sent, e.g. "10MiB" [default: 10MiB].
    max_request_size: Option<String>,
    /// Largest body after gzip/zstd decompression [default: 64MiB].
    max_decompressed_size: Option<String>,
    /// Most events in one request [default: 10000].
    max_events_per_request: Option<usize>,
    /// Largest single event unless its event type says otherwise [default: 1MiB].
    max_event_size: Option<String>,
    /// Request bytes the whole gateway holds at once [default: 256MiB].
    max_in_flight: Option<String>,
    /// How long one publish request may take end to end [default: 30s].
    request_timeout: Option<String>,
    /// How long event-type and latest-schema answers are cached [default: 5s].
    metadata_ttl: Option<String>,
    /// How long producer-supplied event ids are remembered; "off" disables [default: 10m].
    idempotency_window: Option<String>,
    /// Most remembered event ids [default: 100000].
    idempotency_max_entries: Option<usize>,
    /// Events per second each producer may publish on average [default: no limit].
    producer_rate_limit: Option<f64>,
    /// Events a producer may send at once above its rate [default: the rate limit × 10].
    producer_burst: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventLogSection {
    /// Partitions of a new event type's topic when it names none (1–1024) [default: 3].
    default_partitions: Option<u32>,
    /// Retention of a new topic when it names none, e.g. "7d" [default: 7d].
    default_retention: Option<String>,
    /// Embedded log: `always` (fsync before acknowledging) or `never` [default: always].
    fsync: Option<String>,
    /// Embedded log: size at which a segment file is rolled, e.g. "64MiB" [default: 64MiB].
    segment_size: Option<String>,
    /// Embedded log: how often retention is enforced, e.g. "1m" [default: 1m].
    retention_check_interval: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KafkaSection {
    /// How long an append may wait for the broker before it fails, e.g. "30s" [default: 30s].
    append_timeout: Option<String>,
    /// Bytes of records waiting for the broker before appends wait, e.g. "64MiB".
    max_in_flight: Option<String>,
    /// How long the producer waits to fill a batch (`linger.ms`), e.g. "1ms" [default: 1ms].
    linger: Option<String>,
    /// Replication factor of topics Tributary creates [default: the broker's].
    replication_factor: Option<i32>,
    /// Which producer appends: `native` (Tributary's own: one record batch per partition
    /// and request, far less CPU per event; plaintext, uncompressed), `librdkafka` (every
    /// librdkafka feature: TLS, SASL, compression) or `auto` (native unless `properties` ask
    /// for TLS, SASL or compression) [default: auto].
    producer: Option<String>,
    /// How long to wait for the broker at start-up, e.g. "10s" [default: 10s].
    connect_timeout: Option<String>,
    /// Extra librdkafka properties (security.protocol, sasl.*, ssl.*, …). Tributary's
    /// durability settings (acks, enable.idempotence) cannot be overridden.
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseSection {
    /// How long to wait for the database at start-up, e.g. "10s" [default: 10s].
    connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    /// After SIGTERM, how long in-flight requests may take before the server stops anyway,
    /// e.g. "30s" [default: 30s].
    shutdown_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    /// `off`: callers name themselves in the `Tributary-Principal` header (default: the local
    /// admin); allowed only while the server listens on loopback. `keys`: every request
    /// carries an API key (`Authorization: Bearer`, or HTTP Basic with the key as password)
    /// [default: off].
    mode: Option<String>,
    /// With `keys`: the admin's API key, at least 32 characters of high entropy. Set it from
    /// the environment (`TRIBUTARY_AUTH__ADMIN_KEY`) rather than the file; only its SHA-256
    /// is kept in memory, and it is never stored or logged.
    admin_key: Option<Secret>,
}

/// A secret setting: read like a string, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The shortest admin key accepted: keys are compared by a fast hash, so they must be long.
const MIN_ADMIN_KEY_LEN: usize = 32;

/// A configuration error: one line naming the key and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError(format!("invalid value {value:?} for `{key}`: {allowed}"))
}

/// How events are stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventLogConfig {
    Embedded {
        dir: PathBuf,
        fsync: tributary_eventlog::FsyncPolicy,
        segment_bytes: u64,
        retention_check_interval: Duration,
    },
    Kafka {
        bootstrap_servers: String,
        append_timeout: Duration,
        max_in_flight_bytes: u64,
        linger: Duration,
        replication_factor: Option<i32>,
        connect_timeout: Duration,
        properties: BTreeMap<String, String>,
        producer: tributary_eventlog::ProducerKind,
    },
}

/// Where online features are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OnlineStore {
    Embedded,
    Redis(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The validated configuration `tributary serve` runs with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    pub(crate) database_url: String,
    pub(crate) database_connect_timeout: Duration,
    pub(crate) event_log: EventLogConfig,
    pub(crate) online_store: OnlineStore,
    pub(crate) topic_prefix: String,
    pub(crate) default_partitions: u32,
    pub(crate) default_retention: Duration,
    pub(crate) log_format: LogFormat,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) auth: tributary_core::AuthMode,
    /// With `keys`: the admin's API key.
    pub(crate) admin_key: Option<Secret>,
    /// Sizes, timeouts and rates of the gateway.
    pub(crate) gateway: tributary_gateway::GatewayLimits,
    /// Quality scoring, history and alerts.
    pub(crate) quality: QualityConfig,
}

/// Reads the file (if any) and the `TRIBUTARY_*` environment, then lays `flags` on top.
/// `flags` already holds values clap took from flags or from their environment variables.
pub(crate) fn load(config_file: Option<&Path>, flags: &Settings) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    match config_file {
        Some(path) => {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
        }
        None => {}
    }
    // Section keys only (`TRIBUTARY_EVENTLOG__FSYNC`); top-level keys arrive through clap.
    figment = figment.merge(
        Env::prefixed("TRIBUTARY_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    figment = figment.merge(Serialized::defaults(flags));
    let file: Settings = figment.extract().map_err(|e| describe_figment_error(&e))?;
    warn_unknown_env();
    Config::from_layers(&file)
}

fn describe_figment_error(err: &figment::Error) -> ConfigError {
    let mut lines = Vec::new();
    for e in err.clone() {
        let key = if e.path.is_empty() {
            String::new()
        } else {
            format!(" `{}`", e.path.join("."))
        };
        let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
            Some(figment::Source::File(path)) => format!(" in {}", path.display()),
            Some(other) => format!(" from {other}"),
            None => match &e.metadata {
                Some(m) if m.name.contains("environment") => String::from(" from the environment"),
                _ => String::new(),
            },
        };
        let message = match &e.kind {
            figment::error::Kind::UnknownField(field, allowed) => {
                format!(
                    "unknown key `{field}`; allowed keys: {}",
                    allowed.join(", ")
                )
            }
            // TOML parse errors span several lines (a caret under the column): keep one line.
            other => other
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with('|')
                        && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
                })
                .collect::<Vec<_>>()
                .join(": "),
        };
        lines.push(format!("config{key}{source}: {message}"));
    }
    ConfigError(lines.join("; "))
}

fn warn_unknown_env() {
    for (name, _) in std::env::vars() {
        let Some(rest) = name.strip_prefix("TRIBUTARY_") else {
            continue;
        };
        if rest.contains("__") || rest.starts_with("TEST_") || OTHER_ENV.contains(&rest) {
            continue;
        }
        let known = [
            "LISTEN",
            "DATA_DIR",
            "KAFKA",
            "DATABASE_URL",
            "ONLINE_STORE",
            "TOPIC_PREFIX",
            "LOG_FORMAT",
        ];
        if !known.contains(&rest) {
            eprintln!("tributary: warning: ignoring unknown environment variable {name}");
        }
    }
}

impl Config {
    /// Validates the merged layers into runtime types.
    pub(crate) fn from_layers(file: &Settings) -> Result<Config, ConfigError> {
        let top = &file;
        let listen_raw = top
            .listen
            .clone()
            .unwrap_or_else(|| String::from("127.0.0.1:8080"));
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            invalid(
                "listen",
                &listen_raw,
                "expected IP:PORT, such as 127.0.0.1:8080 or 0.0.0.0:8080",
            )
        })?;

        let data_dir = top
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("tributary-data"));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "", "expected a directory path"));
        }

        let database_url = match top.database_url.clone() {
            Some(url) => {
                if tributary_core::DatabaseBackend::from_url(&url).is_none() {
                    return Err(invalid(
                        "database_url",
                        &tributary_core::redact_url(&url),
                        "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                    ));
                }
                url
            }
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("tributary.db").display()
            ),
        };

        let eventlog = &file.eventlog;
        let default_partitions = eventlog.default_partitions.unwrap_or(3);
        if !(1..=tributary_eventlog::MAX_PARTITIONS).contains(&default_partitions) {
            return Err(invalid(
                "eventlog.default_partitions",
                &default_partitions.to_string(),
                "expected a number from 1 to 1024",
            ));
        }
        let default_retention = duration(
            "eventlog.default_retention",
            eventlog.default_retention.clone(),
            "7d",
        )?;

        let event_log = match top.kafka.clone() {
            Some(servers) => {
                let servers = servers.trim().to_owned();
                validate_bootstrap(&servers)?;
                let kafka = &file.kafka_client;
                for key in kafka.properties.keys() {
                    if PROTECTED_KAFKA_PROPERTIES.contains(&key.as_str()) {
                        return Err(ConfigError(format!(
                            "config key `kafka_client.properties.{key}` cannot be set: Tributary fixes it \
                             so that acknowledged events are durable"
                        )));
                    }
                }
                if let Some(rf) = kafka.replication_factor
                    && rf < 1
                {
                    return Err(invalid(
                        "kafka_client.replication_factor",
                        &rf.to_string(),
                        "expected a number of at least 1 (leave it out for the broker's default)",
                    ));
                }
                EventLogConfig::Kafka {
                    bootstrap_servers: servers,
                    append_timeout: duration(
                        "kafka_client.append_timeout",
                        kafka.append_timeout.clone(),
                        "30s",
                    )?,
                    max_in_flight_bytes: size(
                        "kafka_client.max_in_flight",
                        kafka.max_in_flight.clone(),
                        "64MiB",
                    )?,
                    linger: linger(kafka.linger.as_deref())?,
                    replication_factor: kafka.replication_factor,
                    connect_timeout: duration(
                        "kafka_client.connect_timeout",
                        kafka.connect_timeout.clone(),
                        "10s",
                    )?,
                    properties: kafka.properties.clone(),
                    producer: match kafka.producer.as_deref() {
                        None => tributary_eventlog::ProducerKind::default(),
                        Some(name) => name.parse().map_err(|_| {
                            invalid(
                                "kafka_client.producer",
                                name,
                                "expected \"auto\", \"librdkafka\" or \"native\"",
                            )
                        })?,
                    },
                }
            }
            None => {
                let fsync = match eventlog.fsync.as_deref() {
                    None | Some("always") => tributary_eventlog::FsyncPolicy::Always,
                    Some("never") => tributary_eventlog::FsyncPolicy::Never,
                    Some(other) => {
                        return Err(invalid(
                            "eventlog.fsync",
                            other,
                            "expected `always` or `never`",
                        ));
                    }
                };
                let segment_bytes = size(
                    "eventlog.segment_size",
                    eventlog.segment_size.clone(),
                    "64MiB",
                )?;
                if segment_bytes < 4096 {
                    return Err(invalid(
                        "eventlog.segment_size",
                        &segment_bytes.to_string(),
                        "expected at least 4KiB",
                    ));
                }
                EventLogConfig::Embedded {
                    dir: data_dir.join("eventlog"),
                    fsync,
                    segment_bytes,
                    retention_check_interval: duration(
                        "eventlog.retention_check_interval",
                        eventlog.retention_check_interval.clone(),
                        "1m",
                    )?,
                }
            }
        };

        let online_store = match top.online_store.as_deref() {
            None | Some("embedded") => OnlineStore::Embedded,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                OnlineStore::Redis(url.to_owned())
            }
            Some(other) => {
                return Err(invalid(
                    "online_store",
                    other,
                    "expected `embedded` or redis://HOST:PORT",
                ));
            }
        };

        let topic_prefix = top.topic_prefix.clone().unwrap_or_default();
        if let Some(c) = topic_prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(invalid(
                "topic_prefix",
                &topic_prefix,
                &format!(
                    "{c:?} is not allowed in a topic name; use letters, digits, '.', '_' and '-'"
                ),
            ));
        }

        let log_format = match top.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("log_format", other, "expected `text` or `json`")),
        };

        let auth = match file.auth.mode.as_deref() {
            None => tributary_core::AuthMode::Off,
            Some(text) => text
                .parse()
                .map_err(|reason: String| invalid("auth.mode", text, &reason))?,
        };
        let admin_key = file.auth.admin_key.clone();
        if auth == tributary_core::AuthMode::Keys {
            match &admin_key {
                None => {
                    return Err(ConfigError(String::from(
                        "`[auth] mode = \"keys\"` needs an admin key: set TRIBUTARY_AUTH__ADMIN_KEY to a random secret of at least 32 characters (e.g. `openssl rand -hex 32`)",
                    )));
                }
                Some(Secret(key)) if key.trim().len() < MIN_ADMIN_KEY_LEN => {
                    return Err(ConfigError(format!(
                        "config `auth.admin_key`: the admin key must be at least {MIN_ADMIN_KEY_LEN} characters (e.g. `openssl rand -hex 32`)"
                    )));
                }
                Some(_) => {}
            }
        }

        Ok(Config {
            listen,
            data_dir,
            database_url,
            database_connect_timeout: duration(
                "database.connect_timeout",
                file.database.connect_timeout.clone(),
                "10s",
            )?,
            event_log,
            online_store,
            topic_prefix,
            default_partitions,
            default_retention,
            log_format,
            shutdown_timeout: duration(
                "server.shutdown_timeout",
                file.server.shutdown_timeout.clone(),
                "30s",
            )?,
            auth,
            admin_key,
            gateway: gateway_limits(&file.gateway)?,
            quality: QualityConfig::from_section(&file.quality)?,
        })
    }

    /// Refuses to serve without authentication on anything but loopback (DESIGN.md,
    /// "Security defaults").
    pub(crate) fn check_exposure(&self) -> Result<(), ConfigError> {
        if self.auth == tributary_core::AuthMode::Off && !self.listen.ip().is_loopback() {
            return Err(ConfigError(format!(
                "refusing to listen on {} with auth off (`[auth] mode = \"off\"`): anyone who can reach it could change every schema; listen on loopback (127.0.0.1 or [::1]) or use API keys (`[auth] mode = \"keys\"`)",
                self.listen
            )));
        }
        Ok(())
    }

    /// The database URL with any password hidden, for logs.
    pub(crate) fn database_url_redacted(&self) -> String {
        tributary_core::redact_url(&self.database_url)
    }
}

/// librdkafka properties that decide durability: fixed by Tributary.
const PROTECTED_KAFKA_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "bootstrap.servers",
    "metadata.broker.list",
];

/// The gateway's limits: its defaults, with what the section sets.
fn gateway_limits(
    section: &GatewaySection,
) -> Result<tributary_gateway::GatewayLimits, ConfigError> {
    let defaults = tributary_gateway::GatewayLimits::default();
    let bytes = |key: &str, value: &Option<String>, default: usize| match value {
        None => Ok(default),
        Some(raw) => size(key, Some(raw.clone()), "")
            .and_then(|n| usize::try_from(n).map_err(|_| invalid(key, raw, "too large"))),
    };
    let time = |key: &str, value: &Option<String>, default: Duration| match value {
        None => Ok(default),
        Some(raw) => duration(key, Some(raw.clone()), ""),
    };
    let count = |key: &str, value: Option<usize>, default: usize| match value {
        Some(0) => Err(invalid(key, "0", "expected at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let idempotency_window = match section.idempotency_window.as_deref().map(str::trim) {
        Some("off") => Duration::ZERO,
        _ => time(
            "gateway.idempotency_window",
            &section.idempotency_window,
            defaults.idempotency_window,
        )?,
    };
    Ok(tributary_gateway::GatewayLimits {
        max_body_bytes: bytes(
            "gateway.max_request_size",
            &section.max_request_size,
            defaults.max_body_bytes,
        )?,
        max_decompressed_bytes: bytes(
            "gateway.max_decompressed_size",
            &section.max_decompressed_size,
            defaults.max_decompressed_bytes,
        )?,
        max_events_per_request: count(
            "gateway.max_events_per_request",
            section.max_events_per_request,
            defaults.max_events_per_request,
        )?,
        max_event_bytes: bytes(
            "gateway.max_event_size",
            &section.max_event_size,
            defaults.max_event_bytes,
        )?,
        max_in_flight_bytes: bytes(
            "gateway.max_in_flight",
            &section.max_in_flight,
            defaults.max_in_flight_bytes,
        )?,
        request_timeout: time(
            "gateway.request_timeout",
            &section.request_timeout,
            defaults.request_timeout,
        )?,
        metadata_ttl: time(
            "gateway.metadata_ttl",
            &section.metadata_ttl,
            defaults.metadata_ttl,
        )?,
        idempotency_window,
        idempotency_max_entries: count(
            "gateway.idempotency_max_entries",
            section.idempotency_max_entries,
            defaults.idempotency_max_entries,
        )?,
        producer_rate: producer_rate(section)?,
    })
}

fn producer_rate(
    section: &GatewaySection,
) -> Result<Option<tributary_gateway::RateLimit>, ConfigError> {
    let Some(rate) = section.producer_rate_limit else {
        if section.producer_burst.is_some() {
            return Err(ConfigError(String::from(
                "config key `gateway.producer_burst` needs `gateway.producer_rate_limit`",
            )));
        }
        return Ok(None);
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(invalid(
            "gateway.producer_rate_limit",
            &rate.to_string(),
            "expected events per second greater than zero",
        ));
    }
    let burst = section.producer_burst.unwrap_or(rate * 10.0);
    if !(burst.is_finite() && burst >= 1.0) {
        return Err(invalid(
            "gateway.producer_burst",
            &burst.to_string(),
            "expected at least 1 event",
        ));
    }
    Ok(Some(tributary_gateway::RateLimit {
        events_per_second: rate,
        burst,
    }))
}

fn validate_bootstrap(servers: &str) -> Result<(), ConfigError> {
    let allowed = "expected comma-separated HOST:PORT pairs, such as kafka-1:9092,kafka-2:9092";
    if servers.is_empty() {
        return Err(invalid("kafka", servers, allowed));
    }
    for server in servers.split(',') {
        let server = server.trim();
        let server = server.split_once("://").map_or(server, |(_, rest)| rest);
        let Some((host, port)) = server.rsplit_once(':') else {
            return Err(invalid("kafka", servers, allowed));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(invalid("kafka", servers, allowed));
        }
    }
    Ok(())
}

fn duration(key: &str, value: Option<String>, default: &str) -> Result<Duration, ConfigError> {
    let raw = value.unwrap_or_else(|| default.to_owned());
    let parsed = humantime::parse_duration(raw.trim()).map_err(|_| {
        invalid(
            key,
            &raw,
            "expected a duration such as 500ms, 30s, 5m, 12h or 7d",
        )
    })?;
    if parsed.is_zero() {
        return Err(invalid(key, &raw, "expected a duration greater than zero"));
    }
    Ok(parsed)
}

/// `kafka_client.linger`: 0 to 1 s (librdkafka's `linger.ms`); every append waits for its
/// records to be durable, so this is latency added to each publish when traffic is light.
fn linger(value: Option<&str>) -> Result<Duration, ConfigError> {
    let raw = value.unwrap_or("1ms").trim();
    match humantime::parse_duration(raw) {
        Ok(linger) if linger <= Duration::from_secs(1) => Ok(linger),
        _ => Err(invalid(
            "kafka_client.linger",
            raw,
            "expected a duration from 0ms to 1s, such as 0ms, 1ms or 5ms",
        )),
    }
}

fn size(key: &str, value: Option<String>, default: &str) -> Result<u64, ConfigError> {
    let raw = value.unwrap_or_else(|| default.to_owned());
    parse_size(&raw).ok_or_else(|| {
        invalid(
            key,
            &raw,
            "expected a size such as 4096, 512KiB, 64MiB or 1GiB",
        )
    })
}

/// Parses `1234`, `512KiB`, `64MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub(crate) fn parse_size(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(multiplier).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests;
