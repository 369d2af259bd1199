//! Who is calling: the principal every request acts as, and the server's auth mode.
//!
//! API keys arrive in a later issue. Until then the only mode is [`AuthMode::Off`]: the caller
//! names itself in the [`PRINCIPAL_HEADER`] header (`admin`, `team:<name>`,
//! `producer:<name>`), and a request without it acts as an unauthenticated local admin, so
//! Confluent clients and curl work on a laptop. The binary refuses to run with auth off
//! unless it listens on loopback only.

use std::fmt;
use std::str::FromStr;

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
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
        }
    }
}

impl FromStr for AuthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" => Ok(AuthMode::Off),
            other => Err(format!(
                "unknown auth mode {other:?}: only `off` exists until API keys arrive"
            )),
        }
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
        assert!("keys".parse::<AuthMode>().is_err());
    }
}
