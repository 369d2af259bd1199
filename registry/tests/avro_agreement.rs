//! Agreement of the Avro compatibility checker with an independent implementation: the
//! Python `avro` package's `avro.compatibility.ReaderWriterCompatibilityChecker`.
//!
//! A deterministic corpus of reader/writer pairs (primitives, unions, and mutations of a
//! record: fields added and removed with and without defaults, promotions, enum symbols,
//! fixed sizes, renames with and without aliases, nested records, recursion) is classified by
//! both; every pair must agree except the deliberate divergences listed in [`divergence`].

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};
use tributary_registry::{CompatibilityLevel, InMemoryReferences, ParsedSchema, SchemaType, check};

/// Pairs where we deliberately disagree with the Python checker, and why.
///
/// Decimals: the Avro specification (1.11, "Logical Types", "Decimal") says "for the purposes
/// of schema resolution, two schemas that are decimal logical types match if their scales and
/// precisions match"; the Python (and Java) checkers ignore logical types entirely, so they
/// call `decimal(10,2)` readable as `decimal(12,4)`, which silently rescales values.
fn divergence(reader: &Variant, writer: &Variant) -> Option<&'static str> {
    match (reader.decimal, writer.decimal) {
        (Some(r), Some(w)) if r != w => {
            Some("spec 1.11 logical types/decimal: precision and scale must match")
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    schema: Value,
    /// (precision, scale) of the decimal field `d`, when the variant has one.
    decimal: Option<(u64, u64)>,
}

fn base() -> Value {
    json!({
        "type": "record", "name": "R",
        "fields": [
            {"name": "a", "type": "int"},
            {"name": "b", "type": "string"},
            {"name": "c", "type": ["null", "string"], "default": null},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 4}},
            {"name": "arr", "type": {"type": "array", "items": "long"}},
            {"name": "m", "type": {"type": "map", "values": "int"}},
            {"name": "n", "type": {"type": "record", "name": "Inner",
                "fields": [{"name": "x", "type": "int"}]}}
        ]
    })
}

fn fields(schema: &mut Value) -> &mut Vec<Value> {
    schema["fields"].as_array_mut().expect("fields")
}

fn field<'a>(schema: &'a mut Value, name: &str) -> &'a mut Value {
    fields(schema)
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field")
}

fn variants() -> Vec<Variant> {
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: Vec<Mutation> = vec![
        ("base", |_| {}),
        ("add_x_no_default", |s| {
            fields(s).push(json!({"name": "x", "type": "int"}))
        }),
        ("add_x_default", |s| {
            fields(s).push(json!({"name": "x", "type": "int", "default": 0}))
        }),
        ("add_x_union_default", |s| {
            fields(s).push(json!({"name": "x", "type": ["null", "int"], "default": null}))
        }),
        ("remove_b", |s| fields(s).retain(|f| f["name"] != "b")),
        ("remove_c", |s| fields(s).retain(|f| f["name"] != "c")),
        ("a_long", |s| field(s, "a")["type"] = json!("long")),
        ("a_float", |s| field(s, "a")["type"] = json!("float")),
        ("a_double", |s| field(s, "a")["type"] = json!("double")),
        ("a_string", |s| field(s, "a")["type"] = json!("string")),
        ("a_union_null_int", |s| {
            field(s, "a")["type"] = json!(["null", "int"])
        }),
        ("a_union_int_long", |s| {
            field(s, "a")["type"] = json!(["int", "long"])
        }),
        ("b_bytes", |s| field(s, "b")["type"] = json!("bytes")),
        ("c_add_int", |s| {
            field(s, "c")["type"] = json!(["null", "string", "int"])
        }),
        ("c_string_only", |s| {
            let c = field(s, "c");
            c["type"] = json!("string");
            c["default"] = json!("");
        }),
        ("e_add_d", |s| {
            field(s, "e")["type"]["symbols"] = json!(["A", "B", "C", "D"])
        }),
        ("e_remove_c", |s| {
            field(s, "e")["type"]["symbols"] = json!(["A", "B"])
        }),
        ("e_remove_c_default", |s| {
            field(s, "e")["type"]["symbols"] = json!(["A", "B"]);
            field(s, "e")["type"]["default"] = json!("A");
        }),
        ("e_rename", |s| field(s, "e")["type"]["name"] = json!("E2")),
        ("e_rename_alias", |s| {
            field(s, "e")["type"]["name"] = json!("E2");
            field(s, "e")["type"]["aliases"] = json!(["E"]);
        }),
        ("f_size_8", |s| field(s, "f")["type"]["size"] = json!(8)),
        ("f_rename", |s| field(s, "f")["type"]["name"] = json!("G")),
        ("f_rename_alias", |s| {
            field(s, "f")["type"]["name"] = json!("G");
            field(s, "f")["type"]["aliases"] = json!(["F"]);
        }),
        ("arr_int", |s| {
            field(s, "arr")["type"]["items"] = json!("int")
        }),
        ("arr_double", |s| {
            field(s, "arr")["type"]["items"] = json!("double")
        }),
        ("arr_to_map", |s| {
            field(s, "arr")["type"] = json!({"type": "map", "values": "long"})
        }),
        ("m_long", |s| {
            field(s, "m")["type"]["values"] = json!("long")
        }),
        ("m_string", |s| {
            field(s, "m")["type"]["values"] = json!("string")
        }),
        ("record_rename", |s| s["name"] = json!("S")),
        ("record_rename_alias", |s| {
            s["name"] = json!("S");
            s["aliases"] = json!(["R"]);
        }),
        ("a_rename", |s| field(s, "a")["name"] = json!("a2")),
        ("a_rename_alias", |s| {
            let a = field(s, "a");
            a["name"] = json!("a2");
            a["aliases"] = json!(["a"]);
        }),
        ("n_add_y_default", |s| {
            field(s, "n")["type"]["fields"]
                .as_array_mut()
                .expect("inner fields")
                .push(json!({"name": "y", "type": "string", "default": "y"}))
        }),
        ("n_add_y", |s| {
            field(s, "n")["type"]["fields"]
                .as_array_mut()
                .expect("inner fields")
                .push(json!({"name": "y", "type": "string"}))
        }),
        ("n_x_long", |s| {
            field(s, "n")["type"]["fields"][0]["type"] = json!("long")
        }),
        ("n_nullable", |s| {
            let inner = field(s, "n")["type"].take();
            field(s, "n")["type"] = json!(["null", inner]);
        }),
        ("recursive_next", |s| {
            fields(s).push(json!({"name": "next", "type": ["null", "R"], "default": null}))
        }),
        ("a_date", |s| {
            field(s, "a")["type"] = json!({"type": "int", "logicalType": "date"})
        }),
        (
            "a_ts_millis",
            |s| field(s, "a")["type"] = json!({"type": "long", "logicalType": "timestamp-millis"}),
        ),
        ("namespaced", |s| s["namespace"] = json!("com.example")),
    ];
    let mut out = Vec::new();
    for (name, mutate) in mutations {
        let mut schema = base();
        mutate(&mut schema);
        out.push(Variant {
            name: name.to_string(),
            schema,
            decimal: None,
        });
    }
    for (precision, scale) in [(10, 2), (12, 2), (10, 3)] {
        let mut schema = base();
        fields(&mut schema).push(json!({"name": "d", "type": {
            "type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale
        }, "default": "\u{0}"}));
        out.push(Variant {
            name: format!("decimal_{precision}_{scale}"),
            schema,
            decimal: Some((precision, scale)),
        });
    }
    out
}

fn standalone() -> Vec<Variant> {
    let mut schemas = vec![
        json!("null"),
        json!("boolean"),
        json!("int"),
        json!("long"),
        json!("float"),
        json!("double"),
        json!("bytes"),
        json!("string"),
        json!(["null", "int"]),
        json!(["null", "long"]),
        json!(["int", "string"]),
        json!(["null", "long", "string"]),
        json!(["null", "double"]),
        json!(["float", "bytes"]),
        json!({"type": "array", "items": ["null", "int"]}),
        json!({"type": "array", "items": "long"}),
        json!({"type": "map", "values": ["int", "string"]}),
        json!({"type": "enum", "name": "E", "symbols": ["A", "B"]}),
        json!({"type": "enum", "name": "E", "symbols": ["B", "C"], "default": "B"}),
        json!(["null", {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}]),
        json!({"type": "fixed", "name": "F", "size": 2}),
        json!(["null", {"type": "fixed", "name": "F", "size": 2}]),
    ];
    let mut out = Vec::new();
    for (i, schema) in schemas.drain(..).enumerate() {
        out.push(Variant {
            name: format!("s{i}"),
            schema,
            decimal: None,
        });
    }
    out
}

fn parse(schema: &Value) -> ParsedSchema {
    ParsedSchema::parse(
        SchemaType::Avro,
        &schema.to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .unwrap_or_else(|e| panic!("corpus schema {schema} does not parse: {e}"))
}

fn corpus() -> Vec<(String, Variant, Variant)> {
    let mut pairs = Vec::new();
    for group in [variants(), standalone()] {
        for reader in &group {
            for writer in &group {
                let id = format!("{} <- {}", reader.name, writer.name);
                pairs.push((id, reader.clone(), writer.clone()));
            }
        }
    }
    pairs
}

#[test]
#[ignore = "needs python3 with the avro package: scripts/test-full installs it"]
fn avro_compatibility_agrees_with_python_avro() {
    let pairs = corpus();
    let input: Vec<Value> = pairs
        .iter()
        .map(|(id, r, w)| json!({"id": id, "reader": r.schema, "writer": w.schema}))
        .collect();
    let path = std::env::temp_dir().join(format!("avro-corpus-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&input).expect("corpus json")).expect("write corpus");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/avro_compat_oracle.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed for this test): {e}"));
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "the oracle failed; it needs python3 with the avro package \
         (pip install avro==1.12.0):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let oracle: BTreeMap<String, Value> =
        serde_json::from_slice(&output.stdout).expect("oracle output is json");

    let mut agree = 0;
    let mut compatible = 0;
    let mut divergent = Vec::new();
    let mut disagreements = Vec::new();
    for (id, reader, writer) in &pairs {
        let ours = check(
            CompatibilityLevel::Backward,
            &parse(&reader.schema),
            &[parse(&writer.schema)],
        );
        let theirs = &oracle[id];
        let theirs_compatible = theirs["compatible"].as_bool().expect("bool");
        if ours.is_empty() == theirs_compatible {
            agree += 1;
            compatible += usize::from(theirs_compatible);
            continue;
        }
        if let Some(reason) = divergence(reader, writer) {
            divergent.push(format!("{id}: {reason}"));
            continue;
        }
        disagreements.push(format!(
            "{id}: ours {:?}, python {}",
            ours.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            theirs
        ));
    }
    eprintln!(
        "avro agreement: {} pairs, {agree} agree ({compatible} compatible), {} deliberate \
         divergences, {} disagreements",
        pairs.len(),
        divergent.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(pairs.len() >= 300, "corpus too small: {}", pairs.len());
}
