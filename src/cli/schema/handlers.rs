//! One function per command: call the registry, print text or JSON.

use serde::Serialize;
use serde_json::{Value, json};

use super::client::{CliError, Compatibility, NewSchema, RegistryClient, SchemaVersion};
use super::{diff, render};

/// Where a command prints, and how.
#[derive(Debug)]
pub(super) struct Out<'a> {
    pub(super) json: bool,
    pub(super) client: &'a RegistryClient,
}

/// Lines of context around each change in `diff`.
const DIFF_CONTEXT: usize = 3;

fn print_json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| CliError::Protocol(format!("cannot encode the output: {error}")))?;
    println!("{text}");
    Ok(())
}

/// The schema text as stored, ending with one newline.
fn print_raw(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

/// With `--json`, a refusal by the server is printed to stdout as its error body.
pub(super) fn print_json_error(error: &CliError) {
    let body = match error {
        CliError::Api { code, message, .. } => json!({ "error_code": code, "message": message }),
        CliError::Incompatible {
            code,
            message,
            report,
            ..
        } => json!({ "error_code": code, "message": message, "messages": report.messages }),
        _ => return,
    };
    println!("{body}");
}

pub(super) async fn register(
    out: &Out<'_>,
    subject: &str,
    schema: &NewSchema,
    normalize: bool,
) -> Result<(), CliError> {
    let client = out.client;
    if let Some(existing) = client.lookup(subject, schema, normalize).await? {
        return print_registered(out, &existing, false);
    }
    let id = match client.register(subject, schema, normalize).await {
        Ok(id) => id,
        Err(CliError::Api {
            code: 409, message, ..
        }) => {
            // The 409 message joins the problems with ", "; the verbose check lists them.
            let report = client.check(subject, None, schema, normalize).await?;
            return Err(CliError::Incompatible {
                summary: format!("schema not registered under {subject}"),
                code: 409,
                message,
                report,
            });
        }
        Err(error) => return Err(error),
    };
    // The register answer holds only the id; the lookup names the version.
    match client.lookup(subject, schema, normalize).await? {
        Some(version) => print_registered(out, &version, true),
        None => Err(CliError::Protocol(format!(
            "the server answered id {id} but {subject} does not hold the schema"
        ))),
    }
}

fn print_registered(out: &Out<'_>, version: &SchemaVersion, created: bool) -> Result<(), CliError> {
    if out.json {
        return print_json(&json!({
            "subject": version.subject,
            "version": version.version,
            "id": version.id,
            "schemaType": version.type_name(),
            "created": created,
        }));
    }
    let verb = if created {
        "registered"
    } else {
        "already registered:"
    };
    println!(
        "{verb} {} version {} (id {})",
        version.subject, version.version, version.id
    );
    Ok(())
}

pub(super) async fn check(
    out: &Out<'_>,
    subject: &str,
    against: Option<&str>,
    schema: &NewSchema,
    normalize: bool,
) -> Result<(), CliError> {
    let report = out
        .client
        .check(subject, against, schema, normalize)
        .await?;
    if out.json {
        print_json(&report)?;
    } else if report.is_compatible {
        println!("compatible");
    } else {
        print!("{}", render::incompatible_report(&report));
    }
    if report.is_compatible {
        Ok(())
    } else {
        Err(CliError::NotCompatible {
            subject: subject.to_owned(),
        })
    }
}

pub(super) async fn get(
    out: &Out<'_>,
    subject: &str,
    version: &str,
    raw: bool,
) -> Result<(), CliError> {
    let found = out.client.version(subject, version, false).await?;
    if out.json {
        return print_json(&found);
    }
    if raw {
        print_raw(&found.schema);
        return Ok(());
    }
    println!("{}", render::version_header(&found));
    if let Some(line) = render::references_line(&found.references) {
        println!("{line}");
    }
    println!("{}", render::pretty_json(&found.schema));
    Ok(())
}

pub(super) async fn get_by_id(
    out: &Out<'_>,
    id: u32,
    subject: Option<&str>,
    raw: bool,
) -> Result<(), CliError> {
    let found = out.client.schema_by_id(id).await?;
    if out.json {
        let mut value = serde_json::to_value(&found)
            .map_err(|error| CliError::Protocol(format!("cannot encode the output: {error}")))?;
        if let Value::Object(map) = &mut value {
            map.insert("id".to_owned(), json!(id));
        }
        return print_json(&value);
    }
    if raw {
        print_raw(&found.schema);
        return Ok(());
    }
    let uses = out.client.versions_of_id(id).await?;
    let type_name = found.schema_type.as_deref().unwrap_or("AVRO");
    let mine = subject.and_then(|s| uses.iter().find(|u| u.subject == s));
    match (subject, mine) {
        (Some(s), Some(u)) => println!("{s} version {} (id {id}, {type_name})", u.version),
        (Some(s), None) => {
            return Err(CliError::Usage(format!(
                "schema id {id} is not used by {s}; drop TYPE/--subject to see it"
            )));
        }
        (None, _) => {
            let used: Vec<String> = uses
                .iter()
                .map(|u| format!("{} version {}", u.subject, u.version))
                .collect();
            if used.is_empty() {
                println!("schema id {id} ({type_name})");
            } else {
                println!("schema id {id} ({type_name}), used by {}", used.join(", "));
            }
        }
    }
    if let Some(line) = render::references_line(&found.references) {
        println!("{line}");
    }
    println!("{}", render::pretty_json(&found.schema));
    Ok(())
}

pub(super) async fn list_subjects(
    out: &Out<'_>,
    prefix: &str,
    deleted: bool,
) -> Result<(), CliError> {
    let latest = out.client.latest_versions(prefix, deleted).await?;
    if out.json {
        return print_json(&latest);
    }
    if latest.is_empty() {
        println!("no subjects");
        return Ok(());
    }
    print!("{}", render::subjects_table(&latest));
    Ok(())
}

pub(super) async fn list_versions(
    out: &Out<'_>,
    subject: &str,
    deleted: bool,
) -> Result<(), CliError> {
    let numbers = out.client.versions(subject, deleted).await?;
    let mut versions = Vec::with_capacity(numbers.len());
    for number in numbers {
        let version = out
            .client
            .version(subject, &number.to_string(), deleted)
            .await?;
        versions.push(version);
    }
    if out.json {
        return print_json(&versions);
    }
    println!("{subject}");
    print!("{}", render::versions_table(&versions));
    Ok(())
}

/// One side of a diff.
#[derive(Debug, Serialize)]
struct Side {
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
}

impl Side {
    fn stored(version: &SchemaVersion) -> Side {
        Side {
            label: format!(
                "{} version {} (id {})",
                version.subject, version.version, version.id
            ),
            version: Some(version.version),
            id: Some(version.id),
        }
    }
}

/// The verdict of a diff: the check's outcome, or why there was none.
#[derive(Debug, Serialize)]
struct Verdict {
    checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_compatible: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<String>,
    /// One line for people.
    summary: String,
}

/// `diff TYPE [V1 V2]`: two stored versions (default: the previous and the latest).
pub(super) async fn diff_versions(
    out: &Out<'_>,
    subject: &str,
    pair: Option<(String, String)>,
) -> Result<(), CliError> {
    let client = out.client;
    let (first, second) = match pair {
        Some(pair) => pair,
        None => {
            let versions = client.versions(subject, false).await?;
            match versions.as_slice() {
                [.., previous, latest] => (previous.to_string(), latest.to_string()),
                _ => {
                    return Err(CliError::Usage(format!(
                        "{subject} has only one version; name two versions or compare a file \
                         with --file"
                    )));
                }
            }
        }
    };
    let old = client.version(subject, &first, false).await?;
    let new = client.version(subject, &second, false).await?;

    // The newer version is checked against the older one under the subject's level: what
    // registering it after the older one would have been judged by.
    let (older, newer) = if old.version <= new.version {
        (&old, &new)
    } else {
        (&new, &old)
    };
    let verdict = if older.version == newer.version {
        Verdict {
            checked: false,
            level: None,
            is_compatible: None,
            messages: Vec::new(),
            summary: "same version: compatibility not checked".to_owned(),
        }
    } else {
        let against = older.version.to_string();
        let result = client
            .check(subject, Some(&against), &newer.as_new(), false)
            .await;
        let what = format!("version {} after version {}", newer.version, older.version);
        verdict(client, subject, result, &what).await
    };
    print_diff(
        out,
        subject,
        &Side::stored(&old),
        &Side::stored(&new),
        &old.schema,
        &new.schema,
        &verdict,
    )
}

/// `diff TYPE --file F`: the latest version against a file.
pub(super) async fn diff_file(
    out: &Out<'_>,
    subject: &str,
    label: &str,
    schema: &NewSchema,
) -> Result<(), CliError> {
    let client = out.client;
    let latest = client.version(subject, "latest", false).await?;
    let result = client.check(subject, Some("latest"), schema, false).await;
    let what = format!("{label} after version {}", latest.version);
    let verdict = verdict(client, subject, result, &what).await;
    let side = Side {
        label: label.to_owned(),
        version: None,
        id: None,
    };
    print_diff(
        out,
        subject,
        &Side::stored(&latest),
        &side,
        &latest.schema,
        &schema.schema,
        &verdict,
    )
}

async fn verdict(
    client: &RegistryClient,
    subject: &str,
    result: Result<Compatibility, CliError>,
    what: &str,
) -> Verdict {
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let reason = match &error {
                CliError::Api { message, .. } => message.clone(),
                other => super::message(other),
            };
            return Verdict {
                checked: false,
                level: None,
                is_compatible: None,
                messages: Vec::new(),
                summary: format!("compatibility not checked: {reason}"),
            };
        }
    };
    let level = client.effective_level(subject).await.ok();
    let level_text = level.as_deref().unwrap_or("the subject's level");
    let summary = if level.as_deref() == Some("NONE") {
        format!("compatibility: {subject} has level NONE, so any schema may follow")
    } else if report.is_compatible {
        format!("compatible under {level_text}: {what}")
    } else {
        format!("incompatible under {level_text}: {what}")
    };
    Verdict {
        checked: true,
        level,
        is_compatible: Some(report.is_compatible),
        messages: report.messages,
        summary,
    }
}

fn print_diff(
    out: &Out<'_>,
    subject: &str,
    from: &Side,
    to: &Side,
    old_text: &str,
    new_text: &str,
    verdict: &Verdict,
) -> Result<(), CliError> {
    let old_pretty = render::pretty_json(old_text);
    let new_pretty = render::pretty_json(new_text);
    let lines = diff::diff_lines(&old_pretty, &new_pretty);
    let changed = !diff::is_unchanged(&lines);
    let hunks = diff::unified(&lines, DIFF_CONTEXT);
    if out.json {
        return print_json(&json!({
            "subject": subject,
            "from": from,
            "to": to,
            "changed": changed,
            "diff": hunks,
            "compatibility": verdict,
        }));
    }
    println!("--- {}", from.label);
    println!("+++ {}", to.label);
    if changed {
        print!("{hunks}");
    } else {
        println!("(no differences)");
    }
    println!("{}", verdict.summary);
    if verdict.is_compatible == Some(false) {
        let report = Compatibility {
            is_compatible: false,
            messages: verdict.messages.clone(),
        };
        print!("{}", render::problems(&report));
    }
    Ok(())
}
