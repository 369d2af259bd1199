//! JSON Schema: draft detection and compilation with references served from memory only.

use std::collections::HashMap;
use std::sync::Arc;

use jsonschema::json::Json;
use jsonschema::{Draft, Retrieve, Uri, ValidationOptions, Validator};
use serde_json::Value;

use super::ResolvedReference;
use crate::TapeJson;
use crate::error::SchemaError;

/// The base URI of a schema without `$id`; relative `$ref`s (and reference names) resolve
/// against it, e.g. `address.json` → `tributary:///address.json`.
pub(crate) const BASE_URI: &str = "tributary:///";

/// The JSON Schema drafts the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonDraft {
    /// Draft 4.
    Draft4,
    /// Draft 6.
    Draft6,
    /// Draft 7, the default when `$schema` is absent (what Confluent's serializers emit).
    Draft7,
    /// Draft 2019-09.
    Draft201909,
    /// Draft 2020-12.
    Draft202012,
}

impl JsonDraft {
    /// The draft a schema declares with `$schema`; Draft 7 when it declares none.
    pub fn detect(schema: &Value) -> Result<JsonDraft, SchemaError> {
        let Some(declared) = schema.get("$schema") else {
            return Ok(JsonDraft::Draft7);
        };
        let Value::String(uri) = declared else {
            return Err(SchemaError::InvalidJsonSchema(
                "\"$schema\" must be a string".to_string(),
            ));
        };
        match Draft::from_schema_uri(uri) {
            Draft::Draft4 => Ok(JsonDraft::Draft4),
            Draft::Draft6 => Ok(JsonDraft::Draft6),
            Draft::Draft7 => Ok(JsonDraft::Draft7),
            Draft::Draft201909 => Ok(JsonDraft::Draft201909),
            Draft::Draft202012 => Ok(JsonDraft::Draft202012),
            _ => Err(SchemaError::InvalidJsonSchema(format!(
                "unknown \"$schema\" {uri:?}: use draft 4, 6, 7, 2019-09 or 2020-12"
            ))),
        }
    }

    fn to_draft(self) -> Draft {
        match self {
            JsonDraft::Draft4 => Draft::Draft4,
            JsonDraft::Draft6 => Draft::Draft6,
            JsonDraft::Draft7 => Draft::Draft7,
            JsonDraft::Draft201909 => Draft::Draft201909,
            JsonDraft::Draft202012 => Draft::Draft202012,
        }
    }
}

/// A parsed JSON Schema and the documents its references resolve to.
#[derive(Debug, Clone)]
pub(crate) struct JsonSchemaDoc {
    /// The schema document.
    pub(crate) root: Value,
    /// Its draft.
    pub(crate) draft: JsonDraft,
    /// Referenced documents by every URI they can be reached under (the reference name as
    /// given, resolved against [`BASE_URI`], and their `$id`).
    pub(crate) documents: Arc<HashMap<String, Value>>,
}

impl JsonSchemaDoc {
    /// Detects the draft, then compiles the schema; references are served from memory and any
    /// other external `$ref` is refused (nothing is ever fetched).
    pub(crate) fn parse(
        value: &Value,
        references: &[ResolvedReference],
    ) -> Result<(JsonSchemaDoc, JsonValidators), SchemaError> {
        if !value.is_object() && !value.is_boolean() {
            return Err(SchemaError::InvalidJsonSchema(
                "a schema must be an object or a boolean".to_string(),
            ));
        }
        let draft = JsonDraft::detect(value)?;
        let mut documents = HashMap::new();
        for reference in references {
            for uri in reference_uris(&reference.name, &reference.value) {
                documents.insert(uri, reference.value.clone());
            }
        }
        let documents = Arc::new(documents);
        let retriever = MemoryRetriever {
            documents: Arc::clone(&documents),
        };
        let validators = JsonValidators {
            value: build(jsonschema::options(), draft, retriever, value)?,
            tape: build(
                jsonschema::options_for::<TapeJson>(),
                draft,
                MemoryRetriever {
                    documents: Arc::clone(&documents),
                },
                value,
            )?,
        };
        let doc = JsonSchemaDoc {
            root: value.clone(),
            draft,
            documents,
        };
        Ok((doc, validators))
    }
}

/// One schema compiled for both representations events arrive in: `serde_json::Value`s, and
/// tapes read straight from the request (see [`crate::JsonTape`]).
pub(crate) struct JsonValidators {
    pub(crate) value: Validator,
    pub(crate) tape: Validator<TapeJson>,
}

/// Compiles `schema` with the draft and the in-memory references, for representation `F`.
fn build<F: Json>(
    options: ValidationOptions<'_, Arc<dyn Retrieve>, F>,
    draft: JsonDraft,
    retriever: MemoryRetriever,
    schema: &Value,
) -> Result<Validator<F>, SchemaError> {
    options
        .with_draft(draft.to_draft())
        .with_base_uri(BASE_URI)
        .with_retriever(retriever)
        .build(schema)
        .map_err(|e| SchemaError::InvalidJsonSchema(lowercase_first(&e.to_string())))
}

/// The URIs under which a referenced document is served.
fn reference_uris(name: &str, value: &Value) -> Vec<String> {
    let mut uris = Vec::new();
    let name = name.trim_end_matches('#');
    if name.contains("://") || name.starts_with("urn:") {
        uris.push(name.to_string());
    } else {
        uris.push(format!("{BASE_URI}{}", name.trim_start_matches('/')));
    }
    for key in ["$id", "id"] {
        if let Some(Value::String(id)) = value.get(key) {
            uris.push(id.trim_end_matches('#').to_string());
        }
    }
    uris
}

fn lowercase_first(message: &str) -> String {
    let mut chars = message.chars();
    let mut out = String::with_capacity(message.len());
    if let Some(first) = chars.next() {
        out.extend(first.to_lowercase());
        out.extend(chars);
    }
    out
}

/// Serves referenced documents from memory; every other URI is an error, never a fetch.
struct MemoryRetriever {
    documents: Arc<HashMap<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
#[error("$ref to {0:?}, which is not among the schema's references (nothing is fetched)")]
struct UnknownResource(String);

impl Retrieve for MemoryRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let key = uri.as_str().trim_end_matches('#');
        match self.documents.get(key) {
            Some(document) => Ok(document.clone()),
            None => Err(Box::new(UnknownResource(key.to_string()))),
        }
    }
}
