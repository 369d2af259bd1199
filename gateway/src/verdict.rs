//! What the gateway answers about each event.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::SerializeStruct;
use tributary_registry::Violation;

use crate::quality::QualityBody;

/// Why an event was not accepted: a machine-readable code, also written to dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The event does not satisfy its schema; `violations` says where.
    SchemaViolation,
    /// The event is not valid JSON (an NDJSON line that does not parse).
    Malformed,
    /// The event is valid JSON but not an object.
    NotAnObject,
    /// The event is larger than its type allows.
    TooLarge,
    /// The event log refused the record for good (not a transient failure).
    LogRejected,
    /// A CloudEvent in a batch names an event type that does not exist.
    UnknownEventType,
    /// A CloudEvent in a batch names a type without a schema, or pins a version that does
    /// not exist.
    UnknownSchema,
    /// A CloudEvent in a batch names a type the producer's key is not granted.
    Forbidden,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SchemaViolation => "schema_violation",
            Reason::Malformed => "malformed",
            Reason::NotAnObject => "not_an_object",
            Reason::TooLarge => "too_large",
            Reason::LogRejected => "log_rejected",
            Reason::UnknownEventType => "unknown_event_type",
            Reason::UnknownSchema => "unknown_schema",
            Reason::Forbidden => "forbidden",
        }
    }
}

/// One violation: where (RFC 6901 pointer into the event) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ViolationBody {
    pub pointer: String,
    pub message: String,
}

impl From<Violation> for ViolationBody {
    fn from(v: Violation) -> Self {
        ViolationBody {
            pointer: v.pointer,
            message: v.message,
        }
    }
}

/// The verdict on one event of a request, in the order the events were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Verdict {
    /// Durably written to the event type's topic.
    Accepted {
        index: usize,
        event_id: String,
        partition: u32,
        offset: i64,
        /// `warn` mode: the violations the event was accepted with.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<ViolationBody>,
        /// `shadow` mode: what the candidate schema version would reject.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        shadow_violations: Vec<ViolationBody>,
    },
    /// Not written to the topic; `dead_lettered` once the dead-letter record is durable.
    Rejected {
        index: usize,
        event_id: String,
        reason: Reason,
        violations: Vec<ViolationBody>,
        dead_lettered: bool,
    },
    /// Accepted earlier (same producer-supplied id or `Idempotency-Key`, inside the window):
    /// not written again; the position is the original one.
    Duplicate {
        index: usize,
        event_id: String,
        partition: u32,
        offset: i64,
    },
    /// Dry run: the event would be accepted.
    Valid {
        index: usize,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<ViolationBody>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        shadow_violations: Vec<ViolationBody>,
    },
    /// Dry run: the event would be rejected.
    Invalid {
        index: usize,
        reason: Reason,
        violations: Vec<ViolationBody>,
    },
}

impl Verdict {
    /// Accepted (or, in a dry run, valid).
    pub fn is_accepted(&self) -> bool {
        matches!(
            self,
            Verdict::Accepted { .. } | Verdict::Duplicate { .. } | Verdict::Valid { .. }
        )
    }

    /// The event's index in the request.
    pub fn index(&self) -> usize {
        match self {
            Verdict::Accepted { index, .. }
            | Verdict::Rejected { index, .. }
            | Verdict::Duplicate { index, .. }
            | Verdict::Valid { index, .. }
            | Verdict::Invalid { index, .. } => *index,
        }
    }
}

/// The answer to a request whose events all got a verdict (200 or 207).
#[derive(Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Answer {
    /// Accepted now or earlier (duplicates count as accepted).
    pub accepted: usize,
    /// Of `accepted`, the duplicates (omitted when zero).
    #[schema(required = false)]
    pub duplicates: usize,
    pub rejected: usize,
    /// A verdict per event; with `?quality=true` each also carries the event's `quality`
    /// (score, components, failed rules).
    pub results: Vec<Verdict>,
    /// The quality of each event by index, shown when the producer asked.
    #[schema(ignore)]
    pub quality: BTreeMap<usize, QualityBody>,
}

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// A verdict with the event's quality beside its other members.
        #[derive(Serialize)]
        struct Scored<'a> {
            #[serde(flatten)]
            verdict: &'a Verdict,
            #[serde(skip_serializing_if = "Option::is_none")]
            quality: Option<&'a QualityBody>,
        }
        let mut answer = serializer.serialize_struct("Answer", 4)?;
        answer.serialize_field("accepted", &self.accepted)?;
        if !is_zero(&self.duplicates) {
            answer.serialize_field("duplicates", &self.duplicates)?;
        }
        answer.serialize_field("rejected", &self.rejected)?;
        if self.quality.is_empty() {
            answer.serialize_field("results", &self.results)?;
        } else {
            let results: Vec<Scored<'_>> = self
                .results
                .iter()
                .map(|verdict| Scored {
                    verdict,
                    quality: self.quality.get(&verdict.index()),
                })
                .collect();
            answer.serialize_field("results", &results)?;
        }
        answer.end()
    }
}

impl Answer {
    pub(crate) fn new(results: Vec<Verdict>) -> Answer {
        let accepted = results.iter().filter(|v| v.is_accepted()).count();
        let duplicates = results
            .iter()
            .filter(|v| matches!(v, Verdict::Duplicate { .. }))
            .count();
        Answer {
            accepted,
            duplicates,
            rejected: results.len() - accepted,
            results,
            quality: BTreeMap::new(),
        }
    }

    /// The answer showing each event's quality.
    pub(crate) fn with_quality(mut self, quality: BTreeMap<usize, QualityBody>) -> Answer {
        self.quality = quality;
        self
    }

    /// Every event accepted.
    pub fn all_accepted(&self) -> bool {
        self.rejected == 0
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An event durably written before the log failed (listed in a 503 answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Written {
    pub index: usize,
    pub event_id: String,
    pub partition: u32,
    pub offset: i64,
}
