//! Who is calling: the principal every request acts as, and the server's auth mode.
//!
//! With [`AuthMode::Off`] the caller names itself in the [`PRINCIPAL_HEADER`] header
//! (`admin`, `team:<name>`, `producer:<name>`), and a request without it acts as an
//! unauthenticated local admin, so Confluent clients and curl work on a laptop. The binary
//! refuses to run with auth off unless it listens on loopback only.
//!
//! With [`AuthMode::Keys`] every request carries an API key (`Authorization: Bearer <key>`, or
//! HTTP Basic with the key as the password). A [`KeyVerifier`] (the gateway's producer store)
//! turns the key into an authenticated [`Principal`] and, for producers, the
//! [`PublishGrants`] that say which event types it may publish.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

/// The request header naming the caller while auth is off.
pub const PRINCIPAL_HEADER: &str = "tributary-principal";

/// The longest team or producer name accepted.
pub const MAX_PARTY_NAME_LEN: usize = 100;

/// What a principal may do, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// Changes anything.
    Admin,
    /// A member acting for the named team: changes what the team owns.
    Team(String),
    /// The named producer: publishes (permissions arrive with API keys).
    Producer(String),
}

/// The caller a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// How the caller is named in audit entries, e.g. `team:payments`.
    pub name: String,
    pub kind: PrincipalKind,
    /// False when the identity was asserted, not proven (auth off).
    pub authenticated: bool,
}

/// Why a principal could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("{0:?} is not a principal: expected `admin`, `team:<name>` or `producer:<name>`")]
    Malformed(String),
    #[error(
        "invalid name {name:?}: use 1 to {MAX_PARTY_NAME_LEN} lowercase letters, digits, '_', '.' or '-', starting with a letter or digit"
    )]
    InvalidName { name: String },
}

impl Principal {
    /// The caller of a request without a principal header while auth is off.
    pub fn local_admin() -> Principal {
        Principal {
            name: String::from("local-admin"),
            kind: PrincipalKind::Admin,
            authenticated: false,
        }
    }

    /// Reads a [`PRINCIPAL_HEADER`] value (unauthenticated: the caller asserts it).
    pub fn from_header(value: &str) -> Result<Principal, PrincipalError> {
        let value = value.trim();
        let kind = match value.split_once(':') {
            None if value == "admin" => PrincipalKind::Admin,
            Some(("team", name)) => PrincipalKind::Team(checked_party_name(name)?.to_owned()),
            Some(("producer", name)) => {
                PrincipalKind::Producer(checked_party_name(name)?.to_owned())
            }
            _ => return Err(PrincipalError::Malformed(value.to_owned())),
        };
        Ok(Principal {
            name: value.to_owned(),
            kind,
            authenticated: false,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.kind == PrincipalKind::Admin
    }

    /// Whether this principal may change what `team` owns: an admin or a member of `team`.
    pub fn acts_for(&self, team: &str) -> bool {
        match &self.kind {
            PrincipalKind::Admin => true,
            PrincipalKind::Team(own) => own == team,
            PrincipalKind::Producer(_) => false,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Checks a team or producer name: `[a-z0-9][a-z0-9_.-]*`, at most [`MAX_PARTY_NAME_LEN`].
pub fn checked_party_name(name: &str) -> Result<&str, PrincipalError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_PARTY_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(name)
    } else {
        Err(PrincipalError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// How callers prove who they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Nobody proves anything: the principal header is trusted. Loopback only.
    #[default]
    Off,
    /// Every request proves who it is with an API key.
    Keys,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
            AuthMode::Keys => "keys",
        }
    }
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(AuthMode::Off),
            "keys" => Ok(AuthMode::Keys),
            other => Err(format!(
                "unknown auth mode {other:?}: expected `off` or `keys`"
            )),
        }
    }
}

/// The longest grant pattern accepted (an event-type name is at most 200 characters).
pub const MAX_GRANT_PATTERN_LEN: usize = 200;

/// Checks a grant pattern: an event-type name, or one whose dot-separated segments may each be
/// `*` (exactly one whole segment, any text without a dot): `orders.*`, `*.order_placed`.
pub fn check_grant_pattern(pattern: &str) -> Result<(), String> {
    let well_formed = !pattern.is_empty()
        && pattern.len() <= MAX_GRANT_PATTERN_LEN
        && pattern.split('.').all(|segment| {
            segment == "*"
                || (!segment.is_empty()
                    && segment.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
                    }))
        });
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "grant {pattern:?} is not an event-type name or glob: use dot-separated segments of [a-z0-9_-], each possibly `*` (one whole segment), at most {MAX_GRANT_PATTERN_LEN} characters"
        ))
    }
}

/// Whether `pattern` (see [`check_grant_pattern`]) matches `event_type`: the same number of
/// segments, each equal or `*`.
pub fn grant_matches(pattern: &str, event_type: &str) -> bool {
    let mut want = pattern.split('.');
    let mut have = event_type.split('.');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(h)) if w == "*" || w == h => {}
            _ => return false,
        }
    }
}

/// The event types an authenticated producer may publish: names or globs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishGrants {
    patterns: Vec<String>,
}

impl PublishGrants {
    pub fn new(patterns: Vec<String>) -> PublishGrants {
        PublishGrants { patterns }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether some grant matches `event_type`.
    pub fn permits(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|p| grant_matches(p, event_type))
    }
}

/// What a verified key proves: the principal, and for a producer what it may publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub principal: Principal,
    /// `Some` for producers; `None` for principals not limited by grants (admins).
    pub grants: Option<PublishGrants>,
}

/// The future a [`KeyVerifier`] answers with: `Ok(None)` for an unknown or revoked key, `Err`
/// when the store could not be asked.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Authenticated>, String>> + Send + 'a>>;

/// Turns an API key into who presented it. Implemented by the gateway's producer store.
pub trait KeyVerifier: Send + Sync + fmt::Debug {
    fn verify<'a>(&'a self, key: &'a str) -> VerifyFuture<'a>;
}

/// How the server authenticates requests: the mode and, with keys, who checks them.
#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub mode: AuthMode,
    pub keys: Option<Arc<dyn KeyVerifier>>,
}

impl Authentication {
    /// Keys mode, verified by `keys`.
    pub fn keys(keys: Arc<dyn KeyVerifier>) -> Authentication {
        Authentication {
            mode: AuthMode::Keys,
            keys: Some(keys),
        }
    }
}

impl From<AuthMode> for Authentication {
    fn from(mode: AuthMode) -> Authentication {
        Authentication { mode, keys: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        assert!(Principal::from_header("admin").unwrap().is_admin());
        let team = Principal::from_header("team:payments").unwrap();
        assert_eq!(team.kind, PrincipalKind::Team("payments".into()));
        assert_eq!(team.name, "team:payments");
        assert!(!team.authenticated);
        assert!(team.acts_for("payments") && !team.acts_for("search"));
        let producer = Principal::from_header("producer:checkout").unwrap();
        assert!(!producer.acts_for("checkout"));
        for bad in [
            "", "root", "team:", "team:Pay", "admin:x", "user:x", "team:a b",
        ] {
            assert!(Principal::from_header(bad).is_err(), "{bad:?}");
        }
        assert!(Principal::local_admin().acts_for("anyone"));
        assert!(!Principal::local_admin().authenticated);
    }

    #[test]
    fn auth_modes() {
        assert_eq!("off".parse::<AuthMode>(), Ok(AuthMode::Off));
        assert_eq!("keys".parse::<AuthMode>(), Ok(AuthMode::Keys));
        assert!("oauth".parse::<AuthMode>().is_err());
    }

    #[test]
    fn grant_patterns() {
        for good in [
            "orders.order_placed",
            "orders.*",
            "*.placed",
            "*",
            "a-b.c_d",
        ] {
            assert!(check_grant_pattern(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "Orders.x",
            "orders.",
            "orders.pl*",
            "orders..x",
            "a b",
            "**",
        ] {
            assert!(check_grant_pattern(bad).is_err(), "{bad:?}");
        }
        assert!(grant_matches("orders.order_placed", "orders.order_placed"));
        assert!(grant_matches("orders.*", "orders.order_placed"));
        assert!(!grant_matches("orders.*", "orders"));
        assert!(!grant_matches("orders.*", "orders.a.b"));
        assert!(!grant_matches("orders.*", "payments.x"));
        assert!(grant_matches("*.placed", "orders.placed"));
        let grants = PublishGrants::new(vec!["a.x".into(), "b.*".into()]);
        assert!(grants.permits("a.x") && grants.permits("b.y") && !grants.permits("a.y"));
        assert!(!PublishGrants::default().permits("a.x"));
    }
}
