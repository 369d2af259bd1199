//! One test per rule of docs/json-schema-compatibility.md. `reads(r, w)` asks "is every
//! document valid under writer `w` valid under reader `r`?".

// Taking `Value` by value keeps the rule tables readable with inline `json!` literals.
#![allow(clippy::needless_pass_by_value)]

use serde_json::{Value, json};
use tributary_registry::{
    CompatibilityLevel, InMemoryReferences, IncompatibilityKind as K, ParsedSchema,
    RegisteredSchema, SchemaReference, SchemaType, check,
};

fn parse(schema: &Value) -> ParsedSchema {
    ParsedSchema::parse(
        SchemaType::Json,
        &schema.to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn kinds(reader: Value, writer: Value) -> Vec<K> {
    check(
        CompatibilityLevel::Backward,
        &parse(&reader),
        &[parse(&writer)],
    )
    .into_iter()
    .map(|i| i.kind)
    .collect()
}

fn reads(reader: Value, writer: Value) -> bool {
    kinds(reader, writer).is_empty()
}

#[test]
fn boolean_and_empty_schemas() {
    assert!(reads(json!(true), json!({"type": "string"})));
    assert!(reads(json!({}), json!({"type": "string"})));
    assert!(reads(json!({"type": "string"}), json!(false)));
    assert!(!reads(json!(false), json!({"type": "string"})));
    assert!(reads(
        json!({"title": "x", "description": "y"}),
        json!({"type": "integer"})
    ));
}

#[test]
fn type_widening_and_narrowing() {
    assert!(reads(json!({"type": "number"}), json!({"type": "integer"})));
    assert_eq!(
        kinds(json!({"type": "integer"}), json!({"type": "number"})),
        vec![K::TypeNarrowed]
    );
    assert!(reads(
        json!({"type": ["string", "null"]}),
        json!({"type": "string"})
    ));
    assert!(!reads(
        json!({"type": "string"}),
        json!({"type": ["string", "null"]})
    ));
    assert!(
        !reads(json!({"type": "string"}), json!({})),
        "untyped writer admits every type"
    );
    let result = check(
        CompatibilityLevel::Backward,
        &parse(&json!({"properties": {"a": {"type": "string"}}})),
        &[parse(&json!({"properties": {"a": {"type": "number"}}}))],
    );
    assert_eq!(result[0].path, "/properties/a/type");
}

#[test]
fn type_specific_rules_only_apply_to_shared_types() {
    assert!(reads(
        json!({"type": ["string", "null"], "maxLength": 3}),
        json!({"type": "null"})
    ));
}

#[test]
fn enum_widening_and_narrowing() {
    assert!(reads(
        json!({"enum": ["a", "b", "c"]}),
        json!({"enum": ["a", "b"]})
    ));
    assert_eq!(
        kinds(json!({"enum": ["a"]}), json!({"enum": ["a", "b"]})),
        vec![K::EnumArrayNarrowed]
    );
    assert!(reads(
        json!({"type": "string"}),
        json!({"enum": ["a", "b"]})
    ));
    assert!(!reads(json!({"enum": ["a"]}), json!({"type": "string"})));
    assert!(reads(json!({"const": 3}), json!({"const": 3})));
    assert!(reads(
        json!({"type": "integer", "maximum": 5}),
        json!({"enum": [1, 2, 3]})
    ));
    assert!(!reads(
        json!({"type": "integer", "maximum": 2}),
        json!({"enum": [1, 2, 3]})
    ));
}

#[test]
fn numeric_bounds() {
    let w = json!({"type": "number", "minimum": 0, "maximum": 10});
    assert!(reads(
        json!({"type": "number", "minimum": -1, "maximum": 20}),
        w.clone()
    ));
    assert!(
        reads(json!({"type": "number"}), w.clone()),
        "removing bounds widens"
    );
    assert_eq!(
        kinds(json!({"type": "number", "minimum": 1}), w.clone()),
        vec![K::BoundNarrowed]
    );
    assert_eq!(
        kinds(json!({"type": "number", "maximum": 9}), w.clone()),
        vec![K::BoundNarrowed]
    );
    assert!(!reads(
        json!({"type": "number", "exclusiveMinimum": 0}),
        w.clone()
    ));
    assert!(reads(
        json!({"type": "number", "minimum": 0}),
        json!({"type": "number", "exclusiveMinimum": 0})
    ));
    assert!(!reads(
        json!({"type": "number", "minimum": 0}),
        json!({"type": "number"})
    ));
}

#[test]
fn draft4_boolean_exclusive_bounds() {
    let d4 = "http://json-schema.org/draft-04/schema#";
    assert!(reads(
        json!({"$schema": d4, "type": "number", "minimum": 0}),
        json!({"$schema": d4, "type": "number", "minimum": 0, "exclusiveMinimum": true})
    ));
    assert!(!reads(
        json!({"$schema": d4, "type": "number", "minimum": 0, "exclusiveMinimum": true}),
        json!({"$schema": d4, "type": "number", "minimum": 0})
    ));
}

#[test]
fn multiple_of() {
    assert!(reads(
        json!({"type": "number", "multipleOf": 5}),
        json!({"type": "number", "multipleOf": 10})
    ));
    assert_eq!(
        kinds(
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 5})
        ),
        vec![K::MultipleOfChanged]
    );
    assert!(reads(
        json!({"type": "number", "multipleOf": 1}),
        json!({"type": "integer"})
    ));
}

#[test]
fn string_bounds_and_pattern() {
    let w = json!({"type": "string", "minLength": 2, "maxLength": 5});
    assert!(reads(
        json!({"type": "string", "minLength": 1, "maxLength": 10}),
        w.clone()
    ));
    assert_eq!(
        kinds(json!({"type": "string", "maxLength": 4}), w.clone()),
        vec![K::BoundNarrowed]
    );
    assert_eq!(
        kinds(json!({"type": "string", "minLength": 3}), w.clone()),
        vec![K::BoundNarrowed]
    );
    let p = json!({"type": "string", "pattern": "^[a-z]+$"});
    assert!(reads(p.clone(), p.clone()));
    assert!(
        reads(json!({"type": "string"}), p.clone()),
        "removing a pattern widens"
    );
    assert_eq!(
        kinds(p.clone(), json!({"type": "string"})),
        vec![K::PatternChanged]
    );
    assert_eq!(
        kinds(json!({"type": "string", "pattern": "^[a-z]*$"}), p),
        vec![K::PatternChanged],
        "even a wider pattern is refused: containment is not decided"
    );
    assert_eq!(
        kinds(
            json!({"type": "string", "format": "email"}),
            json!({"type": "string"})
        ),
        vec![K::PatternChanged]
    );
}

#[test]
fn array_items_and_bounds() {
    let w = json!({"type": "array", "items": {"type": "integer"}, "maxItems": 3});
    assert!(reads(
        json!({"type": "array", "items": {"type": "number"}}),
        w.clone()
    ));
    assert!(!reads(
        json!({"type": "array", "items": {"type": "string"}}),
        w.clone()
    ));
    assert!(!reads(json!({"type": "array", "maxItems": 2}), w.clone()));
    assert!(reads(json!({"type": "array", "minItems": 0}), w.clone()));
    assert!(!reads(
        json!({"type": "array", "uniqueItems": true}),
        w.clone()
    ));
    let tuple_w = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false});
    let tuple_r = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array", "prefixItems": [{"type": "number"}]});
    assert!(reads(tuple_r.clone(), tuple_w.clone()));
    assert!(!reads(tuple_w, tuple_r));
    let d7_w = json!({"type": "array", "items": [{"type": "integer"}], "additionalItems": false});
    assert!(reads(
        json!({"type": "array", "items": {"type": "number"}}),
        d7_w
    ));
}

#[test]
fn open_content_model() {
    let old = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let added = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}});
    assert!(
        reads(added.clone(), old.clone()),
        "adding an optional property, open models"
    );
    assert!(
        reads(old.clone(), added.clone()),
        "removing a property from an open reader"
    );
    let explicit_true = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true});
    assert!(
        reads(added.clone(), explicit_true),
        "explicit true is the same as absent"
    );
    // A schema-valued additionalProperties is a contract: old data may carry "b" as a string.
    let literal = json!({"type": "object", "properties": {"a": {"type": "string"}},
        "additionalProperties": {"type": "string"}});
    assert!(!reads(added, literal));
}

#[test]
fn undeclared_properties_carry_no_contract() {
    let w = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let r = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["b"]});
    assert_eq!(
        kinds(r, w),
        vec![K::RequiredAttributeAdded],
        "only the required rule fires"
    );
}

#[test]
fn closed_content_model() {
    let closed = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
    let closed_more = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "additionalProperties": false});
    assert_eq!(
        kinds(closed.clone(), closed_more.clone()),
        vec![K::PropertyAddedToClosedContentModel]
    );
    let result = check(
        CompatibilityLevel::Backward,
        &parse(&closed),
        &[parse(&closed_more)],
    );
    assert!(result[0].message.contains("\"b\""), "{}", result[0].message);
    assert!(
        reads(closed_more, closed.clone()),
        "a closed reader listing more properties"
    );
    let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    assert!(
        reads(closed.clone(), open.clone()),
        "an open writer declaring the same properties"
    );
    assert!(reads(open, closed.clone()));
    let open_more = json!({"type": "object", "properties": {"a": {"type": "string"}, "c": {}}});
    assert_eq!(
        kinds(closed.clone(), open_more),
        vec![K::PropertyAddedToClosedContentModel]
    );
    let extra = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}});
    assert_eq!(
        kinds(closed, extra),
        vec![K::PropertyAddedToClosedContentModel]
    );
}

#[test]
fn additional_properties_schema() {
    let w = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    assert!(reads(
        json!({"type": "object", "additionalProperties": {"type": "number"}}),
        w.clone()
    ));
    assert!(!reads(
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        w
    ));
}

#[test]
fn pattern_properties() {
    let pp = json!({"type": "object", "patternProperties": {"^x_": {"type": "string"}}, "additionalProperties": false});
    assert!(reads(pp.clone(), pp.clone()));
    // Without deciding which names a pattern matches, a declared writer property must satisfy
    // every reader pattern schema.
    assert!(!reads(
        pp.clone(),
        json!({"type": "object", "properties": {"x_a": {"type": "integer"}}})
    ));
    assert!(!reads(
        pp,
        json!({"type": "object", "additionalProperties": {"type": "integer"}})
    ));
}

#[test]
fn required_adding_narrows() {
    let w = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
    assert!(reads(
        json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        w.clone()
    ));
    assert_eq!(
        kinds(
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a", "b"]}),
            w
        ),
        vec![K::RequiredAttributeAdded]
    );
}

#[test]
fn object_counts_and_property_names() {
    assert!(!reads(
        json!({"type": "object", "maxProperties": 2}),
        json!({"type": "object"})
    ));
    assert!(reads(
        json!({"type": "object", "maxProperties": 5}),
        json!({"type": "object", "maxProperties": 2})
    ));
    assert!(!reads(
        json!({"type": "object", "propertyNames": {"maxLength": 3}}),
        json!({"type": "object"})
    ));
}

#[test]
fn local_refs_are_resolved_and_compared() {
    let w = json!({"definitions": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/definitions/n"}}});
    let r_ok = json!({"definitions": {"m": {"type": "number"}}, "properties": {"a": {"$ref": "#/definitions/m"}}});
    let r_bad = json!({"definitions": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/s"}}});
    assert!(reads(r_ok, w.clone()));
    assert!(!reads(r_bad, w));
}

#[test]
fn recursive_refs_terminate() {
    let tree = json!({"type": "object", "properties": {
        "value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}}});
    let wider = json!({"type": "object", "properties": {
        "value": {"type": "number"}, "children": {"type": "array", "items": {"$ref": "#"}}}});
    assert!(reads(tree.clone(), tree.clone()));
    assert!(reads(wider.clone(), tree.clone()));
    assert!(!reads(tree, wider));
}

#[test]
fn refs_to_other_subjects_are_compared() {
    let mut refs = InMemoryReferences::new();
    refs.insert(
        "int",
        1,
        RegisteredSchema {
            schema_type: SchemaType::Json,
            schema: json!({"type": "integer"}).to_string(),
            references: vec![],
        },
    );
    refs.insert(
        "num",
        1,
        RegisteredSchema {
            schema_type: SchemaType::Json,
            schema: json!({"type": "number"}).to_string(),
            references: vec![],
        },
    );
    let with = |subject: &str| {
        ParsedSchema::parse(
            SchemaType::Json,
            r#"{"properties": {"a": {"$ref": "other.json"}}}"#,
            &[SchemaReference {
                name: "other.json".into(),
                subject: subject.into(),
                version: 1,
            }],
            &refs,
        )
        .unwrap()
    };
    assert!(check(CompatibilityLevel::Backward, &with("num"), &[with("int")]).is_empty());
    assert!(!check(CompatibilityLevel::Backward, &with("int"), &[with("num")]).is_empty());
}

#[test]
fn ref_siblings_apply_from_2019_09() {
    let s = "https://json-schema.org/draft/2020-12/schema";
    let w = json!({"$schema": s, "$defs": {"n": {"type": "number"}}, "$ref": "#/$defs/n"});
    let r = json!({"$schema": s, "$defs": {"n": {"type": "number"}}, "$ref": "#/$defs/n", "maximum": 3});
    assert!(!reads(r, w));
}

#[test]
fn writer_any_of_every_branch_must_be_read() {
    let w = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    assert!(reads(json!({"type": ["string", "number"]}), w.clone()));
    assert!(!reads(json!({"type": "string"}), w));
    let merged = json!({"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]});
    assert!(
        reads(json!({"type": "object"}), merged),
        "sibling type merged into branches"
    );
}

#[test]
fn reader_any_of_covers_old_branches() {
    let old = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    let new = json!({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]});
    assert!(reads(new.clone(), old.clone()));
    assert!(!reads(old, new));
}

#[test]
fn reader_one_of_needs_disjoint_branches() {
    let nullable = json!({"oneOf": [{"type": "null"}, {"type": "string"}]});
    assert!(reads(nullable.clone(), json!({"type": "string"})));
    let overlapping = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
    assert_eq!(
        kinds(overlapping.clone(), json!({"type": "integer"})),
        vec![K::NotProvablyCompatible]
    );
    assert!(reads(overlapping.clone(), overlapping));
}

#[test]
fn all_of_on_both_sides() {
    let r = json!({"allOf": [{"type": "object"}, {"required": ["a"]}]});
    assert!(reads(
        r.clone(),
        json!({"type": "object", "required": ["a", "b"]})
    ));
    assert!(!reads(r, json!({"type": "object"})));
    let w = json!({"allOf": [{"type": "integer"}, {"minimum": 0}]});
    assert!(reads(json!({"type": "number", "minimum": -1}), w));
}

#[test]
fn reader_not() {
    assert!(reads(
        json!({"not": {"type": "string"}}),
        json!({"type": "integer"})
    ));
    assert!(!reads(
        json!({"not": {"type": "string"}}),
        json!({"type": ["string", "integer"]})
    ));
    assert!(reads(
        json!({"not": {"type": "string", "maxLength": 1}}),
        json!({"not": {"type": "string"}})
    ));
}

#[test]
fn conditionals_only_unchanged() {
    let c = json!({"if": {"required": ["a"]}, "then": {"required": ["b"]}});
    assert!(reads(c.clone(), c.clone()));
    assert_eq!(
        kinds(c, json!({"type": "object"})),
        vec![K::NotProvablyCompatible]
    );
}

#[test]
fn unknown_reader_keywords_only_unchanged() {
    let d = json!({"type": "object", "dependentRequired": {"a": ["b"]}});
    assert!(reads(d.clone(), d.clone()));
    assert_eq!(
        kinds(d, json!({"type": "object"})),
        vec![K::NotProvablyCompatible]
    );
    assert!(reads(
        json!({"type": "object"}),
        json!({"type": "object", "dependentRequired": {"a": ["b"]}})
    ));
}

#[test]
fn forward_and_full_use_the_same_subset_rule() {
    let old = parse(&json!({"type": "integer"}));
    let new = parse(&json!({"type": "number"}));
    assert!(
        check(
            CompatibilityLevel::Backward,
            &new,
            std::slice::from_ref(&old)
        )
        .is_empty()
    );
    assert!(
        !check(
            CompatibilityLevel::Forward,
            &new,
            std::slice::from_ref(&old)
        )
        .is_empty()
    );
    assert!(!check(CompatibilityLevel::Full, &new, &[old]).is_empty());
}

#[test]
fn budget_is_reported_not_exceeded() {
    // A wide schema still answers quickly.
    let mut props = serde_json::Map::new();
    for i in 0..2000 {
        props.insert(
            format!("p{i}"),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        );
    }
    let s = json!({"type": "object", "properties": props});
    let start = std::time::Instant::now();
    let _ = reads(s.clone(), s);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
