//! The in-memory side of catalog samples: what the gateway offers on the ingest path, kept
//! until the background task flushes it.
//!
//! An offer takes one mutex for a couple of map lookups. An accepted event is cloned only
//! when it is the first of its (event type, schema version) in the current second; a
//! dead-letter offer always adds to its reason's count and clones its example only when it
//! is the first of its (event type, reason) in the current second. Nothing is serialized
//! here. At most [`MAX_PENDING_KEYS`] keys are held: offers for a new key past that are
//! dropped and counted ([`SampleSink::dropped`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::{SAMPLES_PER_VERSION, ViolationExample};
use crate::metrics;

/// Most (event type, schema version) and (event type, reason) keys held between flushes.
pub const MAX_PENDING_KEYS: usize = 10_000;
/// Most violations kept with a dead-letter example.
pub const MAX_EXAMPLE_VIOLATIONS: usize = 20;

/// Where the gateway offers sample events and dead letters. Cheap to clone; every clone
/// feeds the same pending state.
#[derive(Debug, Clone, Default)]
pub struct SampleSink {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    types: HashMap<String, TypePending>,
    /// Version and reason entries in `types`.
    keys: usize,
}

#[derive(Debug, Default)]
struct TypePending {
    versions: HashMap<i32, VersionPending>,
    reasons: HashMap<String, ReasonPending>,
}

#[derive(Debug, Default)]
struct VersionPending {
    /// The second (of `received_at_ms`) a sample was last kept in.
    kept_second: Option<i64>,
    /// Oldest first, at most [`SAMPLES_PER_VERSION`].
    samples: VecDeque<PendingSample>,
}

/// An accepted event waiting to be stored (not yet redacted).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingSample {
    pub(crate) producer: String,
    pub(crate) received_at_ms: i64,
    pub(crate) event: Value,
}

#[derive(Debug, Default)]
struct ReasonPending {
    /// The second an example was last kept in.
    example_second: Option<i64>,
    counts: ReasonCounts,
}

/// What a flush adds for one (event type, reason).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReasonCounts {
    pub(crate) count: i64,
    pub(crate) last_seen_ms: i64,
    /// The latest example kept since the last flush; `None`: none (the stored one stays).
    pub(crate) example: Option<Example>,
}

/// A dead letter's example (not yet redacted).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Example {
    /// `None` when the event could not be read as JSON.
    pub(crate) event: Option<Value>,
    pub(crate) violations: Vec<ViolationExample>,
}

/// What one event type has to flush.
#[derive(Debug, Default)]
pub(crate) struct TypeBatch {
    /// (schema version, sample), oldest first per version.
    pub(crate) samples: Vec<(i32, PendingSample)>,
    pub(crate) reasons: Vec<(String, ReasonCounts)>,
}

impl State {
    /// The pending samples of a version, made if new; `None` when the sink is full.
    fn version(&mut self, event_type: &str, schema_version: i32) -> Option<&mut VersionPending> {
        let known = self
            .types
            .get(event_type)
            .is_some_and(|t| t.versions.contains_key(&schema_version));
        if !known {
            if self.keys >= MAX_PENDING_KEYS {
                return None;
            }
            self.keys += 1;
            self.of_type(event_type)
                .versions
                .insert(schema_version, VersionPending::default());
        }
        self.types
            .get_mut(event_type)?
            .versions
            .get_mut(&schema_version)
    }

    /// The pending counts of a reason, made if new; `None` when the sink is full.
    fn reason(&mut self, event_type: &str, reason: &str) -> Option<&mut ReasonPending> {
        let known = self
            .types
            .get(event_type)
            .is_some_and(|t| t.reasons.contains_key(reason));
        if !known {
            if self.keys >= MAX_PENDING_KEYS {
                return None;
            }
            self.keys += 1;
            self.of_type(event_type)
                .reasons
                .insert(reason.to_owned(), ReasonPending::default());
        }
        self.types.get_mut(event_type)?.reasons.get_mut(reason)
    }

    /// Whether no accepted sample of this version was kept in the second of `received_at_ms`.
    fn wants_accepted(&self, event_type: &str, schema_version: i32, received_at_ms: i64) -> bool {
        let second = second_of(received_at_ms);
        self.types
            .get(event_type)
            .and_then(|t| t.versions.get(&schema_version))
            .is_none_or(|v| v.kept_second != Some(second))
    }

    /// Only called for a new key, so the name's copy is no extra allocation per offer.
    fn of_type(&mut self, event_type: &str) -> &mut TypePending {
        self.types.entry(event_type.to_owned()).or_default()
    }
}

fn second_of(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

impl SampleSink {
    pub fn new() -> SampleSink {
        SampleSink::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn drop_one(&self) {
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        metrics::sample_dropped();
    }

    /// Whether an accepted event of `event_type` at `schema_version`, received at
    /// `received_at_ms`, would be kept: no sample of that version was kept in its second yet.
    /// Callers ask first so that they build the event's value only when it is wanted.
    pub fn wants_accepted(
        &self,
        event_type: &str,
        schema_version: i32,
        received_at_ms: i64,
    ) -> bool {
        self.state()
            .wants_accepted(event_type, schema_version, received_at_ms)
    }

    /// Offers an accepted (or warned) event. It is kept only when it is the first of its
    /// (event type, schema version) in its second; others are dropped before any copy.
    pub fn offer_accepted(
        &self,
        event_type: &str,
        schema_version: i32,
        producer: &str,
        received_at_ms: i64,
        event: &Value,
    ) {
        let mut state = self.state();
        if !state.wants_accepted(event_type, schema_version, received_at_ms) {
            return;
        }
        let second = second_of(received_at_ms);
        let Some(version) = state.version(event_type, schema_version) else {
            return self.drop_one();
        };
        version.kept_second = Some(second);
        if version.samples.len() == SAMPLES_PER_VERSION {
            version.samples.pop_front();
        }
        version.samples.push_back(PendingSample {
            producer: producer.to_owned(),
            received_at_ms,
            event: event.clone(),
        });
    }

    /// Offers one rejected event: its reason code, the event when it could be read as JSON,
    /// and its violations as (pointer, message).
    pub fn offer_dead_letter(
        &self,
        event_type: &str,
        reason: &str,
        received_at_ms: i64,
        event: Option<&Value>,
        violations: &[(String, String)],
    ) {
        self.offer_dead_letters(
            event_type,
            reason,
            received_at_ms,
            1,
            event,
            violations.iter().map(|(p, m)| (p.as_str(), m.as_str())),
        );
    }

    /// Offers `count` rejected events of one reason at once, with one of them as the
    /// example: the gateway calls this once per reason per request. `violations` is only
    /// walked (and copied, at most [`MAX_EXAMPLE_VIOLATIONS`]) when the example is kept.
    pub fn offer_dead_letters<'v>(
        &self,
        event_type: &str,
        reason: &str,
        received_at_ms: i64,
        count: u64,
        event: Option<&Value>,
        violations: impl IntoIterator<Item = (&'v str, &'v str)>,
    ) {
        if count == 0 {
            return;
        }
        let second = second_of(received_at_ms);
        let mut state = self.state();
        let Some(pending) = state.reason(event_type, reason) else {
            return self.drop_one();
        };
        let counts = &mut pending.counts;
        counts.count = counts
            .count
            .saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
        counts.last_seen_ms = counts.last_seen_ms.max(received_at_ms);
        if pending.example_second == Some(second) {
            return;
        }
        pending.example_second = Some(second);
        counts.example = Some(Example {
            event: event.cloned(),
            violations: violations
                .into_iter()
                .take(MAX_EXAMPLE_VIOLATIONS)
                .map(|(pointer, message)| ViolationExample {
                    pointer: pointer.to_owned(),
                    message: message.to_owned(),
                })
                .collect(),
        });
    }

    /// Offers refused because the sink was full, since it was made.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Keys held now.
    pub fn pending_keys(&self) -> usize {
        self.state().keys
    }

    /// Takes everything there is to flush. Rate state younger than `now_ms`'s second stays,
    /// so a flush does not let a second sample of the same second in.
    pub(crate) fn take(&self, now_ms: i64) -> Vec<(String, TypeBatch)> {
        let now_second = second_of(now_ms);
        let fresh = |second: Option<i64>| second.is_some_and(|s| s >= now_second);
        let mut state = self.state();
        let mut out = Vec::new();
        let mut removed = 0;
        state.types.retain(|name, pending| {
            let mut batch = TypeBatch::default();
            pending.versions.retain(|version, v| {
                batch
                    .samples
                    .extend(v.samples.drain(..).map(|sample| (*version, sample)));
                let keep = fresh(v.kept_second);
                removed += usize::from(!keep);
                keep
            });
            pending.reasons.retain(|reason, r| {
                if r.counts.count > 0 {
                    batch
                        .reasons
                        .push((reason.clone(), std::mem::take(&mut r.counts)));
                }
                let keep = fresh(r.example_second);
                removed += usize::from(!keep);
                keep
            });
            if !batch.samples.is_empty() || !batch.reasons.is_empty() {
                out.push((name.clone(), batch));
            }
            !pending.versions.is_empty() || !pending.reasons.is_empty()
        });
        state.keys -= removed;
        out
    }

    /// Puts back the dead-letter counts of a flush that failed, so they are added by the
    /// next one (samples are not put back: newer ones will come).
    pub(crate) fn put_back(&self, event_type: &str, reasons: Vec<(String, ReasonCounts)>) {
        let mut state = self.state();
        for (reason, counts) in reasons {
            let Some(pending) = state.reason(event_type, &reason) else {
                self.drop_one();
                continue;
            };
            let held = &mut pending.counts;
            held.count = held.count.saturating_add(counts.count);
            held.last_seen_ms = held.last_seen_ms.max(counts.last_seen_ms);
            if held.example.is_none() {
                held.example = counts.example;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sizes(batches: &[(String, TypeBatch)]) -> Vec<(String, usize, usize)> {
        batches
            .iter()
            .map(|(name, b)| (name.clone(), b.samples.len(), b.reasons.len()))
            .collect()
    }

    #[test]
    fn one_accepted_sample_per_type_and_version_per_second() {
        let sink = SampleSink::new();
        let event = json!({"a": 1});
        assert!(sink.wants_accepted("t.a", 1, 1_000));
        for ms in [1_000, 1_100, 1_999] {
            sink.offer_accepted("t.a", 1, "web", ms, &event);
        }
        // Asked before building a value: not again in the same second, yes for another
        // version or the next second.
        assert!(!sink.wants_accepted("t.a", 1, 1_500));
        assert!(sink.wants_accepted("t.a", 2, 1_500));
        assert!(sink.wants_accepted("t.a", 1, 2_000));
        sink.offer_accepted("t.a", 2, "web", 1_500, &event);
        sink.offer_accepted("t.a", 1, "web", 2_000, &json!({"a": 2}));
        let batches = sink.take(2_500);
        assert_eq!(sizes(&batches), [("t.a".to_owned(), 3, 0)]);
        let v1: Vec<i64> = batches[0]
            .1
            .samples
            .iter()
            .filter(|(v, _)| *v == 1)
            .map(|(_, s)| s.received_at_ms)
            .collect();
        assert_eq!(v1, [1_000, 2_000]);
        // The second of the last sample is still going: a flush does not reopen it.
        sink.offer_accepted("t.a", 1, "web", 2_600, &event);
        assert!(sink.take(2_700).is_empty());
        sink.offer_accepted("t.a", 1, "web", 3_000, &event);
        assert_eq!(sizes(&sink.take(3_100)), [("t.a".to_owned(), 1, 0)]);
        // Past its second, an idle key is forgotten.
        assert_eq!(sink.take(5_000).len(), 0);
        assert_eq!(sink.pending_keys(), 0);
    }

    #[test]
    fn only_the_newest_samples_are_held() {
        let sink = SampleSink::new();
        for second in 0..8 {
            sink.offer_accepted("t.a", 1, "web", second * 1000, &json!({ "n": second }));
        }
        let batches = sink.take(9_000);
        let held: Vec<i64> = batches[0]
            .1
            .samples
            .iter()
            .map(|(_, s)| s.received_at_ms / 1000)
            .collect();
        assert_eq!(held, [3, 4, 5, 6, 7]);
    }

    #[test]
    fn dead_letters_are_counted_with_the_latest_example_per_second() {
        let sink = SampleSink::new();
        let violations = [("/a".to_owned(), "missing".to_owned())];
        sink.offer_dead_letter(
            "t.a",
            "schema_violation",
            1_000,
            Some(&json!({"n": 1})),
            &violations,
        );
        sink.offer_dead_letter(
            "t.a",
            "schema_violation",
            1_200,
            Some(&json!({"n": 2})),
            &violations,
        );
        sink.offer_dead_letters(
            "t.a",
            "schema_violation",
            2_100,
            3,
            Some(&json!({"n": 3})),
            [("/b", "bad")],
        );
        sink.offer_dead_letter("t.a", "malformed", 1_300, None, &[]);
        sink.offer_dead_letters("t.a", "too_large", 1_300, 0, None, []);
        let mut batches = sink.take(2_200);
        let (_, batch) = batches.pop().unwrap();
        let mut reasons = batch.reasons;
        reasons.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(reasons.len(), 2);
        let (name, malformed) = &reasons[0];
        assert_eq!((name.as_str(), malformed.count), ("malformed", 1));
        assert_eq!(malformed.example.as_ref().unwrap().event, None);
        let (_, schema) = &reasons[1];
        assert_eq!((schema.count, schema.last_seen_ms), (5, 2_100));
        let example = schema.example.as_ref().unwrap();
        assert_eq!(example.event, Some(json!({"n": 3})));
        assert_eq!(example.violations[0].pointer, "/b");

        // A failed flush puts the counts back; the next adds them.
        sink.offer_dead_letter("t.a", "malformed", 2_150, None, &[]);
        sink.put_back("t.a", reasons);
        let batches = sink.take(9_000);
        let mut reasons = batches[0].1.reasons.clone();
        reasons.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(reasons[0].1.count, 2);
        assert_eq!(reasons[1].1.count, 5);
        // A new example is kept over the put-back one; where none came, it fills in.
        assert_eq!(reasons[0].1.last_seen_ms, 2_150);
        assert!(reasons[1].1.example.is_some());

        // Within the second of the last example, only the count grows.
        sink.offer_dead_letter("t.a", "malformed", 9_100, None, &[]);
        sink.take(9_200);
        sink.offer_dead_letter("t.a", "malformed", 9_300, Some(&json!({})), &[]);
        let batches = sink.take(9_400);
        assert_eq!(batches[0].1.reasons[0].1.count, 1);
        assert!(batches[0].1.reasons[0].1.example.is_none());
    }

    #[test]
    fn a_full_sink_drops_and_counts() {
        let sink = SampleSink::new();
        let event = json!({});
        for i in 0..MAX_PENDING_KEYS {
            sink.offer_accepted("t.a", i32::try_from(i).unwrap(), "web", 0, &event);
        }
        assert_eq!(sink.pending_keys(), MAX_PENDING_KEYS);
        sink.offer_accepted("t.b", 1, "web", 0, &event);
        sink.offer_dead_letter("t.b", "malformed", 0, None, &[]);
        assert_eq!(sink.dropped(), 2);
        // Known keys still take offers.
        sink.offer_accepted("t.a", 0, "web", 5_000, &event);
        assert_eq!(sink.dropped(), 2);
        sink.take(100_000);
        assert_eq!(sink.pending_keys(), 0);
    }
}
