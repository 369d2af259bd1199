//! The rule-set document of an event type (`QualityRules`), as owners write it, and its
//! compiled form ([`Scorer`]).
//!
//! The document is plain data: it deserializes from the flat wire shape
//! (`{"name": "total_in_range", "kind": "range", "field": "/total", "min": 0}`), refusing
//! unknown keys and keys that do not belong to the rule's kind. Everything that needs the
//! schema or a parser (field pointers, regexes, CEL, durations, names) is checked by
//! [`Scorer::compile`], which is the validation at registration. See `docs/quality.md`.

mod compile;
mod expr;
mod path;
mod unique;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use utoipa::ToSchema;

pub(crate) use compile::{CompiledCheck, CompiledRule};
pub use compile::{MAX_RULES, Scorer};
pub use expr::{MAX_COMPREHENSION_NESTING, MAX_EXPR_CHARS, MAX_EXPR_DEPTH};
pub(crate) use path::FieldPath;
pub use path::MAX_FAN_OUT;
pub use unique::MAX_REMEMBERED;
pub(crate) use unique::fingerprint;

/// The quality rules of an event type and the weights of its score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityRules {
    /// The rules, each with a unique name; at most 100.
    #[serde(default)]
    #[schema(value_type = Vec<RuleDoc>)]
    pub rules: Vec<Rule>,
    /// How much each component counts in the score.
    #[serde(default)]
    pub weights: Weights,
}

/// How much a failed rule costs: `info` 1, `warning` 3, `error` 10 (see `docs/quality.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Error,
}

impl Severity {
    /// The weight of a failure of this severity in the `rules` component.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Info => 1,
            Severity::Warning => 3,
            Severity::Error => 10,
        }
    }
}

/// One rule: a named check with a severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct Rule {
    /// `[a-z0-9_.-]{1,64}`, unique in the rule set.
    pub name: String,
    pub severity: Severity,
    pub description: Option<String>,
    pub check: Check,
}

/// What a rule checks. `field` is a JSON pointer into the event; a `*` segment means every
/// element of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The field is present (it may be `null`).
    Required { field: String },
    /// A present field is not `null` (a missing one passes).
    NotNull { field: String },
    /// A number within `[min, max]` (inclusive); a non-number fails.
    Range {
        field: String,
        min: Option<Number>,
        max: Option<Number>,
    },
    /// One of `values` (JSON equality; numbers compare by value).
    Enum { field: String, values: Vec<Value> },
    /// A string matching `regex` (the `regex` crate's syntax, unanchored).
    Pattern { field: String, regex: String },
    /// A string's length in Unicode characters, or an array's in items, within `[min, max]`.
    Length {
        field: String,
        min: Option<u64>,
        max: Option<u64>,
    },
    /// The event time (`field`: RFC 3339 or epoch milliseconds; else the record's event
    /// time) is at most `max_age` old and at most `max_future` ahead of the receive time.
    Freshness {
        field: Option<String>,
        max_age: String,
        max_future: String,
    },
    /// The event id (or `field`'s value) was not seen before within `window`.
    Unique {
        field: Option<String>,
        window: String,
    },
    /// A CEL expression over the event that must be `true`.
    Expression { expr: String },
}

impl Check {
    /// The kind's name on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Required { .. } => "required",
            Check::NotNull { .. } => "not_null",
            Check::Range { .. } => "range",
            Check::Enum { .. } => "enum",
            Check::Pattern { .. } => "pattern",
            Check::Length { .. } => "length",
            Check::Freshness { .. } => "freshness",
            Check::Unique { .. } => "unique",
            Check::Expression { .. } => "expression",
        }
    }

    /// The field pointer the check reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Check::Required { field }
            | Check::NotNull { field }
            | Check::Range { field, .. }
            | Check::Enum { field, .. }
            | Check::Pattern { field, .. }
            | Check::Length { field, .. } => Some(field),
            Check::Freshness { field, .. } | Check::Unique { field, .. } => field.as_deref(),
            Check::Expression { .. } => None,
        }
    }
}

/// The weights of the score's components (integers; their sum must be above 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// The event matches its schema. Default 40.
    pub validity: u32,
    /// The rules pass (weighted by severity). Default 30.
    pub rules: u32,
    /// Optional fields are filled. Default 10.
    pub completeness: u32,
    /// The event time is recent. Default 10.
    pub freshness: u32,
    /// The event is not a duplicate. Default 10.
    pub uniqueness: u32,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            validity: 40,
            rules: 30,
            completeness: 10,
            freshness: 10,
            uniqueness: 10,
        }
    }
}

/// The flat wire shape of a rule: every key any kind uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    kind: String,
    #[serde(default)]
    severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_future: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expr: Option<String>,
}

const KINDS: &str =
    "required, not_null, range, enum, pattern, length, freshness, unique, expression";

impl RawRule {
    /// The keys set besides the common ones (name, kind, severity, description).
    fn present_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let flags = [
            ("field", self.field.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("values", self.values.is_some()),
            ("regex", self.regex.is_some()),
            ("max_age", self.max_age.is_some()),
            ("max_future", self.max_future.is_some()),
            ("window", self.window.is_some()),
            ("expr", self.expr.is_some()),
        ];
        for (key, set) in flags {
            if set {
                keys.push(key);
            }
        }
        keys
    }
}

fn needed<T>(value: Option<T>, key: &str, kind: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("a {kind} rule needs `{key}`"))
}

/// Non-negative integer bound of a `length` rule.
fn count(value: Option<Number>, key: &str) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{key}` of a length rule is a non-negative integer")),
    }
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Rule, String> {
        let kind = raw.kind.as_str();
        let allowed: &[&str] = match kind {
            "required" | "not_null" => &["field"],
            "range" | "length" => &["field", "min", "max"],
            "enum" => &["field", "values"],
            "pattern" => &["field", "regex"],
            "freshness" => &["field", "max_age", "max_future"],
            "unique" => &["field", "window"],
            "expression" => &["expr"],
            other => return Err(format!("unknown rule kind {other:?}: use one of {KINDS}")),
        };
        if let Some(stray) = raw
            .present_keys()
            .into_iter()
            .find(|k| !allowed.contains(k))
        {
            return Err(format!("`{stray}` does not apply to a {kind} rule"));
        }
        let check = match kind {
            "required" => Check::Required {
                field: needed(raw.field, "field", kind)?,
            },
            "not_null" => Check::NotNull {
                field: needed(raw.field, "field", kind)?,
            },
            "range" => Check::Range {
                field: needed(raw.field, "field", kind)?,
                min: raw.min,
                max: raw.max,
            },
            "enum" => Check::Enum {
                field: needed(raw.field, "field", kind)?,
                values: needed(raw.values, "values", kind)?,
            },
            "pattern" => Check::Pattern {
                field: needed(raw.field, "field", kind)?,
                regex: needed(raw.regex, "regex", kind)?,
            },
            "length" => Check::Length {
                field: needed(raw.field, "field", kind)?,
                min: count(raw.min, "min")?,
                max: count(raw.max, "max")?,
            },
            "freshness" => Check::Freshness {
                field: raw.field,
                max_age: needed(raw.max_age, "max_age", kind)?,
                max_future: needed(raw.max_future, "max_future", kind)?,
            },
            "unique" => Check::Unique {
                field: raw.field,
                window: needed(raw.window, "window", kind)?,
            },
            _ => Check::Expression {
                expr: needed(raw.expr, "expr", kind)?,
            },
        };
        Ok(Rule {
            name: raw.name,
            severity: raw.severity,
            description: raw.description,
            check,
        })
    }
}

impl From<Rule> for RawRule {
    fn from(rule: Rule) -> RawRule {
        let mut raw = RawRule {
            kind: rule.check.kind().to_owned(),
            name: rule.name,
            severity: rule.severity,
            description: rule.description,
            ..RawRule::default()
        };
        match rule.check {
            Check::Required { field } | Check::NotNull { field } => raw.field = Some(field),
            Check::Range { field, min, max } => {
                raw.field = Some(field);
                raw.min = min;
                raw.max = max;
            }
            Check::Enum { field, values } => {
                raw.field = Some(field);
                raw.values = Some(values);
            }
            Check::Pattern { field, regex } => {
                raw.field = Some(field);
                raw.regex = Some(regex);
            }
            Check::Length { field, min, max } => {
                raw.field = Some(field);
                raw.min = min.map(Number::from);
                raw.max = max.map(Number::from);
            }
            Check::Freshness {
                field,
                max_age,
                max_future,
            } => {
                raw.field = field;
                raw.max_age = Some(max_age);
                raw.max_future = Some(max_future);
            }
            Check::Unique { field, window } => {
                raw.field = field;
                raw.window = Some(window);
            }
            Check::Expression { expr } => raw.expr = Some(expr),
        }
        raw
    }
}

/// The kinds of rule (OpenAPI only).
#[derive(ToSchema)]
#[schema(as = QualityRuleKind)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum RuleKindDoc {
    Required,
    NotNull,
    Range,
    Enum,
    Pattern,
    Length,
    Freshness,
    Unique,
    Expression,
}

/// One quality rule, flat: `name`, `kind`, `severity`, `description`, and the keys of its
/// kind (OpenAPI only; see `docs/quality.md`).
#[derive(ToSchema)]
#[schema(as = QualityRule)]
#[allow(dead_code)]
pub(crate) struct RuleDoc {
    /// `[a-z0-9_.-]{1,64}`, unique in the set.
    #[schema(example = "total_in_range", pattern = "^[a-z0-9_.-]{1,64}$")]
    name: String,
    kind: RuleKindDoc,
    /// Default `warning`.
    severity: Option<Severity>,
    description: Option<String>,
    /// JSON pointer into the event (`*` = every array element). All kinds but `expression`
    /// (optional for `freshness` and `unique`).
    #[schema(example = "/total")]
    field: Option<String>,
    /// `range` (number) and `length` (count): inclusive lower bound.
    min: Option<f64>,
    /// `range` (number) and `length` (count): inclusive upper bound.
    max: Option<f64>,
    /// `enum`: the allowed JSON values.
    values: Option<Vec<Value>>,
    /// `pattern`: a regular expression (RE2-like syntax; no backreferences or lookaround).
    regex: Option<String>,
    /// `freshness`: the oldest accepted event time, as a duration (`5m`, `30s`, `1h`).
    max_age: Option<String>,
    /// `freshness`: how far ahead of the receive time an event time may be.
    max_future: Option<String>,
    /// `unique`: how long a value is remembered.
    window: Option<String>,
    /// `expression`: a CEL expression that must be `true`.
    expr: Option<String>,
}
