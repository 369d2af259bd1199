//! The per-event score: five components in `[0, 1]`, weighted (see `docs/quality.md`).
//!
//! `score = round(100 × Σ weightᵢ × componentᵢ / Σ weightᵢ)`
//!
//! - validity: 1 when the event matches its schema, else 0;
//! - rules: 1 − (Σ severity weight of failed rules) / (Σ severity weight of all rules),
//!   freshness and unique rules aside (info 1, warning 3, error 10; 1 with no rules);
//! - completeness: present (non-null) optional leaf fields ÷ those whose parent object is
//!   present (1 when none);
//! - freshness: 1 within `[-max_future, max_age]` of the receive time, falling linearly to 0
//!   at `2 × max_age` (0 beyond `max_future`); 1 without a freshness rule;
//! - uniqueness: 0 when a `unique` rule saw a duplicate, else 1.
//!
//! Cost per event: no allocation when every rule passes besides the `present` vector;
//! pointers were split and regexes compiled by [`Scorer::compile`]; regexes match in linear
//! time; `*` visits at most 10,000 elements per rule.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::rules::{CompiledCheck, CompiledRule, FieldPath, Scorer, Severity, fingerprint};

/// What the gateway knows about an event besides its body.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub event_id: &'a str,
    /// The event matches its schema.
    pub schema_valid: bool,
    /// The event time the producer gave, in ms since the epoch.
    pub event_time_ms: Option<i64>,
    /// When the gateway received it, in ms since the epoch.
    pub received_at_ms: i64,
}

/// What is at a place in an event, as far as completeness is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Missing,
    Null,
    Object,
    /// Anything else: a string, number, boolean or array.
    Other,
}

impl FieldKind {
    /// What is at `keys` in `event`: what any other representation of an event must answer
    /// for [`Scorer::assess_by_presence`].
    pub fn at(event: &Value, keys: &mut dyn Iterator<Item = &str>) -> FieldKind {
        let mut current = event;
        for key in keys {
            match current.as_object().and_then(|members| members.get(key)) {
                Some(next) => current = next,
                None => return FieldKind::Missing,
            }
        }
        FieldKind::of(Some(current))
    }

    fn of(value: Option<&Value>) -> FieldKind {
        match value {
            None => FieldKind::Missing,
            Some(Value::Null) => FieldKind::Null,
            Some(Value::Object(_)) => FieldKind::Object,
            Some(_) => FieldKind::Other,
        }
    }
}

/// What the rules made of an event, before completeness is added.
struct RulesOutcome {
    failed: Vec<RuleFailure>,
    rules_component: f64,
    freshness_component: f64,
    duplicate: bool,
    lag_ms: Option<i64>,
}

/// The quality of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// 0–100.
    pub score: u8,
    pub components: Components,
    /// The rules that failed, in rule order.
    pub failed: Vec<RuleFailure>,
    /// Receive time − event time, in ms (negative: the event time is ahead), when the event
    /// has a time.
    pub lag_ms: Option<i64>,
    /// A `unique` rule saw it before.
    pub duplicate: bool,
    /// Aligned with [`Scorer::tracked_fields`]: whether each is present and not null.
    pub present: Vec<bool>,
}

/// The score's components, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Components {
    pub validity: f32,
    pub rules: f32,
    pub completeness: f32,
    pub freshness: f32,
    pub uniqueness: f32,
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFailure {
    pub rule: Arc<str>,
    pub severity: Severity,
    pub message: String,
}

/// Describes a JSON value in a message, briefly.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(77).collect();
    format!("{cut}...")
}

/// The first value `path` reaches that breaks `test`; `test` gives the reason.
fn first_failure(
    path: &FieldPath,
    event: &Value,
    mut test: impl FnMut(Option<&Value>) -> Option<String>,
) -> Option<String> {
    let mut failure = None;
    path.for_each(event, &mut |value| match test(value) {
        None => true,
        Some(reason) => {
            failure = Some(format!("{}: {reason}", path.as_str()));
            false
        }
    });
    failure
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// The event time a value gives: an RFC 3339 string or epoch milliseconds.
fn time_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// Outcome of a freshness rule: its component, and its failure.
fn freshness(lag: i64, max_age_ms: i64, max_future_ms: i64) -> (f64, Option<String>) {
    if lag < -max_future_ms {
        return (
            0.0,
            Some(format!(
                "event time is {} ms ahead of the receive time; at most {max_future_ms} ms are allowed",
                -lag
            )),
        );
    }
    if lag <= max_age_ms {
        return (1.0, None);
    }
    let over = (lag - max_age_ms) as f64 / max_age_ms as f64;
    (
        (1.0 - over).max(0.0),
        Some(format!(
            "event is {lag} ms old; at most {max_age_ms} ms are allowed"
        )),
    )
}

impl Scorer {
    /// Scores one event. Never fails: a rule that cannot be evaluated fails.
    pub fn assess(&self, event: &Value, facts: &EventFacts<'_>) -> Assessment {
        let mut failed = Vec::new();
        let mut failed_weight = 0u32;
        let mut freshness_component = 1.0f64;
        let mut duplicate = false;
        let mut lag_ms = facts
            .event_time_ms
            .map(|t| facts.received_at_ms.saturating_sub(t));
        for rule in &*self.rules {
            let outcome = match &rule.check {
                CompiledCheck::Freshness {
                    path,
                    max_age_ms,
                    max_future_ms,
                } => {
                    let from_field = path.as_ref().and_then(|p| p.get(event));
                    let time = match from_field {
                        Some(value) => match time_of(value) {
                            Some(time) => Some(time),
                            None => {
                                freshness_component = 0.0;
                                let path = path.as_ref().map(FieldPath::as_str).unwrap_or("");
                                self.fail(
                                    &mut failed,
                                    rule,
                                    format!(
                                        "{path}: {} is not an RFC 3339 time or epoch milliseconds",
                                        shown(value)
                                    ),
                                );
                                continue;
                            }
                        },
                        None => facts.event_time_ms,
                    };
                    let Some(time) = time else {
                        continue;
                    };
                    let lag = facts.received_at_ms.saturating_sub(time);
                    lag_ms = Some(lag);
                    let (component, failure) = freshness(lag, *max_age_ms, *max_future_ms);
                    freshness_component = freshness_component.min(component);
                    failure
                }
                CompiledCheck::Unique { path, memory } => {
                    let key = match path {
                        None => fingerprint(facts.event_id),
                        Some(path) => match path.get(event) {
                            None | Some(Value::Null) => continue,
                            Some(Value::String(text)) => fingerprint(text.as_str()),
                            Some(other) => fingerprint(other.to_string().as_str()),
                        },
                    };
                    if memory.seen_before(key, facts.received_at_ms) {
                        duplicate = true;
                        Some(match path {
                            None => format!("event id {:?} was seen before", facts.event_id),
                            Some(path) => format!("{}: the value was seen before", path.as_str()),
                        })
                    } else {
                        None
                    }
                }
                check => evaluate(check, event),
            };
            if let Some(message) = outcome {
                if rule.check.counts_as_rule() {
                    failed_weight += rule.severity.weight();
                }
                self.fail(&mut failed, rule, message);
            }
        }
        let rules_component = if self.rules_weight == 0 {
            1.0
        } else {
            1.0 - f64::from(failed_weight) / f64::from(self.rules_weight)
        };
        let completeness = self.completeness(|path| FieldKind::of(path.get(event)));
        self.combine(
            RulesOutcome {
                failed,
                rules_component,
                freshness_component,
                duplicate,
                lag_ms,
            },
            completeness,
            facts,
        )
    }

    /// Whether scoring reads the event's values. Only rules do; without rules the score
    /// needs to know which fields are there, which [`Scorer::assess_by_presence`] asks of any
    /// representation of the event.
    pub fn reads_values(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Scores an event known only by what sits at each place in it: `kind_at` is given the
    /// object keys leading there. `None` when the scorer has rules ([`Scorer::reads_values`]):
    /// use [`Scorer::assess`]. Otherwise the same assessment [`Scorer::assess`] makes.
    pub fn assess_by_presence(
        &self,
        kind_at: &dyn Fn(&mut dyn Iterator<Item = &str>) -> FieldKind,
        facts: &EventFacts<'_>,
    ) -> Option<Assessment> {
        if self.reads_values() {
            return None;
        }
        let completeness = self.completeness(|path| match path.keys() {
            Some(mut keys) => kind_at(&mut keys),
            None => FieldKind::Missing,
        });
        let outcome = RulesOutcome {
            failed: Vec::new(),
            rules_component: 1.0,
            freshness_component: 1.0,
            duplicate: false,
            lag_ms: facts
                .event_time_ms
                .map(|t| facts.received_at_ms.saturating_sub(t)),
        };
        Some(self.combine(outcome, completeness, facts))
    }

    /// The weighted score of the components.
    fn combine(
        &self,
        outcome: RulesOutcome,
        (present, completeness): (Vec<bool>, f64),
        facts: &EventFacts<'_>,
    ) -> Assessment {
        let RulesOutcome {
            failed,
            rules_component,
            freshness_component,
            duplicate,
            lag_ms,
        } = outcome;
        let components = Components {
            validity: if facts.schema_valid { 1.0 } else { 0.0 },
            rules: rules_component as f32,
            completeness: completeness as f32,
            freshness: freshness_component as f32,
            uniqueness: if duplicate { 0.0 } else { 1.0 },
        };
        let w = &self.weights;
        let weighted = [
            (w.validity, if facts.schema_valid { 1.0 } else { 0.0 }),
            (w.rules, rules_component),
            (w.completeness, completeness),
            (w.freshness, freshness_component),
            (w.uniqueness, if duplicate { 0.0 } else { 1.0 }),
        ];
        let total: f64 = weighted.iter().map(|(w, _)| f64::from(*w)).sum();
        let sum: f64 = weighted.iter().map(|(w, c)| f64::from(*w) * c).sum();
        let score = if total > 0.0 {
            (100.0 * sum / total).round().clamp(0.0, 100.0) as u8
        } else {
            100
        };
        Assessment {
            score,
            components,
            failed,
            lag_ms,
            duplicate,
            present,
        }
    }

    fn fail(&self, failed: &mut Vec<RuleFailure>, rule: &CompiledRule, message: String) {
        failed.push(RuleFailure {
            rule: Arc::clone(&rule.name),
            severity: rule.severity,
            message,
        });
    }

    /// `present` per tracked field, and the completeness component; `kind_at` says what is
    /// at a path of the event.
    fn completeness(&self, kind_at: impl Fn(&FieldPath) -> FieldKind) -> (Vec<bool>, f64) {
        let mut present = Vec::with_capacity(self.tracked_paths.len());
        let mut counted = 0u32;
        let mut filled = 0u32;
        for (parent, path) in &*self.tracked_paths {
            let parent_present = kind_at(parent) == FieldKind::Object;
            let here =
                parent_present && !matches!(kind_at(path), FieldKind::Missing | FieldKind::Null);
            if parent_present {
                counted += 1;
                if here {
                    filled += 1;
                }
            }
            present.push(here);
        }
        let component = if counted == 0 {
            1.0
        } else {
            f64::from(filled) / f64::from(counted)
        };
        (present, component)
    }
}

/// Evaluates a field check (not freshness or unique): `None` when it passes. `null` counts as
/// missing for range, enum, pattern and length (`not_null` is the rule for nulls).
fn evaluate(check: &CompiledCheck, event: &Value) -> Option<String> {
    match check {
        CompiledCheck::Required(path) => first_failure(path, event, |value| {
            value.is_none().then(|| String::from("is missing"))
        }),
        CompiledCheck::NotNull(path) => first_failure(path, event, |value| {
            matches!(value, Some(Value::Null)).then(|| String::from("is null"))
        }),
        CompiledCheck::Range { path, min, max } => first_failure(path, event, |value| {
            let value = value.filter(|v| !v.is_null())?;
            let Some(number) = value.as_f64() else {
                return Some(format!("{} is not a number", shown(value)));
            };
            if let Some(min) = min
                && number < *min
            {
                return Some(format!("{number} is below the minimum {min}"));
            }
            if let Some(max) = max
                && number > *max
            {
                return Some(format!("{number} is above the maximum {max}"));
            }
            None
        }),
        CompiledCheck::Enum { path, values } => first_failure(path, event, |value| {
            let value = value.filter(|v| !v.is_null())?;
            if values.iter().any(|allowed| numbers_equal(allowed, value)) {
                return None;
            }
            Some(format!("{} is not one of the allowed values", shown(value)))
        }),
        CompiledCheck::Pattern { path, regex } => first_failure(path, event, |value| {
            let value = value.filter(|v| !v.is_null())?;
            match value {
                Value::String(text) if regex.is_match(text) => None,
                Value::String(text) => Some(format!(
                    "{} does not match {}",
                    shown(&Value::String(text.clone())),
                    regex.as_str()
                )),
                other => Some(format!("{} is not a string", shown(other))),
            }
        }),
        CompiledCheck::Length { path, min, max } => first_failure(path, event, |value| {
            let value = value.filter(|v| !v.is_null())?;
            let length = match value {
                Value::String(text) => text.chars().count() as u64,
                Value::Array(items) => items.len() as u64,
                other => return Some(format!("{} is not a string or an array", shown(other))),
            };
            if let Some(min) = min
                && length < *min
            {
                return Some(format!("length {length} is below the minimum {min}"));
            }
            if let Some(max) = max
                && length > *max
            {
                return Some(format!("length {length} is above the maximum {max}"));
            }
            None
        }),
        CompiledCheck::Expression(expression) => expression.check(event).err(),
        CompiledCheck::Freshness { .. } | CompiledCheck::Unique { .. } => None,
    }
}
