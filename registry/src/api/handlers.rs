//! One handler per route: extract, call the registry, shape Confluent's answer.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::compat::CompatibilityLevel;
use crate::schema::{SchemaReference, SchemaType};
use crate::store::{
    CompatibilityReport, DeletedFilter, Mode, NewSchema, RegisterOptions, Registry, RegistryError,
    StoredSchema, SubjectVersion, VersionSpec,
};

use super::extract::{ApiError, Body, Flags, Params, SCHEMA_REGISTRY_JSON, Sr};

type Answer = Result<Response, ApiError>;

fn ok<T: Serialize>(value: T) -> Answer {
    Ok(Sr(value).into_response())
}

/// A schema as submitted in a request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SchemaBody {
    schema: Option<String>,
    schema_type: Option<String>,
    references: Option<Vec<ReferenceBody>>,
    /// IMPORT mode only.
    id: Option<i64>,
    /// IMPORT mode only.
    version: Option<i32>,
}

#[derive(Debug, Deserialize, Serialize)]
pub(super) struct ReferenceBody {
    name: String,
    subject: String,
    version: i32,
}

impl SchemaBody {
    fn into_new(self) -> Result<NewSchema, RegistryError> {
        let schema_type = match self.schema_type.as_deref() {
            None => SchemaType::Avro,
            Some(name) => name.parse::<SchemaType>()?,
        };
        let references = self
            .references
            .unwrap_or_default()
            .into_iter()
            .map(|r| SchemaReference {
                name: r.name,
                subject: r.subject,
                version: r.version,
            })
            .collect();
        Ok(NewSchema {
            schema_type,
            schema: self.schema.ok_or(RegistryError::EmptySchema)?,
            references,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionOut {
    subject: String,
    version: i32,
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<ReferenceBody>,
    schema: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaOut {
    schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<ReferenceBody>,
}

/// Confluent omits `schemaType` for AVRO, the default.
fn type_out(schema_type: SchemaType) -> Option<&'static str> {
    match schema_type {
        SchemaType::Avro => None,
        SchemaType::Json => Some(schema_type.as_str()),
    }
}

fn references_out(references: Vec<SchemaReference>) -> Vec<ReferenceBody> {
    references
        .into_iter()
        .map(|r| ReferenceBody {
            name: r.name,
            subject: r.subject,
            version: r.version,
        })
        .collect()
}

fn version_out(version: SubjectVersion) -> VersionOut {
    VersionOut {
        subject: version.subject,
        version: version.version,
        id: version.schema.id,
        schema_type: type_out(version.schema.schema_type),
        references: references_out(version.schema.references),
        schema: version.schema.schema,
    }
}

fn schema_out(schema: StoredSchema) -> SchemaOut {
    SchemaOut {
        schema_type: type_out(schema.schema_type),
        references: references_out(schema.references),
        schema: schema.schema,
    }
}

/// A raw schema text with Confluent's media type.
fn raw(text: String) -> Answer {
    Ok(([(header::CONTENT_TYPE, SCHEMA_REGISTRY_JSON)], text).into_response())
}

fn listing(flags: &Flags) -> DeletedFilter {
    if flags.flag("deletedOnly") {
        DeletedFilter::Only
    } else if flags.flag("deleted") {
        DeletedFilter::Include
    } else {
        DeletedFilter::Exclude
    }
}

/// A schema id in a path; one that is not an int32 names no schema.
fn schema_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i32>()
        .map(i64::from)
        .map_err(|_| ApiError::from(RegistryError::SchemaNotFound(-1)))
        .and_then(|id| {
            if id < 1 {
                Err(RegistryError::SchemaNotFound(id).into())
            } else {
                Ok(id)
            }
        })
}

pub(super) async fn root() -> Answer {
    ok(json!({}))
}

pub(super) async fn contexts() -> Answer {
    ok(["."])
}

pub(super) async fn schema_types() -> Answer {
    ok([SchemaType::Json.as_str(), SchemaType::Avro.as_str()])
}

pub(super) async fn schemas(State(registry): State<Registry>, flags: Flags) -> Answer {
    let found = registry
        .schemas(
            flags.text("subjectPrefix"),
            flags.flag("deleted"),
            flags.flag("latestOnly"),
        )
        .await?;
    ok(found.into_iter().map(version_out).collect::<Vec<_>>())
}

pub(super) async fn schema_by_id(
    State(registry): State<Registry>,
    Params(id): Params<String>,
) -> Answer {
    ok(schema_out(registry.schema_by_id(schema_id(&id)?).await?))
}

pub(super) async fn raw_schema_by_id(
    State(registry): State<Registry>,
    Params(id): Params<String>,
) -> Answer {
    raw(registry.schema_by_id(schema_id(&id)?).await?.schema)
}

pub(super) async fn subjects_by_id(
    State(registry): State<Registry>,
    Params(id): Params<String>,
    flags: Flags,
) -> Answer {
    ok(registry
        .subjects_of_schema(schema_id(&id)?, flags.flag("deleted"))
        .await?)
}

pub(super) async fn versions_by_id(
    State(registry): State<Registry>,
    Params(id): Params<String>,
    flags: Flags,
) -> Answer {
    let pairs = registry
        .versions_of_schema(schema_id(&id)?, flags.flag("deleted"))
        .await?;
    let out: Vec<Value> = pairs
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    ok(out)
}

pub(super) async fn subjects(State(registry): State<Registry>, flags: Flags) -> Answer {
    ok(registry
        .subjects(flags.text("subjectPrefix"), listing(&flags))
        .await?)
}

pub(super) async fn versions(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
) -> Answer {
    ok(registry.versions(&subject, listing(&flags)).await?)
}

pub(super) async fn register(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
    Body(body): Body<SchemaBody>,
) -> Answer {
    let options = RegisterOptions {
        normalize: flags.flag("normalize"),
        id: body.id,
        version: body.version,
    };
    let new = body.into_new()?;
    let id = registry.register(&subject, &new, options).await?;
    ok(json!({ "id": id }))
}

pub(super) async fn lookup(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
    Body(body): Body<SchemaBody>,
) -> Answer {
    let new = body.into_new()?;
    let found = registry
        .lookup(
            &subject,
            &new,
            flags.flag("normalize"),
            flags.flag("deleted"),
        )
        .await?;
    ok(version_out(found))
}

pub(super) async fn version(
    State(registry): State<Registry>,
    Params((subject, version)): Params<(String, String)>,
    flags: Flags,
) -> Answer {
    let spec: VersionSpec = version.parse()?;
    ok(version_out(
        registry
            .version(&subject, spec, flags.flag("deleted"))
            .await?,
    ))
}

pub(super) async fn raw_version(
    State(registry): State<Registry>,
    Params((subject, version)): Params<(String, String)>,
    flags: Flags,
) -> Answer {
    let spec: VersionSpec = version.parse()?;
    raw(registry
        .version(&subject, spec, flags.flag("deleted"))
        .await?
        .schema
        .schema)
}

pub(super) async fn referenced_by(
    State(registry): State<Registry>,
    Params((subject, version)): Params<(String, String)>,
) -> Answer {
    let spec: VersionSpec = version.parse()?;
    ok(registry.referenced_by(&subject, spec).await?)
}

pub(super) async fn delete_subject(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
) -> Answer {
    ok(registry
        .delete_subject(&subject, flags.flag("permanent"))
        .await?)
}

pub(super) async fn delete_version(
    State(registry): State<Registry>,
    Params((subject, version)): Params<(String, String)>,
    flags: Flags,
) -> Answer {
    let spec: VersionSpec = version.parse()?;
    ok(registry
        .delete_version(&subject, spec, flags.flag("permanent"))
        .await?)
}

fn compatibility_answer(report: CompatibilityReport, verbose: bool) -> Answer {
    let CompatibilityReport {
        is_compatible,
        messages,
    } = report;
    if verbose {
        ok(json!({ "is_compatible": is_compatible, "messages": messages }))
    } else {
        ok(json!({ "is_compatible": is_compatible }))
    }
}

pub(super) async fn compatibility_all(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
    Body(body): Body<SchemaBody>,
) -> Answer {
    let new = body.into_new()?;
    let report = registry
        .check_compatibility(&subject, None, &new, flags.flag("normalize"))
        .await?;
    compatibility_answer(report, flags.flag("verbose"))
}

pub(super) async fn compatibility_one(
    State(registry): State<Registry>,
    Params((subject, version)): Params<(String, String)>,
    flags: Flags,
    Body(body): Body<SchemaBody>,
) -> Answer {
    let spec: VersionSpec = version.parse()?;
    let new = body.into_new()?;
    let report = registry
        .check_compatibility(&subject, Some(spec), &new, flags.flag("normalize"))
        .await?;
    compatibility_answer(report, flags.flag("verbose"))
}

/// `PUT /config` body; Confluent's newer fields (alias, normalize, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub(super) struct ConfigBody {
    compatibility: Option<String>,
}

impl ConfigBody {
    fn level(&self) -> Result<CompatibilityLevel, RegistryError> {
        let text = self.compatibility.as_deref().unwrap_or("");
        Ok(text.parse::<CompatibilityLevel>()?)
    }
}

pub(super) async fn global_config(State(registry): State<Registry>) -> Answer {
    let level = registry.global_compatibility().await?;
    ok(json!({ "compatibilityLevel": level.as_str() }))
}

pub(super) async fn put_global_config(
    State(registry): State<Registry>,
    Body(body): Body<ConfigBody>,
) -> Answer {
    let level = body.level()?;
    registry.set_compatibility(None, level).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

pub(super) async fn delete_global_config(State(registry): State<Registry>) -> Answer {
    let before = registry.delete_compatibility(None).await?;
    ok(json!({ "compatibilityLevel": before.as_str() }))
}

pub(super) async fn subject_config(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
) -> Answer {
    let level = registry
        .subject_compatibility(&subject, flags.flag("defaultToGlobal"))
        .await?;
    ok(json!({ "compatibilityLevel": level.as_str() }))
}

pub(super) async fn put_subject_config(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    Body(body): Body<ConfigBody>,
) -> Answer {
    let level = body.level()?;
    registry.set_compatibility(Some(&subject), level).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

pub(super) async fn delete_subject_config(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
) -> Answer {
    let before = registry.delete_compatibility(Some(&subject)).await?;
    ok(json!({ "compatibilityLevel": before.as_str() }))
}

#[derive(Debug, Deserialize)]
pub(super) struct ModeBody {
    mode: Option<String>,
}

impl ModeBody {
    fn mode(&self) -> Result<Mode, RegistryError> {
        self.mode.as_deref().unwrap_or("").parse()
    }
}

pub(super) async fn global_mode(State(registry): State<Registry>) -> Answer {
    ok(json!({ "mode": registry.global_mode().await?.as_str() }))
}

pub(super) async fn put_global_mode(
    State(registry): State<Registry>,
    flags: Flags,
    Body(body): Body<ModeBody>,
) -> Answer {
    let mode = body.mode()?;
    registry.set_mode(None, mode, flags.flag("force")).await?;
    ok(json!({ "mode": mode.as_str() }))
}

pub(super) async fn subject_mode(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
) -> Answer {
    let mode = registry
        .subject_mode(&subject, flags.flag("defaultToGlobal"))
        .await?;
    ok(json!({ "mode": mode.as_str() }))
}

pub(super) async fn put_subject_mode(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
    flags: Flags,
    Body(body): Body<ModeBody>,
) -> Answer {
    let mode = body.mode()?;
    registry
        .set_mode(Some(&subject), mode, flags.flag("force"))
        .await?;
    ok(json!({ "mode": mode.as_str() }))
}

pub(super) async fn delete_subject_mode(
    State(registry): State<Registry>,
    Params(subject): Params<String>,
) -> Answer {
    let before = registry.delete_mode(&subject).await?;
    ok(json!({ "mode": before.as_str() }))
}
