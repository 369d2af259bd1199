use std::fmt;
use std::str::FromStr;

/// The longest event-type name accepted (DESIGN.md, "Names on the wire").
pub const MAX_EVENT_TYPE_LEN: usize = 200;

/// A validated event-type name: lowercase `domain.name` made of `[a-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EventTypeName(String);

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is {len} characters long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error(
        "name contains {found:?}; only lowercase letters, digits, '_', '.' and '-' are allowed"
    )]
    InvalidChar { found: char },
    #[error("name must have the form domain.name (a '.' between two non-empty parts)")]
    MissingDomain,
}

impl EventTypeName {
    /// Checks `raw` against the naming rule.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.len() > MAX_EVENT_TYPE_LEN {
            return Err(NameError::TooLong {
                len: raw.len(),
                max: MAX_EVENT_TYPE_LEN,
            });
        }
        if let Some(found) = raw.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        }) {
            return Err(NameError::InvalidChar { found });
        }
        match raw.split_once('.') {
            Some((domain, rest)) if !domain.is_empty() && !rest.is_empty() => {}
            _ => return Err(NameError::MissingDomain),
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Kafka topic holding this event type, under `prefix`.
    pub fn topic(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.0)
    }

    /// The schema-registry subject for this event type's values (TopicNameStrategy).
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}{}-value", self.0)
    }
}

impl FromStr for EventTypeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EventTypeName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_domain_names() {
        let name = EventTypeName::parse("orders.order_placed").unwrap();
        assert_eq!(name.topic(""), "orders.order_placed");
        assert_eq!(name.topic("prod."), "prod.orders.order_placed");
        assert_eq!(name.subject(""), "orders.order_placed-value");
        assert!(EventTypeName::parse("a.b-c.d_9").is_ok());
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        assert_eq!(EventTypeName::parse(""), Err(NameError::Empty));
        assert_eq!(
            EventTypeName::parse("Orders.x"),
            Err(NameError::InvalidChar { found: 'O' })
        );
        assert_eq!(
            EventTypeName::parse("orders"),
            Err(NameError::MissingDomain)
        );
        assert_eq!(EventTypeName::parse(".x"), Err(NameError::MissingDomain));
        assert_eq!(EventTypeName::parse("x."), Err(NameError::MissingDomain));
        assert_eq!(
            EventTypeName::parse("a.b c"),
            Err(NameError::InvalidChar { found: ' ' })
        );
        let long = format!("a.{}", "b".repeat(199));
        assert_eq!(
            EventTypeName::parse(&long),
            Err(NameError::TooLong { len: 201, max: 200 })
        );
        assert!(EventTypeName::parse(&long[..200]).is_ok());
    }

    #[test]
    fn deserializing_validates() {
        let err = serde_json::from_str::<EventTypeName>("\"NOPE\"").unwrap_err();
        assert!(err.to_string().contains("only lowercase"), "{err}");
    }
}
