//! The invariants the fuzz targets check: one function per target, taking the fuzzer's bytes,
//! running the gateway's real decoder (through `tributary_gateway::fuzzing`) and panicking when
//! an invariant does not hold — libFuzzer reports the panic as a crash.
//!
//! The same file is compiled into `gateway/tests/fuzz_seeds.rs`, which replays every seed in
//! `fuzz/seeds/<target>/` through [`TARGETS`] on stable in every `cargo test`. So it may use
//! only what the gateway's tests have too: `tributary_gateway` (with `fuzzing`) and
//! `serde_json`. Adding a target: `fuzz/README.md`.

use serde_json::value::RawValue;
use tributary_gateway::fuzzing::{
    self as gateway, Bytes, CloudEvent, CloudEventsMode, Encoding, EventTypeName, Format,
    GatewayError, HeaderMap, HeaderName, HeaderValue, RawEvent, Reason, Uri, Value,
};

/// A target's check: runs the decoder on the fuzzer's bytes, panics on a broken invariant.
pub type Check = fn(&[u8]);

/// Every target: its name (its file in `fuzz_targets/`, its folder in `seeds/`) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("json_split", json_split),
    ("ndjson_split", ndjson_split),
    ("gzip_split", gzip_split),
    ("zstd_split", zstd_split),
    ("cloudevents_structured", cloudevents_structured),
    ("cloudevents_batch", cloudevents_batch),
    ("cloudevents_binary", cloudevents_binary),
    ("request_headers", request_headers),
    ("content_type", content_type),
];

/// Split limits: events per request and bytes per event.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_events: usize,
    max_event_bytes: usize,
}

/// Every split is checked under tight limits, which small inputs reach, and the binary's.
const LIMITS: [Limits; 2] = [
    Limits {
        max_events: 4,
        max_event_bytes: 64,
    },
    Limits {
        max_events: 10_000,
        max_event_bytes: 1 << 20,
    },
];

/// Decompression cap of the compression targets: small, so that small bombs reach it.
const CAP: usize = 64 << 10;

/// The event type in the path, for the CloudEvents targets that run with one.
const PATH_TYPE: &str = "orders.created";

/// `application/json` body, split into events.
pub fn json_split(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    for limits in LIMITS {
        check_json_split(&body, limits);
    }
}

/// `application/x-ndjson` body, split into events.
pub fn ndjson_split(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    for limits in LIMITS {
        check_ndjson_split(&body, limits);
    }
}

/// `Content-Encoding: gzip`: decompressed under the cap, then split as JSON and as NDJSON.
pub fn gzip_split(data: &[u8]) {
    decompress_then_split(data, Encoding::GZIP);
}

/// `Content-Encoding: zstd`: decompressed under the cap, then split as JSON and as NDJSON.
pub fn zstd_split(data: &[u8]) {
    decompress_then_split(data, Encoding::ZSTD);
}

/// `application/cloudevents+json`: one CloudEvent.
pub fn cloudevents_structured(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let mode = CloudEventsMode::structured();
    for (path_type, limits) in cases() {
        match parse(&body, &mode, path_type.as_ref(), limits) {
            Err(error) => assert_status(&error, &[400]),
            Ok(events) => {
                assert_eq!(events.len(), 1, "structured mode holds one event");
                assert!(
                    events[0].event_type.is_some(),
                    "a bad single event is a 400"
                );
                check_cloudevent(&body, &events[0], 0, path_type.as_ref(), limits);
            }
        }
    }
}

/// `application/cloudevents-batch+json`: an array of CloudEvents.
pub fn cloudevents_batch(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let mode = CloudEventsMode::batch();
    for (path_type, limits) in cases() {
        let result = parse(&body, &mode, path_type.as_ref(), limits);
        let split = split(&body, Format::JSON, limits);
        let is_array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        match result {
            Err(error) => {
                assert_status(&error, &[400, 413]);
                if is_array && let Ok(split) = split {
                    panic!(
                        "a batch of {} events that splits is refused: {error}",
                        split.len()
                    );
                }
            }
            Ok(events) => {
                assert!(is_array, "a batch is a json array");
                let split = split.expect("a batch that parses splits as json");
                assert_eq!(
                    events.len(),
                    split.len(),
                    "one cloudevent per array element"
                );
                assert!(events.len() <= limits.max_events);
                for (index, event) in events.iter().enumerate() {
                    check_cloudevent(&body, event, index, path_type.as_ref(), limits);
                    assert_eq!(event.bytes, split[index].bytes);
                }
            }
        }
    }
}

/// Binary mode: `ce-*` headers and a JSON body. Input: header lines (`name: value`), a blank
/// line, the body.
pub fn cloudevents_binary(data: &[u8]) {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &b""[..]),
    };
    let headers = header_map(head);
    let content_type = match headers.get("content-type").map(HeaderValue::to_str) {
        None => None,
        Some(Ok(text)) => Some(text),
        // The handler refuses a non-ascii content type before it looks at ce-* headers.
        Some(Err(_)) => return,
    };
    let attributes = gateway::BINARY_ATTRIBUTES.map(|name| {
        let value = headers.get(format!("ce-{name}").as_str());
        value.map(|v| {
            v.to_str()
                .ok()
                .and_then(|text| percent_decoded(text.trim()))
        })
    });
    let all_decode = attributes.iter().all(|a| !matches!(a, Some(None)));
    let mode = match CloudEventsMode::binary(&headers, content_type) {
        Err(error) => {
            assert_status(&error, &[400]);
            assert!(!all_decode, "every ce-* header decodes, yet: {error}");
            return;
        }
        Ok(None) => {
            assert!(!headers.contains_key("ce-specversion"));
            return;
        }
        Ok(Some(mode)) => mode,
    };
    assert!(headers.contains_key("ce-specversion") && mode.is_binary());
    assert!(
        all_decode,
        "a ce-* header that is not valid percent-encoding is accepted"
    );
    let attribute = |name: &str| {
        let at = gateway::BINARY_ATTRIBUTES.iter().position(|n| *n == name);
        at.and_then(|at| attributes[at].clone().flatten())
    };
    let body = Bytes::copy_from_slice(body);
    for (path_type, limits) in cases() {
        let result = parse(&body, &mode, path_type.as_ref(), limits);
        let events = match result {
            Err(error) => {
                assert_status(&error, &[400]);
                continue;
            }
            Ok(events) => events,
        };
        assert_eq!(events.len(), 1, "binary mode holds one event");
        let event = &events[0];
        let event_type = event
            .event_type
            .as_ref()
            .expect("a bad single event is a 400");
        assert_eq!(event.bytes, body, "the event's bytes are the body");
        assert_eq!(attribute("type").as_deref(), Some(event_type.as_str()));
        assert_eq!(attribute("id"), event.id);
        assert_eq!(attribute("source"), event.source);
        assert_eq!(attribute("specversion").as_deref(), Some("1.0"));
        check_accepted_cloudevent(event, path_type.as_ref());
        let data: Value = serde_json::from_slice(&body).expect("the data of binary mode is json");
        match &event.parsed {
            Ok(parsed) => assert_eq!(parsed, &data),
            Err((reason, _)) => assert!(*reason == Reason::NotAnObject && !data.is_object()),
        }
    }
}

/// The request headers and query string of a publish: content type and encoding, producer,
/// event id and time, schema version, idempotency key, traceparent, content length. Input:
/// header lines (`name: value`); a line `?…` is the query string.
pub fn request_headers(data: &[u8]) {
    let query = data
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"?"))
        .and_then(|q| std::str::from_utf8(q).ok());
    let mut headers = header_map(data);
    // Without a content type nothing else is read; content_type covers that refusal.
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    let uri = query
        .and_then(|q| Uri::try_from(format!("/v1/events?{q}")).ok())
        .unwrap_or_else(|| Uri::from_static("/v1/events"));
    let submission = match gateway::submission(&headers, &uri) {
        Err(error) => {
            assert_status(&error, &[400, 415]);
            return;
        }
        Ok(submission) => submission,
    };
    let text = |name: &str| {
        let value = headers.get(name)?;
        Some(value.to_str().expect("a header that is not ascii is a 400"))
    };
    let format = gateway::format_of(text("content-type")).expect("the content type was read");
    assert_eq!(submission.format, format);
    assert_eq!(
        Ok(submission.encoding),
        gateway::encoding_of(text("content-encoding")).map_err(|e| e.to_string())
    );
    let binary = headers.contains_key("ce-specversion");
    let cloudevent_type = format == Format::CLOUDEVENT || format == Format::CLOUDEVENT_BATCH;
    match &submission.cloudevents {
        None => assert!(!binary && !cloudevent_type),
        Some(mode) => {
            assert!(binary || cloudevent_type);
            assert_eq!(mode.is_binary(), binary);
            assert_eq!(
                mode.is_batch(),
                !binary && format == Format::CLOUDEVENT_BATCH
            );
        }
    }
    assert_eq!(
        submission.content_length,
        text("content-length").map(|raw| raw.trim().parse::<u64>().expect("a number"))
    );
    match text("tributary-producer") {
        None => assert_eq!(submission.producer, "anonymous"),
        Some(raw) => assert_eq!(submission.producer, raw.trim()),
    }
    let producer = &submission.producer;
    assert!(!producer.is_empty() && producer.len() <= 200);
    assert!(
        producer
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_@:".contains(c))
    );
    assert_eq!(
        submission.event_id.is_some(),
        text("tributary-event-id").is_some()
    );
    match (text("tributary-event-time"), submission.event_time_ms) {
        (None, None) => {}
        (Some(raw), Some(ms)) => {
            assert!(ms >= 0, "an event time before 1970 is accepted: {ms}");
            let raw = raw.trim();
            if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(raw.parse::<i64>().ok(), Some(ms));
            }
        }
        (raw, ms) => panic!("event time header {raw:?} read as {ms:?}"),
    }
    if let Some(version) = submission.pinned_version {
        assert!(version >= 1, "schema version {version} is accepted");
    }
    // `?schema_version=` comes before the header (in whatever spelling serde_urlencoded reads).
    if uri.query().is_none()
        && let Some(raw) = text("tributary-schema-version")
    {
        assert_eq!(submission.pinned_version, raw.trim().parse::<i32>().ok());
    }
    match (text("idempotency-key"), &submission.idempotency_key) {
        (None, None) => {}
        (Some(raw), Some(key)) => {
            assert_eq!(key, raw.trim());
            assert!(!key.is_empty() && key.len() <= 255);
            assert!(key.bytes().all(|b| b.is_ascii_graphic()));
        }
        (raw, key) => panic!("idempotency key header {raw:?} read as {key:?}"),
    }
    // Passed on only when W3C Trace Context would: an independent reading of its grammar.
    let traceparent = text("traceparent")
        .map(str::trim)
        .filter(|t| t.len() <= 128 && w3c_traceparent(t));
    assert_eq!(submission.traceparent.as_deref(), traceparent);
}

fn w3c_traceparent(value: &str) -> bool {
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    let parts: Vec<&str> = value.split('-').collect();
    if parts.len() < 4 {
        return false;
    }
    let (version, trace, parent, flags) = (parts[0], parts[1], parts[2], parts[3]);
    let fields_ok = lower_hex(version, 2)
        && version != "ff"
        && lower_hex(trace, 32)
        && trace != "0".repeat(32)
        && lower_hex(parent, 16)
        && parent != "0".repeat(16)
        && lower_hex(flags, 2);
    // Version 00 has exactly four fields; a later version may append more.
    fields_ok && (parts.len() == 4 || version != "00")
}

/// `Content-Type` and `Content-Encoding` values. Input: the header value.
pub fn content_type(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let utf8 = parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    let expected = match essence.as_str() {
        "application/json" => Some(Format::JSON),
        "application/x-ndjson" => Some(Format::NDJSON),
        "application/cloudevents+json" => Some(Format::CLOUDEVENT),
        "application/cloudevents-batch+json" => Some(Format::CLOUDEVENT_BATCH),
        _ => None,
    };
    match gateway::format_of(Some(raw)) {
        Ok(format) => assert_eq!((Some(format), true), (expected, utf8)),
        Err(error) => {
            assert_status(&error, &[415]);
            assert!(expected.is_none() || !utf8, "{raw:?} is refused: {error}");
        }
    }
    let upper = gateway::format_of(Some(&raw.to_ascii_uppercase()));
    assert_eq!(
        upper.ok(),
        gateway::format_of(Some(raw)).ok(),
        "case matters"
    );

    let expected = match raw.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Some(Encoding::IDENTITY),
        "gzip" | "x-gzip" => Some(Encoding::GZIP),
        "zstd" => Some(Encoding::ZSTD),
        _ => None,
    };
    match gateway::encoding_of(Some(raw)) {
        Ok(encoding) => assert_eq!(Some(encoding), expected),
        Err(error) => {
            assert_status(&error, &[415]);
            assert!(expected.is_none(), "{raw:?} is refused: {error}");
        }
    }
    // No encoding is no compression: the body is passed on as it is, however large.
    let body = Bytes::copy_from_slice(data);
    let same = gateway::decompress(body.clone(), Encoding::IDENTITY, 0).expect("identity");
    assert_eq!(same, body);
}

fn check_json_split(body: &Bytes, limits: Limits) {
    let Some((text, result)) = split_text(body, Format::JSON, limits) else {
        return;
    };
    let is_array = text.trim_start().starts_with('[');
    // serde_json with its depth limit: what the gateway must accept (one level of nesting
    // is the array, whose elements are parsed on their own).
    let whole: Option<Value> = serde_json::from_str(text).ok();
    match (&whole, &result) {
        (Some(Value::Array(items)), Ok(events)) => {
            assert_eq!(events.len(), items.len(), "one event per array element");
            for (event, item) in events.iter().zip(items) {
                if let Ok(parsed) = &event.parsed {
                    assert_eq!(parsed, item);
                }
            }
        }
        (Some(Value::Array(items)), Err(error)) => {
            let status = if items.is_empty() { 400 } else { 413 };
            assert_status(error, &[status]);
            assert!(
                items.len() > limits.max_events || items.is_empty(),
                "{error}"
            );
        }
        (Some(whole), Ok(events)) => {
            assert_eq!(events.len(), 1, "a body that is not an array is one event");
            if let Ok(parsed) = &events[0].parsed {
                assert_eq!(parsed, whole);
            }
        }
        (Some(_), Err(error)) => panic!("a json body that is not an array is refused: {error}"),
        (None, Err(error)) => assert_status(error, &[400, 413]),
        (None, Ok(events)) => {
            let too_large = |e: &RawEvent| matches!(e.parsed, Err((Reason::TooLarge, _)));
            // A body that is not an array and too large as one event is not parsed at all.
            if is_array || !too_large(&events[0]) {
                assert!(is_json(text), "a split that is not json is accepted");
            }
        }
    }
    let Ok(events) = result else {
        return;
    };
    assert!(!events.is_empty() && events.len() <= limits.max_events);
    if !is_array {
        assert_eq!(events.len(), 1);
        let whole = std::str::from_utf8(body).map_or(&body[..], |t| t.trim().as_bytes());
        assert_eq!(
            &events[0].bytes[..],
            whole,
            "a single event is the whole body, trimmed"
        );
    }
    for event in &events {
        check_event(body, event, limits);
    }
}

/// The split of `body` and its text; `None` (once its 400 is checked) when it is not UTF-8.
fn split_text(
    body: &Bytes,
    format: Format,
    limits: Limits,
) -> Option<(&str, Result<Vec<RawEvent>, GatewayError>)> {
    let result = split(body, format, limits);
    let Ok(text) = std::str::from_utf8(body) else {
        assert_status(
            &result.expect_err("a body that is not utf-8 is a 400"),
            &[400],
        );
        return None;
    };
    Some((text, result))
}

fn check_ndjson_split(body: &Bytes, limits: Limits) {
    let Some((text, result)) = split_text(body, Format::NDJSON, limits) else {
        return;
    };
    let lines: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let too_deep = |line: &&str| {
        line.len() <= limits.max_event_bytes
            && serde_json::from_str::<Value>(line)
                .is_err_and(|e| e.to_string().contains("recursion limit"))
    };
    let events = match result {
        Err(error) => {
            let first = &lines[..lines.len().min(limits.max_events)];
            if lines.is_empty() || first.iter().any(too_deep) {
                assert_status(&error, &[400]);
            } else {
                assert_status(&error, &[413]);
                assert!(lines.len() > limits.max_events);
            }
            return;
        }
        Ok(events) => events,
    };
    assert_eq!(events.len(), lines.len(), "one event per non-blank line");
    assert!(events.len() <= limits.max_events);
    assert!(
        !lines.iter().any(too_deep),
        "a line nesting too deeply is accepted"
    );
    for (event, line) in events.iter().zip(&lines) {
        assert_eq!(
            event.bytes,
            line.as_bytes(),
            "an event is its line, trimmed"
        );
        check_event(body, event, limits);
    }
}

fn decompress_then_split(data: &[u8], encoding: Encoding) {
    let body = Bytes::copy_from_slice(data);
    let result = gateway::decompress(body.clone(), encoding, CAP);
    let larger = gateway::decompress(body, encoding, CAP * 4);
    match (&result, &larger) {
        (Ok(out), Ok(more)) => {
            assert!(out.len() <= CAP, "{} bytes out, past the cap", out.len());
            assert_eq!(out, more, "the cap changed what came out");
        }
        (Ok(_), Err(error)) => panic!("a larger cap refuses what a smaller one took: {error}"),
        (Err(error), Ok(more)) => {
            assert_status(error, &[413]);
            assert!(
                more.len() > CAP,
                "{} bytes refused under a cap of {CAP}",
                more.len()
            );
        }
        (Err(error), Err(again)) => {
            assert_status(error, &[400, 413]);
            if error.code().http_status() == 400 {
                assert_status(again, &[400]);
            }
        }
    }
    if let Ok(out) = result {
        for limits in LIMITS {
            check_json_split(&out, limits);
            check_ndjson_split(&out, limits);
        }
    }
}

/// One split event: a slice of the body, within the limits, classified as serde_json sees it.
fn check_event(body: &Bytes, event: &RawEvent, limits: Limits) {
    assert!(
        is_within(body, &event.bytes),
        "an event's bytes are not a slice of the body"
    );
    assert!(!event.bytes.is_empty());
    let too_large = event.bytes.len() > limits.max_event_bytes;
    match &event.parsed {
        Ok(value) => {
            assert!(
                !too_large,
                "an event of {} bytes is accepted",
                event.bytes.len()
            );
            assert!(value.is_object(), "an accepted event is an object");
            let again: Value = serde_json::from_slice(&event.bytes).expect("its bytes are json");
            assert_eq!(&again, value, "the value is not what the bytes say");
            check_reserialises(value);
        }
        Err((Reason::TooLarge, _)) => assert!(too_large, "too_large under the limit"),
        Err((Reason::NotAnObject, _)) => {
            assert!(!too_large);
            let value: Value = serde_json::from_slice(&event.bytes).expect("not_an_object is json");
            assert!(!value.is_object());
        }
        Err((Reason::Malformed, _)) => {
            assert!(!too_large);
            // Not json, json naming an object member twice, or json holding serde_json's
            // raw-value key (which does not read back).
            if let Ok(value) = serde_json::from_slice::<Value>(&event.bytes) {
                let text = serde_json::to_string(&value).expect("a value serialises");
                assert!(
                    text.contains(RAW_VALUE_TOKEN) || repeats_a_member_name(&event.bytes),
                    "malformed, yet json: {text}"
                );
            }
        }
        Err((reason, message)) => panic!("a split event is rejected {reason:?}: {message}"),
    }
}

fn check_cloudevent(
    body: &Bytes,
    event: &CloudEvent,
    index: usize,
    path_type: Option<&EventTypeName>,
    limits: Limits,
) {
    assert_eq!(event.index, index);
    assert!(
        is_within(body, &event.bytes),
        "an event's bytes are not a slice of the body"
    );
    let envelope = serde_json::from_slice::<Value>(&event.bytes).ok();
    let envelope = envelope.as_ref().and_then(Value::as_object);
    if event.event_type.is_none() {
        match &event.parsed {
            Err((Reason::Malformed | Reason::NotAnObject, _)) => {}
            Err((Reason::TooLarge, _)) => assert!(event.bytes.len() > limits.max_event_bytes),
            other => panic!("a cloudevent without a type is not rejected: {other:?}"),
        }
        return;
    }
    check_accepted_cloudevent(event, path_type);
    let envelope = envelope.expect("an accepted cloudevent is a json object");
    let string = |name: &str| envelope.get(name).and_then(Value::as_str);
    assert_eq!(string("specversion"), Some("1.0"));
    assert_eq!(
        string("type"),
        event.event_type.as_ref().map(EventTypeName::as_str)
    );
    assert_eq!(string("id"), event.id.as_deref());
    assert_eq!(string("source"), event.source.as_deref());
    let time = envelope.get("time").filter(|t| !t.is_null());
    assert_eq!(time.is_some(), event.time_ms.is_some(), "time {time:?}");
    assert!(!envelope.contains_key("data_base64"));
    let data = envelope
        .get("data")
        .expect("an accepted cloudevent has data");
    match &event.parsed {
        Ok(parsed) => assert_eq!(parsed, data),
        Err((reason, _)) => assert!(*reason == Reason::NotAnObject && !data.is_object()),
    }
}

/// What holds for every cloudevent with a good envelope, in any mode.
fn check_accepted_cloudevent(event: &CloudEvent, path_type: Option<&EventTypeName>) {
    let event_type = event.event_type.as_ref().expect("a good envelope");
    if let Some(path_type) = path_type {
        assert_eq!(
            event_type, path_type,
            "a type other than the path's is accepted"
        );
    }
    assert!(event.id.as_ref().is_some_and(|id| !id.is_empty()));
    assert!(event.source.as_ref().is_some_and(|s| !s.is_empty()));
    if let Some(ms) = event.time_ms {
        assert!(ms >= 0, "a time before 1970 is accepted: {ms}");
    }
    if let Some(version) = event.pinned_version {
        assert!(version >= 1, "schema version {version} is pinned");
    }
    match &event.parsed {
        Ok(data) => {
            assert!(data.is_object(), "an accepted event is an object");
            check_reserialises(data);
        }
        Err((reason, _)) => assert_eq!(*reason, Reason::NotAnObject),
    }
}

/// What is written to the log (`serde_json::to_vec` of the value) is json that reads back as
/// the same value.
/// Whether some object in `json` (valid JSON text) names a member twice. A scanner of its own,
/// independent of the gateway's parser: strings are read with serde_json, a string followed by
/// `:` is a member name of the innermost open object.
fn repeats_a_member_name(json: &[u8]) -> bool {
    let mut objects: Vec<std::collections::HashSet<String>> = Vec::new();
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'{' => objects.push(std::collections::HashSet::new()),
            b'}' => {
                objects.pop();
            }
            b'"' => {
                let start = i;
                i += 1;
                while json[i] != b'"' {
                    i += if json[i] == b'\\' { 2 } else { 1 };
                }
                let text: String = serde_json::from_slice(&json[start..=i]).expect("a json string");
                let mut next = i + 1;
                while json[next].is_ascii_whitespace() {
                    next += 1;
                }
                if json[next] == b':'
                    && let Some(names) = objects.last_mut()
                    && !names.insert(text)
                {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn check_reserialises(value: &Value) {
    let text = serde_json::to_string(value).expect("a value serialises");
    let again: Value = serde_json::from_str(&text).expect("a re-serialised event is json");
    assert!(same_json(value, &again), "{text} reads back differently");
}

/// Equal, but for the last bits of floats (serde_json parses floats to the nearest-ish).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Errors for bad input are client errors with one of the `allowed` statuses, never a 5xx.
fn assert_status(error: &GatewayError, allowed: &[u16]) {
    let status = error.code().http_status();
    assert!(
        allowed.contains(&status),
        "bad input answered {status} (allowed: {allowed:?}): {error}"
    );
}

/// Syntactically valid json, however deeply nested (serde_json skips raw values without
/// recursion).
fn is_json(text: &str) -> bool {
    serde_json::from_str::<Box<RawValue>>(text).is_ok()
}

fn is_within(body: &Bytes, part: &Bytes) -> bool {
    let (start, end) = (body.as_ptr() as usize, body.as_ptr() as usize + body.len());
    let at = part.as_ptr() as usize;
    part.is_empty() || (start <= at && at + part.len() <= end)
}

fn split(body: &Bytes, format: Format, limits: Limits) -> Result<Vec<RawEvent>, GatewayError> {
    gateway::split(body, format, limits.max_events, limits.max_event_bytes)
}

fn parse(
    body: &Bytes,
    mode: &CloudEventsMode,
    path_type: Option<&EventTypeName>,
    limits: Limits,
) -> Result<Vec<CloudEvent>, GatewayError> {
    gateway::parse_cloudevents(
        body,
        mode,
        path_type,
        limits.max_events,
        limits.max_event_bytes,
    )
}

/// serde_json's marker key for raw values (events holding it are refused).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The path types and limits each CloudEvents input is parsed with.
fn cases() -> impl Iterator<Item = (Option<EventTypeName>, Limits)> {
    let path_types = [
        None,
        Some(EventTypeName::parse(PATH_TYPE).expect("a valid name")),
    ];
    path_types
        .into_iter()
        .flat_map(|path_type| LIMITS.map(|limits| (path_type.clone(), limits)))
}

/// Percent-decoding as RFC 3986 has it: `%` and two hex digits, the result UTF-8.
fn percent_decoded(raw: &str) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'%' {
            out.push(byte);
            rest = tail;
            continue;
        }
        let hex = tail.get(..2)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let hex = std::str::from_utf8(hex).ok()?;
        out.push(u8::from_str_radix(hex, 16).ok()?);
        rest = &tail[2..];
    }
    String::from_utf8(out).ok()
}

/// Header lines `name: value` (lines that are not valid headers are skipped).
fn header_map(head: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    headers
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
