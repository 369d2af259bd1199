//! Compiled schemas: what the ingest hot path validates and decodes with.

use std::sync::Arc;

use serde_json::Value;

use crate::JsonTape;
use crate::error::{DecodeError, Violation};
use crate::schema::{AvroSchema, JsonValidators, SchemaType};
use crate::{avro_json, avro_scan};

/// A schema ready for validation and decoding; built once per schema id and shared through
/// the [`crate::ValidatorCache`]. Nothing here parses a schema again.
#[derive(Debug)]
pub struct CompiledSchema {
    inner: Compiled,
}

enum Compiled {
    Avro(Arc<AvroSchema>),
    Json(Box<JsonValidators>),
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compiled::Avro(schema) => f.debug_tuple("Avro").field(&schema.root).finish(),
            Compiled::Json(_) => f.debug_tuple("Json").finish_non_exhaustive(),
        }
    }
}

impl CompiledSchema {
    pub(crate) fn from_avro(schema: Arc<AvroSchema>) -> CompiledSchema {
        CompiledSchema {
            inner: Compiled::Avro(schema),
        }
    }

    pub(crate) fn from_json(validators: JsonValidators) -> CompiledSchema {
        CompiledSchema {
            inner: Compiled::Json(Box::new(validators)),
        }
    }

    /// The schema's format.
    pub fn schema_type(&self) -> SchemaType {
        match self.inner {
            Compiled::Avro(_) => SchemaType::Avro,
            Compiled::Json(_) => SchemaType::Json,
        }
    }

    /// The apache-avro schema, for callers that encode or decode themselves.
    pub fn avro_schema(&self) -> Option<&apache_avro::Schema> {
        match &self.inner {
            Compiled::Avro(schema) => Some(&schema.root),
            Compiled::Json(_) => None,
        }
    }

    /// Every violation of `value` against the schema, each with the JSON pointer of the
    /// offending place; empty when valid.
    ///
    /// JSON Schema: the validator's errors. Avro: `value` is read in the plain-JSON shape
    /// described in [`CompiledSchema::avro_from_json`].
    pub fn validate_json(&self, value: &Value) -> Vec<Violation> {
        match &self.inner {
            // Most events are valid: the short-circuiting check is cheaper than collecting.
            Compiled::Json(validators) if validators.value.is_valid(value) => Vec::new(),
            Compiled::Json(validators) => {
                let mut out = Vec::new();
                for error in validators.value.iter_errors(value) {
                    out.push(Violation::new(
                        error.instance_path().as_str(),
                        error.to_string(),
                    ));
                }
                out
            }
            Compiled::Avro(schema) => match avro_json::from_json(schema, value) {
                Ok(_) => Vec::new(),
                Err(violations) => violations,
            },
        }
    }

    /// Whether a JSON event read into a tape is valid; `None` for an Avro schema, which checks
    /// events by converting a `Value`. Gives no violations: for those, validate the event's
    /// `Value` with [`CompiledSchema::validate_json`] (both give the same verdict).
    pub fn tape_is_valid(&self, tape: &JsonTape<'_>) -> Option<bool> {
        match &self.inner {
            Compiled::Json(validators) => Some(validators.tape.is_valid(tape.root())),
            Compiled::Avro(_) => None,
        }
    }

    /// Converts a plain-JSON value to an Avro value of this schema.
    ///
    /// The plain-JSON shape is what producers naturally send: a union value is the value of
    /// one branch (no `{"type": value}` wrapper; the first branch that accepts it wins), enums
    /// and strings are JSON strings, `bytes` and `fixed` are strings of code points 0–255 (the
    /// Avro JSON encoding's convention), missing record fields take their defaults, unknown
    /// record fields are violations. Logical types take their underlying JSON form (`date` an
    /// integer of days, `timestamp-millis` an integer, `uuid` a string), except `decimal`,
    /// which is a JSON string or number such as `"12.30"`.
    pub fn avro_from_json(
        &self,
        value: &Value,
    ) -> Result<apache_avro::types::Value, Vec<Violation>> {
        match &self.inner {
            Compiled::Avro(schema) => avro_json::from_json(schema, value),
            Compiled::Json(_) => Err(vec![Violation::new("", "schema is not an avro schema")]),
        }
    }

    /// Validates a plain-JSON value and encodes it as Avro binary (no wire prefix).
    pub fn encode_avro_from_json(&self, value: &Value) -> Result<Vec<u8>, Vec<Violation>> {
        let Compiled::Avro(schema) = &self.inner else {
            return Err(vec![Violation::new("", "schema is not an avro schema")]);
        };
        let avro = avro_json::from_json(schema, value)?;
        let schemata: Vec<&apache_avro::Schema> = schema.schemata.iter().collect();
        let encode = || {
            apache_avro::writer::datum::GenericDatumWriter::builder(&schema.root)
                .schemata(schemata)?
                .build()?
                .write_value_to_vec(avro)
        };
        encode().map_err(|e: apache_avro::Error| {
            vec![Violation::new("", format!("cannot encode: {e}"))]
        })
    }

    /// Decodes an Avro binary payload (no wire prefix; see [`split_confluent_frame`]) written
    /// with this schema into an apache-avro value. The whole payload must be consumed.
    pub fn decode_avro(&self, payload: &[u8]) -> Result<apache_avro::types::Value, DecodeError> {
        let Compiled::Avro(schema) = &self.inner else {
            return Err(DecodeError::NotAvro);
        };
        let mut reader = payload;
        let schemata: Vec<&apache_avro::Schema> = schema.schemata.iter().collect();
        let decode = |reader: &mut &[u8]| {
            apache_avro::reader::datum::GenericDatumReader::builder(&schema.root)
                .writer_schemata(schemata)?
                .build()?
                .read_value(reader)
        };
        let value = decode(&mut reader)
            .map_err(|e: apache_avro::Error| DecodeError::InvalidAvro(e.to_string()))?;
        if !reader.is_empty() {
            return Err(DecodeError::TrailingBytes(reader.len()));
        }
        Ok(value)
    }

    /// The length of the Avro datum at the start of `bytes` (a body of datums back to back is
    /// split with it). Refuses, without allocating, a datum that ends early, holds a varint,
    /// enum or union index out of range, or claims more items than its bytes could carry
    /// (at most one value per byte, plus 1,024 for nulls and empty records).
    pub fn avro_datum_len(&self, bytes: &[u8]) -> Result<usize, DecodeError> {
        let Compiled::Avro(schema) = &self.inner else {
            return Err(DecodeError::NotAvro);
        };
        avro_scan::datum_len(schema, bytes, bytes.len().saturating_add(1024))
    }

    /// Decodes an Avro binary payload into plain JSON (the shape [`CompiledSchema::avro_from_json`]
    /// reads).
    pub fn decode_avro_to_json(&self, payload: &[u8]) -> Result<Value, DecodeError> {
        let value = self.decode_avro(payload)?;
        let Compiled::Avro(schema) = &self.inner else {
            return Err(DecodeError::NotAvro);
        };
        Ok(avro_json::to_json(schema, &schema.root, &value))
    }
}

/// Splits a Confluent wire-format record value (magic byte 0, 4-byte big-endian schema id,
/// payload) into the schema id and the payload.
pub fn split_confluent_frame(bytes: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    if bytes.len() < 5 || bytes[0] != 0 {
        return Err(DecodeError::MissingPrefix);
    }
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    Ok((id, &bytes[5..]))
}

/// The five bytes Confluent's wire format puts before a payload: magic byte 0 and the
/// 4-byte big-endian `schema_id`.
pub fn confluent_prefix(schema_id: u32) -> [u8; 5] {
    let [a, b, c, d] = schema_id.to_be_bytes();
    [0, a, b, c, d]
}

/// Prefixes a payload with Confluent's wire format for `schema_id`.
pub fn confluent_frame(schema_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.extend_from_slice(&confluent_prefix(schema_id));
    out.extend_from_slice(payload);
    out
}
