//! Limits on untrusted schema text, checked before the text reaches a parser.

use crate::error::SchemaError;

/// Bounds on a schema and its references, enforced before and while parsing so that hostile
/// input answers with an error in bounded time and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaLimits {
    /// Largest schema text, in bytes (each referenced schema is held to it too). Default 1 MiB.
    pub max_schema_bytes: usize,
    /// Deepest nesting of JSON arrays and objects. Default 100 (below serde_json's 128, so our
    /// message is the one users see).
    pub max_depth: usize,
    /// Most references, counted transitively. Default 100.
    pub max_references: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        SchemaLimits {
            max_schema_bytes: 1024 * 1024,
            max_depth: 100,
            max_references: 100,
        }
    }
}

impl SchemaLimits {
    /// Checks size and nesting depth of `text` without building anything: one pass over the
    /// bytes, constant memory.
    pub(crate) fn check_text(&self, text: &str) -> Result<(), SchemaError> {
        if text.len() > self.max_schema_bytes {
            return Err(SchemaError::TooLarge {
                size: text.len(),
                max: self.max_schema_bytes,
            });
        }
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for byte in text.bytes() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > self.max_depth {
                        return Err(SchemaError::TooDeep {
                            max: self.max_depth,
                        });
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Parses `text` as JSON after [`SchemaLimits::check_text`].
    pub(crate) fn parse_json(&self, text: &str) -> Result<serde_json::Value, SchemaError> {
        self.check_text(text)?;
        serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = match message.strip_prefix("EOF") {
                Some(rest) => format!("end of input{rest}"),
                None => message,
            };
            SchemaError::InvalidJson(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_only_structure_outside_strings() {
        let limits = SchemaLimits {
            max_depth: 2,
            ..SchemaLimits::default()
        };
        assert!(limits.check_text(r#"{"a": ["[[[[\"{{{"]}"#).is_ok());
        assert_eq!(
            limits.check_text("[[[1]]]"),
            Err(SchemaError::TooDeep { max: 2 })
        );
    }

    #[test]
    fn size_is_checked_first() {
        let limits = SchemaLimits {
            max_schema_bytes: 4,
            ..SchemaLimits::default()
        };
        assert!(matches!(
            limits.check_text("\"string\""),
            Err(SchemaError::TooLarge { size: 8, max: 4 })
        ));
    }
}
