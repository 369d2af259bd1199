//! The field list of a schema: every place a value can sit in an event, as a JSON pointer.
//!
//! This is the one place a schema becomes a field list (quality rules check their field
//! pointers against it; the catalog shows it). Pointers are RFC 6901 (`~` → `~0`, `/` → `~1`)
//! with one extension: the segment `*` stands for every element of an array
//! (`/items/*/sku`); a property whose name is `*` cannot be told from it.
//!
//! JSON Schema (properties in name order): `properties` and `required`, nested objects, `items` (a single schema; tuple
//! forms are skipped), `allOf` (merged), `anyOf`/`oneOf` (merged, never required), `type`
//! arrays, and `$ref` — local ones (`#/definitions/…`, `#/$defs/…`, any JSON pointer) and
//! ones to referenced schemas (by the reference's name). Avro: record fields, nested
//! records, arrays (`*`), named-type references; maps are skipped (their keys are data, not
//! fields); a union with `null` makes the field optional; `doc` is kept.
//!
//! Bounded: at most [`MAX_FIELDS`] fields (more is refused), and at most [`MAX_FIELD_DEPTH`]
//! segments deep (deeper parts of a schema are not listed). A `$ref` or named type that leads
//! back into itself stops there.

use std::collections::HashMap;

use apache_avro::Schema;
use serde_json::Value;

use crate::error::SchemaError;
use crate::schema::{BASE_URI, ParsedSchema, ReferenceResolver, SchemaKind, SchemaType};
use crate::store::StoredSchema;

/// Most fields one schema may list.
pub const MAX_FIELDS: usize = 10_000;
/// Most segments of a field pointer; deeper parts of a schema are not listed.
pub const MAX_FIELD_DEPTH: usize = 32;
/// Most `$ref` hops followed without descending into a property.
const MAX_REF_HOPS: usize = 32;

/// One field of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// RFC 6901 pointer into the event, with `*` for every element of an array.
    pub pointer: String,
    /// The types the field may have: JSON Schema type names (`string`, `integer`, `object`,
    /// …) or Avro ones (`string`, `long`, `record`, `array`, `null`, …). Empty when the
    /// schema does not say.
    pub types: Vec<String>,
    /// The schema's `description` (JSON Schema) or `doc` (Avro).
    pub doc: Option<String>,
    /// Present in every valid event: listed in its parent's `required` (JSON Schema) or not
    /// nullable (Avro), and so is every ancestor. Fields under `*` are required within each
    /// element.
    pub required: bool,
}

/// Escapes one pointer segment (RFC 6901).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Checks that `pointer` names a field the way a schema's field list does: RFC 6901, not the
/// whole event (`""`), `~` only as `~0` or `~1`, `*` for every element of an array.
pub fn check_field_pointer(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() {
        return Err(String::from(
            "the empty pointer names the whole event: name a field, e.g. /email",
        ));
    }
    if !pointer.starts_with('/') {
        return Err(format!(
            "{pointer:?} is not a JSON pointer: it must start with '/', e.g. /email"
        ));
    }
    if bad_escape(pointer) {
        return Err(format!(
            "{pointer:?} has a '~' that is not part of '~0' (for '~') or '~1' (for '/')"
        ));
    }
    Ok(())
}

/// Whether `pointer` has a `~` that is not part of `~0` or `~1`.
pub(crate) fn bad_escape(pointer: &str) -> bool {
    let bytes = pointer.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

/// The fields of `schema`, in schema order (parents before children). `resolver` resolves
/// its references, as for [`ParsedSchema::parse`]; the schema is parsed (and so checked)
/// first.
pub fn schema_fields(
    schema: &StoredSchema,
    resolver: &dyn ReferenceResolver,
) -> Result<Vec<Field>, SchemaError> {
    let parsed = ParsedSchema::parse(
        schema.schema_type,
        &schema.schema,
        &schema.references,
        resolver,
    )?;
    let mut out = Fields::default();
    match &parsed.kind {
        SchemaKind::Json(doc) => {
            let mut walker = JsonWalker {
                documents: &doc.documents,
                out: &mut out,
                stack: Vec::new(),
            };
            walker.node(&doc.root, &doc.root, "", 0, true, 0)?;
        }
        SchemaKind::Avro(avro) => {
            let mut walker = AvroWalker {
                avro,
                out: &mut out,
                stack: Vec::new(),
            };
            walker.node(&avro.root, "", 0, true)?;
        }
    }
    Ok(out.fields)
}

/// The field list being built: one entry per pointer, merged when a schema lists a pointer
/// twice (`allOf`, unions).
#[derive(Default)]
struct Fields {
    fields: Vec<Field>,
    index: HashMap<String, usize>,
}

impl Fields {
    fn add(
        &mut self,
        schema_type: SchemaType,
        pointer: &str,
        types: Vec<String>,
        doc: Option<&str>,
        required: bool,
    ) -> Result<(), SchemaError> {
        if let Some(&at) = self.index.get(pointer) {
            let field = &mut self.fields[at];
            for t in types {
                if !field.types.contains(&t) {
                    field.types.push(t);
                }
            }
            field.required |= required;
            if field.doc.is_none() {
                field.doc = doc.map(str::to_owned);
            }
            return Ok(());
        }
        if self.fields.len() >= MAX_FIELDS {
            let reason = format!("schema has more than {MAX_FIELDS} fields");
            return Err(match schema_type {
                SchemaType::Json => SchemaError::InvalidJsonSchema(reason),
                SchemaType::Avro => SchemaError::InvalidAvro(reason),
            });
        }
        self.index.insert(pointer.to_owned(), self.fields.len());
        self.fields.push(Field {
            pointer: pointer.to_owned(),
            types,
            doc: doc.map(str::to_owned),
            required,
        });
        Ok(())
    }
}

struct JsonWalker<'a, 'o> {
    documents: &'a HashMap<String, Value>,
    out: &'o mut Fields,
    /// The `$ref` targets being walked (by address), so a cycle stops.
    stack: Vec<usize>,
}

impl<'a> JsonWalker<'a, '_> {
    /// Walks the schema `node` (of document `root`) describing the value at `pointer`.
    /// `required`: that value is in every valid event.
    fn node(
        &mut self,
        node: &'a Value,
        root: &'a Value,
        pointer: &str,
        depth: usize,
        required: bool,
        hops: usize,
    ) -> Result<(), SchemaError> {
        let Value::Object(map) = node else {
            // A boolean schema (`true`: anything) still names a field.
            if !pointer.is_empty() {
                self.out
                    .add(SchemaType::Json, pointer, Vec::new(), None, required)?;
            }
            return Ok(());
        };
        if !pointer.is_empty() {
            let types = match map.get("type") {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            let doc = map
                .get("description")
                .or_else(|| map.get("title"))
                .and_then(Value::as_str);
            self.out
                .add(SchemaType::Json, pointer, types, doc, required)?;
        }
        if let Some(Value::String(reference)) = map.get("$ref")
            && hops < MAX_REF_HOPS
            && let Some((target, target_root)) = self.resolve(reference, root)
        {
            let key = std::ptr::from_ref(target) as usize;
            if !self.stack.contains(&key) {
                self.stack.push(key);
                let walked = self.node(target, target_root, pointer, depth, required, hops + 1);
                self.stack.pop();
                walked?;
            }
        }
        for (keyword, keeps_required) in [("allOf", true), ("anyOf", false), ("oneOf", false)] {
            if let Some(Value::Array(branches)) = map.get(keyword) {
                for branch in branches {
                    self.node(
                        branch,
                        root,
                        pointer,
                        depth,
                        required && keeps_required,
                        hops + 1,
                    )?;
                }
            }
        }
        if depth >= MAX_FIELD_DEPTH {
            return Ok(());
        }
        if let Some(Value::Object(properties)) = map.get("properties") {
            let listed: Vec<&str> = match map.get("required") {
                Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for (name, property) in properties {
                let child = format!("{pointer}/{}", escape_segment(name));
                let child_required = required && listed.contains(&name.as_str());
                self.node(property, root, &child, depth + 1, child_required, 0)?;
            }
        }
        if let Some(items @ Value::Object(_)) = map.get("items") {
            let child = format!("{pointer}/*");
            self.node(items, root, &child, depth + 1, required, 0)?;
        }
        Ok(())
    }

    /// The schema a `$ref` points at, and the document it is in.
    fn resolve(&self, reference: &str, root: &'a Value) -> Option<(&'a Value, &'a Value)> {
        let (document, fragment) = match reference.split_once('#') {
            Some((document, fragment)) => (document, fragment),
            None => (reference, ""),
        };
        let document_root = if document.is_empty() {
            root
        } else {
            let uri = if document.contains("://") || document.starts_with("urn:") {
                document.to_owned()
            } else {
                format!("{BASE_URI}{}", document.trim_start_matches('/'))
            };
            self.documents.get(&uri)?
        };
        if fragment.is_empty() {
            return Some((document_root, document_root));
        }
        let decoded = percent_decode(fragment);
        Some((document_root.pointer(&decoded)?, document_root))
    }
}

/// Decodes `%XX` escapes of a URI fragment (JSON pointers in `$ref` are URI-encoded).
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct AvroWalker<'a, 'o> {
    avro: &'a crate::schema::AvroSchema,
    out: &'o mut Fields,
    /// Full names of the records being walked, so a recursive type stops.
    stack: Vec<String>,
}

impl<'a> AvroWalker<'a, '_> {
    /// Walks the Avro `schema` of the value at `pointer` (whose own entry is already listed).
    fn node(
        &mut self,
        schema: &'a Schema,
        pointer: &str,
        depth: usize,
        required: bool,
    ) -> Result<(), SchemaError> {
        if depth >= MAX_FIELD_DEPTH {
            return Ok(());
        }
        match self.avro.deref(schema) {
            Schema::Record(record) => {
                let name = record.name.fullname(None);
                if self.stack.contains(&name) {
                    return Ok(());
                }
                self.stack.push(name);
                for field in &record.fields {
                    let child = format!("{pointer}/{}", escape_segment(&field.name));
                    let nullable = matches!(&field.schema, Schema::Union(u) if u.is_nullable());
                    let child_required = required && !nullable;
                    self.out.add(
                        SchemaType::Avro,
                        &child,
                        self.type_names(&field.schema),
                        field.doc.as_deref(),
                        child_required,
                    )?;
                    self.node(&field.schema, &child, depth + 1, child_required)?;
                }
                self.stack.pop();
            }
            Schema::Array(array) => {
                let child = format!("{pointer}/*");
                self.out.add(
                    SchemaType::Avro,
                    &child,
                    self.type_names(&array.items),
                    None,
                    required,
                )?;
                self.node(&array.items, &child, depth + 1, required)?;
            }
            Schema::Union(union) => {
                let variants = union.variants();
                let non_null = variants
                    .iter()
                    .filter(|v| !matches!(v, Schema::Null))
                    .count();
                for variant in variants {
                    // Fields of one branch among several are in only some events.
                    self.node(variant, pointer, depth, required && non_null == 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn type_names(&self, schema: &Schema) -> Vec<String> {
        let mut names = Vec::new();
        match schema {
            Schema::Union(union) => {
                for variant in union.variants() {
                    let name = avro_type_name(self.avro.deref(variant));
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_owned());
                    }
                }
            }
            other => names.push(avro_type_name(self.avro.deref(other)).to_owned()),
        }
        names
    }
}

/// The Avro type name of a schema as the JSON encoding of an event carries it (logical
/// types by their underlying type).
fn avro_type_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date | Schema::TimeMillis => "int",
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::BigDecimal => "bytes",
        Schema::String => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Enum(_) => "enum",
        Schema::Fixed(_) | Schema::Duration(_) => "fixed",
        Schema::Decimal(_) => "bytes",
        Schema::Uuid(_) => "string",
        Schema::Ref { .. } => "record",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::InMemoryReferences;

    fn fields(schema_type: SchemaType, text: &str) -> Vec<Field> {
        let stored = StoredSchema {
            id: 1,
            schema_type,
            schema: text.to_owned(),
            references: Vec::new(),
        };
        schema_fields(&stored, &InMemoryReferences::new()).unwrap()
    }

    fn summary(fields: &[Field]) -> Vec<(String, bool)> {
        fields
            .iter()
            .map(|f| (f.pointer.clone(), f.required))
            .collect()
    }

    #[test]
    fn pointers_are_escaped() {
        assert_eq!(escape_segment("a/b~c"), "a~1b~0c");
        let found = fields(
            SchemaType::Json,
            r#"{"type":"object","required":["any"],"properties":{"a/b":{"type":"string"},"~x":{},"any":true}}"#,
        );
        assert_eq!(
            summary(&found),
            [
                ("/a~1b".to_owned(), false),
                ("/any".to_owned(), true),
                ("/~0x".to_owned(), false)
            ]
        );
    }

    #[test]
    fn field_pointers_are_checked() {
        for good in ["/email", "/items/*/card", "/a~1b/~0c", "/", "/a//b", "/*"] {
            assert_eq!(check_field_pointer(good), Ok(()), "{good}");
        }
        for bad in ["", "email", "/a~2", "/a~", "*/x"] {
            assert!(check_field_pointer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_escapes_in_refs_are_decoded() {
        assert_eq!(percent_decode("/$defs/a%20b"), "/$defs/a b");
        assert_eq!(percent_decode("/x%2"), "/x%2");
    }
    /// JSON Schema properties come in name order (serde_json's maps are sorted).
    fn sorted(mut pairs: Vec<(String, bool)>) -> Vec<(String, bool)> {
        pairs.sort();
        pairs
    }

    fn field<'a>(fields: &'a [Field], pointer: &str) -> &'a Field {
        fields
            .iter()
            .find(|f| f.pointer == pointer)
            .unwrap_or_else(|| panic!("no field {pointer} in {fields:?}"))
    }

    #[test]
    fn json_schema_nested_objects_arrays_refs_and_required() {
        let schema = r##"{
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["id", "customer", "items"],
            "properties": {
                "id": {"type": "string", "description": "the order id"},
                "total": {"type": ["number", "null"]},
                "customer": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "address": {"$ref": "#/definitions/address"}
                    }
                },
                "shipping": {"$ref": "#/definitions/address"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["sku"],
                        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}
                    }
                }
            },
            "definitions": {
                "address": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}
                }
            }
        }"##;
        let found = fields(SchemaType::Json, schema);
        assert_eq!(
            summary(&found),
            sorted(
                [
                    ("/id", true),
                    ("/total", false),
                    ("/customer", true),
                    ("/customer/name", true),
                    ("/customer/address", false),
                    // Required within the address, but the address itself is optional.
                    ("/customer/address/city", false),
                    ("/customer/address/zip", false),
                    ("/shipping", false),
                    ("/shipping/city", false),
                    ("/shipping/zip", false),
                    ("/items", true),
                    ("/items/*", true),
                    ("/items/*/sku", true),
                    ("/items/*/qty", false),
                ]
                .map(|(p, r)| (p.to_owned(), r))
                .to_vec()
            )
        );
        assert_eq!(field(&found, "/total").types, ["number", "null"]);
        assert_eq!(field(&found, "/id").doc.as_deref(), Some("the order id"));
        assert_eq!(field(&found, "/shipping").types, ["object"]);
    }

    #[test]
    fn json_schema_defs_cycles_and_all_of() {
        let schema = r##"{
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/$defs/node",
            "$defs": {
                "node": {
                    "type": "object",
                    "required": ["value"],
                    "allOf": [{"required": ["label"], "properties": {"label": {"type": "string"}}}],
                    "anyOf": [{"required": ["extra"], "properties": {"extra": {"type": "string"}}}],
                    "properties": {
                        "value": {"type": "integer"},
                        "next": {"$ref": "#/$defs/node"}
                    }
                }
            }
        }"##;
        let found = fields(SchemaType::Json, schema);
        // The recursive `next` is listed once, and not walked into again.
        assert_eq!(
            sorted(summary(&found)),
            sorted(
                [
                    ("/label", true),
                    ("/extra", false),
                    ("/value", true),
                    ("/next", false),
                ]
                .map(|(p, r)| (p.to_owned(), r))
                .to_vec()
            )
        );
    }

    #[test]
    fn json_schema_references_to_other_subjects() {
        let mut references = InMemoryReferences::new();
        references.insert(
            "address",
            1,
            crate::schema::RegisteredSchema {
                schema_type: SchemaType::Json,
                schema: r#"{"type":"object","required":["city"],"properties":{"city":{"type":"string"}}}"#.to_owned(),
                references: Vec::new(),
            },
        );
        let stored = StoredSchema {
            id: 1,
            schema_type: SchemaType::Json,
            schema: r#"{"type":"object","required":["home"],"properties":{"home":{"$ref":"address.json"}}}"#.to_owned(),
            references: vec![crate::schema::SchemaReference {
                name: "address.json".to_owned(),
                subject: "address".to_owned(),
                version: 1,
            }],
        };
        let found = schema_fields(&stored, &references).unwrap();
        assert_eq!(
            summary(&found),
            [("/home", true), ("/home/city", true)].map(|(p, r)| (p.to_owned(), r))
        );
    }

    #[test]
    fn deep_schemas_stop_at_the_depth_limit() {
        let mut schema = serde_json::json!({"type": "string"});
        for _ in 0..40 {
            schema = serde_json::json!({"type": "object", "properties": {"a": schema}});
        }
        let found = fields(SchemaType::Json, &schema.to_string());
        assert_eq!(found.len(), MAX_FIELD_DEPTH);
        assert!(
            found
                .iter()
                .all(|f| f.pointer.matches('/').count() <= MAX_FIELD_DEPTH)
        );
    }

    #[test]
    fn too_many_fields_are_refused() {
        let properties: serde_json::Map<String, Value> = (0..=MAX_FIELDS)
            .map(|i| (format!("f{i}"), serde_json::json!({"type": "string"})))
            .collect();
        let schema = serde_json::json!({"type": "object", "properties": properties});
        let stored = StoredSchema {
            id: 1,
            schema_type: SchemaType::Json,
            schema: schema.to_string(),
            references: Vec::new(),
        };
        let error = schema_fields(&stored, &InMemoryReferences::new()).unwrap_err();
        assert!(
            error.to_string().contains("more than 10000 fields"),
            "{error}"
        );
    }

    #[test]
    fn avro_records_unions_arrays_and_maps() {
        let schema = r#"{
            "type": "record", "name": "Order", "namespace": "shop",
            "fields": [
                {"name": "id", "type": "string", "doc": "the order id"},
                {"name": "note", "type": ["null", "string"], "default": null},
                {"name": "customer", "type": {
                    "type": "record", "name": "Customer",
                    "fields": [
                        {"name": "name", "type": "string"},
                        {"name": "email", "type": ["null", "string"]}
                    ]}},
                {"name": "billing", "type": ["null", "Customer"]},
                {"name": "items", "type": {"type": "array", "items": {
                    "type": "record", "name": "Item",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
                {"name": "attributes", "type": {"type": "map", "values": "string"}},
                {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}}
            ]
        }"#;
        let found = fields(SchemaType::Avro, schema);
        assert_eq!(
            summary(&found),
            [
                ("/id", true),
                ("/note", false),
                ("/customer", true),
                ("/customer/name", true),
                ("/customer/email", false),
                ("/billing", false),
                ("/billing/name", false),
                ("/billing/email", false),
                ("/items", true),
                ("/items/*", true),
                ("/items/*/sku", true),
                ("/items/*/qty", true),
                ("/attributes", true),
                ("/placed_at", true),
            ]
            .map(|(p, r)| (p.to_owned(), r))
        );
        assert_eq!(field(&found, "/note").types, ["null", "string"]);
        assert_eq!(field(&found, "/billing").types, ["null", "record"]);
        assert_eq!(field(&found, "/placed_at").types, ["long"]);
        assert_eq!(field(&found, "/attributes").types, ["map"]);
        assert_eq!(field(&found, "/id").doc.as_deref(), Some("the order id"));
    }

    #[test]
    fn avro_recursive_records_stop() {
        let schema = r#"{
            "type": "record", "name": "Node",
            "fields": [
                {"name": "value", "type": "long"},
                {"name": "next", "type": ["null", "Node"]}
            ]
        }"#;
        let found = fields(SchemaType::Avro, schema);
        assert_eq!(
            summary(&found),
            [("/value", true), ("/next", false)].map(|(p, r)| (p.to_owned(), r))
        );
    }
}
