//! `tributary replay`: start, watch, list, pause, resume and cancel a server's replay jobs,
//! and verify an audit export's manifest.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::Failure;

mod standalone;
use super::schema::client::{CliError, RegistryClient};

/// Replay retained events: to a topic, back to the source, or to audit files.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    global: super::server_args::ServerArgs,

    #[command(subcommand)]
    command: ReplayCommand,
}

#[derive(Debug, Subcommand)]
enum ReplayCommand {
    /// Start a replay job on the server (owners of every event type, or admins). Prints the
    /// job; with --watch, follows it to the end.
    Create(Box<CreateArgs>),
    /// Follow a job until it ends: a progress line with rate and ETA.
    Watch { id: String },
    /// Jobs, newest first.
    List {
        /// Only jobs reading this event type.
        #[arg(long)]
        event_type: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job, with its progress per partition.
    Get { id: String },
    /// Pause a job between batches.
    Pause { id: String },
    /// Resume a paused job from its checkpoints.
    Resume { id: String },
    /// Cancel a job between batches.
    Cancel { id: String },
    /// Run a replay here, against Kafka, without a server (for operators). Checkpoints go to
    /// a local SQLite file, so a run that was stopped (Ctrl-C, a crash) resumes with
    /// `--resume JOB_ID` without re-emitting what it confirmed.
    Run(Box<StandaloneArgs>),
    /// Check an audit export against its manifest (sizes, SHA-256, counts, offsets). Runs
    /// locally on the export directory; exit status 1 when anything differs.
    Verify { dir: PathBuf },
}

/// What selects records, and how many and how fast (`create` and `run` alike).
#[derive(Debug, clap::Args)]
struct Filters {
    /// Only dead letters with this reason (repeatable).
    #[arg(long = "reason")]
    reasons: Vec<String>,
    /// Only records with this key (repeatable).
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Only records from this producer (repeatable).
    #[arg(long = "producer")]
    producers: Vec<String>,
    /// Only records of this schema version (repeatable).
    #[arg(long = "schema-version")]
    schema_versions: Vec<i32>,
    /// Only events whose field equals a JSON value: POINTER=VALUE, e.g. /country="NL".
    #[arg(long = "where", value_name = "POINTER=JSON")]
    predicate: Option<String>,
    /// Stop after this many events.
    #[arg(long)]
    max_events: Option<u64>,
    /// At most this many events per second.
    #[arg(long)]
    rate: Option<u32>,
}

/// `tributary replay create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Event types to replay.
    #[arg(required = true)]
    event_types: Vec<String>,
    /// Start of the range (included): RFC 3339 or relative, e.g. -6h, -30m, -2d.
    #[arg(long, allow_hyphen_values = true)]
    from: String,
    /// End of the range (excluded) [default: now, fixed when the job is created].
    #[arg(long, allow_hyphen_values = true)]
    to: Option<String>,
    /// Replay the dead letters of these event types instead.
    #[arg(long)]
    dead_letters: bool,
    #[command(flatten)]
    filters: Filters,
    /// Target topic [default: replay.<job-id>].
    #[arg(long, conflicts_with_all = ["to_source", "file"])]
    topic: Option<String>,
    /// Replay back into the source topic (records carry tributary.replay_job).
    #[arg(long, conflicts_with = "file")]
    to_source: bool,
    /// Export to this new directory under the server's export directory.
    #[arg(long)]
    file: Option<String>,
    /// Export format.
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "avro"])]
    format: String,
    /// Re-ingest the dead letters through the gateway: validated again against the current
    /// schema, under their original event ids (with --dead-letters).
    #[arg(long, requires = "dead_letters", conflicts_with_all = ["topic", "to_source", "file"])]
    reingest: bool,
    /// A JSON Patch (RFC 6902) applied to each dead letter before it is re-ingested: the JSON
    /// text, or @FILE to read it from a file.
    #[arg(long, requires = "reingest", value_name = "JSON|@FILE")]
    fix: Option<String>,
    /// Only plan: per partition the offsets it would read and the count it would emit (with
    /// --reingest: the first dead letters before and after the fix, and their new verdict).
    #[arg(long)]
    dry_run: bool,
    /// Follow the job with a progress line until it ends.
    #[arg(long)]
    watch: bool,
}

/// `tributary replay run`.
#[derive(Debug, clap::Args)]
struct StandaloneArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "TRIBUTARY_KAFKA_BOOTSTRAP_SERVERS",
        value_name = "HOST:PORT"
    )]
    bootstrap: String,
    /// A librdkafka property for the Kafka clients, e.g. `security.protocol=SSL` or
    /// `sasl.mechanism=PLAIN` (repeatable). `acks`, `enable.idempotence` and
    /// `bootstrap.servers` are Tributary's to set.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    kafka_properties: Vec<(String, String)>,
    /// Source topics (repeatable).
    #[arg(long = "topic", required_unless_present = "resume")]
    topics: Vec<String>,
    /// Start of the range (included): RFC 3339 or relative, e.g. -6h, -30m, -2d.
    #[arg(long, required_unless_present = "resume", allow_hyphen_values = true)]
    from: Option<String>,
    /// End of the range (excluded) [default: now, fixed when the run starts].
    #[arg(long, allow_hyphen_values = true)]
    to: Option<String>,
    #[command(flatten)]
    filters: Filters,
    /// Target topic [default: replay.<job-id>].
    #[arg(long = "to-topic", conflicts_with = "file")]
    to_topic: Option<String>,
    /// Export to this new directory (NDJSON or Avro files and a manifest).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Export format.
    #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "avro"])]
    format: String,
    /// Only plan: per partition the offsets it would read and the count it would emit.
    #[arg(long)]
    dry_run: bool,
    /// The SQLite file keeping jobs' plans and checkpoints.
    #[arg(long, default_value = "tributary-replay.db")]
    state: PathBuf,
    /// Resume this earlier run (same plan, from its checkpoints); the other options must be
    /// those it was started with.
    #[arg(long, value_name = "JOB_ID")]
    resume: Option<String>,
}

/// `KEY=VALUE`, both sides non-empty.
fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() && !value.is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

pub(crate) async fn run(args: ReplayArgs) -> Result<(), Failure> {
    if let ReplayCommand::Run(standalone) = args.command {
        return standalone::run(*standalone, args.global.json).await;
    }
    let fail = |error: CliError| Failure {
        message: super::schema::message(&error),
        exit_code: error.exit_code(),
    };
    if let ReplayCommand::Verify { dir } = &args.command {
        return verify(dir, args.global.json).await;
    }
    let client = RegistryClient::new(&args.global.server, args.global.timeout).map_err(fail)?;
    let json_out = args.global.json;
    let print = |value: &Value| {
        if json_out {
            println!("{value}");
        } else {
            print!("{}", render_job(value));
        }
    };
    match args.command {
        ReplayCommand::Create(create) => {
            let CreateArgs {
                event_types,
                from,
                to,
                dead_letters,
                filters:
                    Filters {
                        reasons,
                        keys,
                        producers,
                        schema_versions,
                        predicate,
                        max_events,
                        rate,
                    },
                topic,
                to_source,
                file,
                format,
                reingest,
                fix,
                dry_run,
                watch,
            } = *create;
            let predicate = match predicate.as_deref().map(parse_predicate).transpose() {
                Ok(p) => p,
                Err(message) => {
                    return Err(Failure {
                        message,
                        exit_code: 2,
                    });
                }
            };
            let fix = match fix.as_deref().map(read_fix).transpose() {
                Ok(fix) => fix,
                Err(message) => {
                    return Err(Failure {
                        message,
                        exit_code: 2,
                    });
                }
            };
            let target = match (topic, to_source, file) {
                _ if reingest => json!({ "gateway": true }),
                (Some(topic), _, _) => json!({ "topic": topic }),
                (None, true, _) => json!({ "source": true }),
                (None, false, Some(path)) => json!({ "file": { "path": path, "format": format } }),
                (None, false, None) => Value::Null,
            };
            let mut body = json!({
                "event_types": event_types, "from": from, "dead_letters": dead_letters,
                "reasons": reasons, "keys": keys, "producers": producers,
                "schema_versions": schema_versions, "dry_run": dry_run,
            });
            let fields = [
                ("to", to.map(Value::from)),
                ("predicate", predicate),
                ("max_events", max_events.map(Value::from)),
                ("rate", rate.map(Value::from)),
                ("target", (!target.is_null()).then_some(target)),
                ("fix", fix),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    body[name] = value;
                }
            }
            let answer: Value = client
                .v1(Method::POST, &["replays"], &[], Some(&body))
                .await
                .map_err(fail)?;
            if dry_run {
                if json_out {
                    println!("{answer}");
                } else {
                    print!("{}", render_dry_run(&answer));
                }
                return Ok(());
            }
            print(&answer);
            if watch && let Some(id) = answer["id"].as_str() {
                follow(&client, id, json_out).await.map_err(fail)?;
            }
        }
        ReplayCommand::Watch { id } => follow(&client, &id, json_out).await.map_err(fail)?,
        ReplayCommand::List { event_type, limit } => {
            let limit = limit.to_string();
            let mut query = vec![("limit", limit.as_str())];
            if let Some(t) = event_type.as_deref() {
                query.push(("event_type", t));
            }
            let answer: Value = client
                .v1(Method::GET, &["replays"], &query, None)
                .await
                .map_err(fail)?;
            if json_out {
                println!("{answer}");
            } else {
                for job in answer["jobs"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<9}  {:>10} emitted  {}",
                        job["id"].as_str().unwrap_or(""),
                        job["state"].as_str().unwrap_or(""),
                        job["emitted"],
                        job["event_types"]
                            .as_array()
                            .map(|t| t
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(","))
                            .unwrap_or_default()
                    );
                }
            }
        }
        ReplayCommand::Get { id } => {
            let answer: Value = client
                .v1(Method::GET, &["replays", &id], &[], None)
                .await
                .map_err(fail)?;
            print(&answer);
        }
        ReplayCommand::Pause { id } => change(&client, &id, "pause", print).await.map_err(fail)?,
        ReplayCommand::Resume { id } => {
            change(&client, &id, "resume", print).await.map_err(fail)?
        }
        ReplayCommand::Cancel { id } => {
            change(&client, &id, "cancel", print).await.map_err(fail)?
        }
        ReplayCommand::Verify { .. } | ReplayCommand::Run(_) => unreachable!("handled above"),
    }
    Ok(())
}

/// `POST /v1/replays/{id}/{action}`; prints the job as it is now.
async fn change(
    client: &RegistryClient,
    id: &str,
    action: &str,
    print: impl Fn(&Value),
) -> Result<(), CliError> {
    let answer: Value = client
        .v1(Method::POST, &["replays", id, action], &[], None)
        .await?;
    print(&answer);
    Ok(())
}

/// `--fix`: JSON text, or `@FILE`.
fn read_fix(text: &str) -> Result<Value, String> {
    let (source, text) = match text.strip_prefix('@') {
        Some(path) => (
            path.to_owned(),
            std::fs::read_to_string(path).map_err(|e| format!("--fix @{path}: {e}"))?,
        ),
        None => (String::from("the argument"), text.to_owned()),
    };
    serde_json::from_str(&text)
        .map_err(|e| format!("--fix: {source} is not JSON ({e}); expected a JSON Patch array"))
}

/// `POINTER=JSON` as an equality predicate; a value that is not JSON is taken as a string.
fn parse_predicate(text: &str) -> Result<Value, String> {
    let (pointer, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--where {text:?}: expected POINTER=VALUE, e.g. /country=\"NL\""))?;
    if !pointer.starts_with('/') {
        return Err(format!(
            "--where {text:?}: the field is a JSON pointer starting with '/'"
        ));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
    Ok(json!({ "op": "eq", "pointer": pointer, "value": value }))
}

/// Polls the job every second and redraws one progress line until it ends.
async fn follow(client: &RegistryClient, id: &str, json_out: bool) -> Result<(), CliError> {
    let mut stderr = std::io::stderr();
    loop {
        let job: Value = client.v1(Method::GET, &["replays", id], &[], None).await?;
        let state = job["state"].as_str().unwrap_or("");
        if json_out {
            println!("{job}");
        } else {
            let emitted = job["emitted"].as_u64().unwrap_or(0);
            let _ = write!(
                stderr,
                "\r{}",
                progress_line(state, emitted, &job["progress"])
            );
            let _ = stderr.flush();
        }
        if matches!(state, "completed" | "cancelled" | "failed") {
            if !json_out {
                let _ = writeln!(stderr);
                if let Some(error) = job["error"].as_str() {
                    let _ = writeln!(stderr, "error: {error}");
                }
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `running   12345 emitted  [#####...............]  24%  1200/s  ETA 32s`, from a job
/// (its `state`, and `progress` while it runs on the server).
fn progress_line(state: &str, emitted: u64, progress: &Value) -> String {
    let emitted = progress["totals"]["emitted"].as_u64().unwrap_or(emitted);
    let mut line = format!("{state:<9} {emitted} emitted");
    let done = progress["offsets_done"].as_u64();
    let total = progress["offsets_total"].as_u64();
    if let (Some(done), Some(total)) = (done, total) {
        let fraction = if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        };
        let filled = (fraction.clamp(0.0, 1.0) * 20.0).round() as usize;
        line.push_str(&format!(
            "  [{}{}] {:>3.0}%",
            "#".repeat(filled),
            ".".repeat(20 - filled),
            fraction * 100.0
        ));
    }
    if let Some(rate) = progress["events_per_sec"].as_f64() {
        line.push_str(&format!("  {rate:.0}/s"));
    }
    if let Some(eta) = progress["eta_secs"].as_u64() {
        line.push_str(&format!("  ETA {eta}s"));
    }
    line.push_str("   ");
    line
}

fn render_job(job: &Value) -> String {
    let mut out = format!(
        "job {}\n  state: {} (asked: {})\n  emitted: {}  filtered: {}  unreadable: {}\n",
        job["id"].as_str().unwrap_or("?"),
        job["state"].as_str().unwrap_or("?"),
        job["desired"].as_str().unwrap_or("?"),
        job["emitted"],
        job["filtered"],
        job["unreadable"],
    );
    if let Some(error) = job["error"].as_str() {
        out.push_str(&format!("  error: {error}\n"));
    }
    for p in job["progress"]["partitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  {}[{}] offsets {}..{} next {} emitted {}\n",
            p["topic"].as_str().unwrap_or("?"),
            p["partition"],
            p["start"],
            p["end"],
            p["next_offset"],
            p["emitted"]
        ));
    }
    out
}

fn render_dry_run(dry: &Value) -> String {
    let mut out = format!("would emit {} events\n", dry["would_emit"]);
    for p in dry["partitions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}[{}] offsets {}..{}: read {}, would emit {}, filtered {}, unreadable {}\n",
            p["topic"].as_str().unwrap_or("?"),
            p["partition"],
            p["start"],
            p["end"],
            p["read"],
            p["emitted"],
            p["filtered"],
            p["unreadable"]
        ));
    }
    for f in dry["fixes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  dead letter {}[{}]@{} {} ({}):\n    before: {}\n    after:  {}\n    now:    {}\n",
            f["topic"].as_str().unwrap_or("?"),
            f["partition"],
            f["offset"],
            f["event_id"].as_str().unwrap_or("?"),
            f["reason"].as_str().unwrap_or("?"),
            f["before"],
            f.get("after").filter(|a| !a.is_null()).map_or_else(
                || format!(
                    "(fix does not apply: {})",
                    f["patch_error"].as_str().unwrap_or("?")
                ),
                Value::to_string
            ),
            verdict_text(&f["verdict"]),
        ));
    }
    for w in dry["warnings"].as_array().into_iter().flatten() {
        out.push_str(&format!("  warning: {}\n", w.as_str().unwrap_or("")));
    }
    out
}

/// A re-validation verdict of a dry run, in words.
fn verdict_text(verdict: &Value) -> String {
    match verdict["status"].as_str() {
        Some("rejected") => format!(
            "still rejected: {} {}",
            verdict["reason"].as_str().unwrap_or(""),
            verdict["violations"]
        ),
        Some(other) => other.to_owned(),
        None if verdict.is_null() => String::from("not resubmitted"),
        None => verdict.to_string(),
    }
}

async fn verify(dir: &std::path::Path, json_out: bool) -> Result<(), Failure> {
    let report = tributary_replay::verify(dir).await.map_err(|e| Failure {
        message: e.to_string(),
        exit_code: 1,
    })?;
    if json_out {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else if report.ok {
        println!("{}: ok ({} records)", dir.display(), report.records);
    } else {
        println!("{}: does not match its manifest", dir.display());
        for problem in &report.problems {
            println!("  - {problem}");
        }
    }
    if report.ok {
        Ok(())
    } else {
        Err(Failure {
            message: format!("{} failed verification", dir.display()),
            exit_code: 1,
        })
    }
}
