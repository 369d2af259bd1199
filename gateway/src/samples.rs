//! The catalog feed of the pipeline: after a request's verdicts are known, at most one
//! accepted event and, per reason code, the count and one example of its rejected events
//! are offered to the [`SampleSink`] the binary flushes into the catalog.
//!
//! Nothing is copied per event: while checking, the pipeline keeps (moves, never clones)
//! the parsed value of the request's first accepted event and of its first rejected event
//! per reason, and only for requests that go to a sink. The sink decides what to keep (one
//! sample per type and version per second), and is asked before the request is checked
//! whether it still wants an accepted sample this second: events are read into tapes, so
//! keeping one means building a `Value`, which for single-event requests at thousands per
//! second was a tenth of the gateway's CPU, for samples the sink then dropped.

use std::collections::BTreeMap;

use serde_json::Value;
use tributary_quality::SampleSink;

use crate::verdict::{Reason, Verdict};

/// An event's parsed value, kept from the check to the verdict for the catalog feed.
#[derive(Debug)]
pub(crate) struct Sampled {
    pub(crate) value: Value,
    pub(crate) schema_version: i32,
    pub(crate) received_at_ms: i64,
}

/// Whether a request's events may keep a value for the feed at all: accepted events only
/// when the sink still wants one for this second (most requests it does not, and building
/// the value would be wasted), rejected ones whenever there is a sink.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sampling {
    pub(crate) accepted: bool,
    pub(crate) rejected: bool,
}

impl Sampling {
    /// Nothing is kept (dry runs, no sink).
    pub(crate) const OFF: Sampling = Sampling {
        accepted: false,
        rejected: false,
    };

    /// What a request of `event_type` checked against `schema_version` and received at
    /// `received_at_ms` keeps for `sink`: nothing without a sink or in a dry run; an accepted
    /// event only while the sink still wants a sample of that version in that second.
    pub(crate) fn for_request(
        sink: Option<&SampleSink>,
        dry_run: bool,
        event_type: &str,
        schema_version: i32,
        received_at_ms: i64,
    ) -> Sampling {
        match sink {
            Some(sink) if !dry_run => Sampling {
                accepted: sink.wants_accepted(event_type, schema_version, received_at_ms),
                rejected: true,
            },
            _ => Sampling::OFF,
        }
    }
}

/// Which events of one request keep their value for the feed: the first accepted one and
/// the first rejected one per reason.
#[derive(Debug, Default)]
pub(crate) struct Keeper {
    on: Sampling,
    accepted: bool,
    /// Reasons already holding an example (a bit per reason).
    rejected: u32,
}

impl Keeper {
    /// Keeps only what `on` allows.
    pub(crate) fn new(on: Sampling) -> Keeper {
        Keeper {
            on,
            ..Keeper::default()
        }
    }

    /// Whether to keep the value of an accepted event (true once).
    pub(crate) fn accepted(&mut self) -> bool {
        let keep = self.on.accepted && !self.accepted;
        self.accepted |= keep;
        keep
    }

    /// Whether to keep the value of an event rejected for `reason` (true once per reason).
    pub(crate) fn rejected(&mut self, reason: Reason) -> bool {
        let bit = 1u32 << (reason as u32 % 32);
        let keep = self.on.rejected && self.rejected & bit == 0;
        self.rejected |= bit;
        keep
    }
}

/// One reason's verdicts in a request: how many, and the one that serves as the example.
struct Rejections<'v> {
    reason: Reason,
    count: u64,
    example: &'v Verdict,
}

/// Offers the verdicts of one request of `event_type` to `sink`: the first accepted event
/// with a kept value, and per reason the number of rejected events with one example.
pub(crate) fn offer(
    sink: &SampleSink,
    event_type: &str,
    producer: &str,
    verdicts: &[Verdict],
    kept: &BTreeMap<usize, Sampled>,
) {
    let mut accepted_offered = false;
    let mut rejections: Vec<Rejections<'_>> = Vec::new();
    for verdict in verdicts {
        match verdict {
            Verdict::Accepted { index, .. } if !accepted_offered => {
                if let Some(sampled) = kept.get(index) {
                    sink.offer_accepted(
                        event_type,
                        sampled.schema_version,
                        producer,
                        sampled.received_at_ms,
                        &sampled.value,
                    );
                    accepted_offered = true;
                }
            }
            Verdict::Rejected { index, reason, .. } => {
                match rejections.iter_mut().find(|r| r.reason == *reason) {
                    Some(seen) => {
                        seen.count += 1;
                        if !kept.contains_key(&seen.example.index()) && kept.contains_key(index) {
                            seen.example = verdict;
                        }
                    }
                    None => rejections.push(Rejections {
                        reason: *reason,
                        count: 1,
                        example: verdict,
                    }),
                }
            }
            _ => {}
        }
    }
    for rejected in rejections {
        let Verdict::Rejected { violations, .. } = rejected.example else {
            continue;
        };
        let sampled = kept.get(&rejected.example.index());
        let received_at_ms = sampled.map_or_else(crate::gateway::now_ms, |s| s.received_at_ms);
        sink.offer_dead_letters(
            event_type,
            rejected.reason.as_str(),
            received_at_ms,
            rejected.count,
            sampled.map(|s| &s.value),
            violations
                .iter()
                .map(|v| (v.pointer.as_str(), v.message.as_str())),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::verdict::ViolationBody;

    #[test]
    fn the_keeper_keeps_one_accepted_and_one_per_reason() {
        let mut off = Keeper::new(Sampling::OFF);
        assert!(!off.accepted() && !off.rejected(Reason::Malformed));
        let mut rejected_only = Keeper::new(Sampling {
            accepted: false,
            rejected: true,
        });
        assert!(!rejected_only.accepted());
        assert!(rejected_only.rejected(Reason::Malformed));
        let mut on = Keeper::new(Sampling {
            accepted: true,
            rejected: true,
        });
        assert!(on.accepted());
        assert!(!on.accepted());
        assert!(on.rejected(Reason::SchemaViolation));
        assert!(!on.rejected(Reason::SchemaViolation));
        assert!(on.rejected(Reason::TooLarge));
    }

    #[test]
    fn a_request_keeps_an_accepted_value_only_while_the_sink_wants_one() {
        let for_request = |sink: Option<&SampleSink>, dry_run: bool, ms: i64| {
            let s = Sampling::for_request(sink, dry_run, "t.a", 1, ms);
            (s.accepted, s.rejected)
        };
        assert_eq!(for_request(None, false, 1_000), (false, false));
        let sink = SampleSink::new();
        assert_eq!(for_request(Some(&sink), true, 1_000), (false, false));
        assert_eq!(for_request(Some(&sink), false, 1_000), (true, true));
        sink.offer_accepted("t.a", 1, "web", 1_000, &json!({"a": 1}));
        assert_eq!(for_request(Some(&sink), false, 1_500), (false, true));
        assert_eq!(for_request(Some(&sink), false, 2_000), (true, true));
    }

    fn rejected(index: usize, reason: Reason) -> Verdict {
        Verdict::Rejected {
            index,
            event_id: format!("e{index}"),
            reason,
            violations: vec![ViolationBody {
                pointer: String::from("/a"),
                message: format!("bad {index}"),
            }],
            dead_lettered: true,
        }
    }

    fn accepted(index: usize) -> Verdict {
        Verdict::Accepted {
            index,
            event_id: format!("e{index}"),
            partition: 0,
            offset: 0,
            warnings: Vec::new(),
            shadow_violations: Vec::new(),
        }
    }

    fn sampled(n: i64) -> Sampled {
        Sampled {
            value: json!({ "n": n }),
            schema_version: 2,
            received_at_ms: 1_000,
        }
    }

    #[test]
    fn verdicts_are_offered_once_per_request_and_reason() {
        let verdicts = [
            rejected(0, Reason::Malformed),
            accepted(1),
            rejected(2, Reason::SchemaViolation),
            accepted(3),
            rejected(4, Reason::Malformed),
            rejected(5, Reason::SchemaViolation),
        ];
        let kept = BTreeMap::from([(1, sampled(1)), (2, sampled(2)), (4, sampled(4))]);
        let sink = SampleSink::new();
        offer(&sink, "t.a", "web", &verdicts, &kept);
        // One version key, two reason keys.
        assert_eq!(sink.pending_keys(), 3);
    }
}
