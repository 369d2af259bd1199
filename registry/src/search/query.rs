//! From user text to a tantivy query, without tantivy's query parser: user text is only ever
//! split into terms, so nothing a user types can be a syntax error.

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use super::model::{CatalogDocument, SearchRequest};
use super::schema::{Fields, facet};

/// At most this many terms of a query are used; the rest is ignored.
pub(crate) const MAX_TERMS: usize = 32;
/// Longer terms are cut to this many characters.
pub(crate) const MAX_TERM_CHARS: usize = 64;
/// Only this much of a query is looked at (a 10 KB query is trimmed, not refused).
const MAX_QUERY_CHARS: usize = 4096;

/// Boost per field: a name match beats a tag or owner match, which beats a field path, the
/// description, and last a field's doc.
const NAME: f32 = 8.0;
const TAGS: f32 = 4.0;
const OWNER: f32 = 4.0;
const PRODUCERS: f32 = 3.0;
const FIELD_PATH: f32 = 3.0;
const DESCRIPTION: f32 = 2.0;
const FIELD_DOC: f32 = 1.0;
/// Within a field: exact beats prefix beats typo.
const EXACT: f32 = 1.0;
const PREFIX: f32 = 0.5;
const FUZZY: f32 = 0.25;
/// The whole query equal to (or a prefix of) a whole name.
const WHOLE_NAME: f32 = 20.0;

/// Prefix matching starts at this many characters (one letter would expand to half the
/// dictionary).
const MIN_PREFIX_CHARS: usize = 2;

/// The query's terms: lowercased, split on anything not alphanumeric (as the index tokenizer
/// does), each cut to [`MAX_TERM_CHARS`], duplicates dropped, at most [`MAX_TERMS`].
pub(crate) fn terms(q: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut trimmed: String = q.chars().take(MAX_QUERY_CHARS).collect();
    if trimmed.len() < q.len() {
        // Cut mid-word: the fragment would be a term nobody typed.
        let cut = q[trimmed.len()..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        // (A single word longer than the whole budget is kept, cut like any long term.)
        if let Some(end) = trimmed
            .rfind(|c: char| !c.is_alphanumeric())
            .filter(|_| cut)
        {
            trimmed.truncate(end);
        }
    }
    for word in trimmed.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let lower: String = word.to_lowercase().chars().take(MAX_TERM_CHARS).collect();
        // Lowercasing can produce non-alphanumerics (rare combining marks); split again as
        // the index tokenizer would see the lowercased text.
        for part in lower.split(|c: char| !c.is_alphanumeric()) {
            if part.is_empty() || out.iter().any(|t| t == part) {
                continue;
            }
            out.push(part.to_owned());
            if out.len() == MAX_TERMS {
                return out;
            }
        }
    }
    out
}

/// Edit distance allowed for a term: none under 4 characters, 1 from 4, 2 from 8.
pub(crate) fn fuzzy_distance(term: &str) -> u8 {
    match term.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The whole query as a name, if it could be one.
fn whole_name(q: &str) -> Option<String> {
    let name = q.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > 200 {
        return None;
    }
    Some(name)
}

fn boosted(query: Box<dyn Query>, boost: f32) -> (Occur, Box<dyn Query>) {
    (Occur::Should, Box::new(BoostQuery::new(query, boost)))
}

fn term_group(fields: &Fields, term: &str) -> BooleanQuery {
    let searched: [(Field, f32); 7] = [
        (fields.name, NAME),
        (fields.tags, TAGS),
        (fields.owner, OWNER),
        (fields.producers, PRODUCERS),
        (fields.field_path, FIELD_PATH),
        (fields.description, DESCRIPTION),
        (fields.field_doc, FIELD_DOC),
    ];
    let distance = fuzzy_distance(term);
    let prefix = term.chars().count() >= MIN_PREFIX_CHARS;
    let mut clauses = Vec::with_capacity(searched.len() * 3);
    for (field, boost) in searched {
        let t = Term::from_field_text(field, term);
        clauses.push(boosted(
            Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)),
            boost * EXACT,
        ));
        if prefix {
            clauses.push(boosted(
                Box::new(FuzzyTermQuery::new_prefix(t.clone(), 0, true)),
                boost * PREFIX,
            ));
        }
        if distance > 0 {
            clauses.push(boosted(
                Box::new(FuzzyTermQuery::new(t, distance, true)),
                boost * FUZZY,
            ));
        }
    }
    BooleanQuery::new(clauses)
}

fn filters(fields: &Fields, request: &SearchRequest) -> Vec<(Occur, Box<dyn Query>)> {
    let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let wanted = [
        (fields.owner_facet, request.owner.as_deref()),
        (fields.tag_facet, request.tag.as_deref()),
        (
            fields.quality_facet,
            request.quality.map(|band| band.as_str()),
        ),
    ];
    for (field, value) in wanted {
        let Some(value) = value else { continue };
        // An empty filter value matches nothing that was indexed; say so with a term that
        // cannot exist rather than dropping the filter.
        let facet = facet(value).unwrap_or_else(|| tantivy::schema::Facet::from_path(["\u{1}"]));
        let term = Term::from_facet(field, &facet);
        out.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                0.0,
            )),
        ));
    }
    out
}

/// The query for a request, and whether it has text (no text: list by name).
pub(crate) fn build(fields: &Fields, request: &SearchRequest) -> (Box<dyn Query>, bool) {
    let terms = terms(&request.q);
    let mut clauses = filters(fields, request);
    if terms.is_empty() {
        if clauses.is_empty() {
            return (Box::new(tantivy::query::AllQuery), false);
        }
        return (Box::new(BooleanQuery::new(clauses)), false);
    }
    for term in &terms {
        clauses.push((Occur::Must, Box::new(term_group(fields, term))));
    }
    if let Some(name) = whole_name(&request.q) {
        let term = Term::from_field_text(fields.name_key, &name);
        clauses.push(boosted(
            Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)),
            WHOLE_NAME,
        ));
        if name.chars().count() >= 3 {
            clauses.push(boosted(
                Box::new(FuzzyTermQuery::new_prefix(term, 0, true)),
                WHOLE_NAME * PREFIX,
            ));
        }
    }
    (Box::new(BooleanQuery::new(clauses)), true)
}

/// Does `token` (already lowercase) match a query term the way the index query does?
fn token_matches(token: &str, term: &str) -> bool {
    if token == term {
        return true;
    }
    if term.chars().count() >= MIN_PREFIX_CHARS && token.starts_with(term) {
        return true;
    }
    let distance = fuzzy_distance(term);
    distance > 0 && within_distance(token, term, distance as usize)
}

fn text_matches(text: &str, terms: &[String]) -> bool {
    let lower = text.to_lowercase();
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
        .any(|token| terms.iter().any(|term| token_matches(token, term)))
}

/// Which parts of a hit matched the query, for display: `name`, `owner`, `tag`, `producer`,
/// `description`, `field:{path}` (the path or the field's doc), in that order.
pub(crate) fn matched(doc: &CatalogDocument, q: &str) -> Vec<String> {
    let terms = terms(q);
    let mut out = Vec::new();
    if terms.is_empty() {
        return out;
    }
    if text_matches(&doc.name, &terms) {
        out.push("name".to_owned());
    }
    if text_matches(&doc.owner, &terms) {
        out.push("owner".to_owned());
    }
    if doc.tags.iter().any(|tag| text_matches(tag, &terms)) {
        out.push("tag".to_owned());
    }
    if doc.producers.iter().any(|p| text_matches(p, &terms)) {
        out.push("producer".to_owned());
    }
    if text_matches(&doc.description, &terms) {
        out.push("description".to_owned());
    }
    for field in &doc.fields {
        let doc_matches = field
            .doc
            .as_deref()
            .is_some_and(|text| text_matches(text, &terms));
        if doc_matches || text_matches(&field.path, &terms) {
            let label = format!("field:{}", field.path);
            if !out.contains(&label) {
                out.push(label);
            }
        }
    }
    out
}

/// Optimal-string-alignment distance (a transposition costs one, as in the index query)
/// between `a` and `b` is at most `max`.
fn within_distance(a: &str, b: &str, max: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let width = b.len() + 1;
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in rows.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i * width] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
            row_min = row_min.min(best);
        }
        if row_min > max {
            return false;
        }
    }
    rows[a.len() * width + b.len()] <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_lowercase_and_cap() {
        assert_eq!(
            terms("Orders.Order_Placed-v2 field:("),
            ["orders", "order", "placed", "v2", "field"]
        );
        assert!(terms("* \" ( ) \u{0} \u{7f}").is_empty());
        let many = (0..100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(terms(&many).len(), MAX_TERMS);
        let long = "x".repeat(10_000);
        assert_eq!(terms(&long), ["x".repeat(MAX_TERM_CHARS)]);
        let long = format!("{} tail", "x".repeat(100));
        assert_eq!(
            terms(&long),
            ["x".repeat(MAX_TERM_CHARS), "tail".to_owned()]
        );
        let words = "shipping ".repeat(1200);
        assert_eq!(terms(&words), ["shipping"]);
        assert_eq!(terms("a a A"), ["a"]);
    }

    #[test]
    fn fuzzy_distance_grows_with_length() {
        assert_eq!(fuzzy_distance("sku"), 0);
        assert_eq!(fuzzy_distance("ordr"), 1);
        assert_eq!(fuzzy_distance("shipping"), 2);
    }

    #[test]
    fn distance_counts_transpositions_once() {
        assert!(within_distance("order", "ordr", 1));
        assert!(within_distance("order", "oredr", 1));
        assert!(!within_distance("order", "odrr", 1));
        assert!(within_distance("shipping", "shpiing", 2));
        assert!(!within_distance("shipping", "ship", 2));
    }
}
