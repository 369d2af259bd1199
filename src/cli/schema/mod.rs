//! `tributary schema register | check | diff | get | list`: the schema registry of a running
//! server from the command line. Handlers are thin: parse arguments, make the calls of
//! [`client`], print what [`render`] makes of the answers.

pub(crate) mod client;
mod diff;
mod handlers;
mod render;

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use tributary_core::EventTypeName;

use super::Failure;
use client::{CliError, NewSchema, Reference, RegistryClient};

/// Schemas of a running server: register, check, diff, get, list.
#[derive(Debug, clap::Args)]
#[command(after_long_help = ADDRESSING)]
pub(crate) struct SchemaArgs {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: SchemaCommand,
}

const ADDRESSING: &str = "\
Addressing: TYPE is an event type; its subject is {topic prefix}TYPE-value, as the server names
it. When the server runs with a topic prefix, give the same --topic-prefix (or set
TRIBUTARY_TOPIC_PREFIX). --subject S names any subject directly.

Exit status: 0 success, 1 the server refused or could not be reached (or, for check, the schema
is incompatible), 2 bad arguments.";

#[derive(Debug, clap::Args)]
struct GlobalArgs {
    #[command(flatten)]
    server: super::server_args::ServerArgs,

    /// Topic prefix the server uses; put before TYPE to name its subject [default: none].
    #[arg(
        long,
        env = "TRIBUTARY_TOPIC_PREFIX",
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true,
        global = true
    )]
    topic_prefix: String,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Register a schema under a subject; says so when the subject already holds it.
    ///
    /// Prints `registered SUBJECT version V (id I)`. An incompatible schema is refused with
    /// each problem on its own line (exit 1). --json: {"subject","version","id","schemaType",
    /// "created"}.
    Register(RegisterArgs),
    /// Check a schema's compatibility with the latest version, one version, or all versions
    /// the subject's level looks at (exit 1 when incompatible).
    ///
    /// --json: the server's {"is_compatible", "messages"}.
    #[command(disable_version_flag = true)]
    Check(CheckArgs),
    /// Show the differences between two versions (default: the previous and the latest) or
    /// between a file and the latest version, with a compatibility verdict.
    ///
    /// --json: {"subject", "from", "to", "changed", "diff", "compatibility"}.
    #[command(
        override_usage = "tributary schema diff [OPTIONS] <TYPE | --subject SUBJECT> [V1 V2]\n       \
                          tributary schema diff [OPTIONS] <TYPE | --subject SUBJECT> --file FILE"
    )]
    Diff(DiffArgs),
    /// Print a schema, pretty, under a header line (subject, version, id, type).
    ///
    /// --json: the server's answer for the version (or for the id).
    #[command(disable_version_flag = true)]
    Get(GetArgs),
    /// List subjects with their latest version, or the versions of one subject.
    ///
    /// --json: the server's version objects.
    List(ListArgs),
}

/// Which subject a command is about.
#[derive(Debug, clap::Args)]
struct Target {
    /// Event type; its subject is {topic prefix}TYPE-value.
    #[arg(value_name = "TYPE")]
    event_type: Option<String>,

    /// A subject name, instead of an event type.
    #[arg(long, value_name = "SUBJECT", conflicts_with = "event_type")]
    subject: Option<String>,
}

impl Target {
    fn subject(&self, topic_prefix: &str) -> Result<Option<String>, CliError> {
        if let Some(subject) = &self.subject {
            if subject.is_empty() {
                return Err(CliError::Usage("--subject must not be empty".to_owned()));
            }
            return Ok(Some(subject.clone()));
        }
        let Some(raw) = &self.event_type else {
            return Ok(None);
        };
        subject_of(raw, topic_prefix).map(Some)
    }

    fn require(&self, topic_prefix: &str) -> Result<String, CliError> {
        self.subject(topic_prefix)?.ok_or_else(|| {
            CliError::Usage("name an event type (TYPE) or a subject (--subject S)".to_owned())
        })
    }
}

fn subject_of(event_type: &str, topic_prefix: &str) -> Result<String, CliError> {
    let name = EventTypeName::parse(event_type).map_err(|error| {
        CliError::Usage(format!(
            "{event_type:?} is not an event type name: {error}; use --subject for other subjects"
        ))
    })?;
    Ok(name.subject(topic_prefix))
}

/// A schema file and how to read it.
#[derive(Debug, clap::Args)]
struct SchemaFile {
    /// Schema file; `-` reads standard input.
    #[arg(long, short = 'f', value_name = "FILE")]
    file: PathBuf,

    /// Schema type [default: from the extension: .avsc is avro, .json is json].
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    schema_type: Option<SchemaKind>,

    /// A reference the schema uses, as NAME=SUBJECT:VERSION (repeatable).
    #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
    references: Vec<String>,

    /// Normalize the schema before comparing it with stored ones.
    #[arg(long)]
    normalize: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaKind {
    Avro,
    Json,
}

impl SchemaKind {
    fn wire_name(self) -> &'static str {
        match self {
            SchemaKind::Avro => "AVRO",
            SchemaKind::Json => "JSON",
        }
    }
}

#[derive(Debug, clap::Args)]
struct RegisterArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    schema: SchemaFile,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    schema: SchemaFile,
    /// Check against this version, `latest`, or `all` (every version the subject's
    /// compatibility level looks at when registering: all of them for *_TRANSITIVE levels).
    #[arg(long, value_name = "V|latest|all", default_value = "latest")]
    version: String,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// Version number or `latest`.
    #[arg(long, value_name = "V|latest", conflicts_with = "id")]
    version: Option<String>,
    /// A schema id (TYPE or --subject is then optional).
    #[arg(long, value_name = "ID")]
    id: Option<u32>,
    /// Print the schema text only, as stored.
    #[arg(long, conflicts_with = "json")]
    raw: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    target: Target,
    /// Only subjects whose name starts with this (a subject prefix, not an event type).
    #[arg(long, value_name = "P", conflicts_with_all = ["event_type", "subject"])]
    prefix: Option<String>,
    /// Include soft-deleted subjects and versions.
    #[arg(long)]
    deleted: bool,
}

#[derive(Debug, clap::Args)]
struct DiffArgs {
    /// A subject name, instead of an event type.
    #[arg(long, value_name = "SUBJECT")]
    subject: Option<String>,
    /// TYPE (unless --subject is given), then optionally two versions V1 V2.
    #[arg(value_name = "ARGS", num_args = 0..=3)]
    args: Vec<String>,
    /// Compare this schema file with the latest version instead; `-` reads standard input.
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// Type of --file [default: from the extension].
    #[arg(long = "type", value_enum, value_name = "TYPE", requires = "file")]
    schema_type: Option<SchemaKind>,
    /// A reference --file uses, as NAME=SUBJECT:VERSION (repeatable).
    #[arg(
        long = "reference",
        value_name = "NAME=SUBJECT:VERSION",
        requires = "file"
    )]
    references: Vec<String>,
}

/// Runs one `tributary schema` command.
pub(crate) async fn run(args: SchemaArgs) -> Result<(), Failure> {
    let json = args.global.server.json;
    match dispatch(args).await {
        Ok(()) => Ok(()),
        Err(error) => {
            if json {
                handlers::print_json_error(&error);
            }
            Err(Failure {
                message: message(&error),
                exit_code: error.exit_code(),
            })
        }
    }
}

async fn dispatch(args: SchemaArgs) -> Result<(), CliError> {
    let global = &args.global;
    let client = RegistryClient::new(&global.server.server, global.server.timeout)?;
    let out = handlers::Out {
        json: global.server.json,
        client: &client,
    };
    let prefix = global.topic_prefix.as_str();
    match &args.command {
        SchemaCommand::Register(a) => {
            let subject = a.target.require(prefix)?;
            let schema =
                read_schema(&a.schema.file, a.schema.schema_type, &a.schema.references).await?;
            handlers::register(&out, &subject, &schema, a.schema.normalize).await
        }
        SchemaCommand::Check(a) => {
            let subject = a.target.require(prefix)?;
            let against = match a.version.as_str() {
                "all" => None,
                other => Some(version_spec(other)?),
            };
            let schema =
                read_schema(&a.schema.file, a.schema.schema_type, &a.schema.references).await?;
            handlers::check(
                &out,
                &subject,
                against.as_deref(),
                &schema,
                a.schema.normalize,
            )
            .await
        }
        SchemaCommand::Get(a) => {
            let subject = a.target.subject(prefix)?;
            if let Some(id) = a.id {
                return handlers::get_by_id(&out, id, subject.as_deref(), a.raw).await;
            }
            let subject = a.target.require(prefix)?;
            let version = version_spec(a.version.as_deref().unwrap_or("latest"))?;
            handlers::get(&out, &subject, &version, a.raw).await
        }
        SchemaCommand::List(a) => match a.target.subject(prefix)? {
            Some(subject) => handlers::list_versions(&out, &subject, a.deleted).await,
            None => {
                let subject_prefix = a.prefix.as_deref().unwrap_or("");
                handlers::list_subjects(&out, subject_prefix, a.deleted).await
            }
        },
        SchemaCommand::Diff(a) => {
            let (subject, versions) = diff_target(a, prefix)?;
            if let Some(file) = &a.file {
                if !versions.is_empty() {
                    return Err(CliError::Usage(
                        "give either two versions or --file, not both".to_owned(),
                    ));
                }
                let schema = read_schema(file, a.schema_type, &a.references).await?;
                let label = file.display().to_string();
                return handlers::diff_file(&out, &subject, &label, &schema).await;
            }
            let pair = match versions.as_slice() {
                [] => None,
                [v1, v2] => Some((version_spec(v1)?, version_spec(v2)?)),
                _ => {
                    return Err(CliError::Usage(
                        "give two versions (V1 V2) or none".to_owned(),
                    ));
                }
            };
            handlers::diff_versions(&out, &subject, pair).await
        }
    }
}

/// `diff`'s positional arguments: TYPE unless --subject, then the versions.
fn diff_target(args: &DiffArgs, topic_prefix: &str) -> Result<(String, Vec<String>), CliError> {
    if let Some(subject) = &args.subject {
        return Ok((subject.clone(), args.args.clone()));
    }
    let Some((event_type, versions)) = args.args.split_first() else {
        return Err(CliError::Usage(
            "name an event type (TYPE) or a subject (--subject S)".to_owned(),
        ));
    };
    Ok((subject_of(event_type, topic_prefix)?, versions.to_vec()))
}

/// A version as the API spells it: a positive number or `latest`.
fn version_spec(text: &str) -> Result<String, CliError> {
    if text == "latest" {
        return Ok(text.to_owned());
    }
    match text.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n.to_string()),
        _ => Err(CliError::Usage(format!(
            "version {text:?} is neither a positive number nor `latest`"
        ))),
    }
}

/// Reads a schema file (or stdin for `-`) with its type and references.
async fn read_schema(
    path: &std::path::Path,
    kind: Option<SchemaKind>,
    references: &[String],
) -> Result<NewSchema, CliError> {
    let stdin = path.as_os_str() == "-";
    let kind = match kind {
        Some(kind) => kind,
        None => {
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            match extension.to_ascii_lowercase().as_str() {
                "avsc" => SchemaKind::Avro,
                "json" => SchemaKind::Json,
                _ if stdin => {
                    return Err(CliError::Usage(
                        "reading a schema from stdin needs --type avro|json".to_owned(),
                    ));
                }
                _ => {
                    return Err(CliError::Usage(format!(
                        "cannot tell the schema type of {} from its extension (.avsc is avro, \
                         .json is json); pass --type avro|json",
                        path.display()
                    )));
                }
            }
        }
    };
    let references = references
        .iter()
        .map(|r| parse_reference(r))
        .collect::<Result<Vec<_>, _>>()?;
    let text = if stdin {
        // Reading stdin blocks; it runs on the blocking pool.
        let read = tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map(|_| text)
        })
        .await
        .map_err(|error| CliError::Input(format!("cannot read stdin: {error}")))?;
        read.map_err(|error| CliError::Input(format!("cannot read stdin: {}", io_words(&error))))?
    } else {
        tokio::fs::read_to_string(path).await.map_err(|error| {
            CliError::Input(format!(
                "cannot read {}: {}",
                path.display(),
                io_words(&error)
            ))
        })?
    };
    if text.trim().is_empty() {
        return Err(CliError::Input(format!("{} is empty", path.display())));
    }
    Ok(NewSchema {
        schema: text,
        schema_type: kind.wire_name().to_owned(),
        references,
    })
}

/// `NAME=SUBJECT:VERSION`; the subject may itself contain `:`.
fn parse_reference(text: &str) -> Result<Reference, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--reference {text:?}: expected NAME=SUBJECT:VERSION, e.g. \
             com.acme.Address=com.acme.Address:1"
        ))
    };
    let (name, rest) = text.split_once('=').ok_or_else(bad)?;
    let (subject, version) = rest.rsplit_once(':').ok_or_else(bad)?;
    let version: i32 = version.parse().map_err(|_| bad())?;
    if name.is_empty() || subject.is_empty() || version < 1 {
        return Err(bad());
    }
    Ok(Reference {
        name: name.to_owned(),
        subject: subject.to_owned(),
        version,
    })
}

/// "No such file or directory (os error 2)" → "no such file or directory".
fn io_words(error: &std::io::Error) -> String {
    let text = error.to_string();
    let words = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The line (or, for incompatibilities, lines) printed after `tributary: `.
pub(crate) fn message(error: &CliError) -> String {
    match error {
        CliError::Usage(m) | CliError::Input(m) | CliError::Protocol(m) => m.clone(),
        CliError::Unreachable { server, reason } => {
            format!("cannot reach the Tributary server at {server}: {reason}")
        }
        CliError::Timeout { server, after } => format!(
            "the Tributary server at {server} did not answer within {}",
            humantime::format_duration(*after)
        ),
        CliError::Api { code, message, .. } => format!("{message} (error {code})"),
        CliError::Incompatible {
            summary, report, ..
        } => {
            format!(
                "{summary}, {}",
                render::incompatible_report(report).trim_end()
            )
        }
        CliError::NotCompatible { subject } => {
            format!("the schema is not compatible with {subject}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn references_parse() {
        let r = parse_reference("a.B=ns:sub-value:3").unwrap();
        assert_eq!(
            (r.name.as_str(), r.subject.as_str(), r.version),
            ("a.B", "ns:sub-value", 3)
        );
        for bad in ["x", "a=b", "a=b:x", "=b:1", "a=:1", "a=b:0"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_and_subjects() {
        assert_eq!(version_spec("latest").unwrap(), "latest");
        assert_eq!(version_spec("3").unwrap(), "3");
        assert!(version_spec("0").is_err());
        assert!(version_spec("x").is_err());
        assert_eq!(
            subject_of("orders.placed", "").unwrap(),
            "orders.placed-value"
        );
        assert_eq!(
            subject_of("orders.placed", "prod.").unwrap(),
            "prod.orders.placed-value"
        );
        assert!(subject_of("Orders", "").is_err());
    }
}
