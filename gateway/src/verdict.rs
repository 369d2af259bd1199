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

    /// Writes the answer as its `Serialize` does, byte for byte. Accepted and duplicate
    /// verdicts (all of a 200) are written here directly: through serde every key and id is
    /// scanned for escapes and every member goes through the serializer's state machine,
    /// which cost about 90 ns an event.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        if !self.quality.is_empty() {
            return serde_json::to_writer(out, self);
        }
        out.extend_from_slice(b"{\"accepted\":");
        put_int(out, self.accepted);
        if !is_zero(&self.duplicates) {
            out.extend_from_slice(b",\"duplicates\":");
            put_int(out, self.duplicates);
        }
        out.extend_from_slice(b",\"rejected\":");
        put_int(out, self.rejected);
        out.extend_from_slice(b",\"results\":[");
        for (i, verdict) in self.results.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if !verdict.write_placed(out) {
                serde_json::to_writer(&mut *out, verdict)?;
            }
        }
        out.extend_from_slice(b"]}");
        Ok(())
    }
}

impl Verdict {
    /// Writes an accepted verdict without warnings or shadow violations, or a duplicate, whose
    /// event id needs no escaping; writes nothing and says false for any other verdict.
    fn write_placed(&self, out: &mut Vec<u8>) -> bool {
        let (opening, index, event_id, partition, offset): (&[u8], _, _, _, _) = match self {
            Verdict::Accepted {
                index,
                event_id,
                partition,
                offset,
                warnings,
                shadow_violations,
            } if warnings.is_empty() && shadow_violations.is_empty() => (
                b"{\"status\":\"accepted\",\"index\":",
                index,
                event_id,
                partition,
                offset,
            ),
            Verdict::Duplicate {
                index,
                event_id,
                partition,
                offset,
            } => (
                b"{\"status\":\"duplicate\",\"index\":",
                index,
                event_id,
                partition,
                offset,
            ),
            _ => return false,
        };
        // What serde_json escapes in a string: control characters, quote and backslash.
        if event_id
            .bytes()
            .any(|b| b < 0x20 || b == b'"' || b == b'\\')
        {
            return false;
        }
        out.extend_from_slice(opening);
        put_int(out, *index);
        out.extend_from_slice(b",\"event_id\":\"");
        out.extend_from_slice(event_id.as_bytes());
        out.extend_from_slice(b"\",\"partition\":");
        put_int(out, *partition);
        out.extend_from_slice(b",\"offset\":");
        put_int(out, *offset);
        out.push(b'}');
        true
    }
}

fn put_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(index: usize, event_id: &str, warnings: usize) -> Verdict {
        Verdict::Accepted {
            index,
            event_id: event_id.to_owned(),
            partition: index as u32 % 3,
            offset: 1 << (index * 7),
            warnings: (0..warnings).map(|_| violation()).collect(),
            shadow_violations: Vec::new(),
        }
    }

    fn violation() -> ViolationBody {
        ViolationBody {
            pointer: "/a".to_owned(),
            message: "\"x\" is not of type \"integer\"".to_owned(),
        }
    }

    #[test]
    fn the_answer_is_written_as_serde_writes_it() {
        let ids = [
            "0199b5f2-5c55-7a1e-8f00-0123456789ab",
            "",
            "with \"quotes\"",
            "back\\slash",
            "tab\there",
            "del\u{7f} and ünïcödé and 🦀",
        ];
        let mut verdicts: Vec<Verdict> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| accepted(i, id, 0))
            .collect();
        verdicts.push(accepted(6, "warned", 2));
        verdicts.push(Verdict::Accepted {
            index: 7,
            event_id: "shadowed".to_owned(),
            partition: 0,
            offset: 0,
            warnings: Vec::new(),
            shadow_violations: vec![violation()],
        });
        verdicts.push(Verdict::Duplicate {
            index: 8,
            event_id: "dup".to_owned(),
            partition: u32::MAX,
            offset: -1,
        });
        verdicts.push(Verdict::Duplicate {
            index: 9,
            event_id: "dup \"quoted\"".to_owned(),
            partition: 2,
            offset: i64::MAX,
        });
        verdicts.push(Verdict::Rejected {
            index: 10,
            event_id: "bad".to_owned(),
            reason: Reason::SchemaViolation,
            violations: vec![violation()],
            dead_lettered: true,
        });
        // Which verdicts take the direct path: plain ids, no violations.
        let direct: Vec<bool> = verdicts
            .iter()
            .map(|verdict| verdict.write_placed(&mut Vec::new()))
            .collect();
        let mut expected = vec![true, true, false, false, false, true];
        expected.extend([false, false, true, false, false]);
        assert_eq!(direct, expected);
        let answers = [
            Answer::new(Vec::new()),
            Answer::new(verdicts[..1].to_vec()),
            Answer::new(verdicts[..6].to_vec()),
            Answer::new(verdicts.clone()),
            Answer::new(verdicts.clone()).with_quality(BTreeMap::from([(
                0,
                QualityBody {
                    score: 90,
                    components: None,
                    failed: Vec::new(),
                },
            )])),
        ];
        for answer in answers {
            let mut written = Vec::new();
            answer.write_json(&mut written).unwrap();
            let by_serde = serde_json::to_vec(&answer).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(by_serde).unwrap()
            );
        }
    }
}
