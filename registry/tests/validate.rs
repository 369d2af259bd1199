//! Compiled schemas, the validator cache, and Avro JSON/binary round trips.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tributary_registry::{
    CompiledSchema, InMemoryReferences, ParsedSchema, SchemaError, SchemaType, ValidatorCache,
    confluent_frame, split_confluent_frame,
};

fn compile(t: SchemaType, text: &str) -> Arc<CompiledSchema> {
    ParsedSchema::parse(t, text, &[], &InMemoryReferences::new())
        .unwrap()
        .compiled()
}

const ORDER: &str = r#"{"type":"record","name":"Order","fields":[
    {"name":"id","type":"string"},
    {"name":"qty","type":"int"},
    {"name":"note","type":["null","string"],"default":null},
    {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
    {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
    {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}"#;

#[test]
fn json_schema_violations_carry_pointers() {
    let c = compile(
        SchemaType::Json,
        r#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"array","items":{"type":"string"}}},"required":["a"]}"#,
    );
    assert!(c.validate_json(&json!({"a": 1, "b": ["x"]})).is_empty());
    let violations = c.validate_json(&json!({"a": "x", "b": ["x", 2]}));
    let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/a"), "{pointers:?}");
    assert!(pointers.contains(&"/b/1"), "{pointers:?}");
}

#[test]
fn avro_plain_json_validates_encodes_and_decodes() {
    let c = compile(SchemaType::Avro, ORDER);
    let event =
        json!({"id": "o1", "qty": 2, "kind": "A", "price": "12.30", "at": 1700000000000i64});
    assert!(
        c.validate_json(&event).is_empty(),
        "{:?}",
        c.validate_json(&event)
    );
    let bytes = c.encode_avro_from_json(&event).unwrap();
    let framed = confluent_frame(7, &bytes);
    let (id, payload) = split_confluent_frame(&framed).unwrap();
    assert_eq!(id, 7);
    let back = c.decode_avro_to_json(payload).unwrap();
    assert_eq!(
        back,
        json!({"id": "o1", "qty": 2, "note": null, "kind": "A", "price": "12.30",
        "at": 1700000000000i64, "tags": []})
    );
    assert!(split_confluent_frame(&bytes[..2]).is_err());
}

#[test]
fn avro_violations_name_every_bad_place() {
    let c = compile(SchemaType::Avro, ORDER);
    let bad = json!({"qty": 3000000000i64, "kind": "Z", "price": "1.234", "at": 1, "extra": 1});
    let violations = c.validate_json(&bad);
    let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
    for expected in ["/id", "/qty", "/kind", "/price", "/extra"] {
        assert!(
            pointers.contains(&expected),
            "{expected} missing from {violations:?}"
        );
    }
}

#[test]
fn avro_decoding_refuses_garbage_and_trailing_bytes() {
    let c = compile(SchemaType::Avro, r#""long""#);
    assert!(c.decode_avro(&[0x02]).is_ok());
    assert!(c.decode_avro(&[0x02, 0x00]).is_err(), "trailing byte");
    assert!(c.decode_avro(&[0xff]).is_err(), "truncated varint");
    let s = compile(SchemaType::Avro, r#""string""#);
    assert!(
        s.decode_avro(&[0xfe, 0xff, 0xff, 0xff, 0x0f]).is_err(),
        "huge length, no data"
    );
}

#[test]
fn cache_compiles_once_under_concurrency() {
    let cache = Arc::new(ValidatorCache::new(10));
    let loads = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for _ in 0..8 {
        let cache = Arc::clone(&cache);
        let loads = Arc::clone(&loads);
        threads.push(std::thread::spawn(move || {
            for _ in 0..100 {
                let c = cache
                    .get_or_compile(1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        ParsedSchema::parse(
                            SchemaType::Json,
                            r#"{"type":"string"}"#,
                            &[],
                            &InMemoryReferences::new(),
                        )
                        .map(|p| p.compiled())
                    })
                    .unwrap();
                assert!(c.validate_json(&json!("x")).is_empty());
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.compilations(), 1);
}

#[test]
fn cache_does_not_keep_failures_and_evicts_lru() {
    let cache = ValidatorCache::new(2);
    let err: Result<_, SchemaError> =
        cache.get_or_compile(1, || Err(SchemaError::InvalidJson("x".into())));
    assert!(err.is_err());
    assert!(cache.get(1).is_none());
    let s = compile(SchemaType::Avro, r#""int""#);
    cache.insert(1, Arc::clone(&s));
    cache.insert(2, Arc::clone(&s));
    assert!(
        cache.get(1).is_some(),
        "touch 1 so 2 is the least recently used"
    );
    cache.insert(3, s);
    assert_eq!(cache.len(), 2);
    assert!(cache.get(2).is_none());
    assert!(cache.get(1).is_some() && cache.get(3).is_some());
}

#[test]
fn avro_datum_len_splits_datums_written_back_to_back() {
    let c = compile(SchemaType::Avro, ORDER);
    let events = [
        json!({"id": "o1", "qty": 2, "kind": "A", "price": "12.30", "at": 1}),
        json!({"id": "o-two", "qty": -7, "note": "gift", "kind": "B", "price": "0.01",
               "at": 1700000000000i64, "tags": ["x", "yy", "zzz"]}),
    ];
    let datums: Vec<Vec<u8>> = events
        .iter()
        .map(|e| c.encode_avro_from_json(e).unwrap())
        .collect();
    let body = datums.concat();
    let first = c.avro_datum_len(&body).unwrap();
    assert_eq!(first, datums[0].len());
    assert_eq!(c.avro_datum_len(&body[first..]).unwrap(), datums[1].len());
    // Every strict prefix ends inside a value.
    for cut in 0..datums[1].len() {
        assert!(
            c.avro_datum_len(&datums[1][..cut]).is_err(),
            "prefix of {cut} bytes"
        );
    }
}

#[test]
fn avro_datum_len_refuses_hostile_bytes_without_allocating() {
    let nulls = compile(
        SchemaType::Avro,
        r#"{"type":"record","name":"R","fields":[{"name":"n","type":{"type":"array","items":"null"}}]}"#,
    );
    // A block of 2^62 nulls in 10 bytes: refused on its count, not walked.
    let mut bomb = vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    bomb.push(0);
    let err = nulls.avro_datum_len(&bomb).unwrap_err();
    assert!(err.to_string().contains("claims"), "{err}");
    // 3,000 nulls in 3 bytes: more than one value per byte plus 1,024.
    let mut many = Vec::new();
    let count: i64 = 3000;
    let mut zz = ((count << 1) ^ (count >> 63)) as u64;
    while zz >= 0x80 {
        many.push((zz as u8) | 0x80);
        zz >>= 7;
    }
    many.push(zz as u8);
    many.push(0);
    assert!(nulls.avro_datum_len(&many).is_err());

    let c = compile(SchemaType::Avro, ORDER);
    // A string claiming a gigabyte.
    assert!(c.avro_datum_len(&[0x80, 0x80, 0x80, 0x80, 0x08]).is_err());
    // Union branch 5 of a two-branch union (after id "a", qty 1).
    let err = c.avro_datum_len(&[2, b'a', 2, 10]).unwrap_err();
    assert!(err.to_string().contains("union branch"), "{err}");
    // An enum index out of range.
    let err = c.avro_datum_len(&[2, b'a', 2, 0, 9]).unwrap_err();
    assert!(err.to_string().contains("enum index"), "{err}");
    assert!(matches!(
        compile(SchemaType::Json, "{}").avro_datum_len(b"x"),
        Err(tributary_registry::DecodeError::NotAvro)
    ));
}

/// The tape validator (the gateway's fast path) gives the `Value` validator's verdict on every
/// instance, across the keywords events meet: types, enums and consts (numbers compared
/// mathematically), formats, patterns, lengths in code points, `$ref`s, `uniqueItems`,
/// `propertyNames`, `additionalProperties`, combinators and conditionals.
#[test]
fn tape_verdicts_match_value_verdicts() {
    use tributary_registry::JsonTape;
    let schema = r##"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "at"],
        "propertyNames": {"pattern": "^[a-z_]+$"},
        "$defs": {"money": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000}},
        "properties": {
            "id": {"type": "string", "pattern": "^o-[0-9]{3}$"},
            "at": {"type": "string", "format": "date-time"},
            "kind": {"enum": ["a", "b", 1, {"x": [1, 2]}]},
            "one": {"const": 1},
            "name": {"type": "string", "minLength": 2, "maxLength": 3},
            "price": {"$ref": "#/$defs/money"},
            "count": {"type": "integer", "multipleOf": 2},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}, "maxItems": 3},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]},
            "maybe": {"type": ["null", "boolean"]},
            "shape": {
                "type": "object",
                "if": {"properties": {"t": {"const": "circle"}}},
                "then": {"required": ["r"]},
                "else": {"required": ["w", "h"]}
            }
        }
    }"##;
    let c = compile(SchemaType::Json, schema);
    let instances = [
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z"}"#,
        r#"{"id":"o-12","at":"2026-11-27T10:00:00Z"}"#,
        r#"{"id":"o-123","at":"yesterday"}"#,
        r#"{"id":"o-123"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","extra":1}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","Bad":1}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","kind":"a"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","kind":1.0}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","kind":{"x":[1,2.0]}}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","kind":{"x":[2,1]}}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","kind":"c"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","one":1.0}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","one":true}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","name":"éé"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","name":"é"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","name":"\u00e9\u00e9\u00e9\u00e9"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","price":999.99}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","price":1000}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","price":-1}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","count":4}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","count":4.0}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","count":3}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","tags":["a","b"]}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","tags":["a","a"]}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","tags":["a","b","c","d"]}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","either":"s"}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","either":12}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","either":5}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","maybe":null}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","maybe":0}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","shape":{"t":"circle","r":1}}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","shape":{"t":"circle","w":1,"h":1}}"#,
        r#"{"id":"o-123","at":"2026-11-27T10:00:00Z","shape":{"t":"box","w":1,"h":1}}"#,
        r#"[1,2]"#,
        r#""text""#,
    ];
    let mut verdicts = [0usize; 2];
    for text in instances {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let by_value = c.validate_json(&value).is_empty();
        let tape = JsonTape::parse(text).unwrap();
        assert_eq!(c.tape_is_valid(&tape), Some(by_value), "{text}");
        verdicts[usize::from(by_value)] += 1;
    }
    assert!(verdicts[0] > 10 && verdicts[1] > 10, "{verdicts:?}");
    // Avro schemas have no tape validator.
    let avro = compile(SchemaType::Avro, ORDER);
    let tape = JsonTape::parse(r#"{"id":"o1"}"#).unwrap();
    assert_eq!(avro.tape_is_valid(&tape), None);
}
