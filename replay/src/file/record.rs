//! How one [`ReplayRecord`] is written in each format. Both carry the same fields — `topic`,
//! `partition`, `offset`, `timestamp_ms`, `key`, `headers` (in order, names may repeat) and
//! `value` — and both give back the exact bytes that were written.
//!
//! NDJSON, one object per line:
//! - `key`: the key as text when it is UTF-8, `null` when there is none; a key that is not
//!   UTF-8 is `key_base64` (standard alphabet, padded) instead.
//! - `headers`: `[{"name": …, "value": …}]`, a value that is not UTF-8 as `value_base64`.
//! - `value`: the event itself when the value is JSON (embedded byte for byte, so only when it
//!   has no line break and no surrounding whitespace); when it is Confluent's wire format
//!   around such JSON (magic byte 0, 4-byte schema id), `schema_id` plus the JSON in `value`;
//!   anything else as `value_base64`.
//!
//! Avro: the record schema [`AVRO_SCHEMA`] (`tributary.ReplayedRecord`), key, header values and
//! value as `bytes`, exactly as read.

use std::sync::LazyLock;

use apache_avro::Schema;
use apache_avro::types::Value;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::ReplayRecord;

/// The Avro schema of every record of an `events.avro` export. `partition` is a `long` so any
/// partition number fits; `timestamp_ms` is the record timestamp (the event time), in
/// milliseconds since the Unix epoch.
pub(crate) const AVRO_SCHEMA: &str = r#"{
  "type": "record",
  "name": "ReplayedRecord",
  "namespace": "tributary",
  "doc": "One record a replay job selected, as it was read from the event log.",
  "fields": [
    {"name": "topic", "type": "string"},
    {"name": "partition", "type": "long"},
    {"name": "offset", "type": "long"},
    {"name": "timestamp_ms", "type": "long"},
    {"name": "key", "type": ["null", "bytes"], "default": null},
    {"name": "headers", "type": {"type": "array", "items": {
      "type": "record",
      "name": "Header",
      "fields": [
        {"name": "name", "type": "string"},
        {"name": "value", "type": "bytes"}
      ]
    }}},
    {"name": "value", "type": "bytes"}
  ]
}"#;

/// [`AVRO_SCHEMA`], parsed once.
pub(crate) static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(AVRO_SCHEMA).expect("AVRO_SCHEMA is a valid Avro schema"));

/// The Avro value of `record` under [`SCHEMA`].
pub(crate) fn to_avro(record: &ReplayRecord) -> Value {
    let key = match &record.key {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(key) => Value::Union(1, Box::new(Value::Bytes(key.to_vec()))),
    };
    let headers = record
        .headers
        .iter()
        .map(|(name, value)| {
            Value::Record(vec![
                ("name".to_owned(), Value::String(name.clone())),
                ("value".to_owned(), Value::Bytes(value.to_vec())),
            ])
        })
        .collect();
    Value::Record(vec![
        ("topic".to_owned(), Value::String(record.topic.clone())),
        (
            "partition".to_owned(),
            Value::Long(i64::from(record.partition)),
        ),
        ("offset".to_owned(), Value::Long(record.offset)),
        ("timestamp_ms".to_owned(), Value::Long(record.timestamp_ms)),
        ("key".to_owned(), key),
        ("headers".to_owned(), Value::Array(headers)),
        ("value".to_owned(), Value::Bytes(record.value.to_vec())),
    ])
}

/// The record an Avro value decoded with [`SCHEMA`] holds.
pub(crate) fn from_avro(value: Value) -> Result<ReplayRecord, String> {
    let Value::Record(fields) = value else {
        return Err("not a record".to_owned());
    };
    let mut record = ReplayRecord {
        topic: String::new(),
        partition: 0,
        offset: 0,
        timestamp_ms: 0,
        key: None,
        value: Bytes::new(),
        headers: Vec::new(),
    };
    for (name, field) in fields {
        match (name.as_str(), field) {
            ("topic", Value::String(topic)) => record.topic = topic,
            ("partition", Value::Long(partition)) => {
                record.partition = u32::try_from(partition)
                    .map_err(|_| format!("partition {partition} is out of range"))?;
            }
            ("offset", Value::Long(offset)) => record.offset = offset,
            ("timestamp_ms", Value::Long(timestamp)) => record.timestamp_ms = timestamp,
            ("key", Value::Union(_, key)) => match *key {
                Value::Null => record.key = None,
                Value::Bytes(key) => record.key = Some(Bytes::from(key)),
                other => return Err(format!("key is {other:?}")),
            },
            ("headers", Value::Array(headers)) => {
                for header in headers {
                    record.headers.push(header_from_avro(header)?);
                }
            }
            ("value", Value::Bytes(value)) => record.value = Bytes::from(value),
            (name, other) => return Err(format!("field {name} is {other:?}")),
        }
    }
    Ok(record)
}

fn header_from_avro(header: Value) -> Result<(String, Bytes), String> {
    let Value::Record(fields) = header else {
        return Err("a header is not a record".to_owned());
    };
    let mut name = None;
    let mut value = None;
    for field in fields {
        match field {
            (field, Value::String(text)) if field == "name" => name = Some(text),
            (field, Value::Bytes(bytes)) if field == "value" => value = Some(Bytes::from(bytes)),
            (field, other) => return Err(format!("header field {field} is {other:?}")),
        }
    }
    match (name, value) {
        (Some(name), Some(value)) => Ok((name, value)),
        _ => Err("a header lacks its name or value".to_owned()),
    }
}

/// One NDJSON line as written (borrowing from the record).
#[derive(Serialize)]
struct LineOut<'a> {
    topic: &'a str,
    partition: u32,
    offset: i64,
    timestamp_ms: i64,
    /// `None`: left out (the key is in `key_base64`); `Some(None)`: no key.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<String>,
    headers: Vec<HeaderOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

/// One NDJSON line as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    topic: String,
    partition: u32,
    offset: i64,
    timestamp_ms: i64,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_base64: Option<String>,
    headers: Vec<HeaderIn>,
    #[serde(default)]
    schema_id: Option<u32>,
    /// Present (even as JSON `null`, which is an event too) or absent.
    #[serde(default, deserialize_with = "present")]
    value: Option<Box<RawValue>>,
    #[serde(default)]
    value_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_base64: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Appends `record` as one NDJSON line (with its `\n`) to `out`.
pub(crate) fn write_line(record: &ReplayRecord, out: &mut Vec<u8>) {
    let (key, key_base64) = match record.key.as_deref() {
        None => (Some(None), None),
        Some(key) => match std::str::from_utf8(key) {
            Ok(text) => (Some(Some(text)), None),
            Err(_) => (None, Some(BASE64.encode(key))),
        },
    };
    let headers = record
        .headers
        .iter()
        .map(|(name, value)| match std::str::from_utf8(value) {
            Ok(text) => HeaderOut {
                name,
                value: Some(text),
                value_base64: None,
            },
            Err(_) => HeaderOut {
                name,
                value: None,
                value_base64: Some(BASE64.encode(value)),
            },
        })
        .collect();
    let (schema_id, json) = match split_confluent_json(&record.value) {
        Some((schema_id, json)) => (Some(schema_id), Some(json)),
        None => (None, embeddable_json(&record.value)),
    };
    let value_base64 = match json {
        Some(_) => None,
        None => Some(BASE64.encode(&record.value)),
    };
    let line = LineOut {
        topic: &record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp_ms: record.timestamp_ms,
        key,
        key_base64,
        headers,
        schema_id,
        value: json,
        value_base64,
    };
    serde_json::to_writer(&mut *out, &line).expect("serializing to a Vec cannot fail");
    out.push(b'\n');
}

/// The record one NDJSON line (without its `\n`) holds.
pub(crate) fn read_line(line: &[u8]) -> Result<ReplayRecord, String> {
    let line: LineIn = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let key = match (line.key, line.key_base64) {
        (None, None) => None,
        (Some(text), None) => Some(Bytes::from(text)),
        (None, Some(encoded)) => Some(decode_base64(&encoded, "key_base64")?),
        (Some(_), Some(_)) => return Err("both key and key_base64".to_owned()),
    };
    let mut headers = Vec::with_capacity(line.headers.len());
    for header in line.headers {
        let value = match (header.value, header.value_base64) {
            (Some(text), None) => Bytes::from(text),
            (None, Some(encoded)) => decode_base64(&encoded, "a header's value_base64")?,
            _ => {
                return Err(format!(
                    "header {} needs exactly one of value and value_base64",
                    header.name
                ));
            }
        };
        headers.push((header.name, value));
    }
    let value = match (line.schema_id, line.value, line.value_base64) {
        (None, Some(json), None) => Bytes::copy_from_slice(json.get().as_bytes()),
        (Some(schema_id), Some(json), None) => {
            let mut framed = Vec::with_capacity(json.get().len() + 5);
            framed.push(0);
            framed.extend_from_slice(&schema_id.to_be_bytes());
            framed.extend_from_slice(json.get().as_bytes());
            Bytes::from(framed)
        }
        (None, None, Some(encoded)) => decode_base64(&encoded, "value_base64")?,
        (Some(_), None, _) => return Err("schema_id without a JSON value".to_owned()),
        _ => return Err("needs exactly one of value and value_base64".to_owned()),
    };
    Ok(ReplayRecord {
        topic: line.topic,
        partition: line.partition,
        offset: line.offset,
        timestamp_ms: line.timestamp_ms,
        key,
        value,
        headers,
    })
}

fn decode_base64(encoded: &str, field: &str) -> Result<Bytes, String> {
    BASE64
        .decode(encoded)
        .map(Bytes::from)
        .map_err(|e| format!("{field} is not base64: {e}"))
}

/// `bytes` as JSON that can be embedded in a line and read back byte for byte: valid JSON,
/// no line break, no whitespace around it.
fn embeddable_json(bytes: &[u8]) -> Option<&RawValue> {
    let first = *bytes.first()?;
    let last = *bytes.last()?;
    if first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return None;
    }
    if bytes.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return None;
    }
    serde_json::from_slice::<&RawValue>(bytes).ok()
}

/// Confluent's wire format around embeddable JSON: the schema id and the JSON. (The registry's
/// `split_confluent_frame` does the same split; this crate does not depend on the registry.)
fn split_confluent_json(bytes: &[u8]) -> Option<(u32, &RawValue)> {
    if bytes.len() < 5 || bytes[0] != 0 {
        return None;
    }
    let schema_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    Some((schema_id, embeddable_json(&bytes[5..])?))
}

#[cfg(test)]
mod tests {
    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::writer::datum::GenericDatumWriter;

    use super::*;

    fn record(key: Option<&[u8]>, value: &[u8], headers: &[(&str, &[u8])]) -> ReplayRecord {
        ReplayRecord {
            topic: "orders.order_placed".to_owned(),
            partition: 3,
            offset: 42,
            timestamp_ms: 1_700_000_000_123,
            key: key.map(Bytes::copy_from_slice),
            value: Bytes::copy_from_slice(value),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Bytes::copy_from_slice(v)))
                .collect(),
        }
    }

    fn line_of(record: &ReplayRecord) -> String {
        let mut out = Vec::new();
        write_line(record, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_values_are_embedded_as_they_are() {
        let r = record(Some(b"c-1"), br#"{"b":1, "a":[1.50]}"#, &[("p", b"shop")]);
        let line = line_of(&r);
        assert_eq!(
            line,
            "{\"topic\":\"orders.order_placed\",\"partition\":3,\"offset\":42,\"timestamp_ms\":1700000000123,\"key\":\"c-1\",\"headers\":[{\"name\":\"p\",\"value\":\"shop\"}],\"value\":{\"b\":1, \"a\":[1.50]}}\n"
        );
        assert_eq!(read_line(line.trim_end().as_bytes()).unwrap(), r);
    }

    #[test]
    fn confluent_framed_json_keeps_its_schema_id() {
        let mut framed = vec![0, 0, 0, 1, 7];
        framed.extend_from_slice(br#"{"id":1}"#);
        let r = record(None, &framed, &[]);
        let line = line_of(&r);
        assert!(line.contains(r#""key":null"#), "{line}");
        assert!(
            line.contains(r#""schema_id":263,"value":{"id":1}"#),
            "{line}"
        );
        assert_eq!(read_line(line.trim_end().as_bytes()).unwrap(), r);
    }

    #[test]
    fn other_bytes_are_base64_and_round_trip() {
        let cases: [&[u8]; 6] = [
            b"\xff\x00binary",
            b"{\"a\":\n1}",
            b" {}",
            b"",
            b"not json",
            b"\x00\x00\x00\x00\x01\xff",
        ];
        for value in cases {
            let r = record(Some(b"\xfe\xff"), value, &[("bin", b"\x80"), ("bin", b"x")]);
            let line = line_of(&r);
            assert!(line.contains("value_base64"), "{line}");
            assert!(line.contains(r#""key_base64":"/v8=""#), "{line}");
            assert_eq!(line.matches('\n').count(), 1);
            assert_eq!(read_line(line.trim_end().as_bytes()).unwrap(), r);
        }
    }

    #[test]
    fn a_json_null_value_is_an_event() {
        let r = record(None, b"null", &[]);
        let line = line_of(&r);
        assert!(line.ends_with(",\"value\":null}\n"), "{line}");
        assert_eq!(read_line(line.trim_end().as_bytes()).unwrap(), r);
    }

    #[test]
    fn malformed_lines_say_why() {
        let no_value =
            r#"{"topic":"t","partition":0,"offset":1,"timestamp_ms":0,"key":null,"headers":[]}"#;
        assert!(
            read_line(no_value.as_bytes())
                .unwrap_err()
                .contains("exactly one")
        );
        let extra = r#"{"topic":"t","partition":0,"offset":1,"timestamp_ms":0,"headers":[],"value":1,"x":2}"#;
        assert!(
            read_line(extra.as_bytes())
                .unwrap_err()
                .contains("unknown field")
        );
    }

    #[test]
    fn avro_values_round_trip() {
        let r = record(Some(b"\xfe"), b"\x00\x01", &[("a", b"\xff"), ("a", b"")]);
        let writer = GenericDatumWriter::builder(&SCHEMA).build().unwrap();
        let reader = GenericDatumReader::builder(&SCHEMA).build().unwrap();
        for r in [r, record(None, b"{}", &[])] {
            let datum = writer.write_value_to_vec(to_avro(&r)).unwrap();
            let value = reader.read_value(&mut &datum[..]).unwrap();
            assert_eq!(from_avro(value).unwrap(), r);
        }
    }
}
