//! Redaction of samples and examples with an event type's PII marks, and their encoding for
//! storage (events over [`MAX_SAMPLE_BYTES`] as a string saying so).

use std::sync::Arc;

use serde_json::Value;
use tributary_registry::{REDACTED, redact_pii};

use super::sink::{Example, ReasonCounts, TypeBatch};
use super::{MAX_SAMPLE_BYTES, ViolationExample};

/// How a stored event too large to keep whole begins.
pub(crate) const TRUNCATED: &str = "[truncated: ";
/// Most bytes of the event's JSON kept after the note of a truncated event (escaped again
/// inside the string, so the stored text stays near [`MAX_SAMPLE_BYTES`]).
const TRUNCATED_PREFIX_BYTES: usize = MAX_SAMPLE_BYTES / 2;
/// Most PII values looked for in violation messages; past it every message is redacted.
const MAX_PII_VALUES: usize = 1000;

/// A sample ready to be written.
#[derive(Debug)]
pub(crate) struct SampleRow {
    pub(crate) schema_version: i32,
    pub(crate) producer: String,
    pub(crate) received_at_ms: i64,
    pub(crate) event_json: String,
}

/// A dead-letter reason's addition, ready to be written.
#[derive(Debug)]
pub(crate) struct ReasonRow {
    pub(crate) reason: String,
    pub(crate) count: i64,
    pub(crate) last_seen_ms: i64,
    /// `Some((event JSON, violations JSON))` to replace the stored example.
    pub(crate) example: Option<(Option<String>, String)>,
}

/// What one event type's flush writes.
#[derive(Debug)]
pub(crate) struct TypeRows {
    pub(crate) event_type: String,
    pub(crate) samples: Vec<SampleRow>,
    pub(crate) reasons: Vec<ReasonRow>,
}

impl TypeRows {
    /// The counts alone, to put back in the sink when the write failed.
    pub(crate) fn counts_only(&self) -> Vec<(String, ReasonCounts)> {
        self.reasons
            .iter()
            .map(|r| {
                let counts = ReasonCounts {
                    count: r.count,
                    last_seen_ms: r.last_seen_ms,
                    example: None,
                };
                (r.reason.clone(), counts)
            })
            .collect()
    }
}

/// One event type's batch and its PII marks (`None`: they could not be read).
pub(crate) type Work = (String, TypeBatch, Option<Arc<[String]>>);

/// Redacts and encodes what the sink gave. Without marks only the counts are kept.
pub(crate) fn rows(work: Vec<Work>) -> Vec<TypeRows> {
    let mut out = Vec::with_capacity(work.len());
    for (event_type, batch, marks) in work {
        let mut samples = Vec::new();
        let mut reasons = Vec::with_capacity(batch.reasons.len());
        if let Some(marks) = &marks {
            for (schema_version, sample) in batch.samples {
                let mut event = sample.event;
                redact_pii(&mut event, marks);
                samples.push(SampleRow {
                    schema_version,
                    producer: sample.producer,
                    received_at_ms: sample.received_at_ms,
                    event_json: encode(&event),
                });
            }
        }
        for (reason, counts) in batch.reasons {
            let example = match (counts.example, &marks) {
                (Some(Example { event, violations }), Some(marks)) => {
                    let mut event = event;
                    let mut violations = violations;
                    example(&mut event, &mut violations, marks);
                    let violations_json =
                        serde_json::to_string(&violations).unwrap_or_else(|_| "[]".into());
                    Some((event.as_ref().map(encode), violations_json))
                }
                _ => None,
            };
            reasons.push(ReasonRow {
                reason,
                count: counts.count,
                last_seen_ms: counts.last_seen_ms,
                example,
            });
        }
        out.push(TypeRows {
            event_type,
            samples,
            reasons,
        });
    }
    out
}

/// The event as stored: its JSON, or past [`MAX_SAMPLE_BYTES`] a JSON string with a note
/// and the start of the JSON.
pub(crate) fn encode(event: &Value) -> String {
    let text = serde_json::to_string(event).unwrap_or_else(|_| String::from("null"));
    if text.len() <= MAX_SAMPLE_BYTES {
        return text;
    }
    let mut cut = TRUNCATED_PREFIX_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let note = format!(
        "{TRUNCATED}the event is {} bytes as JSON; samples keep at most {MAX_SAMPLE_BYTES}] {}",
        text.len(),
        &text[..cut]
    );
    serde_json::to_string(&Value::String(note)).unwrap_or_else(|_| String::from("null"))
}

/// Redacts a stored event again with the marks of now. A truncated event keeps only its
/// note when the type has marks: its text cannot be redacted field by field.
pub(crate) fn stored_event(event: &mut Value, marks: &[String]) {
    if marks.is_empty() {
        return;
    }
    if let Value::String(text) = event
        && text.starts_with(TRUNCATED)
    {
        if let Some(end) = text.find(']') {
            text.truncate(end + 1);
        }
        return;
    }
    redact_pii(event, marks);
}

/// Redacts an example: the messages of violations at, under or above a marked field that
/// quote a value at a marked field (or are at or under one), then the event itself.
pub(crate) fn example(
    event: &mut Option<Value>,
    violations: &mut [ViolationExample],
    marks: &[String],
) {
    if marks.is_empty() {
        return;
    }
    let values = match event {
        Some(event) => pii_values(event, marks),
        None => Some(Vec::new()),
    };
    for violation in violations.iter_mut() {
        let under_mark = marks.iter().any(|m| under(&violation.pointer, m));
        let quotes = match &values {
            None => true,
            Some(values) => values
                .iter()
                .any(|v| violation.message.contains(v.as_str())),
        };
        if under_mark || quotes {
            violation.message = REDACTED.to_owned();
        }
    }
    if let Some(event) = event {
        stored_event(event, marks);
    }
}

/// Whether `pointer` is the field `mark` names or inside it (`*` matches any segment).
fn under(pointer: &str, mark: &str) -> bool {
    let mut have = pointer.split('/');
    for want in mark.split('/') {
        match have.next() {
            Some(segment) if want == "*" || want == segment => {}
            _ => return false,
        }
    }
    true
}

/// The texts of the values at the marked fields (strings as they are, numbers as JSON),
/// for finding them in messages; `None` when there are too many to look for.
fn pii_values(event: &Value, marks: &[String]) -> Option<Vec<String>> {
    let mut copy = event.clone();
    let mut found = Vec::new();
    // Redacting a copy leaves `[redacted]` exactly where the values were: walk both.
    redact_pii(&mut copy, marks);
    collect_changed(event, &copy, &mut found);
    (found.len() <= MAX_PII_VALUES).then_some(found)
}

fn collect_changed(original: &Value, redacted: &Value, found: &mut Vec<String>) {
    if found.len() > MAX_PII_VALUES {
        return;
    }
    match (original, redacted) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                if let Some(other) = b.get(key) {
                    collect_changed(value, other, found);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (value, other) in a.iter().zip(b) {
                collect_changed(value, other, found);
            }
        }
        (original, Value::String(r)) if r == REDACTED && original != redacted => {
            leaves(original, found);
        }
        _ => {}
    }
}

/// Every string and number inside `value`.
fn leaves(value: &Value, found: &mut Vec<String>) {
    if found.len() > MAX_PII_VALUES {
        return;
    }
    match value {
        Value::String(s) if !s.is_empty() => found.push(s.clone()),
        Value::Number(n) => found.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, found)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn violation(pointer: &str, message: &str) -> ViolationExample {
        ViolationExample {
            pointer: pointer.to_owned(),
            message: message.to_owned(),
        }
    }

    #[test]
    fn examples_hide_pii_in_the_event_and_the_messages() {
        let marks = vec!["/email".to_owned(), "/items/*/card".to_owned()];
        let mut event = Some(json!({
            "email": "ann@example.com",
            "items": [{"card": 4111, "sku": "s1"}],
            "amount": "ten"
        }));
        let mut violations = vec![
            violation("/amount", "\"ten\" is not of type \"number\""),
            violation("/email", "too long"),
            violation("/items/0/card", "4111 is not a string"),
            violation("", "{\"email\":\"ann@example.com\"} is not valid"),
            violation("", "\"amount\" is a required property"),
        ];
        example(&mut event, &mut violations, &marks);
        let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "\"ten\" is not of type \"number\"",
                REDACTED,
                REDACTED,
                REDACTED,
                "\"amount\" is a required property"
            ]
        );
        assert_eq!(
            event,
            Some(
                json!({"email": REDACTED, "items": [{"card": REDACTED, "sku": "s1"}], "amount": "ten"})
            )
        );
        // Without marks nothing changes; without an event only pointers decide.
        let mut none = None;
        let mut kept = vec![violation("/email", "x"), violation("", "y")];
        example(&mut none, &mut kept, &[]);
        assert_eq!(kept[0].message, "x");
        example(&mut none, &mut kept, &marks);
        assert_eq!(
            (kept[0].message.as_str(), kept[1].message.as_str()),
            (REDACTED, "y")
        );
    }

    #[test]
    fn pointers_under_marks() {
        assert!(under("/items/3/card", "/items/*/card"));
        assert!(under("/items/3/card/x", "/items/*/card"));
        assert!(!under("/items/3", "/items/*/card"));
        assert!(!under("/emails", "/email"));
        assert!(under("/email", "/email"));
    }

    #[test]
    fn large_events_are_stored_truncated() {
        let small = json!({"a": 1});
        assert_eq!(encode(&small), "{\"a\":1}");
        let big = json!({"blob": "é".repeat(MAX_SAMPLE_BYTES)});
        let size = big.to_string().len();
        let stored: Value = serde_json::from_str(&encode(&big)).unwrap();
        let text = stored.as_str().unwrap();
        let note = format!(
            "[truncated: the event is {size} bytes as JSON; samples keep at most {MAX_SAMPLE_BYTES}]"
        );
        assert!(
            text.starts_with(&format!("{note} {{\"blob\":\"é")),
            "{}",
            &text[..100]
        );
        assert!(encode(&big).len() < MAX_SAMPLE_BYTES + 200);
        // Read back for a type with marks, only the note is left.
        let mut read = stored.clone();
        stored_event(&mut read, &["/blob".to_owned()]);
        assert_eq!(read, Value::String(note));
        let mut unmarked = stored.clone();
        stored_event(&mut unmarked, &[]);
        assert_eq!(unmarked, stored);
    }
}
