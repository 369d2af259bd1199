//! Avro schema resolution rules, each checked in both directions.

use tributary_registry::{
    CompatibilityLevel, InMemoryReferences, IncompatibilityKind, ParsedSchema, SchemaType, check,
};

fn avro(text: &str) -> ParsedSchema {
    ParsedSchema::parse(SchemaType::Avro, text, &[], &InMemoryReferences::new())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The incompatibility kinds when `reader` reads data written with `writer`.
fn kinds(reader: &str, writer: &str) -> Vec<IncompatibilityKind> {
    check(CompatibilityLevel::Backward, &avro(reader), &[avro(writer)])
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

fn can_read(reader: &str, writer: &str) -> bool {
    kinds(reader, writer).is_empty()
}

fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","fields":[{fields}]}}"#)
}

#[test]
fn identical_primitives_are_compatible() {
    for t in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        let s = format!("\"{t}\"");
        assert!(can_read(&s, &s), "{t}");
    }
}

#[test]
fn numeric_promotions_widen_only() {
    let order = ["\"int\"", "\"long\"", "\"float\"", "\"double\""];
    for (i, writer) in order.iter().enumerate() {
        for (j, reader) in order.iter().enumerate() {
            assert_eq!(
                can_read(reader, writer),
                j >= i,
                "{reader} reading {writer}"
            );
        }
    }
    assert_eq!(
        kinds("\"int\"", "\"long\""),
        vec![IncompatibilityKind::TypeMismatch]
    );
}

#[test]
fn string_and_bytes_promote_both_ways() {
    assert!(can_read("\"string\"", "\"bytes\""));
    assert!(can_read("\"bytes\"", "\"string\""));
    assert!(!can_read("\"string\"", "\"int\""));
    assert!(!can_read("\"boolean\"", "\"null\""));
}

#[test]
fn reader_field_without_default_missing_in_writer() {
    let old = record(r#"{"name":"a","type":"int"}"#);
    let new = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#);
    let result = check(CompatibilityLevel::Backward, &avro(&new), &[avro(&old)]);
    assert_eq!(result.len(), 1);
    assert_eq!(
        result[0].kind,
        IncompatibilityKind::ReaderFieldMissingDefaultValue
    );
    assert_eq!(result[0].path, "/fields/1");
    assert!(result[0].message.contains("\"b\""), "{}", result[0].message);
    // The other way round the extra writer field is ignored.
    assert!(can_read(&old, &new));
}

#[test]
fn reader_field_with_default_missing_in_writer() {
    let old = record(r#"{"name":"a","type":"int"}"#);
    let new = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}"#);
    assert!(can_read(&new, &old));
    assert!(can_read(&old, &new));
    let null_default =
        record(r#"{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}"#);
    assert!(can_read(&null_default, &old));
}

#[test]
fn field_type_change_reports_the_path() {
    let old = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#);
    let new = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int"}"#);
    let result = check(CompatibilityLevel::Backward, &avro(&new), &[avro(&old)]);
    assert_eq!(result[0].kind, IncompatibilityKind::TypeMismatch);
    assert_eq!(result[0].path, "/fields/1/type");
}

#[test]
fn field_aliases_match_renamed_fields() {
    let old = record(r#"{"name":"old_name","type":"int"}"#);
    let new = record(r#"{"name":"new_name","type":"int","aliases":["old_name"]}"#);
    assert!(can_read(&new, &old));
    // The writer's aliases play no part: the old schema cannot find new_name.
    assert_eq!(
        kinds(&old, &new),
        vec![IncompatibilityKind::ReaderFieldMissingDefaultValue]
    );
}

#[test]
fn record_names_must_match_or_be_aliased() {
    let a = r#"{"type":"record","name":"A","fields":[]}"#;
    let b = r#"{"type":"record","name":"B","fields":[]}"#;
    let b_alias = r#"{"type":"record","name":"B","aliases":["A"],"fields":[]}"#;
    assert_eq!(kinds(b, a), vec![IncompatibilityKind::NameMismatch]);
    assert!(can_read(b_alias, a));
    assert!(!can_read(a, b_alias));
}

#[test]
fn record_names_compare_unqualified_and_aliases_qualify() {
    let a1 = r#"{"type":"record","name":"A","namespace":"one","fields":[]}"#;
    let a2 = r#"{"type":"record","name":"A","namespace":"two","fields":[]}"#;
    assert!(can_read(a1, a2));
    let b = r#"{"type":"record","name":"B","namespace":"one","aliases":["A"],"fields":[]}"#;
    assert!(can_read(b, a1), "alias A in namespace one is one.A");
    assert!(!can_read(b, a2), "alias one.A is not two.A");
}

#[test]
fn enum_symbols() {
    let ab = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
    let abc = r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#;
    let abc_default = r#"{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}"#;
    let ab_default = r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#;
    assert!(
        can_read(abc, ab),
        "adding symbols: reader knows all writer symbols"
    );
    assert_eq!(
        kinds(ab, abc),
        vec![IncompatibilityKind::MissingEnumSymbols]
    );
    assert!(
        can_read(ab_default, abc),
        "unknown symbols fall back to the default"
    );
    assert!(can_read(abc_default, ab));
    let path = check(CompatibilityLevel::Backward, &avro(ab), &[avro(abc)]);
    assert_eq!(path[0].path, "/symbols");
    assert!(path[0].message.contains('C'));
}

#[test]
fn enum_names_must_match() {
    let e = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
    let f = r#"{"type":"enum","name":"F","symbols":["A"]}"#;
    assert_eq!(kinds(f, e), vec![IncompatibilityKind::NameMismatch]);
}

#[test]
fn fixed_name_and_size() {
    let f4 = r#"{"type":"fixed","name":"F","size":4}"#;
    let f8 = r#"{"type":"fixed","name":"F","size":8}"#;
    let g4 = r#"{"type":"fixed","name":"G","size":4}"#;
    assert!(can_read(f4, f4));
    assert_eq!(kinds(f4, f8), vec![IncompatibilityKind::FixedSizeMismatch]);
    assert_eq!(kinds(f8, f4), vec![IncompatibilityKind::FixedSizeMismatch]);
    assert_eq!(kinds(g4, f4), vec![IncompatibilityKind::NameMismatch]);
}

#[test]
fn arrays_and_maps_recurse() {
    let ai = r#"{"type":"array","items":"int"}"#;
    let al = r#"{"type":"array","items":"long"}"#;
    let mi = r#"{"type":"map","values":"int"}"#;
    let ml = r#"{"type":"map","values":"long"}"#;
    assert!(can_read(al, ai));
    assert!(!can_read(ai, al));
    assert!(can_read(ml, mi));
    assert!(!can_read(mi, ml));
    assert!(!can_read(ai, mi));
    let result = check(CompatibilityLevel::Backward, &avro(ai), &[avro(al)]);
    assert_eq!(result[0].path, "/items");
}

#[test]
fn writer_union_needs_every_branch_readable() {
    assert!(can_read(
        r#"["null","string","int"]"#,
        r#"["null","string"]"#
    ));
    assert_eq!(
        kinds(r#"["null","string"]"#, r#"["null","string","int"]"#),
        vec![IncompatibilityKind::MissingUnionBranch]
    );
    // Non-union reader, union writer: every branch must be readable.
    assert!(can_read("\"long\"", r#"["int","long"]"#));
    assert!(!can_read("\"long\"", r#"["null","long"]"#));
}

#[test]
fn reader_union_needs_one_matching_branch() {
    assert!(can_read(r#"["null","string"]"#, "\"string\""));
    assert!(
        can_read(r#"["null","double"]"#, "\"int\""),
        "promotion into a branch"
    );
    assert_eq!(
        kinds(r#"["null","string"]"#, "\"int\""),
        vec![IncompatibilityKind::MissingUnionBranch]
    );
}

#[test]
fn union_branch_paths_name_the_writer_branch() {
    let result = check(
        CompatibilityLevel::Backward,
        &avro(r#"["null","string"]"#),
        &[avro(r#"["null","string","int"]"#)],
    );
    assert_eq!(result[0].path, "/2");
}

#[test]
fn recursive_schemas_terminate_and_compare() {
    let list = r#"{"type":"record","name":"Node","fields":[
        {"name":"value","type":"int"},{"name":"next","type":["null","Node"]}]}"#;
    let list_long = r#"{"type":"record","name":"Node","fields":[
        {"name":"value","type":"long"},{"name":"next","type":["null","Node"]}]}"#;
    assert!(can_read(list, list));
    assert!(can_read(list_long, list));
    assert!(!can_read(list, list_long));
}

#[test]
fn mutually_recursive_schemas_terminate() {
    let tree = r#"{"type":"record","name":"A","fields":[
        {"name":"b","type":["null",{"type":"record","name":"B","fields":[
            {"name":"a","type":["null","A"]}]}]}]}"#;
    assert!(can_read(tree, tree));
}

#[test]
fn logical_types_resolve_by_underlying_type() {
    let date = r#"{"type":"int","logicalType":"date"}"#;
    let ts = r#"{"type":"long","logicalType":"timestamp-millis"}"#;
    assert!(can_read(date, "\"int\""));
    assert!(can_read("\"int\"", date));
    assert!(
        can_read(ts, date),
        "int promotes to long whatever the annotation"
    );
    assert!(!can_read(date, ts));
    let uuid = r#"{"type":"string","logicalType":"uuid"}"#;
    assert!(can_read(uuid, "\"string\""));
    assert!(can_read("\"bytes\"", uuid));
}

#[test]
fn decimals_must_agree_on_precision_and_scale() {
    let d10_2 = r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#;
    let d12_2 = r#"{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}"#;
    let d10_3 = r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}"#;
    assert!(can_read(d10_2, d10_2));
    assert_eq!(kinds(d12_2, d10_2), vec![IncompatibilityKind::TypeMismatch]);
    assert!(!can_read(d10_3, d10_2));
    assert!(
        can_read("\"bytes\"", d10_2),
        "plain bytes reads any decimal"
    );
    let fixed =
        r#"{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}"#;
    assert!(can_read(fixed, fixed));
    assert!(!can_read(fixed, d10_2));
}

#[test]
fn full_is_backward_and_forward() {
    let old = record(r#"{"name":"a","type":"int"}"#);
    let add_default = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int","default":1}"#);
    let add_required = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int"}"#);
    let full = CompatibilityLevel::Full;
    assert!(check(full, &avro(&add_default), &[avro(&old)]).is_empty());
    assert!(!check(full, &avro(&add_required), &[avro(&old)]).is_empty());
    assert!(
        check(
            CompatibilityLevel::Forward,
            &avro(&add_required),
            &[avro(&old)]
        )
        .is_empty(),
        "old readers ignore the new field"
    );
}

#[test]
fn non_transitive_checks_only_the_latest() {
    // v1 has a, v2 drops it (with default), v3 re-adds "a" as a string without default.
    let v1 = avro(&record(r#"{"name":"a","type":"int"}"#));
    let v2 = avro(&record(r#"{"name":"b","type":"int","default":0}"#));
    let v3 = avro(&record(
        r#"{"name":"a","type":"string","default":""},{"name":"b","type":"int","default":0}"#,
    ));
    let previous = [v1, v2];
    assert!(check(CompatibilityLevel::Backward, &v3, &previous).is_empty());
    let transitive = check(CompatibilityLevel::BackwardTransitive, &v3, &previous);
    assert_eq!(transitive.len(), 1);
    assert_eq!(transitive[0].version_index, 0);
}

#[test]
fn none_checks_nothing_and_type_mismatch_is_reported() {
    let a = avro("\"int\"");
    let j = ParsedSchema::parse(
        SchemaType::Json,
        r#"{"type":"integer"}"#,
        &[],
        &InMemoryReferences::new(),
    )
    .unwrap();
    assert!(check(CompatibilityLevel::None, &a, std::slice::from_ref(&j)).is_empty());
    let result = check(CompatibilityLevel::Backward, &a, &[j]);
    assert_eq!(result[0].kind, IncompatibilityKind::SchemaTypeMismatch);
}

#[test]
fn compatibility_levels_parse_and_refuse_unknown() {
    for level in CompatibilityLevel::ALL {
        assert_eq!(level.as_str().parse::<CompatibilityLevel>().unwrap(), level);
    }
    assert_eq!(
        "full_transitive".parse::<CompatibilityLevel>().unwrap(),
        CompatibilityLevel::FullTransitive
    );
    let err = "SIDEWAYS".parse::<CompatibilityLevel>().unwrap_err();
    assert_eq!(err.confluent_code(), 42203);
    assert!(err.to_string().contains("SIDEWAYS"));
}
