//! Shared by the rule and score tests: an order schema's fields, and rule sets from JSON.

#![allow(dead_code)]

use serde_json::{Value, json};
use tributary_quality::{Assessment, EventFacts, QualityError, QualityRules, Scorer};
use tributary_registry::{Field, InMemoryReferences, SchemaType, StoredSchema, schema_fields};

/// The fields of an order: `id`, `status`, `placed_at`, `items[].sku` are required;
/// `total` is required but nullable; `email`, `note`, `tags`, `customer{name, phone}` are
/// optional.
pub(crate) fn order_fields() -> Vec<Field> {
    let schema = json!({
        "type": "object",
        "required": ["id", "total", "status", "placed_at", "items"],
        "properties": {
            "id": {"type": "string"},
            "total": {"type": ["number", "null"]},
            "status": {"type": "string"},
            "email": {"type": "string"},
            "note": {"type": ["string", "null"]},
            "placed_at": {"type": ["string", "integer"]},
            "customer": {"type": "object", "properties": {
                "name": {"type": "string"}, "phone": {"type": "string"}}},
            "items": {"type": "array", "items": {"type": "object", "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}},
            "tags": {"type": "array", "items": {"type": "string"}}
        }
    });
    let stored = StoredSchema {
        id: 1,
        schema_type: SchemaType::Json,
        schema: schema.to_string(),
        references: Vec::new(),
    };
    schema_fields(&stored, &InMemoryReferences::new()).unwrap()
}

pub(crate) fn rules(document: Value) -> QualityRules {
    serde_json::from_value(document).unwrap()
}

/// Compiles one rule (given as its wire JSON) against the order fields.
pub(crate) fn one(rule: Value) -> Result<Scorer, QualityError> {
    let document = Value::Object(
        [("rules".to_owned(), Value::Array(vec![rule]))]
            .into_iter()
            .collect(),
    );
    Scorer::compile(&rules(document), &order_fields())
}

/// The refusal of `document`: (field, reason).
#[track_caller]
pub(crate) fn refusal(document: Value) -> (String, String) {
    match Scorer::compile(&rules(document), &order_fields()) {
        Err(QualityError::Invalid { field, reason }) => (field, reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Receive time used by every test: 2026-01-01T00:00:00Z.
pub(crate) const NOW_MS: i64 = 1_767_225_600_000;

pub(crate) fn facts(event_id: &str) -> EventFacts<'_> {
    EventFacts {
        event_id,
        schema_valid: true,
        event_time_ms: Some(NOW_MS),
        received_at_ms: NOW_MS,
    }
}

pub(crate) fn assess(scorer: &Scorer, event: &Value) -> Assessment {
    scorer.assess(event, &facts("e1"))
}

/// A complete, valid order.
pub(crate) fn order() -> Value {
    json!({
        "id": "o-1", "total": 120.5, "status": "placed", "email": "a@example.com",
        "note": "leave at door", "placed_at": "2026-01-01T00:00:00Z",
        "customer": {"name": "Ada", "phone": "+44 1"},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "tags": ["gift"]
    })
}

/// The names of the failed rules.
pub(crate) fn failed(assessment: &Assessment) -> Vec<&str> {
    assessment.failed.iter().map(|f| &*f.rule).collect()
}
