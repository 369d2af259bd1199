//! JSON Schema compatibility as a subset check: is every instance valid under the writer
//! schema also valid under the reader schema? The policy, rule by rule, is in
//! `docs/json-schema-compatibility.md`; each rule names the function that implements it.
//!
//! The checker is sound rather than complete: it only answers "compatible" when it has a
//! proof. Dropping a writer constraint only makes the writer bigger, so unknown writer
//! keywords are ignored; an unknown reader keyword must appear identically in the writer,
//! otherwise the pair is reported as not provably compatible.

mod keywords;
mod resolve;
mod values;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Finding, IncompatibilityKind};
use crate::schema::JsonSchemaDoc;
use resolve::Node;

/// Most subset steps one check takes before giving up.
const MAX_STEPS: usize = 200_000;
/// Deepest recursion of one check.
const MAX_DEPTH: usize = 256;

/// Every reason data valid under `writer` may be invalid under `reader`; empty when none.
pub(super) fn check(reader: &JsonSchemaDoc, writer: &JsonSchemaDoc) -> Vec<Finding> {
    // Both sides are simplified first: `allOf` branches that share no (interacting) keyword
    // are merged, which does not change what a schema accepts.
    let writer_root = resolve::simplify(&writer.root);
    let writer_documents = resolve::simplify_documents(&writer.documents);
    let reader_root = resolve::simplify(&reader.root);
    let reader_documents = resolve::simplify_documents(&reader.documents);
    let mut checker = Checker {
        reader_docs: &reader_documents,
        writer_docs: &writer_documents,
        in_progress: HashSet::new(),
        findings: Vec::new(),
        steps: 0,
        depth: 0,
        exhausted: false,
    };
    let w = Node::root(&writer_root, writer.draft);
    let r = Node::root(&reader_root, reader.draft);
    checker.subset(w, r, "");
    if checker.exhausted {
        checker.findings.push(Finding::new(
            IncompatibilityKind::CheckBudgetExceeded,
            "",
            "schemas are too large or too deeply nested to check; refusing rather than guessing"
                .to_string(),
        ));
    }
    checker.findings
}

/// Keywords that never constrain instances (annotations, identifiers, definitions holders).
const ANNOTATIONS: [&str; 20] = [
    "$schema",
    "$id",
    "id",
    "$anchor",
    "$dynamicAnchor",
    "$recursiveAnchor",
    "$comment",
    "$defs",
    "definitions",
    "$vocabulary",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
];

struct Checker<'a> {
    reader_docs: &'a HashMap<String, Value>,
    writer_docs: &'a HashMap<String, Value>,
    /// (writer schema, reader schema) pairs under check, by address: met again, assumed
    /// compatible. Sound because instances are finite: see the policy, "$ref".
    in_progress: HashSet<(usize, usize)>,
    findings: Vec<Finding>,
    steps: usize,
    depth: usize,
    exhausted: bool,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, kind: IncompatibilityKind, path: &str, message: String) -> bool {
        self.findings.push(Finding::new(kind, path, message));
        false
    }

    /// Runs a subset check without keeping its findings.
    fn probe(&mut self, w: Node<'a>, r: Node<'a>) -> bool {
        let mark = self.findings.len();
        let ok = self.subset(w, r, "");
        self.findings.truncate(mark);
        ok
    }

    /// Is every instance of `w` an instance of `r`? Findings are reported at `path` (a JSON
    /// pointer into the reader schema).
    fn subset(&mut self, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
        self.steps += 1;
        if self.exhausted || self.steps > MAX_STEPS || self.depth > MAX_DEPTH {
            self.exhausted = true;
            return false;
        }
        // Rule "$ref": follow references on both sides; a pair met again is assumed to hold.
        // An unresolvable writer ref is treated as `true` (a bigger writer: sound).
        let w = match resolve::deref(self.writer_docs, w) {
            Ok(node) => node,
            Err(_) => Node::root(&resolve::TRUE_SCHEMA, w.draft),
        };
        let r = match resolve::deref(self.reader_docs, r) {
            Ok(node) => node,
            Err(message) => {
                return self.fail(IncompatibilityKind::UnresolvedReference, path, message);
            }
        };
        let key = (
            std::ptr::from_ref(w.schema) as usize,
            std::ptr::from_ref(r.schema) as usize,
        );
        if self.in_progress.contains(&key) {
            return true;
        }
        self.in_progress.insert(key);
        self.depth += 1;
        let ok = self.subset_resolved(w, r, path);
        self.depth -= 1;
        self.in_progress.remove(&key);
        ok
    }

    fn subset_resolved(&mut self, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
        // 2019-09+: a `$ref` with sibling constraints. The writer follows the ref (dropping
        // its siblings: a bigger writer); the reader needs both the target and the siblings.
        if let Some(Value::String(reference)) = w.schema.get("$ref") {
            return match resolve::ref_target(self.writer_docs, w, reference) {
                Ok(target) => self.subset(target, r, path),
                Err(_) => self.subset(Node::root(&resolve::TRUE_SCHEMA, w.draft), r, path),
            };
        }
        let mut ok = true;
        if let Some(Value::String(reference)) = r.schema.get("$ref") {
            match resolve::ref_target(self.reader_docs, r, reference) {
                Ok(target) => ok = self.subset(w, target, &format!("{path}/$ref")),
                Err(message) => {
                    ok = self.fail(IncompatibilityKind::UnresolvedReference, path, message);
                }
            }
        }
        ok && self.subset_plain(w, r, path, true)
    }

    /// The subset check after references; `split` is false when checking a writer's keywords
    /// without its `anyOf`/`oneOf`.
    fn subset_plain(&mut self, w: Node<'a>, r: Node<'a>, path: &str, split: bool) -> bool {
        // Rule "boolean schemas".
        if is_true(r.schema) {
            return true;
        }
        if w.schema == &Value::Bool(false) {
            return true;
        }
        if r.schema == &Value::Bool(false) {
            return self.fail(
                IncompatibilityKind::TypeNarrowed,
                path,
                "the reader accepts nothing (false schema) but the writer accepts values"
                    .to_string(),
            );
        }
        // Identical schemas in the same draft are trivially compatible.
        if w.schema == r.schema && w.draft == r.draft && !has_ref_anywhere(r.schema) {
            return true;
        }
        // Rule "combinators", writer side: split the writer into alternatives first.
        if split && let Some(ok) = self.split_writer(w, r, path) {
            return ok;
        }
        // Rule "enum and const", writer side: a finite writer is checked value by value.
        if let Some(values) = values::finite_values(w.schema) {
            return self.values_accepted(&values, r, path);
        }
        let mut ok = true;
        ok = self.reader_combinators(w, r, path) && ok;
        ok = keywords::check_keywords(self, w, r, path) && ok;
        ok
    }

    /// Writer `anyOf` / `oneOf`: the writer's other keywords alone being a subset suffices;
    /// otherwise every alternative must be a subset. Writer `allOf` left after
    /// simplification: one branch being a subset suffices; otherwise the writer's own keywords
    /// are checked without it (a bigger writer: sound).
    fn split_writer(&mut self, w: Node<'a>, r: Node<'a>, path: &str) -> Option<bool> {
        let object = w.schema.as_object()?;
        for keyword in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = object.get(keyword) else {
                continue;
            };
            if keyword == "oneOf" && r.schema.get("oneOf") == object.get("oneOf") {
                continue;
            }
            let has_siblings = object
                .keys()
                .any(|k| k != keyword && !is_annotation(k) && k != "anyOf" && k != "oneOf");
            if has_siblings {
                let mark = self.findings.len();
                let ok = self.subset_plain(w, r, path, false);
                self.findings.truncate(mark);
                if ok {
                    return Some(true);
                }
            }
            let mut ok = true;
            for (i, branch) in branches.iter().enumerate() {
                let before = self.findings.len();
                if !self.subset(w.child(branch), r, path) {
                    ok = false;
                    if self.findings.len() == before {
                        self.fail(
                            IncompatibilityKind::NotProvablyCompatible,
                            path,
                            format!("writer {keyword} branch {i} is not accepted by the reader"),
                        );
                    }
                }
            }
            return Some(ok);
        }
        if let Some(Value::Array(branches)) = object.get("allOf") {
            for branch in branches {
                if self.probe(w.child(branch), r) {
                    return Some(true);
                }
            }
        }
        None
    }

    /// Reader `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`.
    fn reader_combinators(&mut self, w: Node<'a>, r: Node<'a>, path: &str) -> bool {
        let Some(object) = r.schema.as_object() else {
            return true;
        };
        let mut ok = true;
        if let Some(Value::Array(branches)) = object.get("allOf") {
            for (i, branch) in branches.iter().enumerate() {
                ok = self.subset(w, r.child(branch), &format!("{path}/allOf/{i}")) && ok;
            }
        }
        if let Some(Value::Array(branches)) = object.get("anyOf") {
            ok = self.some_branch(w, r, branches, "anyOf", path) && ok;
        }
        if let Some(Value::Array(branches)) = object.get("oneOf") {
            let same = w.schema.get("oneOf") == object.get("oneOf");
            if !same && !values::pairwise_type_disjoint(branches) {
                ok = self.fail(
                    IncompatibilityKind::NotProvablyCompatible,
                    &format!("{path}/oneOf"),
                    "reader oneOf branches may overlap, so a writer value could match two of \
                     them; the checker cannot prove exactly one matches"
                        .to_string(),
                ) && ok;
            } else if !same {
                ok = self.some_branch(w, r, branches, "oneOf", path) && ok;
            }
        }
        if let Some(not) = object.get("not") {
            ok = self.reader_not(w, r, not, path) && ok;
        }
        if object.contains_key("if") || object.contains_key("then") || object.contains_key("else") {
            let same = ["if", "then", "else"]
                .iter()
                .all(|k| w.schema.get(k) == object.get(*k));
            if !same {
                ok = self.fail(
                    IncompatibilityKind::NotProvablyCompatible,
                    &format!("{path}/if"),
                    "reader if/then/else differs from the writer's; conditional schemas are \
                     only accepted unchanged"
                        .to_string(),
                ) && ok;
            }
        }
        ok
    }

    fn some_branch(
        &mut self,
        w: Node<'a>,
        r: Node<'a>,
        branches: &'a [Value],
        keyword: &str,
        path: &str,
    ) -> bool {
        for branch in branches {
            if self.probe(w, r.child(branch)) {
                return true;
            }
        }
        self.fail(
            IncompatibilityKind::NotProvablyCompatible,
            &format!("{path}/{keyword}"),
            format!("no reader {keyword} branch accepts everything the writer accepts"),
        )
    }

    /// `w ⊆ not X` holds when the writer has `not Y` with `X ⊆ Y`, or when the writer's
    /// types and X's types are disjoint.
    fn reader_not(&mut self, w: Node<'a>, r: Node<'a>, not: &'a Value, path: &str) -> bool {
        if let Some(writer_not) = w.schema.get("not")
            && self.probe(r.child(not), w.child(writer_not))
        {
            return true;
        }
        let writer_types = keywords::type_set(w.schema);
        let excluded = keywords::type_set(not);
        if writer_types.is_disjoint(excluded) {
            return true;
        }
        self.fail(
            IncompatibilityKind::NotProvablyCompatible,
            &format!("{path}/not"),
            "reader `not` may exclude values the writer accepts".to_string(),
        )
    }

    fn values_accepted(&mut self, values: &[Value], r: Node<'a>, path: &str) -> bool {
        let mut ok = true;
        for value in values {
            if let Err((kind, message)) = values::accepts(self, r, value) {
                ok = self.fail(kind, path, message) && ok;
            }
        }
        ok
    }
}

/// `true`, `{}`, or an object with annotations only.
fn is_true(schema: &Value) -> bool {
    match schema {
        Value::Bool(b) => *b,
        Value::Object(object) => object.keys().all(|k| ANNOTATIONS.contains(&k.as_str())),
        _ => false,
    }
}

fn has_ref_anywhere(schema: &Value) -> bool {
    match schema {
        Value::Object(object) => {
            object.contains_key("$ref")
                || object.contains_key("$dynamicRef")
                || object.contains_key("$recursiveRef")
                || object.values().any(has_ref_anywhere)
        }
        Value::Array(items) => items.iter().any(has_ref_anywhere),
        _ => false,
    }
}

fn is_annotation(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword)
}
