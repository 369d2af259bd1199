//! The OpenAPI shapes of the event-type model, for `/openapi.json`.
//!
//! The model types (`model.rs`, `service.rs`) carry no OpenAPI derive: they change often and
//! their serde attributes are the contract. The shapes here document them under the same
//! names, and the tests below fail when a field is added to or removed from a model type but
//! not here (request types by the field list serde itself accepts, answers by what they
//! serialize to).

// Documentation-only shapes: read by the OpenAPI derive, never built.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

/// Tag of the event-type routes.
pub(crate) const EVENT_TYPES_TAG: &str = "event-types";

/// The event type a route is about.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct EventTypePath {
    /// The event type.
    #[param(example = "orders.order_placed")]
    name: String,
}

/// What the gateway does with an event that does not match its schema: `enforce` refuses it
/// (dead-letter topic), `warn` accepts it and reports the violations, `shadow` refuses it as
/// `enforce` and also reports what a candidate schema version would reject.
#[derive(ToSchema)]
#[schema(as = Enforcement)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EnforcementDoc {
    Enforce,
    Warn,
    Shadow,
}

/// The body of `POST /v1/event-types`.
#[derive(ToSchema)]
#[schema(as = NewEventType)]
pub(crate) struct NewEventTypeDoc {
    /// Lowercase `domain.name` of `[a-z0-9_.-]`, at most 200 characters.
    #[schema(
        example = "orders.order_placed",
        max_length = 200,
        pattern = "^[a-z0-9_-]+\\.[a-z0-9_.-]+$"
    )]
    name: String,
    /// The owning team.
    #[schema(
        example = "orders",
        max_length = 100,
        pattern = "^[a-z0-9][a-z0-9_.-]*$"
    )]
    owner: String,
    /// Markdown, at most 64 KiB.
    #[serde(default)]
    description: String,
    /// At most 32, each `[a-z0-9][a-z0-9_.:-]*` and at most 64 characters.
    #[serde(default)]
    tags: Vec<String>,
    /// JSON pointer of the field that keys the record, e.g. `/customer_id`.
    partition_key: Option<String>,
    enforcement: Option<EnforcementDoc>,
    /// `shadow` enforcement's candidate: a live version of the type's subject.
    #[schema(minimum = 1)]
    shadow_version: Option<i32>,
    /// Largest event (bytes as sent) the gateway accepts for this type; absent or `null`:
    /// the gateway's limit.
    #[schema(minimum = 1, maximum = 67108864)]
    max_event_bytes: Option<i64>,
    /// Partitions of the topic (default: the server's).
    #[schema(minimum = 1)]
    partitions: Option<u32>,
    /// Absent: the server's default; `null`: unlimited.
    #[schema(minimum = 1)]
    retention_ms: Option<i64>,
    /// Absent or `null`: unlimited.
    #[schema(minimum = 1)]
    retention_bytes: Option<i64>,
    /// A Confluent compatibility level; absent or `null`: the global level applies.
    #[schema(example = "BACKWARD")]
    compatibility: Option<String>,
}

/// The body of `PATCH /v1/event-types/{name}`: absent fields stay as they are, `null` clears
/// a nullable one. Partitions and retention cannot change yet (422 unless unchanged).
#[derive(ToSchema)]
#[schema(as = EventTypePatch)]
pub(crate) struct EventTypePatchDoc {
    owner: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    partition_key: Option<String>,
    enforcement: Option<EnforcementDoc>,
    #[schema(minimum = 1)]
    shadow_version: Option<i32>,
    #[schema(minimum = 1, maximum = 67108864)]
    max_event_bytes: Option<i64>,
    partitions: Option<u32>,
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    compatibility: Option<String>,
}

/// An event type with where it lives: its topic, its subject and its latest schema.
#[derive(ToSchema)]
#[schema(as = EventTypeView)]
pub(crate) struct EventTypeViewDoc {
    #[schema(example = "orders.order_placed")]
    name: String,
    /// The owning team.
    owner: String,
    /// Markdown.
    description: String,
    /// Sorted, without duplicates.
    tags: Vec<String>,
    /// JSON pointer of the field whose value keys the record.
    partition_key: Option<String>,
    enforcement: EnforcementDoc,
    /// `shadow` enforcement's candidate version; `null`: none.
    shadow_version: Option<i32>,
    /// Largest event the gateway accepts for this type; `null`: the gateway's limit.
    max_event_bytes: Option<i64>,
    partitions: u32,
    /// `null`: unlimited.
    retention_ms: Option<i64>,
    /// `null`: unlimited.
    retention_bytes: Option<i64>,
    /// The subject's own compatibility level; `null`: the global level applies.
    compatibility: Option<String>,
    created_at_ms: i64,
    created_by: String,
    updated_at_ms: i64,
    updated_by: String,
    /// Grows by one with every change.
    revision: i64,
    /// Present on deleted event types only.
    #[schema(required = false)]
    deleted_at_ms: Option<i64>,
    /// `{topic prefix}{name}`.
    topic: String,
    /// `{topic}-value`: the schema-registry subject of the values.
    subject: String,
    /// The level registrations are checked at (absent in listings).
    #[schema(required = false)]
    effective_compatibility: Option<String>,
    /// `null` while no schema is registered; absent in listings.
    #[schema(required = false)]
    latest_schema: Option<LatestSchemaDoc>,
}

/// The latest live schema version of an event type's subject.
#[derive(ToSchema)]
#[schema(as = LatestSchema)]
pub(crate) struct LatestSchemaDoc {
    version: i32,
    id: u32,
    /// `AVRO` or `JSON`.
    schema_type: String,
}

/// The answer to a schema registration.
#[derive(ToSchema)]
#[schema(as = RegisteredVersion)]
pub(crate) struct RegisteredVersionDoc {
    subject: String,
    version: i32,
    id: u32,
    /// False when the schema was already registered (nothing changed).
    created: bool,
}

/// The answer of `GET /v1/event-types`.
#[derive(ToSchema)]
pub(crate) struct EventTypeList {
    event_types: Vec<EventTypeViewDoc>,
}

/// The answer of `GET /v1/event-types/{name}/audit`, newest first.
#[derive(ToSchema)]
pub(crate) struct AuditList {
    entries: Vec<tributary_core::AuditEntry>,
}

/// The answer of `GET` and `PUT /v1/event-types/{name}/pii`.
#[derive(ToSchema)]
pub(crate) struct PiiMarks {
    /// Sorted by pointer.
    pointers: Vec<super::pii::PiiMark>,
}

/// The body of `PUT /v1/event-types/{name}/pii`: the whole set of marked fields.
#[derive(ToSchema)]
#[schema(as = PiiMarksUpdate)]
pub(crate) struct PiiBodyDoc {
    /// Field pointers (RFC 6901, `*` for every element of an array), at most 1,000, each at
    /// most 1024 bytes; `[]` unmarks every field.
    #[schema(example = json!(["/email", "/items/*/card"]), max_items = 1000)]
    pointers: Vec<String>,
}

/// A schema to register: `schema` as text, or (JSON Schema) the document itself.
#[derive(ToSchema)]
#[schema(as = SchemaBody)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SchemaBodyDoc {
    schema: Value,
    /// `AVRO` (default) or `JSON`; `schema_type` is accepted too.
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<ReferenceDoc>,
    /// Register the canonical form.
    #[serde(default)]
    normalize: bool,
}

/// A reference to another subject's schema version.
#[derive(ToSchema)]
#[schema(as = SchemaReference)]
pub(crate) struct ReferenceDoc {
    name: String,
    subject: String,
    version: i32,
}

/// The answer of `GET /v1/event-types/{name}/schemas`.
#[derive(ToSchema)]
pub(crate) struct SchemaVersions {
    subject: String,
    versions: Vec<SchemaVersionDoc>,
}

#[derive(ToSchema)]
#[schema(as = SchemaVersion)]
pub(crate) struct SchemaVersionDoc {
    version: i32,
    id: u32,
    schema_type: String,
    /// The schema as registered (text).
    schema: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    references: Vec<ReferenceDoc>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use tributary_core::EventTypeName;
    use utoipa::PartialSchema;

    use super::*;
    use crate::event_types::model::{Enforcement, EventType, EventTypePatch, NewEventType};
    use crate::event_types::service::{EventTypeView, LatestSchema, RegisteredVersion};

    /// The property names of a documented object.
    fn documented<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// A deserializer that answers nothing but remembers the fields a struct asks for.
    struct Fields(&'static [&'static str]);

    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("fields captured"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    /// The fields serde accepts in `T`.
    fn accepted<T: for<'de> Deserialize<'de>>() -> BTreeSet<String> {
        let mut fields = Fields(&[]);
        let _ = T::deserialize(&mut fields);
        fields.0.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn request_shapes_match_the_model() {
        assert_eq!(
            documented::<NewEventTypeDoc>(),
            accepted::<NewEventType>(),
            "NewEventType"
        );
        assert_eq!(
            documented::<EventTypePatchDoc>(),
            accepted::<EventTypePatch>(),
            "EventTypePatch"
        );
        assert_eq!(
            documented::<PiiBodyDoc>(),
            accepted::<crate::event_types::http::PiiBody>(),
            "PiiBody"
        );
        let mut schema_body = accepted::<crate::event_types::http::SchemaBody>();
        schema_body.remove("schema_type"); // an alias of schemaType
        assert_eq!(documented::<SchemaBodyDoc>(), schema_body, "SchemaBody");
    }

    fn keys(value: &impl serde::Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn answer_shapes_match_the_model() {
        let event_type = EventType {
            name: EventTypeName::parse("orders.placed").unwrap(),
            owner: String::from("orders"),
            description: String::new(),
            tags: Vec::new(),
            partition_key: None,
            enforcement: Enforcement::Enforce,
            shadow_version: None,
            max_event_bytes: None,
            partitions: 1,
            retention_ms: None,
            retention_bytes: None,
            compatibility: None,
            created_at_ms: 0,
            created_by: String::from("admin"),
            updated_at_ms: 0,
            updated_by: String::from("admin"),
            revision: 1,
            deleted_at_ms: Some(1),
        };
        let view = EventTypeView {
            event_type,
            topic: String::from("orders.placed"),
            subject: String::from("orders.placed-value"),
            effective_compatibility: Some("BACKWARD"),
            latest_schema: Some(Some(LatestSchema {
                version: 1,
                id: 1,
                schema_type: "JSON",
            })),
        };
        assert_eq!(
            documented::<EventTypeViewDoc>(),
            keys(&view),
            "EventTypeView"
        );
        let registered = RegisteredVersion {
            subject: String::from("orders.placed-value"),
            version: 1,
            id: 1,
            created: true,
        };
        assert_eq!(
            documented::<RegisteredVersionDoc>(),
            keys(&registered),
            "RegisteredVersion"
        );
        let latest = LatestSchema {
            version: 1,
            id: 1,
            schema_type: "JSON",
        };
        assert_eq!(
            documented::<LatestSchemaDoc>(),
            keys(&latest),
            "LatestSchema"
        );
        for enforcement in [Enforcement::Enforce, Enforcement::Warn, Enforcement::Shadow] {
            let documented = serde_json::to_value(EnforcementDoc::schema()).unwrap();
            let value = serde_json::to_value(enforcement).unwrap();
            assert!(
                documented["enum"].as_array().unwrap().contains(&value),
                "{value} is not documented"
            );
        }
    }
}
