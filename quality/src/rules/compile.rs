//! Compiling a rule set against a schema's fields: the validation at registration, and the
//! form [`Scorer::assess`](crate::Scorer::assess) runs per event.
//!
//! Everything that can be done once is done here: pointers are split into segments, regexes
//! compiled (with size limits), CEL parsed, durations turned into milliseconds, the optional
//! fields the completeness component tracks listed. Regexes use the `regex` crate, which
//! matches in time linear in the input (no backtracking, so no catastrophic patterns; in
//! exchange it has no backreferences or lookaround).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde_json::{Number, Value};
use tributary_registry::Field;

use super::expr::Expression;
use super::path::FieldPath;
use super::unique::Memory;
use super::{Check, QualityRules, Severity, Weights};
use crate::QualityError;

/// Most rules in one rule set.
pub const MAX_RULES: usize = 100;
/// Longest rule name.
const MAX_NAME_CHARS: usize = 64;
/// Longest regex, in characters.
const MAX_REGEX_CHARS: usize = 1_000;
/// Bounds on a compiled regex (bytes of its program and of its lazy DFA).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_DFA_SIZE_LIMIT: usize = 2 << 20;
/// Longest duration a rule may name.
const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

/// A compiled rule set: validates at [`Scorer::compile`], scores with
/// [`Scorer::assess`](crate::Scorer::assess). `Send + Sync`; share it through an `Arc`. The
/// memory of `unique` rules lives here and starts empty with every new `Scorer`.
#[derive(Debug)]
pub struct Scorer {
    pub(crate) rules: Box<[CompiledRule]>,
    pub(crate) weights: Weights,
    /// Optional leaf fields (no `*`), tracked by the completeness component.
    pub(crate) tracked: Arc<[String]>,
    pub(crate) tracked_paths: Box<[(FieldPath, FieldPath)]>,
    /// Σ severity weight of the rules counted by the `rules` component.
    pub(crate) rules_weight: u32,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) name: Arc<str>,
    pub(crate) severity: Severity,
    pub(crate) check: CompiledCheck,
}

#[derive(Debug)]
pub(crate) enum CompiledCheck {
    Required(FieldPath),
    NotNull(FieldPath),
    Range {
        path: FieldPath,
        min: Option<f64>,
        max: Option<f64>,
    },
    Enum {
        path: FieldPath,
        values: Box<[Value]>,
    },
    Pattern {
        path: FieldPath,
        regex: Regex,
    },
    Length {
        path: FieldPath,
        min: Option<u64>,
        max: Option<u64>,
    },
    Freshness {
        path: Option<FieldPath>,
        max_age_ms: i64,
        max_future_ms: i64,
    },
    Unique {
        path: Option<FieldPath>,
        memory: Memory,
    },
    Expression(Box<Expression>),
}

impl CompiledCheck {
    /// Whether failures count in the `rules` component (freshness and uniqueness have
    /// components of their own).
    pub(crate) fn counts_as_rule(&self) -> bool {
        !matches!(
            self,
            CompiledCheck::Freshness { .. } | CompiledCheck::Unique { .. }
        )
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// The schema's fields, for checking pointers.
struct Known<'a> {
    pointers: HashSet<&'a str>,
}

impl Known<'_> {
    /// A field naming one value (no `*`): the event time of `freshness`, the key of
    /// `unique`.
    fn single(&self, at: &str, pointer: &str) -> Result<FieldPath, QualityError> {
        let path = self.path(at, pointer)?;
        if path.has_wildcard() {
            return Err(QualityError::invalid(
                at,
                format!("{pointer} names many values: this kind needs a field without `*`"),
            ));
        }
        Ok(path)
    }

    fn path(&self, at: &str, pointer: &str) -> Result<FieldPath, QualityError> {
        let path = FieldPath::parse(pointer).map_err(|reason| QualityError::invalid(at, reason))?;
        if pointer.is_empty() {
            return Err(QualityError::invalid(
                at,
                "the field is empty: name a field, e.g. `/total`",
            ));
        }
        if !self.pointers.contains(pointer) {
            let hint = if self.pointers.is_empty() {
                " (the event type has no schema fields yet)"
            } else {
                ""
            };
            return Err(QualityError::invalid(
                at,
                format!("the schema has no field {pointer}{hint}"),
            ));
        }
        Ok(path)
    }
}

fn duration_ms(at: &str, text: &str) -> Result<i64, QualityError> {
    let parsed = humantime::parse_duration(text.trim()).map_err(|e| {
        QualityError::invalid(
            at,
            format!("{text:?} is not a duration like \"30s\", \"5m\" or \"1h\": {e}"),
        )
    })?;
    if parsed.is_zero() || parsed > MAX_DURATION {
        return Err(QualityError::invalid(
            at,
            format!("{text:?} must be more than 0 and at most 30 days"),
        ));
    }
    Ok(i64::try_from(parsed.as_millis()).unwrap_or(i64::MAX))
}

fn bound(at: &str, value: &Option<Number>) -> Result<Option<f64>, QualityError> {
    match value {
        None => Ok(None),
        Some(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| QualityError::invalid(at, "must be a finite number")),
    }
}

fn ordered<T: PartialOrd + std::fmt::Display + Copy>(
    at: &str,
    min: Option<T>,
    max: Option<T>,
) -> Result<(), QualityError> {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Err(QualityError::invalid(
            at,
            format!("min {min} is greater than max {max}"),
        ));
    }
    Ok(())
}

fn compile_regex(at: &str, pattern: &str) -> Result<Regex, QualityError> {
    let chars = pattern.chars().count();
    if chars > MAX_REGEX_CHARS {
        return Err(QualityError::invalid(
            at,
            format!("regex is {chars} characters long; at most {MAX_REGEX_CHARS} are allowed"),
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|error| {
            let text = error.to_string();
            let reason = if text.contains("look-around") || text.contains("backreferences") {
                format!(
                    "regex uses lookaround or backreferences, which are not supported (matching is linear-time, without backtracking): {text}"
                )
            } else if matches!(error, regex::Error::CompiledTooBig(_)) {
                String::from("regex compiles to a program that is too large")
            } else {
                format!("regex does not compile: {text}")
            };
            QualityError::invalid(at, reason)
        })
}

impl Scorer {
    /// Checks `rules` against a schema's `fields` and compiles them. Refusals name the
    /// offending key, e.g. `rules[2].regex`.
    pub fn compile(rules: &QualityRules, fields: &[Field]) -> Result<Scorer, QualityError> {
        let weights = rules.weights;
        let total = u64::from(weights.validity)
            + u64::from(weights.rules)
            + u64::from(weights.completeness)
            + u64::from(weights.freshness)
            + u64::from(weights.uniqueness);
        if total == 0 {
            return Err(QualityError::invalid(
                "weights",
                "the weights add up to 0; at least one must be above 0",
            ));
        }
        if rules.rules.len() > MAX_RULES {
            return Err(QualityError::invalid(
                "rules",
                format!(
                    "{} rules; at most {MAX_RULES} are allowed",
                    rules.rules.len()
                ),
            ));
        }
        let known = Known {
            pointers: fields.iter().map(|f| f.pointer.as_str()).collect(),
        };
        // CEL variables: the top-level fields by their (unescaped) names.
        let top_level_paths: Vec<FieldPath> = fields
            .iter()
            .filter_map(|f| FieldPath::parse(&f.pointer).ok())
            .collect();
        let top_level_names: HashSet<&str> = top_level_paths
            .iter()
            .filter_map(FieldPath::top_level_key)
            .collect();
        let mut names = HashSet::new();
        let mut compiled = Vec::with_capacity(rules.rules.len());
        let mut rules_weight = 0;
        for (i, rule) in rules.rules.iter().enumerate() {
            let at = |key: &str| format!("rules[{i}].{key}");
            if !valid_name(&rule.name) {
                return Err(QualityError::invalid(
                    at("name"),
                    format!(
                        "{:?} is not a rule name: 1 to 64 of a-z, 0-9, `_`, `.`, `-`",
                        rule.name
                    ),
                ));
            }
            if !names.insert(rule.name.as_str()) {
                return Err(QualityError::invalid(
                    at("name"),
                    format!("another rule is already named {:?}", rule.name),
                ));
            }
            let field = at("field");
            let check = match &rule.check {
                Check::Required { field: f } => CompiledCheck::Required(known.path(&field, f)?),
                Check::NotNull { field: f } => CompiledCheck::NotNull(known.path(&field, f)?),
                Check::Range { field: f, min, max } => {
                    let min = bound(&at("min"), min)?;
                    let max = bound(&at("max"), max)?;
                    ordered(&at("min"), min, max)?;
                    CompiledCheck::Range {
                        path: known.path(&field, f)?,
                        min,
                        max,
                    }
                }
                Check::Enum { field: f, values } => {
                    if values.is_empty() {
                        return Err(QualityError::invalid(
                            at("values"),
                            "an enum rule needs at least one value",
                        ));
                    }
                    CompiledCheck::Enum {
                        path: known.path(&field, f)?,
                        values: values.clone().into_boxed_slice(),
                    }
                }
                Check::Pattern { field: f, regex } => CompiledCheck::Pattern {
                    regex: compile_regex(&at("regex"), regex)?,
                    path: known.path(&field, f)?,
                },
                Check::Length { field: f, min, max } => {
                    ordered(&at("min"), *min, *max)?;
                    CompiledCheck::Length {
                        path: known.path(&field, f)?,
                        min: *min,
                        max: *max,
                    }
                }
                Check::Freshness {
                    field: f,
                    max_age,
                    max_future,
                } => CompiledCheck::Freshness {
                    max_age_ms: duration_ms(&at("max_age"), max_age)?,
                    max_future_ms: duration_ms(&at("max_future"), max_future)?,
                    path: f.as_deref().map(|f| known.single(&field, f)).transpose()?,
                },
                Check::Unique { field: f, window } => CompiledCheck::Unique {
                    memory: Memory::new(duration_ms(&at("window"), window)?),
                    path: f.as_deref().map(|f| known.single(&field, f)).transpose()?,
                },
                Check::Expression { expr } => CompiledCheck::Expression(Box::new(
                    Expression::compile(expr, &top_level_names)
                        .map_err(|reason| QualityError::invalid(at("expr"), reason))?,
                )),
            };
            if check.counts_as_rule() {
                rules_weight += rule.severity.weight();
            }
            compiled.push(CompiledRule {
                name: Arc::from(rule.name.as_str()),
                severity: rule.severity,
                check,
            });
        }
        let mut scorer = Scorer::default_for(fields);
        scorer.rules = compiled.into_boxed_slice();
        scorer.weights = weights;
        scorer.rules_weight = rules_weight;
        Ok(scorer)
    }

    /// No rules and the default weights: the score of an event type without a rule set.
    pub fn default_for(fields: &[Field]) -> Scorer {
        // An array is a leaf here: its elements (`*`) are not fields of their own.
        let parents: HashSet<&str> = fields
            .iter()
            .filter(|f| !f.pointer.split('/').any(|segment| segment == "*"))
            .filter_map(|f| f.pointer.rsplit_once('/').map(|(parent, _)| parent))
            .collect();
        let mut tracked = Vec::new();
        let mut tracked_paths = Vec::new();
        for field in fields {
            let leaf = !parents.contains(field.pointer.as_str());
            if field.required || field.pointer.is_empty() || !leaf {
                continue;
            }
            let Ok(path) = FieldPath::parse(&field.pointer) else {
                continue;
            };
            if path.has_wildcard() {
                continue;
            }
            tracked.push(field.pointer.clone());
            tracked_paths.push((path.parent(), path));
        }
        Scorer {
            rules: Box::new([]),
            weights: Weights::default(),
            tracked: Arc::from(tracked),
            tracked_paths: tracked_paths.into_boxed_slice(),
            rules_weight: 0,
        }
    }

    /// The optional leaf fields the completeness component counts, in schema order;
    /// [`crate::Assessment::present`] flags each.
    pub fn tracked_fields(&self) -> &Arc<[String]> {
        &self.tracked
    }

    /// The names of the rules, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.name)
    }
}
