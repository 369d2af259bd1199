//! A small line diff: longest common subsequence over the lines that differ, printed as
//! unified-diff hunks (`-`/`+` lines with a few lines of context).

/// One line of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// Above this many cells the LCS table is not built; the differing middle is shown as all
/// removed then all added, which is still a correct (if longer) diff.
const MAX_TABLE_CELLS: usize = 16_000_000;

/// The edit script turning `old` into `new`, line by line.
pub(crate) fn diff_lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();

    // Common head and tail need no table.
    let mut head = 0;
    while head < old.len() && head < new.len() && old[head] == new[head] {
        head += 1;
    }
    let mut tail = 0;
    while tail < old.len() - head
        && tail < new.len() - head
        && old[old.len() - 1 - tail] == new[new.len() - 1 - tail]
    {
        tail += 1;
    }
    let a = &old[head..old.len() - tail];
    let b = &new[head..new.len() - tail];

    let mut out: Vec<Line<'a>> = old[..head].iter().map(|l| Line::Same(l)).collect();
    if a.len().saturating_mul(b.len()) > MAX_TABLE_CELLS {
        out.extend(a.iter().map(|l| Line::Removed(l)));
        out.extend(b.iter().map(|l| Line::Added(l)));
    } else {
        out.extend(lcs_script(a, b));
    }
    out.extend(old[old.len() - tail..].iter().map(|l| Line::Same(l)));
    out
}

fn lcs_script<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Line<'a>> {
    // table[i][j] = length of the LCS of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i * width + j] = if a[i] == b[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

/// True when the script changes nothing.
pub(crate) fn is_unchanged(lines: &[Line<'_>]) -> bool {
    lines.iter().all(|l| matches!(l, Line::Same(_)))
}

/// Unified-diff hunks (`@@ -a,b +c,d @@`) with `context` lines around each change; no
/// `---`/`+++` header. Empty when nothing changed.
pub(crate) fn unified(lines: &[Line<'_>], context: usize) -> String {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Line::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let mut out = String::new();
    let mut k = 0;
    while k < changed.len() {
        // Grow the hunk while the next change is within 2 * context lines.
        let start = changed[k].saturating_sub(context);
        let mut last = changed[k];
        while k + 1 < changed.len() && changed[k + 1] - last <= 2 * context + 1 {
            k += 1;
            last = changed[k];
        }
        let end = (last + context + 1).min(lines.len());
        k += 1;

        let (old_start, new_start) = positions(&lines[..start]);
        let (old_len, new_len) = positions(&lines[start..end]);
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_start, old_len),
            range(new_start, new_len)
        ));
        for line in &lines[start..end] {
            let (sign, text) = match line {
                Line::Same(t) => (' ', t),
                Line::Removed(t) => ('-', t),
                Line::Added(t) => ('+', t),
            };
            out.push(sign);
            out.push_str(text);
            out.push('\n');
        }
    }
    out
}

/// How many old and new lines a slice of the script covers.
fn positions(lines: &[Line<'_>]) -> (usize, usize) {
    let mut old = 0;
    let mut new = 0;
    for line in lines {
        match line {
            Line::Same(_) => {
                old += 1;
                new += 1;
            }
            Line::Removed(_) => old += 1,
            Line::Added(_) => new += 1,
        }
    }
    (old, new)
}

/// GNU diff's range: 1-based start, and `start,len` unless len is 1; an empty range names
/// the line before it.
fn range(before: usize, len: usize) -> String {
    match len {
        0 => format!("{before},0"),
        1 => format!("{}", before + 1),
        _ => format!("{},{len}", before + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(old: &str, new: &str) -> String {
        diff_lines(old, new)
            .iter()
            .map(|l| match l {
                Line::Same(t) => format!(" {t}"),
                Line::Removed(t) => format!("-{t}"),
                Line::Added(t) => format!("+{t}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn equal_texts_have_no_changes() {
        let lines = diff_lines("a\nb\nc", "a\nb\nc");
        assert!(is_unchanged(&lines));
        assert_eq!(unified(&lines, 3), "");
    }

    #[test]
    fn empty_sides() {
        assert_eq!(script("", "a\nb"), "+a\n+b");
        assert_eq!(script("a\nb", ""), "-a\n-b");
        assert_eq!(script("", ""), "");
        assert_eq!(unified(&diff_lines("", "x"), 3), "@@ -0,0 +1 @@\n+x\n");
    }

    #[test]
    fn insertion_in_the_middle_keeps_common_lines() {
        assert_eq!(script("a\nb\nc", "a\nb\nx\nc"), " a\n b\n+x\n c");
    }

    #[test]
    fn replacement_is_removed_then_added() {
        assert_eq!(script("a\nb\nc", "a\nB\nc"), " a\n-b\n+B\n c");
    }

    #[test]
    fn lcs_finds_the_longest_common_run() {
        // The LCS of abcbdab / bdcaba has length 4.
        let old = "a\nb\nc\nb\nd\na\nb";
        let new = "b\nd\nc\na\nb\na";
        let lines = diff_lines(old, new);
        let same = lines.iter().filter(|l| matches!(l, Line::Same(_))).count();
        assert_eq!(same, 4);
        // Applying the script gives back both sides.
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for line in &lines {
            match line {
                Line::Same(t) => {
                    left.push(*t);
                    right.push(*t);
                }
                Line::Removed(t) => left.push(*t),
                Line::Added(t) => right.push(*t),
            }
        }
        assert_eq!(left.join("\n"), old);
        assert_eq!(right.join("\n"), new);
    }

    #[test]
    fn hunks_have_context_and_ranges() {
        let old: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        let new = old.replace("l10\n", "l10 changed\n");
        let text = unified(&diff_lines(&old, &new), 3);
        assert_eq!(
            text,
            "@@ -7,7 +7,7 @@\n l7\n l8\n l9\n-l10\n+l10 changed\n l11\n l12\n l13\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks_and_near_ones_merge() {
        let old: String = (1..=30).map(|i| format!("l{i}\n")).collect();
        let far = old.replace("l3\n", "x\n").replace("l25\n", "y\n");
        assert_eq!(
            unified(&diff_lines(&old, &far), 3).matches("@@ -").count(),
            2
        );
        let near = old.replace("l3\n", "x\n").replace("l9\n", "y\n");
        let text = unified(&diff_lines(&old, &near), 3);
        assert_eq!(text.matches("@@ -").count(), 1, "{text}");
        assert!(text.starts_with("@@ -1,12 +1,12 @@\n"), "{text}");
    }

    #[test]
    fn pure_addition_at_the_end() {
        let text = unified(&diff_lines("a\nb\n", "a\nb\nc\n"), 3);
        assert_eq!(text, "@@ -1,2 +1,3 @@\n a\n b\n+c\n");
    }
}
