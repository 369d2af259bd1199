use serde::Serialize;

use crate::ErrorCode;

/// An RFC 9457 problem document, the body of every `/v1` error.
///
/// `code` is the stable contract; `title` is a fixed phrase per code; `detail` says what went
/// wrong with this request in words a person can act on.
///
/// Routes may add extension members (`field`, `incompatibilities`, `written`); clients ignore
/// the ones they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:tributary:problem:{code}`.
    #[serde(rename = "type")]
    #[schema(example = "urn:tributary:problem:not_found")]
    pub type_uri: String,
    /// A fixed phrase per code.
    #[schema(example = "Not found")]
    pub title: &'static str,
    /// The HTTP status, repeated.
    #[schema(example = 404)]
    pub status: u16,
    /// The stable, machine-readable code: match on this.
    #[schema(example = "not_found")]
    pub code: &'static str,
    /// What went wrong with this request.
    pub detail: String,
}

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: format!("urn:tributary:problem:{}", code.as_str()),
            title: code.title(),
            status: code.http_status(),
            code: code.as_str(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc9457() {
        let p = Problem::new(ErrorCode::Unavailable, "event log: broker unreachable");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "urn:tributary:problem:unavailable");
        assert_eq!(json["status"], 503);
        assert_eq!(json["code"], "unavailable");
        assert_eq!(json["title"], "Service unavailable");
        assert_eq!(json["detail"], "event log: broker unreachable");
    }
}
