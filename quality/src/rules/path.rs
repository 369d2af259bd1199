//! Field pointers split once into segments, and their lookup in an event.

use serde_json::Value;

/// Most array elements one rule visits in one event through `*` segments; the rest are not
/// checked.
pub const MAX_FAN_OUT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(Box<str>),
    /// Every element of an array.
    Any,
}

/// A JSON pointer (RFC 6901) with `*` segments, split and unescaped once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl FieldPath {
    /// Parses `text`: empty (the whole event) or `/`-separated segments.
    pub(crate) fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Ok(FieldPath {
                text: Box::from(""),
                segments: Box::new([]),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{text:?} is not a JSON pointer: it must start with `/`"
            ));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if raw == "*" {
                segments.push(Segment::Any);
                continue;
            }
            let mut key = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    key.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => key.push('~'),
                    Some('1') => key.push('/'),
                    _ => {
                        return Err(format!(
                            "{text:?} is not a JSON pointer: `~` must be followed by 0 or 1"
                        ));
                    }
                }
            }
            segments.push(Segment::Key(key.into_boxed_str()));
        }
        Ok(FieldPath {
            text: Box::from(text),
            segments: segments.into_boxed_slice(),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn has_wildcard(&self) -> bool {
        self.segments.contains(&Segment::Any)
    }

    /// The parent path (`/a/b` → `/a`; the root's parent is the root).
    pub(crate) fn parent(&self) -> FieldPath {
        let keep = self.segments.len().saturating_sub(1);
        let text = match self.text.rfind('/') {
            Some(at) => &self.text[..at],
            None => "",
        };
        FieldPath {
            text: Box::from(text),
            segments: self.segments[..keep].to_vec().into_boxed_slice(),
        }
    }

    /// The single top-level key of a one-segment path.
    pub(crate) fn top_level_key(&self) -> Option<&str> {
        match &*self.segments {
            [Segment::Key(key)] => Some(key),
            _ => None,
        }
    }

    /// The object keys leading to this path's place; `None` for a path with `*`.
    pub(crate) fn keys(&self) -> Option<impl Iterator<Item = &str>> {
        (!self.has_wildcard()).then(|| {
            self.segments.iter().filter_map(|segment| match segment {
                Segment::Key(key) => Some(&**key),
                Segment::Any => None,
            })
        })
    }

    /// The value at this path (`None` when missing; a path with `*` finds nothing here).
    pub(crate) fn get<'v>(&self, event: &'v Value) -> Option<&'v Value> {
        let mut current = event;
        for segment in &*self.segments {
            match segment {
                Segment::Key(key) => current = current.as_object()?.get(&**key)?,
                Segment::Any => return None,
            }
        }
        Some(current)
    }

    /// Calls `visit` with every value this path reaches (`None` for a missing one), stopping
    /// early when `visit` returns false. Through `*` each element of an array is visited (at
    /// most [`MAX_FAN_OUT`]); a missing or non-array value under `*` has no elements.
    pub(crate) fn for_each<'v>(
        &self,
        event: &'v Value,
        visit: &mut dyn FnMut(Option<&'v Value>) -> bool,
    ) {
        let mut budget = MAX_FAN_OUT;
        walk(&self.segments, Some(event), visit, &mut budget);
    }
}

/// Returns false when the walk must stop.
fn walk<'v>(
    segments: &[Segment],
    value: Option<&'v Value>,
    visit: &mut dyn FnMut(Option<&'v Value>) -> bool,
    budget: &mut usize,
) -> bool {
    let mut current = value;
    for (at, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Key(key) => {
                current = current
                    .and_then(Value::as_object)
                    .and_then(|o| o.get(&**key));
            }
            Segment::Any => {
                let Some(Value::Array(items)) = current else {
                    return true;
                };
                for item in items {
                    if *budget == 0 {
                        return false;
                    }
                    *budget -= 1;
                    if !walk(&segments[at + 1..], Some(item), visit, budget) {
                        return false;
                    }
                }
                return true;
            }
        }
    }
    visit(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_escapes_and_wildcards() {
        let path = FieldPath::parse("/a~1b/*/c~0d").unwrap();
        let event = json!({"a/b": [{"c~d": 1}, {"c~d": 2}, {}]});
        let mut seen = Vec::new();
        path.for_each(&event, &mut |v| {
            seen.push(v.cloned());
            true
        });
        assert_eq!(seen, [Some(json!(1)), Some(json!(2)), None]);
        assert!(FieldPath::parse("a").is_err());
        assert!(FieldPath::parse("/a~2").is_err());
        assert_eq!(FieldPath::parse("/a/b").unwrap().parent().as_str(), "/a");
        assert_eq!(FieldPath::parse("/a").unwrap().parent().as_str(), "");
    }

    proptest::proptest! {
        /// A key escaped as the registry lists fields reads back as the same key.
        #[test]
        fn escaped_keys_read_back(key in "\\PC{0,12}") {
            proptest::prop_assume!(key != "*");
            let pointer = format!("/{}", tributary_registry::escape_segment(&key));
            let path = FieldPath::parse(&pointer).unwrap();
            proptest::prop_assert_eq!(path.top_level_key(), Some(key.as_str()));
            let event = json!({ key.clone(): 1 });
            proptest::prop_assert_eq!(path.get(&event), Some(&json!(1)));
        }
    }

    #[test]
    fn fan_out_is_capped() {
        let items: Vec<Value> = (0..MAX_FAN_OUT + 5).map(|i| json!(i)).collect();
        let event = json!({ "xs": items });
        let mut count = 0;
        FieldPath::parse("/xs/*")
            .unwrap()
            .for_each(&event, &mut |_| {
                count += 1;
                true
            });
        assert_eq!(count, MAX_FAN_OUT);
    }
}
