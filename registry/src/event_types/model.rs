//! What an event type is, what a request may say about it, and the rules its fields follow.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use tributary_core::{EventTypeName, checked_party_name};
use tributary_eventlog::MAX_PARTITIONS;

use crate::compat::CompatibilityLevel;
use crate::fields::bad_escape;

use super::error::EventTypeError;

/// Longest description accepted (Markdown).
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// Most tags one event type may carry.
pub const MAX_TAGS: usize = 32;
/// Longest tag.
pub(crate) const MAX_TAG_LEN: usize = 64;
/// Longest partition-key pointer.
pub(crate) const MAX_POINTER_LEN: usize = 1024;

/// What the gateway does with an event that does not match its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Refuse it (to the dead-letter topic).
    Enforce,
    /// Accept it and report the violations.
    Warn,
    /// Refuse it as `Enforce` does, and also check every event against the candidate version
    /// named by [`EventType::shadow_version`], reporting (not enforcing) what it would
    /// reject. While the candidate is the subject's latest version, events that pin no version
    /// are held to the newest version before it. Without a candidate it acts as `Enforce`.
    Shadow,
}

impl Enforcement {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforcement::Enforce => "enforce",
            Enforcement::Warn => "warn",
            Enforcement::Shadow => "shadow",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Enforcement> {
        [Enforcement::Enforce, Enforcement::Warn, Enforcement::Shadow]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

/// An event type as stored (and as answered and audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventType {
    pub name: EventTypeName,
    /// The owning team.
    pub owner: String,
    /// Markdown.
    pub description: String,
    /// Sorted, without duplicates.
    pub tags: Vec<String>,
    /// JSON pointer of the field whose value keys the record, e.g. `/customer_id`.
    pub partition_key: Option<String>,
    pub enforcement: Enforcement,
    /// The candidate version `shadow` enforcement checks events against.
    pub shadow_version: Option<i32>,
    /// The largest event (bytes, as sent) the gateway accepts for this type; `None`: the
    /// gateway's own limit.
    pub max_event_bytes: Option<i64>,
    pub partitions: u32,
    /// `None`: unlimited.
    pub retention_ms: Option<i64>,
    /// `None`: unlimited.
    pub retention_bytes: Option<i64>,
    /// The subject's own compatibility level; `None`: the global level applies.
    pub compatibility: Option<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub updated_at_ms: i64,
    pub updated_by: String,
    /// Grows by one with every change.
    pub revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<i64>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `POST /v1/event-types`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEventType {
    pub name: String,
    pub owner: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub partition_key: Option<String>,
    #[serde(default)]
    pub enforcement: Option<Enforcement>,
    /// A version of the type's subject; see [`Enforcement::Shadow`].
    #[serde(default)]
    pub shadow_version: Option<i32>,
    #[serde(default)]
    pub max_event_bytes: Option<i64>,
    /// Absent: the server's default.
    #[serde(default)]
    pub partitions: Option<u32>,
    /// Absent: the server's default; `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    pub retention_ms: Option<Option<i64>>,
    /// Absent or `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    pub retention_bytes: Option<Option<i64>>,
    /// Absent or `null`: the global level applies.
    #[serde(default)]
    pub compatibility: Option<String>,
}

/// The body of `PATCH /v1/event-types/{name}`: absent fields stay as they are; `null`
/// clears a nullable one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    pub owner: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub partition_key: Option<Option<String>>,
    pub enforcement: Option<Enforcement>,
    #[serde(default, deserialize_with = "present")]
    pub shadow_version: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    pub max_event_bytes: Option<Option<i64>>,
    pub partitions: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub retention_ms: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub retention_bytes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub compatibility: Option<Option<String>>,
}

/// Server-wide settings of event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeSettings {
    /// Put before every event type to name its topic.
    pub topic_prefix: String,
    /// Partitions of a new topic when the request names none.
    pub default_partitions: u32,
    /// Retention of a new topic when the request names none (`None`: unlimited).
    pub default_retention: Option<Duration>,
}

impl Default for EventTypeSettings {
    fn default() -> Self {
        EventTypeSettings {
            topic_prefix: String::new(),
            default_partitions: 3,
            default_retention: Some(Duration::from_secs(7 * 86_400)),
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> EventTypeError {
    EventTypeError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn checked_name(raw: &str) -> Result<EventTypeName, EventTypeError> {
    EventTypeName::parse(raw).map_err(|e| invalid("name", e.to_string()))
}

pub(crate) fn checked_owner(raw: &str) -> Result<String, EventTypeError> {
    checked_party_name(raw)
        .map(str::to_owned)
        .map_err(|e| invalid("owner", e.to_string()))
}

pub(crate) fn checked_description(raw: String) -> Result<String, EventTypeError> {
    if raw.len() > MAX_DESCRIPTION_BYTES {
        return Err(invalid(
            "description",
            format!(
                "is {} bytes long; at most {MAX_DESCRIPTION_BYTES} are allowed",
                raw.len()
            ),
        ));
    }
    Ok(raw)
}

/// Tags: `[a-z0-9][a-z0-9_.:-]*`, at most [`MAX_TAG_LEN`] each and [`MAX_TAGS`] in all;
/// returned sorted without duplicates.
pub(crate) fn checked_tags(raw: Vec<String>) -> Result<Vec<String>, EventTypeError> {
    let mut tags = raw;
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(invalid(
            "tags",
            format!("{} tags given; at most {MAX_TAGS} are allowed", tags.len()),
        ));
    }
    for tag in &tags {
        let valid = !tag.is_empty()
            && tag.len() <= MAX_TAG_LEN
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && tag.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
            });
        if !valid {
            return Err(invalid(
                "tags",
                format!(
                    "{tag:?} is not a tag: use 1 to {MAX_TAG_LEN} lowercase letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
                ),
            ));
        }
    }
    Ok(tags)
}

/// A JSON pointer (RFC 6901) naming one field: `/a/b`, every segment non-empty, `~` only in
/// `~0` and `~1`.
pub(crate) fn checked_partition_key(raw: Option<String>) -> Result<Option<String>, EventTypeError> {
    let Some(pointer) = raw else {
        return Ok(None);
    };
    let reason = if pointer.len() > MAX_POINTER_LEN {
        Some(format!("is longer than {MAX_POINTER_LEN} bytes"))
    } else if !pointer.starts_with('/') {
        Some(String::from(
            "must be a JSON pointer to a field, starting with '/', e.g. /customer_id",
        ))
    } else if pointer[1..].split('/').any(str::is_empty) {
        Some(String::from(
            "has an empty segment ('//' or a trailing '/')",
        ))
    } else if bad_escape(&pointer) {
        Some(String::from(
            "has a '~' that is not part of '~0' (for '~') or '~1' (for '/')",
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(invalid("partition_key", format!("{pointer:?} {reason}"))),
        None => Ok(Some(pointer)),
    }
}

/// Largest per-type event size that may be configured: 64 MiB.
pub(crate) const MAX_EVENT_BYTES_LIMIT: i64 = 64 * 1024 * 1024;

pub(crate) fn checked_max_event_bytes(value: Option<i64>) -> Result<Option<i64>, EventTypeError> {
    match value {
        Some(n) if !(1..=MAX_EVENT_BYTES_LIMIT).contains(&n) => Err(invalid(
            "max_event_bytes",
            format!(
                "{n} is out of range: expected 1 to {MAX_EVENT_BYTES_LIMIT}, or null for the gateway's limit"
            ),
        )),
        other => Ok(other),
    }
}

/// A schema version number (its existence in the subject is checked by the service).
pub(crate) fn checked_shadow_version(value: Option<i32>) -> Result<Option<i32>, EventTypeError> {
    match value {
        Some(n) if n < 1 => Err(invalid(
            "shadow_version",
            format!("{n} is not a version: versions start at 1"),
        )),
        other => Ok(other),
    }
}

pub(crate) fn checked_partitions(partitions: u32) -> Result<u32, EventTypeError> {
    if partitions == 0 || partitions > MAX_PARTITIONS {
        return Err(invalid(
            "partitions",
            format!("{partitions} is out of range: expected 1 to {MAX_PARTITIONS}"),
        ));
    }
    Ok(partitions)
}

pub(crate) fn checked_retention(
    field: &str,
    value: Option<i64>,
) -> Result<Option<i64>, EventTypeError> {
    match value {
        Some(n) if n < 1 => Err(invalid(
            field,
            format!("{n} is not a limit: expected a positive number, or null for unlimited"),
        )),
        other => Ok(other),
    }
}

/// A compatibility level as Confluent spells it (case-insensitive), normalised.
pub(crate) fn checked_compatibility(raw: Option<String>) -> Result<Option<String>, EventTypeError> {
    let Some(text) = raw else {
        return Ok(None);
    };
    let level = text.parse::<CompatibilityLevel>().map_err(|_| {
        invalid(
            "compatibility",
            format!(
                "{text:?} is not a compatibility level: expected BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE"
            ),
        )
    })?;
    Ok(Some(level.as_str().to_owned()))
}

pub(crate) fn level(text: &str) -> Result<CompatibilityLevel, EventTypeError> {
    text.parse::<CompatibilityLevel>()
        .map_err(|e| EventTypeError::Store(format!("stored compatibility level is invalid: {e}")))
}

/// `current` with `patch` applied and checked. Partitions may only grow, and growing them
/// (like changing retention) needs an event-log operation that does not exist yet, so both
/// are refused unless unchanged.
pub(crate) fn patched(
    current: &EventType,
    patch: EventTypePatch,
) -> Result<EventType, EventTypeError> {
    let mut next = current.clone();
    if let Some(owner) = patch.owner {
        next.owner = checked_owner(&owner)?;
    }
    if let Some(description) = patch.description {
        next.description = checked_description(description)?;
    }
    if let Some(tags) = patch.tags {
        next.tags = checked_tags(tags)?;
    }
    if let Some(pointer) = patch.partition_key {
        next.partition_key = checked_partition_key(pointer)?;
    }
    if let Some(enforcement) = patch.enforcement {
        next.enforcement = enforcement;
    }
    if let Some(version) = patch.shadow_version {
        next.shadow_version = checked_shadow_version(version)?;
    }
    if let Some(bytes) = patch.max_event_bytes {
        next.max_event_bytes = checked_max_event_bytes(bytes)?;
    }
    if let Some(partitions) = patch.partitions {
        let partitions = checked_partitions(partitions)?;
        if partitions < current.partitions {
            return Err(invalid(
                "partitions",
                format!(
                    "may only grow: the topic has {} partitions, not {partitions}",
                    current.partitions
                ),
            ));
        }
        if partitions > current.partitions {
            return Err(invalid(
                "partitions",
                String::from(
                    "cannot grow yet: the event log has no operation to add partitions to a topic",
                ),
            ));
        }
    }
    if let Some(retention) = patch.retention_ms
        && checked_retention("retention_ms", retention)? != current.retention_ms
    {
        return Err(invalid(
            "retention_ms",
            String::from(
                "cannot change yet: the event log has no operation to alter a topic's retention",
            ),
        ));
    }
    if let Some(retention) = patch.retention_bytes
        && checked_retention("retention_bytes", retention)? != current.retention_bytes
    {
        return Err(invalid(
            "retention_bytes",
            String::from(
                "cannot change yet: the event log has no operation to alter a topic's retention",
            ),
        ));
    }
    if let Some(level) = patch.compatibility {
        next.compatibility = checked_compatibility(level)?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_json_pointers() {
        for good in ["/customer_id", "/a/b", "/a~1b", "/m~0n", "/0"] {
            assert!(checked_partition_key(Some(good.into())).is_ok(), "{good}");
        }
        for bad in ["", "customer_id", "/", "/a//b", "/a/", "/a~", "/a~2"] {
            let err = checked_partition_key(Some(bad.into())).unwrap_err();
            assert!(err.to_string().starts_with("partition_key"), "{bad}: {err}");
        }
    }

    #[test]
    fn tags_are_sorted_and_checked() {
        let tags = checked_tags(vec!["pii".into(), "finance".into(), "pii".into()]).unwrap();
        assert_eq!(tags, ["finance", "pii"]);
        assert!(checked_tags(vec!["Bad Tag".into()]).is_err());
        assert!(checked_tags((0..33).map(|i| format!("t{i}")).collect()).is_err());
    }

    #[test]
    fn compatibility_is_normalised() {
        assert_eq!(
            checked_compatibility(Some("full_transitive".into())).unwrap(),
            Some("FULL_TRANSITIVE".into())
        );
        assert!(checked_compatibility(Some("SOMETIMES".into())).is_err());
    }
}
