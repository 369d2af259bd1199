//! Which records a [`Selection`] keeps: the checks the engine applies to every record it reads.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::Value;
use tributary_core::headers::{self, DLQ_EVENT_TYPE, DLQ_REASON};
use tributary_eventlog::StoredRecord;

use crate::error::ReplayError;
use crate::model::{Predicate, Selection};

/// What the engine does with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Emit,
    /// Read but not selected (time range or another filter).
    Filtered,
    /// Selected by every other filter, but the predicate cannot be evaluated (not JSON).
    Unreadable,
}

/// Checks a selection up front: everything a run would otherwise discover mid-way.
pub fn validate(selection: &Selection) -> Result<(), ReplayError> {
    if selection.topics.is_empty() {
        return bad("select at least one topic");
    }
    let mut seen = HashSet::new();
    for topic in &selection.topics {
        if topic.is_empty() {
            return bad("a topic name is empty");
        }
        if !seen.insert(topic) {
            return bad(format!("topic {topic:?} is selected twice"));
        }
    }
    if selection.from_ms >= selection.to_ms {
        return bad(format!(
            "the time range is empty: from ({}) must be before to ({})",
            selection.from_ms, selection.to_ms
        ));
    }
    if let Some(predicate) = &selection.predicate {
        check_pointer(predicate_pointer(predicate))?;
    }
    Ok(())
}

fn bad<T>(message: impl Into<String>) -> Result<T, ReplayError> {
    Err(ReplayError::BadRequest(message.into()))
}

fn predicate_pointer(predicate: &Predicate) -> &str {
    match predicate {
        Predicate::Eq { pointer, .. }
        | Predicate::Ne { pointer, .. }
        | Predicate::Exists { pointer } => pointer,
    }
}

/// RFC 6901: empty (the whole value) or `/`-separated tokens where `~` is only `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), ReplayError> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return bad(format!(
            "predicate pointer {pointer:?} must be empty or start with '/' (RFC 6901), as in /order/id"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return bad(format!(
                "predicate pointer {pointer:?} has a '~' not followed by 0 or 1 (RFC 6901 escapes '~' as ~0 and '/' as ~1)"
            ));
        }
    }
    Ok(())
}

/// A selection prepared for checking records: sets instead of lists, versions as text.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    from_ms: i64,
    to_ms: i64,
    keys: HashSet<Bytes>,
    producers: HashSet<Bytes>,
    schema_versions: HashSet<i32>,
    dead_letter_reasons: HashSet<Bytes>,
    dead_letter_types: HashSet<Bytes>,
    predicate: Option<Predicate>,
}

impl Filter {
    /// Validates `selection` and prepares it.
    pub(crate) fn new(selection: &Selection) -> Result<Filter, ReplayError> {
        validate(selection)?;
        let bytes = |list: &[String]| -> HashSet<Bytes> {
            list.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        Ok(Filter {
            from_ms: selection.from_ms,
            to_ms: selection.to_ms,
            keys: bytes(&selection.keys),
            producers: bytes(&selection.producers),
            schema_versions: selection.schema_versions.iter().copied().collect(),
            dead_letter_reasons: bytes(&selection.dead_letter_reasons),
            dead_letter_types: bytes(&selection.dead_letter_types),
            predicate: selection.predicate.clone(),
        })
    }

    pub(crate) fn check(&self, record: &StoredRecord) -> Verdict {
        if record.timestamp_ms < self.from_ms || record.timestamp_ms >= self.to_ms {
            return Verdict::Filtered;
        }
        if !self.keys.is_empty() && !record.key.as_ref().is_some_and(|k| self.keys.contains(k)) {
            return Verdict::Filtered;
        }
        if !one_of(&self.producers, record.header(headers::PRODUCER)) {
            return Verdict::Filtered;
        }
        if !one_of(&self.dead_letter_reasons, record.header(DLQ_REASON)) {
            return Verdict::Filtered;
        }
        if !one_of(&self.dead_letter_types, record.header(DLQ_EVENT_TYPE)) {
            return Verdict::Filtered;
        }
        if !self.schema_versions.is_empty() {
            let version = record
                .header(headers::SCHEMA_VERSION)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.trim().parse::<i32>().ok());
            if !version.is_some_and(|v| self.schema_versions.contains(&v)) {
                return Verdict::Filtered;
            }
        }
        let Some(predicate) = &self.predicate else {
            return Verdict::Emit;
        };
        let Some(value) = json_value(&record.value) else {
            return Verdict::Unreadable;
        };
        if holds(predicate, &value) {
            Verdict::Emit
        } else {
            Verdict::Filtered
        }
    }
}

/// An empty set selects anything; otherwise the header must be present and in the set.
fn one_of(set: &HashSet<Bytes>, header: Option<&Bytes>) -> bool {
    set.is_empty() || header.is_some_and(|h| set.contains(h))
}

/// The JSON of a record value: Confluent wire format (magic byte 0, 4-byte schema id, then
/// the JSON) or bare JSON text. `None` for anything else (Avro binary, invalid JSON).
fn json_value(value: &[u8]) -> Option<Value> {
    let text = match value {
        [0, _, _, _, _, rest @ ..] => rest,
        _ => value,
    };
    serde_json::from_slice(text).ok()
}

fn holds(predicate: &Predicate, value: &Value) -> bool {
    match predicate {
        Predicate::Eq { pointer, value: v } => value.pointer(pointer) == Some(v),
        Predicate::Ne { pointer, value: v } => value.pointer(pointer) != Some(v),
        Predicate::Exists { pointer } => value.pointer(pointer).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn selection() -> Selection {
        Selection {
            topics: vec!["orders.placed".into()],
            from_ms: 100,
            to_ms: 200,
            keys: vec![],
            producers: vec![],
            schema_versions: vec![],
            predicate: None,
            dead_letter_reasons: vec![],
            dead_letter_types: vec![],
        }
    }

    fn record(ts: i64, value: &[u8]) -> StoredRecord {
        StoredRecord {
            offset: 0,
            timestamp_ms: ts,
            key: None,
            value: Bytes::copy_from_slice(value),
            headers: vec![],
        }
    }

    fn with_header(mut r: StoredRecord, name: &str, value: &str) -> StoredRecord {
        r.headers
            .push((name.into(), Bytes::copy_from_slice(value.as_bytes())));
        r
    }

    fn message(s: &Selection) -> String {
        match validate(s) {
            Err(ReplayError::BadRequest(m)) => m,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn bad_selections_are_refused_with_a_reason() {
        let mut s = selection();
        s.topics.clear();
        assert!(message(&s).contains("at least one topic"));
        let mut s = selection();
        s.topics.push("orders.placed".into());
        assert!(message(&s).contains("twice"));
        let mut s = selection();
        s.to_ms = 100;
        assert!(message(&s).contains("from (100) must be before to (100)"));
        let mut s = selection();
        s.predicate = Some(Predicate::Exists {
            pointer: "order/id".into(),
        });
        assert!(message(&s).contains("start with '/'"));
        s.predicate = Some(Predicate::Exists {
            pointer: "/a~2b".into(),
        });
        assert!(message(&s).contains("~0 and"));
        s.predicate = Some(Predicate::Exists {
            pointer: "/a~1b/~0".into(),
        });
        assert!(validate(&s).is_ok());
    }

    #[test]
    fn time_range_includes_from_and_excludes_to() {
        let f = Filter::new(&selection()).unwrap();
        assert_eq!(f.check(&record(99, b"")), Verdict::Filtered);
        assert_eq!(f.check(&record(100, b"")), Verdict::Emit);
        assert_eq!(f.check(&record(199, b"")), Verdict::Emit);
        assert_eq!(f.check(&record(200, b"")), Verdict::Filtered);
    }

    #[test]
    fn headers_and_keys() {
        let mut s = selection();
        s.keys = vec!["k1".into()];
        s.producers = vec!["shop".into()];
        s.schema_versions = vec![2];
        s.dead_letter_reasons = vec!["schema_violation".into()];
        let f = Filter::new(&s).unwrap();
        let full = |key: &str, producer: &str, version: &str, reason: &str| {
            let mut r = record(150, b"");
            r.key = Some(Bytes::copy_from_slice(key.as_bytes()));
            let r = with_header(r, headers::PRODUCER, producer);
            let r = with_header(r, headers::SCHEMA_VERSION, version);
            with_header(r, DLQ_REASON, reason)
        };
        assert_eq!(
            f.check(&full("k1", "shop", "2", "schema_violation")),
            Verdict::Emit
        );
        assert_eq!(
            f.check(&full("k2", "shop", "2", "schema_violation")),
            Verdict::Filtered
        );
        assert_eq!(
            f.check(&full("k1", "shop2", "2", "schema_violation")),
            Verdict::Filtered
        );
        assert_eq!(
            f.check(&full("k1", "shop", "3", "schema_violation")),
            Verdict::Filtered
        );
        assert_eq!(
            f.check(&full("k1", "shop", "x", "schema_violation")),
            Verdict::Filtered
        );
        assert_eq!(
            f.check(&full("k1", "shop", "2", "bad_json")),
            Verdict::Filtered
        );
        assert_eq!(
            f.check(&record(150, b"")),
            Verdict::Filtered,
            "no key, no headers"
        );
    }

    #[test]
    fn dead_letters_by_the_type_they_claimed() {
        let mut s = selection();
        s.dead_letter_types = vec!["orders.placed".into()];
        let f = Filter::new(&s).unwrap();
        let dead = |claimed: &str| with_header(record(150, b""), DLQ_EVENT_TYPE, claimed);
        assert_eq!(f.check(&dead("orders.placed")), Verdict::Emit);
        assert_eq!(f.check(&dead("orders.shipped")), Verdict::Filtered);
        assert_eq!(
            f.check(&record(150, b"")),
            Verdict::Filtered,
            "no type header"
        );
    }

    #[test]
    fn predicates_on_json_and_unreadable_values() {
        let mut s = selection();
        s.predicate = Some(Predicate::Eq {
            pointer: "/country".into(),
            value: json!("FR"),
        });
        let f = Filter::new(&s).unwrap();
        assert_eq!(f.check(&record(150, br#"{"country":"FR"}"#)), Verdict::Emit);
        assert_eq!(
            f.check(&record(150, br#"{"country":"DE"}"#)),
            Verdict::Filtered
        );
        let mut framed = vec![0, 0, 0, 0, 7];
        framed.extend_from_slice(br#"{"country":"FR"}"#);
        assert_eq!(
            f.check(&record(150, &framed)),
            Verdict::Emit,
            "Confluent framing"
        );
        assert_eq!(
            f.check(&record(150, b"\x00\x00\x00\x00\x07\x02")),
            Verdict::Unreadable
        );
        assert_eq!(f.check(&record(150, b"not json")), Verdict::Unreadable);
        assert_eq!(
            f.check(&record(50, b"not json")),
            Verdict::Filtered,
            "time first"
        );

        s.predicate = Some(Predicate::Ne {
            pointer: "/country".into(),
            value: json!("FR"),
        });
        let f = Filter::new(&s).unwrap();
        assert_eq!(
            f.check(&record(150, br#"{}"#)),
            Verdict::Emit,
            "missing differs"
        );
        assert_eq!(
            f.check(&record(150, br#"{"country":"FR"}"#)),
            Verdict::Filtered
        );

        s.predicate = Some(Predicate::Exists {
            pointer: "/a/b".into(),
        });
        let f = Filter::new(&s).unwrap();
        assert_eq!(f.check(&record(150, br#"{"a":{"b":null}}"#)), Verdict::Emit);
        assert_eq!(f.check(&record(150, br#"{"a":{}}"#)), Verdict::Filtered);
    }
}
