//! Redaction of personal data in events: the values at field pointers (as the field list
//! writes them, see [`crate::fields`]) replaced before samples and examples are stored or shown.

use serde_json::Value;
/// What replaces a PII field's value in samples and examples.
pub const REDACTED: &str = "[redacted]";

/// Replaces the value at each of `pointers` in `value` by the string `"[redacted]"`.
///
/// Pointers are field pointers as [`schema_fields`](crate::schema_fields) writes them: RFC 6901 (`~0`, `~1`
/// unescaped; a decimal segment also indexes an array), and `*` for every element of an
/// array (on an object, `*` is the member named `*`). A path that is not in the event is
/// skipped, and so is the root pointer `""`: this redacts fields, never the whole event.
pub fn redact_pii(value: &mut Value, pointers: &[String]) {
    for pointer in pointers {
        let Some(rest) = pointer.strip_prefix('/') else {
            continue;
        };
        let segments: Vec<String> = rest.split('/').map(unescape_segment).collect();
        redact_at(value, &segments);
    }
}

/// Undoes [`escape_segment`](crate::escape_segment), in RFC 6901's order (`~1` before `~0`, so `~01` is `~1`).
fn unescape_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn redact_at(value: &mut Value, segments: &[String]) {
    let Some((first, rest)) = segments.split_first() else {
        *value = Value::String(REDACTED.to_owned());
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(child) = map.get_mut(first.as_str()) {
                redact_at(child, rest);
            }
        }
        Value::Array(items) if first == "*" => {
            for item in items {
                redact_at(item, rest);
            }
        }
        Value::Array(items) => {
            let index = (first == "0" || !first.starts_with('0'))
                .then(|| first.parse::<usize>().ok())
                .flatten();
            if let Some(child) = index.and_then(|i| items.get_mut(i)) {
                redact_at(child, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(mut value: Value, pointers: &[&str]) -> Value {
        let pointers: Vec<String> = pointers.iter().map(|p| (*p).to_owned()).collect();
        redact_pii(&mut value, &pointers);
        value
    }

    #[test]
    fn pii_is_redacted_nested_in_arrays_and_escaped() {
        use serde_json::json;
        let event = json!({
            "email": "a@example.com",
            "customer": {"name": "Ann", "address": {"city": "Oslo", "zip": "0150"}},
            "items": [{"sku": "s1", "card": "4111"}, {"sku": "s2", "card": "5500"}, {"sku": "s3"}],
            "a/b": 1,
            "~x": {"y": 2},
            "matrix": [[{"v": 1}], [{"v": 2}]],
            "*": "star",
        });
        let out = redacted(
            event,
            &[
                "/email",
                "/customer/address",
                "/items/*/card",
                "/a~1b",
                "/~0x/y",
                "/matrix/*/*/v",
                "/*",
            ],
        );
        assert_eq!(
            out,
            json!({
                "email": REDACTED,
                "customer": {"name": "Ann", "address": REDACTED},
                "items": [{"sku": "s1", "card": REDACTED}, {"sku": "s2", "card": REDACTED}, {"sku": "s3"}],
                "a/b": REDACTED,
                "~x": {"y": REDACTED},
                "matrix": [[{"v": REDACTED}], [{"v": REDACTED}]],
                "*": REDACTED,
            })
        );
    }

    #[test]
    fn redaction_skips_missing_paths_and_the_root() {
        use serde_json::json;
        let event = json!({"a": {"b": 1}, "list": [1, 2], "s": "x"});
        let same = redacted(
            event.clone(),
            &[
                "",
                "nope",
                "/missing",
                "/a/c",
                "/a/b/deeper",
                "/s/x",
                "/list/x",
                "/list/9",
                "/list/01",
                "/list/*/y",
            ],
        );
        assert_eq!(same, event);
        // A decimal segment indexes an array; `*` on a scalar array redacts each element.
        assert_eq!(
            redacted(event.clone(), &["/list/1"]),
            json!({"a": {"b": 1}, "list": [1, REDACTED], "s": "x"})
        );
        assert_eq!(
            redacted(event, &["/list/*"]),
            json!({"a": {"b": 1}, "list": [REDACTED, REDACTED], "s": "x"})
        );
        // Not an object at the root: nothing to redact but the root, which is never.
        assert_eq!(redacted(json!("text"), &["", "/x"]), json!("text"));
        // `~01` is the member `~1`, not `/`.
        assert_eq!(
            redacted(json!({"~1": 1, "/": 2}), &["/~01"]),
            json!({"~1": REDACTED, "/": 2})
        );
    }
}
