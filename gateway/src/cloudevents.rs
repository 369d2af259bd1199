//! CloudEvents 1.0 over HTTP: structured mode (`application/cloudevents+json`, one event),
//! batch mode (`application/cloudevents-batch+json`, an array whose events may be of different
//! types) and binary mode (`ce-*` headers, the body is the data).
//!
//! Mapping: `type` → event type (a valid Tributary event-type name; with a type in the path it
//! must be that type), `id` → event id (and what the event is deduplicated on), `time` → event
//! time, `source` → header `tributary.source` (the producer stays the request's producer),
//! `dataschema` → schema version pin when it is an integer or ends in `/versions/N` (other
//! URIs are ignored), `data` → the event, validated and stored as today. `data_base64` is not
//! supported. An event whose envelope is wrong (attributes missing, `specversion` not `1.0`,
//! non-JSON `datacontenttype`, no `data`) is rejected `malformed`; as the only event of a
//! structured or binary request it is a 400.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::{Map, Value};
use tributary_core::EventTypeName;

use crate::GatewayError;
use crate::decode::{self, Format, Parsed, RawEvent};
use crate::verdict::Reason;

/// Binary mode: the `ce-*` attributes, as header text.
#[derive(Debug, Clone, Default)]
pub(crate) struct BinaryAttributes(Map<String, Value>);

/// Headers of binary mode that become attributes (`ce-` + attribute name).
pub(crate) const BINARY_ATTRIBUTES: [&str; 8] = [
    "specversion",
    "id",
    "type",
    "source",
    "time",
    "dataschema",
    "subject",
    "datacontenttype",
];

/// Binary mode's attributes, when the request carries `ce-specversion`.
pub(crate) fn binary_attributes(
    headers: &HeaderMap,
    content_type: Option<&str>,
) -> Result<Option<BinaryAttributes>, GatewayError> {
    if !headers.contains_key("ce-specversion") {
        return Ok(None);
    }
    let mut attributes = Map::new();
    for name in BINARY_ATTRIBUTES {
        let header = format!("ce-{name}");
        if let Some(value) = headers.get(header.as_str()) {
            let value = value.to_str().map_err(|_| {
                GatewayError::BadRequest(format!("header {header} is not ascii text"))
            })?;
            let value = percent_decode(value.trim()).ok_or_else(|| {
                GatewayError::BadRequest(format!(
                    "header {header} is not valid percent-encoded utf-8"
                ))
            })?;
            attributes.insert(name.to_owned(), Value::String(value));
        }
    }
    if let Some(content_type) = content_type {
        attributes.insert(
            "datacontenttype".to_owned(),
            Value::String(content_type.to_owned()),
        );
    }
    Ok(Some(BinaryAttributes(attributes)))
}

/// Binary-mode header values percent-encode what is not printable ASCII (and `%`).
fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits: `from_str_radix` alone would also take a sign (`%+1`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How the request carries CloudEvents.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    Structured,
    Batch,
    Binary(BinaryAttributes),
}

/// One CloudEvent, its envelope checked (or why not).
#[derive(Debug)]
pub(crate) struct CloudEvent {
    pub(crate) index: usize,
    /// The bytes as sent (the envelope; in binary mode the body). `parsed` is the `data`.
    pub(crate) raw: RawEvent<'static>,
    /// `None` when the envelope is wrong (then `raw.parsed` says why).
    pub(crate) event_type: Option<EventTypeName>,
    pub(crate) id: Option<String>,
    pub(crate) time_ms: Option<i64>,
    pub(crate) source: Option<String>,
    pub(crate) pinned_version: Option<i32>,
}

/// Splits and checks the CloudEvents of a (decompressed) body. CPU-bound.
pub(crate) fn parse(
    body: &Bytes,
    mode: &Mode,
    path_type: Option<&EventTypeName>,
    max_events: usize,
    max_event_bytes: usize,
) -> Result<Vec<CloudEvent>, GatewayError> {
    let raws = match mode {
        Mode::Binary(attributes) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| GatewayError::BadRequest("the body is not valid utf-8".into()))?;
            let data: Value = serde_json::from_str(text).map_err(|e| {
                GatewayError::BadRequest(format!("the body (the event's data) is not json: {e}"))
            })?;
            if decode::holds_raw_value_token(&data) {
                return Err(GatewayError::BadRequest(decode::raw_value_token_message()));
            }
            let mut envelope = attributes.0.clone();
            envelope.insert("data".to_owned(), data);
            vec![RawEvent {
                bytes: body.clone(),
                verbatim: false,
                parsed: Ok(Parsed::Value(Value::Object(envelope))),
            }]
        }
        Mode::Structured | Mode::Batch => {
            let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
            match (mode, is_array) {
                (Mode::Structured, true) => {
                    return Err(GatewayError::BadRequest(
                        "application/cloudevents+json holds one event; send several as application/cloudevents-batch+json".into(),
                    ));
                }
                (Mode::Batch, false) => {
                    return Err(GatewayError::BadRequest(
                        "application/cloudevents-batch+json is a json array of events".into(),
                    ));
                }
                _ => {}
            }
            decode::split(body, Format::Json, max_events, max_event_bytes)?
        }
    };
    let single = !matches!(mode, Mode::Batch);
    let mut out = Vec::with_capacity(raws.len());
    for (index, raw) in raws.into_iter().enumerate() {
        let (bytes, parsed) = raw.into_parts();
        let event = match parsed {
            Err(why) => CloudEvent::invalid(index, bytes, None, why),
            Ok(envelope) => check(index, bytes, envelope, path_type),
        };
        if single
            && event.event_type.is_none()
            && let Err((_, message)) = &event.raw.parsed
        {
            return Err(GatewayError::BadRequest(format!(
                "not an acceptable cloudevent: {message}"
            )));
        }
        out.push(event);
    }
    Ok(out)
}

impl CloudEvent {
    fn invalid(index: usize, bytes: Bytes, id: Option<String>, why: (Reason, String)) -> Self {
        CloudEvent {
            index,
            raw: RawEvent {
                bytes,
                verbatim: false,
                parsed: Err(why),
            },
            event_type: None,
            id,
            time_ms: None,
            source: None,
            pinned_version: None,
        }
    }
}

fn malformed(message: impl Into<String>) -> (Reason, String) {
    (Reason::Malformed, message.into())
}

/// Checks one envelope and maps its attributes.
fn check(
    index: usize,
    bytes: Bytes,
    envelope: Value,
    path_type: Option<&EventTypeName>,
) -> CloudEvent {
    let Value::Object(mut envelope) = envelope else {
        return CloudEvent::invalid(
            index,
            bytes,
            None,
            (
                Reason::NotAnObject,
                "a cloudevent must be a json object".into(),
            ),
        );
    };
    let id = attribute(&envelope, "id").ok().map(str::to_owned);
    match attributes(&mut envelope, path_type) {
        Ok((event_type, time_ms, source, pinned_version, data)) => CloudEvent {
            index,
            raw: RawEvent {
                bytes,
                verbatim: false,
                parsed: if data.is_object() {
                    Ok(Parsed::Value(data))
                } else {
                    Err((
                        Reason::NotAnObject,
                        "the cloudevent's data must be a json object".into(),
                    ))
                },
            },
            event_type: Some(event_type),
            id,
            time_ms,
            source: Some(source),
            pinned_version,
        },
        Err(why) => CloudEvent::invalid(index, bytes, id, why),
    }
}

type Attributes = (EventTypeName, Option<i64>, String, Option<i32>, Value);

fn attributes(
    envelope: &mut Map<String, Value>,
    path_type: Option<&EventTypeName>,
) -> Result<Attributes, (Reason, String)> {
    let version = attribute(envelope, "specversion")?;
    if version != "1.0" {
        return Err(malformed(format!(
            "specversion {version:?} is not supported; send 1.0"
        )));
    }
    attribute(envelope, "id")?;
    let source = attribute(envelope, "source")?.to_owned();
    let raw_type = attribute(envelope, "type")?;
    let event_type = EventTypeName::parse(raw_type).map_err(|_| {
        malformed(format!(
            "type {raw_type:?} is not a valid event type name (lowercase domain.name)"
        ))
    })?;
    if let Some(path_type) = path_type
        && path_type != &event_type
    {
        return Err(malformed(format!(
            "type {raw_type:?} is not the event type of the path ({})",
            path_type.as_str()
        )));
    }
    let time_ms = match optional(envelope, "time")? {
        None => None,
        Some(raw) => match chrono::DateTime::parse_from_rfc3339(raw) {
            Ok(time) if time.timestamp_millis() >= 0 => Some(time.timestamp_millis()),
            _ => return Err(malformed(format!("time {raw:?} is not an RFC 3339 time"))),
        },
    };
    let pinned_version = optional(envelope, "dataschema")?.and_then(schema_version);
    if let Some(content_type) = optional(envelope, "datacontenttype")? {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(malformed(format!(
                "datacontenttype {content_type:?} is not json; only json data is supported"
            )));
        }
    }
    if envelope.contains_key("data_base64") {
        return Err(malformed(
            "data_base64 is not supported; send the event as json in data",
        ));
    }
    let Some(data) = envelope.remove("data") else {
        return Err(malformed("the cloudevent has no data (the event itself)"));
    };
    Ok((event_type, time_ms, source, pinned_version, data))
}

/// A required string attribute.
fn attribute<'e>(
    envelope: &'e Map<String, Value>,
    name: &str,
) -> Result<&'e str, (Reason, String)> {
    match envelope.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(malformed(format!("{name} must be a non-empty string"))),
        None => Err(malformed(format!(
            "the required attribute {name} is missing"
        ))),
    }
}

fn optional<'e>(
    envelope: &'e Map<String, Value>,
    name: &str,
) -> Result<Option<&'e str>, (Reason, String)> {
    match envelope.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(format!("{name} must be a string"))),
    }
}

/// `3`, or a URI ending in `/versions/3`.
fn schema_version(dataschema: &str) -> Option<i32> {
    let tail = match dataschema.rsplit_once("/versions/") {
        Some((_, tail)) => tail,
        None => dataschema,
    };
    tail.trim().parse::<i32>().ok().filter(|n| *n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a b").unwrap(), "a b");
        assert_eq!(percent_decode("caf%C3%A9%25").unwrap(), "café%");
        assert!(percent_decode("bad%2").is_none());
        assert!(percent_decode("bad%zz").is_none());
        assert!(percent_decode("bad%+1").is_none());
    }

    #[test]
    fn schema_versions() {
        assert_eq!(schema_version("2"), Some(2));
        assert_eq!(
            schema_version("http://reg/subjects/a-value/versions/7"),
            Some(7)
        );
        assert_eq!(schema_version("http://example.com/schema.json"), None);
        assert_eq!(schema_version("0"), None);
    }

    #[test]
    fn envelopes() {
        let body = Bytes::from_static(
            br#"[{"specversion":"1.0","id":"1","source":"/s","type":"a.b","data":{"x":1},"time":"2023-11-14T22:13:20Z"},
                {"specversion":"0.3","id":"2","source":"/s","type":"a.b","data":{}},
                {"specversion":"1.0","id":"3","type":"a.b","data":{}},
                {"specversion":"1.0","id":"4","source":"/s","type":"A B","data":{}},
                {"specversion":"1.0","id":"5","source":"/s","type":"a.b","data_base64":"AA=="},
                {"specversion":"1.0","id":"6","source":"/s","type":"a.b","data":[1]}]"#,
        );
        let events = parse(&body, &Mode::Batch, None, 10, 1000).unwrap();
        assert_eq!(events[0].event_type.as_ref().unwrap().as_str(), "a.b");
        assert_eq!(events[0].time_ms, Some(1_700_000_000_000));
        assert_eq!(events[0].id.as_deref(), Some("1"));
        for event in &events[1..5] {
            assert!(event.event_type.is_none());
            assert_eq!(event.raw.parsed.as_ref().unwrap_err().0, Reason::Malformed);
        }
        assert_eq!(
            events[5].raw.parsed.as_ref().unwrap_err().0,
            Reason::NotAnObject
        );
        let single = Bytes::from_static(br#"{"specversion":"1.0","id":"1","type":"a.b"}"#);
        assert!(matches!(
            parse(&single, &Mode::Structured, None, 10, 1000),
            Err(GatewayError::BadRequest(_))
        ));
    }
}
