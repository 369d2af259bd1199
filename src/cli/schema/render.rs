//! Human output of `tributary schema`: headers, tables, compatibility reports and JSON
//! pretty-printed in the key order the schema was written in.

use super::client::{Compatibility, Reference, SchemaVersion};

/// `subject version N (id I, TYPE)`.
pub(crate) fn version_header(version: &SchemaVersion) -> String {
    format!(
        "{} version {} (id {}, {})",
        version.subject,
        version.version,
        version.id,
        version.type_name()
    )
}

/// `references: name=subject:version, …`, or nothing.
pub(crate) fn references_line(references: &[Reference]) -> Option<String> {
    if references.is_empty() {
        return None;
    }
    let list: Vec<String> = references
        .iter()
        .map(|r| format!("{}={}:{}", r.name, r.subject, r.version))
        .collect();
    Some(format!("references: {}", list.join(", ")))
}

/// A table whose columns are as wide as their widest cell, separated by two spaces; the last
/// column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<pad$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The rows of `schema list`: subject, latest version, id, type.
pub(crate) fn subjects_table(latest: &[SchemaVersion]) -> String {
    let rows: Vec<Vec<String>> = latest
        .iter()
        .map(|v| {
            vec![
                v.subject.clone(),
                v.version.to_string(),
                v.id.to_string(),
                v.type_name().to_owned(),
            ]
        })
        .collect();
    table(&["SUBJECT", "LATEST", "ID", "TYPE"], &rows)
}

/// The rows of `schema list SUBJECT`: version, id, type, and references when any has some.
pub(crate) fn versions_table(versions: &[SchemaVersion]) -> String {
    let with_references = versions.iter().any(|v| !v.references.is_empty());
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let mut row = vec![
                v.version.to_string(),
                v.id.to_string(),
                v.type_name().to_owned(),
            ];
            if with_references {
                let references: Vec<String> = v
                    .references
                    .iter()
                    .map(|r| format!("{}={}:{}", r.name, r.subject, r.version))
                    .collect();
                row.push(references.join(","));
            }
            row
        })
        .collect();
    if with_references {
        table(&["VERSION", "ID", "TYPE", "REFERENCES"], &rows)
    } else {
        table(&["VERSION", "ID", "TYPE"], &rows)
    }
}

/// One Confluent verbose message, made readable:
/// `{errorType:'K', description:'D', additionalInfo:'P'}` becomes `K at P: D`.
/// Returns `None` for the context lines (`oldSchema`, `oldSchemaVersion`, `compatibility`).
pub(crate) fn problem_line(message: &str) -> Option<String> {
    let inner = message
        .strip_prefix('{')
        .and_then(|m| m.strip_suffix('}'))
        .unwrap_or(message);
    if inner.starts_with("oldSchema:")
        || inner.starts_with("oldSchemaVersion:")
        || inner.starts_with("compatibility:")
    {
        return None;
    }
    let parsed = (|| {
        let rest = inner.strip_prefix("errorType:'")?;
        let (kind, rest) = rest.split_once("', description:'")?;
        let (description, path) = rest.rsplit_once("', additionalInfo:'")?;
        let path = path.strip_suffix('\'')?;
        Some((kind, description, path))
    })();
    match parsed {
        Some((kind, description, "")) => Some(format!("{kind}: {description}")),
        Some((kind, description, path)) => Some(format!("{kind} at {path}: {description}")),
        None => Some(message.to_owned()),
    }
}

/// The level and old versions named in the context lines of a verbose report.
pub(crate) fn report_context(report: &Compatibility) -> (Option<String>, Vec<String>) {
    let mut level = None;
    let mut versions = Vec::new();
    for message in &report.messages {
        if let Some(rest) = message.strip_prefix("{compatibility: '") {
            level = Some(rest.trim_end_matches("'}").to_owned());
        } else if let Some(rest) = message.strip_prefix("{oldSchemaVersion: ") {
            versions.push(rest.trim_end_matches('}').to_owned());
        }
    }
    (level, versions)
}

/// The problems of a report, one per line, indented.
pub(crate) fn problems(report: &Compatibility) -> String {
    let mut out = String::new();
    for message in &report.messages {
        if let Some(line) = problem_line(message) {
            out.push_str("  - ");
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// `incompatible with version 1 (BACKWARD):` followed by the problems.
pub(crate) fn incompatible_report(report: &Compatibility) -> String {
    let (level, versions) = report_context(report);
    let mut head = String::from("incompatible");
    match versions.len() {
        0 => {}
        1 => head.push_str(&format!(" with version {}", versions[0])),
        _ => head.push_str(&format!(" with versions {}", versions.join(", "))),
    }
    if let Some(level) = level {
        head.push_str(&format!(" ({level})"));
    }
    format!("{head}:\n{}", problems(report))
}

/// Pretty-prints JSON text with two-space indents, keeping keys in their written order.
/// Text that is not JSON is returned as it is.
pub(crate) fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                // Empty containers stay on one line.
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(c);
                    out.push(close);
                } else {
                    depth += 1;
                    out.push(c);
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_keeps_key_order_and_strings() {
        let text = r#"{"type":"record","name":"A","doc":"a, {b}: \"c\"","fields":[],"x":{}}"#;
        assert_eq!(
            pretty_json(text),
            "{\n  \"type\": \"record\",\n  \"name\": \"A\",\n  \"doc\": \"a, {b}: \\\"c\\\"\",\n  \"fields\": [],\n  \"x\": {}\n}"
        );
        assert_eq!(pretty_json("\"string\""), "\"string\"");
        assert_eq!(pretty_json("not json {"), "not json {");
    }

    #[test]
    fn problem_lines_are_readable() {
        let message = "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'the new \
                       schema cannot read: field age has no default', additionalInfo:'/fields/1'}";
        assert_eq!(
            problem_line(message).as_deref(),
            Some(
                "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: the new schema cannot read: \
                 field age has no default"
            )
        );
        assert_eq!(problem_line("{oldSchemaVersion: 1}"), None);
        assert_eq!(problem_line("{compatibility: 'BACKWARD'}"), None);
        assert_eq!(problem_line("other").as_deref(), Some("other"));
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".to_owned(), "10".to_owned(), "x".to_owned()],
            vec!["long-name".to_owned(), "2".to_owned(), "y".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "N", "T"], &rows),
            "NAME       N   T\na          10  x\nlong-name  2   y\n"
        );
    }
}
