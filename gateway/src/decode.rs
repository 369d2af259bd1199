//! From request bytes to events: media types, content encodings with a hard cap on the
//! decompressed size, and splitting a body into events without trusting its shape.
//!
//! `application/json` is one object or an array of objects; any syntax error in it is a 400
//! for the whole request (the body cannot be split reliably). `application/x-ndjson` is one
//! object per line, blank lines ignored; a line that does not parse is rejected `malformed`
//! on its own and the other lines go on. Nesting deeper than serde_json's 128 levels is a 400
//! in both. The whole body must be UTF-8 (400 otherwise).
//!
//! `application/avro` (or `avro/binary`) is one or more Avro binary datums back to back, of the
//! schema version the request pins (else the one in force); with `; framing=confluent` each
//! datum carries Confluent's prefix (magic byte 0, schema id), and every datum of a request
//! must carry the same id. Avro has no framing of its own, so a datum that does not match the
//! schema makes the rest of the body unreadable: it is a 400 for the whole request, naming the
//! event and the byte offset.

use std::cell::Cell;
use std::fmt;
use std::io::Read;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use tributary_registry::{CompiledSchema, JsonTape, TapeError, split_confluent_frame};

use crate::GatewayError;
use crate::verdict::Reason;

/// How the body lists its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Ndjson,
    /// `application/cloudevents+json`: one CloudEvent (structured mode).
    CloudEvent,
    /// `application/cloudevents-batch+json`: an array of CloudEvents.
    CloudEventBatch,
    /// `application/avro`: Avro binary datums back to back; `framed`: each with Confluent's
    /// wire-format prefix.
    Avro {
        framed: bool,
    },
}

/// How the body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

/// The format named by a `Content-Type` header.
pub(crate) fn format_of(content_type: Option<&str>) -> Result<Format, GatewayError> {
    let Some(raw) = content_type else {
        return Err(GatewayError::UnsupportedMediaType(
            "a content type is required: application/json or application/x-ndjson".into(),
        ));
    };
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut framing = None;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim().trim_matches('"');
        if name.eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err(GatewayError::UnsupportedMediaType(format!(
                "charset {value} is not supported; send utf-8"
            )));
        }
        if name.eq_ignore_ascii_case("framing") {
            framing = Some(value.to_ascii_lowercase());
        }
    }
    match essence.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson" => Ok(Format::Ndjson),
        "application/cloudevents+json" => Ok(Format::CloudEvent),
        "application/cloudevents-batch+json" => Ok(Format::CloudEventBatch),
        "application/avro" | "avro/binary" => match framing.as_deref() {
            None | Some("none") => Ok(Format::Avro { framed: false }),
            Some("confluent") => Ok(Format::Avro { framed: true }),
            Some(other) => Err(GatewayError::UnsupportedMediaType(format!(
                "avro framing {other:?} is not supported; send framing=confluent or none"
            ))),
        },
        _ => Err(GatewayError::UnsupportedMediaType(format!(
            "content type {essence:?} is not supported; send application/json, application/x-ndjson, application/avro, application/cloudevents+json or application/cloudevents-batch+json"
        ))),
    }
}

/// The encoding named by a `Content-Encoding` header.
pub(crate) fn encoding_of(content_encoding: Option<&str>) -> Result<Encoding, GatewayError> {
    match content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => Ok(Encoding::Identity),
        Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
        Some("zstd") => Ok(Encoding::Zstd),
        Some(other) => Err(GatewayError::UnsupportedMediaType(format!(
            "content encoding {other:?} is not supported; send gzip, zstd or none"
        ))),
    }
}

/// Decompresses `body`, failing with 413 past `cap` bytes and 400 on a broken stream.
/// CPU-bound: call on the blocking pool.
pub(crate) fn decompress(
    body: Bytes,
    encoding: Encoding,
    cap: usize,
) -> Result<Bytes, GatewayError> {
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Identity => return Ok(body),
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        Encoding::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(&body[..]).map_err(|e| {
                GatewayError::BadRequest(format!("cannot start zstd decoding: {e}"))
            })?,
        ),
    };
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = reader.take(limit).read_to_end(&mut out) {
        return Err(GatewayError::BadRequest(format!(
            "the compressed body is broken or truncated: {e}"
        )));
    }
    if out.len() > cap {
        return Err(GatewayError::TooLarge(format!(
            "the body decompresses to more than {cap} bytes"
        )));
    }
    Ok(Bytes::from(out))
}

/// One event as sent: its exact bytes and what became of parsing it.
#[derive(Debug)]
pub(crate) struct RawEvent<'b> {
    /// The event's bytes as sent (a slice of the body).
    pub(crate) bytes: Bytes,
    /// `bytes` is exactly the event's JSON (not an envelope or Avro), so a JSON Schema
    /// subject's record can carry it as sent instead of re-encoding the parsed value.
    pub(crate) verbatim: bool,
    pub(crate) parsed: Result<Parsed<'b>, (Reason, String)>,
}

/// An acceptable event's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed<'b> {
    Value(Value),
    /// JSON read into a tape over the body, without building a `Value` (see
    /// `tributary_registry::JsonTape`): one object, no repeated names, no reserved key.
    Tape(JsonTape<'b>),
}

impl RawEvent<'_> {
    /// The bytes, and what parsing gave as a `Value`.
    pub(crate) fn into_parts(self) -> (Bytes, Result<Value, (Reason, String)>) {
        let parsed = match self.parsed {
            Ok(Parsed::Value(value)) => Ok(value),
            Ok(Parsed::Tape(tape)) => Ok(tape.to_value()),
            Err(why) => Err(why),
        };
        (self.bytes, parsed)
    }
}

/// Whether a tape that read fine holds an acceptable event: an object, without the reserved key.
fn acceptable(tape: &JsonTape<'_>) -> Result<(), (Reason, String)> {
    if tape.has_member_named(RAW_VALUE_TOKEN) {
        Err(refusal(Refused::ReservedKey))
    } else if !tape.is_object() {
        Err(not_an_object())
    } else {
        Ok(())
    }
}

fn not_an_object() -> (Reason, String) {
    (Reason::NotAnObject, "an event must be a json object".into())
}

fn refusal(why: Refused) -> (Reason, String) {
    (Reason::Malformed, why.message())
}

/// An event whose JSON was read into a tape and found acceptable (or why not).
fn text_event<'b>(bytes: Bytes, read: Result<JsonTape<'b>, TapeError>) -> RawEvent<'b> {
    let parsed = match read {
        Ok(tape) => acceptable(&tape).map(|()| Parsed::Tape(tape)),
        Err(TapeError::DuplicateMember) => Err(refusal(Refused::DuplicateMember)),
        Err(TapeError::Syntax(e)) => Err((Reason::Malformed, format!("not valid json: {e}"))),
    };
    RawEvent {
        bytes,
        // Only a refused event is not stored as sent (a non-object never gets that far).
        verbatim: !matches!(parsed, Err((Reason::Malformed, _))),
        parsed,
    }
}

/// Splits a body of Avro datums (see the module docs) into events, decoded to plain JSON.
/// `framed_id`: the schema id every datum's Confluent prefix must carry; `None`: no prefixes.
pub(crate) fn split_avro(
    body: &Bytes,
    schema: &CompiledSchema,
    framed_id: Option<u32>,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent<'static>>, GatewayError> {
    let unreadable = |index: usize, at: usize, why: String| {
        GatewayError::BadRequest(format!(
            "event {index} (at byte {at}) is not avro of the schema: {why}"
        ))
    };
    let mut events = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let index = events.len();
        if index == max_events {
            return Err(too_many_events(max_events));
        }
        let start = at;
        if let Some(expected) = framed_id {
            let (id, _) = split_confluent_frame(&body[at..])
                .map_err(|e| unreadable(index, at, e.to_string()))?;
            if id != expected {
                return Err(GatewayError::BadRequest(format!(
                    "event {index} is framed with schema id {id} but the first with {expected}: one request carries one schema"
                )));
            }
            at += 5;
        }
        let len = schema
            .avro_datum_len(&body[at..])
            .map_err(|e| unreadable(index, at, e.to_string()))?;
        let datum = &body[at..at + len];
        at += len;
        let bytes = body.slice(start..at);
        if bytes.len() > max_event_bytes {
            events.push(too_large(bytes, max_event_bytes));
            continue;
        }
        let value = schema
            .decode_avro_to_json(datum)
            .map_err(|e| unreadable(index, start, e.to_string()))?;
        events.push(event(bytes, value));
    }
    if events.is_empty() {
        return Err(GatewayError::BadRequest("the body holds no events".into()));
    }
    Ok(events)
}

/// The schema id of the first datum of a Confluent-framed body.
pub(crate) fn first_frame_id(body: &[u8]) -> Result<u32, GatewayError> {
    split_confluent_frame(body).map(|(id, _)| id).map_err(|e| {
        GatewayError::BadRequest(format!("event 0 (at byte 0) is not confluent-framed: {e}"))
    })
}

/// Splits a decompressed body into events.
pub(crate) fn split(
    body: &Bytes,
    format: Format,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent<'_>>, GatewayError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        GatewayError::BadRequest(format!(
            "the body is not valid utf-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let events = match format {
        Format::Ndjson => split_ndjson(body, text, max_events, max_event_bytes)?,
        // CloudEvents arrive here as plain JSON (see `cloudevents::parse`).
        Format::Json | Format::CloudEvent | Format::CloudEventBatch => {
            split_json(body, text, max_events, max_event_bytes)?
        }
        Format::Avro { .. } => {
            return Err(GatewayError::Internal(
                "avro bodies are split with their schema".into(),
            ));
        }
    };
    if events.is_empty() {
        return Err(GatewayError::BadRequest("the body holds no events".into()));
    }
    Ok(events)
}

fn split_json<'b>(
    body: &Bytes,
    text: &'b str,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent<'b>>, GatewayError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('[') {
        let bytes = body.slice_ref(text.trim().as_bytes());
        if bytes.len() > max_event_bytes {
            return Ok(vec![too_large(bytes, max_event_bytes)]);
        }
        return match JsonTape::parse(text) {
            Err(TapeError::Syntax(e)) => Err(GatewayError::BadRequest(format!(
                "the body is not valid json: {e}"
            ))),
            read => Ok(vec![text_event(bytes, read)]),
        };
    }
    match split_array_in_one_pass(body, text, max_events, max_event_bytes) {
        Some(events) => Ok(events),
        None => split_array_in_two_passes(body, text, max_events, max_event_bytes),
    }
}

/// Any JSON array body: its element boundaries first (the whole body's syntax, nesting and
/// element count checked on the way), then each element parsed.
fn split_array_in_two_passes<'b>(
    body: &Bytes,
    text: &'b str,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent<'b>>, GatewayError> {
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let elements = BoundedSeq {
        max: max_events,
        too_many: &too_many,
    }
    .deserialize(&mut de)
    .and_then(|elements| de.end().map(|()| elements));
    let elements = match elements {
        Ok(elements) => elements,
        Err(_) if too_many.get() => return Err(too_many_events(max_events)),
        Err(e) => {
            return Err(GatewayError::BadRequest(format!(
                "the body is not valid json: {e}"
            )));
        }
    };
    let mut events = Vec::with_capacity(elements.len());
    for (index, raw) in elements.into_iter().enumerate() {
        let bytes = body.slice_ref(raw.get().as_bytes());
        if bytes.len() > max_event_bytes {
            events.push(too_large(bytes, max_event_bytes));
            continue;
        }
        match JsonTape::parse(raw.get()) {
            // Syntax was checked when the array was split: a duplicate name is this event's
            // own problem; anything else (nesting too deep) is the request's.
            Err(TapeError::Syntax(e)) => {
                return Err(GatewayError::BadRequest(format!(
                    "event {index} is not acceptable json: {e}"
                )));
            }
            read => events.push(text_event(bytes, read)),
        }
    }
    Ok(events)
}

/// JSON's own whitespace, skipped from `at`.
fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// A well-formed JSON array of at most `max_events` elements, split and checked in one pass:
/// each element is read into a tape where it stands (see [`Parsed::Text`]) and its bytes end
/// at the reader's offset. `None` for anything else — bad syntax, nesting too deep, too many
/// elements — and the two-pass split then finds and words the problem as it always has.
fn split_array_in_one_pass<'b>(
    body: &Bytes,
    text: &'b str,
    max_events: usize,
    max_event_bytes: usize,
) -> Option<Vec<RawEvent<'b>>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_whitespace(bytes, at + 1);
    let mut events = Vec::new();
    if bytes.get(at) == Some(&b']') {
        return (skip_whitespace(bytes, at + 1) == bytes.len()).then_some(events);
    }
    loop {
        if events.len() == max_events {
            return None;
        }
        let read = JsonTape::parse_leading(&text[at..])?;
        let (read, end) = match read {
            Ok((tape, len)) => (Ok(tape), at + len),
            Err(TapeError::Syntax(_)) => return None,
            // The reader stopped at the object's end, but the stream reader does not say
            // where: find it the slow way.
            Err(TapeError::DuplicateMember) => return None,
        };
        let raw = body.slice_ref(&bytes[at..end]);
        events.push(if raw.len() > max_event_bytes {
            too_large(raw, max_event_bytes)
        } else {
            text_event(raw, read)
        });
        at = skip_whitespace(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_whitespace(bytes, at + 1),
            Some(b']') => {
                return (skip_whitespace(bytes, at + 1) == bytes.len()).then_some(events);
            }
            _ => return None,
        }
    }
}

fn split_ndjson<'b>(
    body: &Bytes,
    text: &'b str,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<RawEvent<'b>>, GatewayError> {
    let mut events = Vec::new();
    for (line_no, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if events.len() == max_events {
            return Err(too_many_events(max_events));
        }
        let bytes = body.slice_ref(line.as_bytes());
        if bytes.len() > max_event_bytes {
            events.push(too_large(bytes, max_event_bytes));
            continue;
        }
        match JsonTape::parse(line) {
            Err(TapeError::Syntax(e)) if e.to_string().contains("recursion limit") => {
                return Err(GatewayError::BadRequest(format!(
                    "line {} nests too deeply: {e}",
                    line_no + 1
                )));
            }
            read => events.push(text_event(bytes, read)),
        }
    }
    Ok(events)
}

/// An event decoded from Avro: checked for the reserved key and for being an object.
fn event(bytes: Bytes, value: Value) -> RawEvent<'static> {
    let parsed = if holds_raw_value_token(&value) {
        Err(refusal(Refused::ReservedKey))
    } else if value.is_object() {
        Ok(Parsed::Value(value))
    } else {
        Err(not_an_object())
    };
    RawEvent {
        bytes,
        verbatim: false,
        parsed,
    }
}

/// Why text that is JSON is still not an acceptable event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// An object names a member twice. RFC 8259 leaves the meaning open (I-JSON forbids it):
    /// the gateway would validate one reading and consumers could take another.
    DuplicateMember,
    /// An object holds serde_json's raw-value marker as a key (see [`RAW_VALUE_TOKEN`]).
    ReservedKey,
}

impl Refused {
    fn message(self) -> String {
        match self {
            Refused::DuplicateMember => {
                "not acceptable json: an object names the same member twice".to_owned()
            }
            Refused::ReservedKey => raw_value_token_message(),
        }
    }
}

/// serde_json's marker for raw values (the `raw_value` feature is on in this build): as the
/// first key of an object it makes serde_json read the object as something else. Objects are
/// written with their keys sorted, so an event holding this key anywhere would be written as
/// json that serde_json cannot read back.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

pub(crate) fn holds_raw_value_token(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key == RAW_VALUE_TOKEN || holds_raw_value_token(value)),
        Value::Array(items) => items.iter().any(holds_raw_value_token),
        _ => false,
    }
}

pub(crate) fn raw_value_token_message() -> String {
    format!("the key {RAW_VALUE_TOKEN:?} is reserved")
}

fn too_large(bytes: Bytes, max: usize) -> RawEvent<'static> {
    let message = format!(
        "the event is {} bytes; at most {max} are allowed",
        bytes.len()
    );
    RawEvent {
        bytes,
        verbatim: false,
        parsed: Err((Reason::TooLarge, message)),
    }
}

fn too_many_events(max: usize) -> GatewayError {
    GatewayError::TooLarge(format!("a request may hold at most {max} events"))
}

/// A JSON array of raw elements that stops reading past `max` elements.
struct BoundedSeq<'c> {
    max: usize,
    too_many: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BoundedSeq<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BoundedSeq<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(element) = seq.next_element::<&'de RawValue>()? {
            if out.len() == self.max {
                self.too_many.set(true);
                return Err(de::Error::custom("too many events"));
            }
            out.push(element);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `split` makes of `text`, as values (a tape cannot outlive the body it reads).
    fn split_text(text: &str, format: Format) -> Result<Vec<Split>, GatewayError> {
        let body = Bytes::from(text.to_owned());
        let events = split(&body, format, 3, 100)?;
        Ok(events.into_iter().map(Split::from).collect())
    }

    #[derive(Debug)]
    struct Split {
        bytes: Bytes,
        verbatim: bool,
        parsed: Result<Value, (Reason, String)>,
    }

    impl From<RawEvent<'_>> for Split {
        fn from(raw: RawEvent<'_>) -> Split {
            let verbatim = raw.verbatim;
            let (bytes, parsed) = raw.into_parts();
            Split {
                bytes,
                verbatim,
                parsed,
            }
        }
    }

    #[test]
    fn arrays_keep_each_events_bytes() {
        let events = split_text(r#"[ {"a":1} , {"b": [2]} ]"#, Format::Json).unwrap();
        assert_eq!(&events[0].bytes[..], br#"{"a":1}"#);
        assert_eq!(&events[1].bytes[..], br#"{"b": [2]}"#);
    }

    #[test]
    fn duplicate_member_names_are_malformed_events() {
        let events = split_text(r#"[{"a":1,"b":{"c":1,"c":2}}, {"a":2}]"#, Format::Json).unwrap();
        let (reason, message) = events[0].parsed.as_ref().unwrap_err();
        assert_eq!(*reason, Reason::Malformed);
        assert!(message.contains("the same member twice"), "{message}");
        assert!(events[1].parsed.is_ok() && events[1].verbatim);
        let events = split_text("{\"a\":1,\"a\":1}\n{\"a\":1}", Format::Ndjson).unwrap();
        assert_eq!(events[0].parsed.as_ref().unwrap_err().0, Reason::Malformed);
        assert!(events[1].parsed.is_ok());
        // Not JSON at all, though it repeats a name: the request's syntax error.
        assert!(split_text("{\"a\":1,\"a\":\r}", Format::Json).is_err());
        // Numbers, strings, nesting and escapes read as serde_json reads them.
        let text = r#"{"i":-3,"u":18446744073709551615,"f":1.5e3,"s":"\u00e9\n","n":null,"t":true,"l":[[],{}]}"#;
        let body = Bytes::from(text);
        let (_, parsed) = split(&body, Format::Json, 1, 1 << 10)
            .unwrap()
            .remove(0)
            .into_parts();
        assert_eq!(
            parsed.unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    /// What an event came to, comparable across the two ways of splitting (one reads JSON
    /// into tapes, the other into values).
    fn outcome(event: RawEvent<'_>) -> (Vec<u8>, bool, Result<Value, (Reason, String)>) {
        let Split {
            bytes,
            verbatim,
            parsed,
        } = Split::from(event);
        (bytes.to_vec(), verbatim, parsed)
    }

    #[test]
    fn one_pass_splits_arrays_as_two_passes_do() {
        let bodies = [
            r#"[ {"a":1} , {"b": [2, {"c": null}]} ]"#,
            "\n\t[{\"a\":1,\"b\":2},{\"b\":\"\\u00e9\"}]\r\n",
            r#"[{"x": -1.5e3}, 7, "s", [1], {"$serde_json::private::RawValue": 1}]"#,
            r#"[{"big": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}, {}]"#,
            "[]",
            "[1,2]",
        ];
        for sent in bodies {
            let body = Bytes::from(sent.to_owned());
            let text = std::str::from_utf8(&body).unwrap();
            let one = split_array_in_one_pass(&body, text, 10, 50)
                .unwrap_or_else(|| panic!("{text} takes the one-pass split"));
            let two = split_array_in_two_passes(&body, text, 10, 50).unwrap();
            assert_eq!(
                one.into_iter().map(outcome).collect::<Vec<_>>(),
                two.into_iter().map(outcome).collect::<Vec<_>>(),
                "{text}"
            );
        }
        // Whatever the one pass does not take, the two passes word as before.
        let deep = format!("[{}{}]", "[".repeat(200), "]".repeat(200));
        let refused = [
            r#"[{"a":1}, {oops}]"#,
            r#"[{"a":1} {"b":2}]"#,
            r#"[{"a":1},]"#,
            r#"[{"a":1}] x"#,
            "[1x]",
            "[{},{},{},{},{},{},{},{},{},{},{}]",
            "\u{a0}[{}]",
            // Left to the two passes, which say which event repeats a name.
            r#"[{"a":1},{"a":1,"a":2}]"#,
            deep.as_str(),
        ];
        for sent in refused {
            let body = Bytes::from(sent.to_owned());
            let text = std::str::from_utf8(&body).unwrap();
            assert!(
                split_array_in_one_pass(&body, text, 10, 50).is_none(),
                "{text} is left to the two-pass split"
            );
        }
    }

    #[test]
    fn too_many_events_is_413() {
        let err = split_text("[{},{},{},{}]", Format::Json).unwrap_err();
        assert!(matches!(err, GatewayError::TooLarge(_)), "{err:?}");
        let err = split_text("{}\n{}\n{}\n{}", Format::Ndjson).unwrap_err();
        assert!(matches!(err, GatewayError::TooLarge(_)), "{err:?}");
    }

    #[test]
    fn ndjson_malformed_lines_stand_alone() {
        let events = split_text("{\"a\":1}\n\n{oops\r\n7\n", Format::Ndjson).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events[0].parsed.is_ok());
        assert_eq!(events[1].parsed.as_ref().unwrap_err().0, Reason::Malformed);
        assert_eq!(
            events[2].parsed.as_ref().unwrap_err().0,
            Reason::NotAnObject
        );
    }

    #[test]
    fn serde_json_raw_value_token_is_malformed() {
        let text = r#"[{"a":{"b":1,"$serde_json::private::RawValue":1}}, {"b":1}]"#;
        let events = split_text(text, Format::Json).unwrap();
        assert_eq!(events[0].parsed.as_ref().unwrap_err().0, Reason::Malformed);
        assert!(events[1].parsed.is_ok());
    }

    #[test]
    fn malformed_array_is_400() {
        let err = split_text(r#"[{"a":1}, {oops}]"#, Format::Json).unwrap_err();
        assert!(matches!(err, GatewayError::BadRequest(_)), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_400() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = split(&Bytes::from(deep.clone()), Format::Json, 10, 1 << 20).unwrap_err();
        assert!(matches!(err, GatewayError::BadRequest(_)), "{err:?}");
        let err = split(&Bytes::from(deep), Format::Ndjson, 10, 1 << 20).unwrap_err();
        assert!(matches!(err, GatewayError::BadRequest(_)), "{err:?}");
    }

    #[test]
    fn oversized_events_are_rejected_alone() {
        let big = format!(r#"[{{"a":"{}"}}, {{}}]"#, "x".repeat(200));
        let events = split_text(&big, Format::Json).unwrap();
        assert_eq!(events[0].parsed.as_ref().unwrap_err().0, Reason::TooLarge);
        assert!(events[1].parsed.is_ok());
    }

    #[test]
    fn media_types() {
        assert_eq!(
            format_of(Some("application/json; charset=UTF-8")).unwrap(),
            Format::Json
        );
        assert_eq!(
            format_of(Some("application/x-ndjson")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            format_of(Some("application/cloudevents-batch+json")).unwrap(),
            Format::CloudEventBatch
        );
        assert!(format_of(Some("text/plain")).is_err());
        assert!(format_of(Some("application/json; charset=latin1")).is_err());
        assert!(format_of(None).is_err());
        assert!(encoding_of(Some("br")).is_err());
    }

    #[test]
    fn zip_bomb_and_truncation() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b' '; 1 << 20]).unwrap();
        let packed = gz.finish().unwrap();
        let err = decompress(Bytes::from(packed.clone()), Encoding::Gzip, 1000).unwrap_err();
        assert!(matches!(err, GatewayError::TooLarge(_)), "{err:?}");
        let cut = Bytes::copy_from_slice(&packed[..packed.len() / 2]);
        let err = decompress(cut, Encoding::Gzip, 2 << 20).unwrap_err();
        assert!(matches!(err, GatewayError::BadRequest(_)), "{err:?}");
        let z = zstd::encode_all(&b"{\"a\":1}"[..], 3).unwrap();
        let err = decompress(
            Bytes::copy_from_slice(&z[..z.len() - 3]),
            Encoding::Zstd,
            100,
        )
        .unwrap_err();
        assert!(matches!(err, GatewayError::BadRequest(_)), "{err:?}");
    }
}
