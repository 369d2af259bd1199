use serde::Serialize;

use crate::ErrorCode;

/// An RFC 9457 problem document, the body of every `/v1` error.
///
/// `code` is the stable contract; `title` is a fixed phrase per code; `detail` says what went
/// wrong with this request in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
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
