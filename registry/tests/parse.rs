//! Parsing, limits, references, canonical forms and fingerprints.

use std::time::{Duration, Instant};

use tributary_registry::{
    InMemoryReferences, ParsedSchema, RegisteredSchema, SchemaError, SchemaReference, SchemaType,
};

fn parse(t: SchemaType, text: &str) -> Result<ParsedSchema, SchemaError> {
    ParsedSchema::parse(t, text, &[], &InMemoryReferences::new())
}

/// Parses, asserting it fails fast with code 42201 and a message containing `needle`.
fn refused(t: SchemaType, text: &str, needle: &str) -> SchemaError {
    let start = Instant::now();
    let err = parse(t, text).expect_err("must be refused");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(err.confluent_code(), 42201, "{err}");
    assert_eq!(err.http_status(), 422);
    let message = err.to_string();
    assert!(
        message.contains(needle),
        "{message:?} should mention {needle:?}"
    );
    assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
    err
}

#[test]
fn schema_types_parse_and_protobuf_is_refused() {
    assert_eq!("AVRO".parse::<SchemaType>().unwrap(), SchemaType::Avro);
    assert_eq!("json".parse::<SchemaType>().unwrap(), SchemaType::Json);
    let err = "PROTOBUF".parse::<SchemaType>().unwrap_err();
    assert_eq!(err.confluent_code(), 42201);
    assert!(err.to_string().contains("PROTOBUF"));
}

#[test]
fn invalid_json_is_refused() {
    refused(SchemaType::Avro, "{\"type\": ", "invalid json");
    refused(SchemaType::Json, "not json", "invalid json");
}

#[test]
fn ten_megabyte_schema_is_refused_before_parsing() {
    let big = format!(
        "{{\"type\":\"string\",\"doc\":\"{}\"}}",
        "x".repeat(10 * 1024 * 1024)
    );
    refused(SchemaType::Avro, &big, "at most 1048576 bytes");
    refused(SchemaType::Json, &big, "at most 1048576 bytes");
}

#[test]
fn ten_thousand_deep_nesting_is_refused_without_overflow() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    refused(SchemaType::Avro, &deep, "deeper than 100");
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    refused(SchemaType::Json, &deep_obj, "deeper than 100");
}

#[test]
fn unknown_avro_type_names_the_path() {
    let text = r#"{"type":"record","name":"R","fields":[
        {"name":"a","type":"int"},{"name":"b","type":"long"},{"name":"c","type":"strng"}]}"#;
    let err = refused(
        SchemaType::Avro,
        text,
        "unknown type \"strng\" at fields[2].type",
    );
    assert!(matches!(err, SchemaError::InvalidAvro(_)));
    refused(
        SchemaType::Avro,
        "\"strng\"",
        "unknown type \"strng\" at the top level",
    );
}

#[test]
fn other_avro_mistakes_are_refused() {
    refused(
        SchemaType::Avro,
        r#"{"type":"record","name":"R"}"#,
        "without a \"fields\" array",
    );
    refused(
        SchemaType::Avro,
        r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
        "invalid avro schema",
    );
    refused(
        SchemaType::Avro,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
        "invalid avro schema",
    );
    refused(SchemaType::Avro, r#"[["int"]]"#, "union");
    refused(SchemaType::Avro, "42", "not 42");
}

#[test]
fn json_schema_that_does_not_compile_is_refused() {
    refused(SchemaType::Json, r#"{"type": 5}"#, "invalid json schema");
    refused(
        SchemaType::Json,
        r#"{"minimum": "three"}"#,
        "invalid json schema",
    );
    refused(SchemaType::Json, "[1, 2]", "object or a boolean");
}

#[test]
fn bad_regex_is_refused() {
    refused(
        SchemaType::Json,
        r#"{"type":"string","pattern":"(unclosed"}"#,
        "invalid json schema",
    );
    refused(
        SchemaType::Json,
        r#"{"patternProperties":{"[z-a]":{}}}"#,
        "invalid json schema",
    );
}

#[test]
fn unknown_dollar_schema_is_refused() {
    refused(
        SchemaType::Json,
        r#"{"$schema":"https://example.com/my-draft"}"#,
        "unknown \"$schema\"",
    );
    for draft in [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ] {
        parse(
            SchemaType::Json,
            &format!(r#"{{"$schema":"{draft}","type":"string"}}"#),
        )
        .unwrap_or_else(|e| panic!("{draft}: {e}"));
    }
}

#[test]
fn ref_to_nowhere_is_refused_and_never_fetched() {
    refused(
        SchemaType::Json,
        r##"{"$ref":"#/definitions/missing"}"##,
        "invalid json schema",
    );
    refused(
        SchemaType::Json,
        r#"{"$ref":"https://example.com/schema.json"}"#,
        "not among the schema's references",
    );
    refused(
        SchemaType::Json,
        r#"{"$ref":"other.json"}"#,
        "not among the schema's references",
    );
}

fn registered(t: SchemaType, schema: &str, references: Vec<SchemaReference>) -> RegisteredSchema {
    RegisteredSchema {
        schema_type: t,
        schema: schema.to_string(),
        references,
    }
}

fn reference(name: &str, subject: &str) -> SchemaReference {
    SchemaReference {
        name: name.into(),
        subject: subject.into(),
        version: 1,
    }
}

#[test]
fn avro_references_bring_named_types_into_scope() {
    let mut refs = InMemoryReferences::new();
    refs.insert("address", 1, registered(SchemaType::Avro,
        r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#, vec![]));
    let text = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"to","type":"Address"}]}"#;
    let parsed = ParsedSchema::parse(
        SchemaType::Avro,
        text,
        &[reference("shop.Address", "address")],
        &refs,
    )
    .unwrap();
    assert_eq!(parsed.references().len(), 1);
    let missing = ParsedSchema::parse(
        SchemaType::Avro,
        text,
        &[reference("shop.Address", "nope")],
        &refs,
    )
    .unwrap_err();
    assert!(
        matches!(missing, SchemaError::ReferenceNotFound { .. }),
        "{missing}"
    );
    assert_eq!(missing.confluent_code(), 42201);
    let unreferenced = ParsedSchema::parse(SchemaType::Avro, text, &[], &refs).unwrap_err();
    assert!(
        unreferenced
            .to_string()
            .contains("unknown type \"Address\""),
        "{unreferenced}"
    );
}

#[test]
fn json_references_resolve_in_memory() {
    let mut refs = InMemoryReferences::new();
    refs.insert(
        "address",
        1,
        registered(
            SchemaType::Json,
            r#"{"type":"object","properties":{"city":{"type":"string"}}}"#,
            vec![],
        ),
    );
    let text = r#"{"type":"object","properties":{"to":{"$ref":"address.json"}}}"#;
    let parsed = ParsedSchema::parse(
        SchemaType::Json,
        text,
        &[reference("address.json", "address")],
        &refs,
    )
    .unwrap();
    let compiled = parsed.compiled();
    assert!(
        compiled
            .validate_json(&serde_json::json!({"to": {"city": "Oslo"}}))
            .is_empty()
    );
    let violations = compiled.validate_json(&serde_json::json!({"to": {"city": 5}}));
    assert_eq!(violations[0].pointer, "/to/city");
}

#[test]
fn reference_cycles_and_counts_are_bounded() {
    let mut refs = InMemoryReferences::new();
    refs.insert(
        "a",
        1,
        registered(SchemaType::Json, "{}", vec![reference("b.json", "b")]),
    );
    refs.insert(
        "b",
        1,
        registered(SchemaType::Json, "{}", vec![reference("a.json", "a")]),
    );
    let err = ParsedSchema::parse(SchemaType::Json, "{}", &[reference("a.json", "a")], &refs)
        .unwrap_err();
    assert!(matches!(err, SchemaError::ReferenceCycle(_)), "{err}");
    assert!(err.to_string().contains("a/1 -> b/1 -> a/1"), "{err}");
    let mut chain = InMemoryReferences::new();
    for i in 0..200 {
        chain.insert(
            &format!("s{i}"),
            1,
            registered(
                SchemaType::Json,
                "{}",
                vec![reference("n.json", &format!("s{}", i + 1))],
            ),
        );
    }
    chain.insert("s200", 1, registered(SchemaType::Json, "{}", vec![]));
    let err = ParsedSchema::parse(SchemaType::Json, "{}", &[reference("n.json", "s0")], &chain)
        .unwrap_err();
    assert!(
        matches!(err, SchemaError::TooManyReferences { max: 100 }),
        "{err}"
    );
}

#[test]
fn references_must_share_the_schema_type() {
    let mut refs = InMemoryReferences::new();
    refs.insert("a", 1, registered(SchemaType::Avro, "\"int\"", vec![]));
    let err = ParsedSchema::parse(SchemaType::Json, "{}", &[reference("a.json", "a")], &refs)
        .unwrap_err();
    assert!(matches!(err, SchemaError::InvalidReference(_)), "{err}");
}

#[test]
fn canonical_form_ignores_whitespace_and_key_order() {
    let a = parse(
        SchemaType::Avro,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}"#,
    )
    .unwrap();
    let b = parse(SchemaType::Avro, "{ \"fields\" : [ {\"default\":1, \"type\":\"int\",\"name\":\"a\"} ],\n \"name\":\"R\", \"type\":\"record\" }").unwrap();
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.fingerprint().len(), 64);
    let j1 = parse(SchemaType::Json, r#"{"type":"object","required":["a"]}"#).unwrap();
    let j2 = parse(SchemaType::Json, r#"{ "required":["a"], "type":"object" }"#).unwrap();
    assert_eq!(j1.fingerprint(), j2.fingerprint());
}

#[test]
fn canonical_form_keeps_what_matters() {
    let base = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":"string"}]}"#;
    let variants = [
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":2},{"name":"b","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"a","type":"int","default":1}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"aliases":["x"]},{"name":"b","type":"string"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"int","logicalType":"date"},"default":1},{"name":"b","type":"string"}]}"#,
    ];
    let base = parse(SchemaType::Avro, base).unwrap();
    for v in variants {
        let other = parse(SchemaType::Avro, v).unwrap();
        assert_ne!(base.fingerprint(), other.fingerprint(), "{v}");
    }
    let json = parse(SchemaType::Json, r#"{"type":"integer"}"#).unwrap();
    let avro_same_text = parse(SchemaType::Avro, r#"{"type":"int"}"#).unwrap();
    assert_ne!(json.fingerprint(), avro_same_text.fingerprint());
}

#[test]
fn normalize_unifies_equivalent_spellings() {
    let a = parse(SchemaType::Avro, r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"string"}},{"name":"s","type":{"type":"fixed","name":"F","size":2}},{"name":"t","type":"F"}]}"#).unwrap();
    let b = parse(SchemaType::Avro, r#"{"type":"record","name":"n.R","fields":[{"name":"a","type":"string"},{"name":"s","type":{"type":"fixed","name":"n.F","size":2}},{"name":"t","type":"n.F"}]}"#).unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.normalized(), b.normalized());
    assert_eq!(a.normalized_fingerprint(), b.normalized_fingerprint());
    let j1 = parse(
        SchemaType::Json,
        r#"{"type":["string"],"required":["b","a"]}"#,
    )
    .unwrap();
    let j2 = parse(
        SchemaType::Json,
        r#"{"type":"string","required":["a","b"]}"#,
    )
    .unwrap();
    assert_eq!(j1.normalized(), j2.normalized());
}
