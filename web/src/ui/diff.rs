//! Two schema versions side by side: each pretty-printed the same way (both Avro and JSON
//! Schema are JSON), compared line by line, unchanged stretches folded to a few lines of
//! context. Additions and removals are marked with `+` / `−` and words for screen readers,
//! not by colour alone.

use std::time::Duration;

use maud::{Markup, html};
use similar::{DiffOp, TextDiff};

/// Unchanged lines kept around each change.
const CONTEXT: usize = 3;
/// The comparison gives up refining past this (a huge schema still gets a correct, coarser
/// diff).
const DIFF_TIMEOUT: Duration = Duration::from_millis(250);

/// One row of the side-by-side table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Row {
    /// Line numbers (1-based) and text on both sides.
    Same(usize, usize, String),
    /// Only on the left, only on the right, or a left line replaced by a right one.
    Changed(Option<(usize, String)>, Option<(usize, String)>),
    /// This many unchanged lines left out.
    Folded(usize),
}

/// The text a schema is compared as: pretty JSON when it parses, else as registered.
pub(crate) fn comparable(schema: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(schema) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| schema.to_owned()),
        Err(_) => schema.to_owned(),
    }
}

/// The rows comparing `old` with `new`, and the counts of removed and added lines.
pub(crate) fn rows(old: &str, new: &str) -> (Vec<Row>, usize, usize) {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let left = diff.old_slices();
    let right = diff.new_slices();
    let line = |s: &str| s.trim_end_matches(['\n', '\r']).to_owned();
    let ops = diff.ops();
    let mut out = Vec::new();
    let (mut removed, mut added) = (0, 0);
    for (n, op) in ops.iter().enumerate() {
        match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                // Alone (no change at all), every line shows.
                let alone = ops.len() == 1;
                let first = n == 0 && !alone;
                let last = n + 1 == ops.len() && !alone;
                let head = if first { 0 } else { CONTEXT.min(len) };
                let tail = if last { 0 } else { CONTEXT.min(len - head) };
                let (head, tail) = if alone { (len, 0) } else { (head, tail) };
                let same = |i: usize| {
                    Row::Same(
                        old_index + i + 1,
                        new_index + i + 1,
                        line(left[old_index + i]),
                    )
                };
                if head + tail >= len {
                    out.extend((0..len).map(same));
                } else {
                    out.extend((0..head).map(same));
                    out.push(Row::Folded(len - head - tail));
                    out.extend((len - tail..len).map(same));
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                removed += old_len;
                out.extend(
                    (old_index..old_index + old_len)
                        .map(|i| Row::Changed(Some((i + 1, line(left[i]))), None)),
                );
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                added += new_len;
                out.extend(
                    (new_index..new_index + new_len)
                        .map(|i| Row::Changed(None, Some((i + 1, line(right[i]))))),
                );
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                removed += old_len;
                added += new_len;
                for k in 0..old_len.max(new_len) {
                    let l = (k < old_len).then(|| (old_index + k + 1, line(left[old_index + k])));
                    let r = (k < new_len).then(|| (new_index + k + 1, line(right[new_index + k])));
                    out.push(Row::Changed(l, r));
                }
            }
        }
    }
    (out, removed, added)
}

/// The side-by-side table of `old` (version `from`) against `new` (version `to`).
pub(crate) fn table(from: i32, old: &str, to: i32, new: &str) -> Markup {
    let (rows, removed, added) = rows(&comparable(old), &comparable(new));
    html! {
        p.diff-summary {
            @if removed == 0 && added == 0 {
                "Versions " (from) " and " (to) " are the same schema text."
            } @else {
                span.del-count { "−" (removed) " line" @if removed != 1 { "s" } " removed" }
                " · "
                span.ins-count { "+" (added) " line" @if added != 1 { "s" } " added" }
            }
        }
        div.diff-scroll {
            table.diff {
                caption.visually-hidden { "Schema version " (from) " (left) compared with version " (to) " (right)" }
                colgroup { col.ln; col.code; col.ln; col.code; }
                thead {
                    tr {
                        th scope="col" colspan="2" { "Version " (from) }
                        th scope="col" colspan="2" { "Version " (to) }
                    }
                }
                tbody {
                    @for row in &rows {
                        @match row {
                            Row::Same(l, r, text) => tr {
                                td.ln { (l) } td.code { (text) }
                                td.ln { (r) } td.code { (text) }
                            },
                            Row::Folded(n) => tr.folded {
                                td colspan="4" { "⋯ " (n) " unchanged line" @if *n != 1 { "s" } }
                            },
                            Row::Changed(l, r) => tr {
                                @match l {
                                    Some((n, text)) => {
                                        td.ln.del { (n) }
                                        td.code.del { span.visually-hidden { "removed: " } span.mark aria-hidden="true" { "−" } (text) }
                                    },
                                    None => { td.ln.empty {} td.code.empty {} },
                                }
                                @match r {
                                    Some((n, text)) => {
                                        td.ln.ins { (n) }
                                        td.code.ins { span.visually-hidden { "added: " } span.mark aria-hidden="true" { "+" } (text) }
                                    },
                                    None => { td.ln.empty {} td.code.empty {} },
                                }
                            },
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_pair_up_and_context_folds() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old.replace("line 10\n", "line ten\n") + "line 21\n";
        let (rows, removed, added) = rows(&old, &new);
        assert_eq!((removed, added), (1, 2));
        assert!(rows.contains(&Row::Changed(
            Some((10, "line 10".into())),
            Some((10, "line ten".into()))
        )));
        assert!(rows.contains(&Row::Changed(None, Some((21, "line 21".into())))));
        // Lines 1–6 fold; 7–9 and 11–13 are context; 14–17 fold; 18–20 are context.
        assert_eq!(rows[0], Row::Folded(6));
        assert_eq!(rows[1], Row::Same(7, 7, "line 7".into()));
        assert!(rows.contains(&Row::Folded(4)));
    }

    #[test]
    fn same_text_has_no_changes() {
        let (rows, removed, added) = rows("a\nb\n", "a\nb\n");
        assert_eq!((removed, added), (0, 0));
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn schemas_compare_pretty_and_escaped() {
        let old = r#"{"type":"object","properties":{"id":{"type":"string"}}}"#;
        let new = r#"{"type":"object","properties":{"id":{"type":"string"},"<b>x</b>":{"type":"integer"}}}"#;
        let out = table(1, old, 2, new).into_string();
        assert!(out.contains("&lt;b&gt;x&lt;/b&gt;"), "{out}");
        assert!(!out.contains("<b>x"), "{out}");
        assert!(out.contains("added: "), "{out}");
        assert!(
            out.contains("Version 1") && out.contains("Version 2"),
            "{out}"
        );
    }
}
