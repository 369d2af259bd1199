//! The CPU-bound middle of the pipeline, run on the blocking pool: split the body, check each
//! event against its schema, and build the records (enrichment) for the topic and the
//! dead-letter topic.
//!
//! Enrichment: the value is Confluent's wire format — magic byte 0, the 4-byte schema id, then
//! the event's JSON as sent (JSON Schema subjects; re-encoded when the bytes are an envelope,
//! as for CloudEvents) or Avro binary (Avro subjects, so Confluent's Avro deserializers read
//! it). The key is the value at the type's partition-key
//! pointer (strings as they are, numbers and booleans as JSON text), else none. The timestamp
//! is the request's `Tributary-Event-Time`, else the receive time.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tributary_core::headers;
use tributary_eventlog::{Record, SharedHeaders};
use tributary_quality::FieldKind;
use tributary_registry::{
    CompiledSchema, JsonTape, JsonType, MemberCursor, SchemaType, confluent_prefix,
};
use uuid::{ContextV7, Timestamp, Uuid};

use crate::GatewayError;
use crate::decode::{self, Format, Parsed, RawEvent};
use crate::event_types::{Enforcement, EventTypeInfo};
use crate::quality::Scored;
use crate::samples::{Keeper, Sampled, Sampling};
use crate::schemas::ResolvedSchema;
use crate::verdict::{Reason, Verdict, ViolationBody};

pub use tributary_core::headers::{DLQ_EVENT_TYPE, DLQ_REASON, DLQ_VIOLATIONS};
/// On events accepted in `warn` mode: their violations, as in [`DLQ_VIOLATIONS`].
pub const WARNINGS: &str = "tributary.warnings";
/// The CloudEvents `source` of an event that came as a CloudEvent.
pub const SOURCE: &str = "tributary.source";

/// What the request says about all of its events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub(crate) producer: String,
    /// Whether the request proved who sent it (see `headers::PRODUCER_AUTHENTICATED`).
    pub(crate) authenticated: bool,
    /// `Tributary-Event-Id` (a UUID), or the original id of a republished event (any id a
    /// producer gave, CloudEvents ids included): only for a request holding exactly one event.
    pub(crate) event_id: Option<String>,
    /// `Tributary-Event-Time`, in ms since the epoch.
    pub(crate) event_time_ms: Option<i64>,
    pub(crate) pinned_version: Option<i32>,
    pub(crate) traceparent: Option<String>,
    /// `Idempotency-Key`: the request's events are deduplicated on it (with their index).
    pub(crate) idempotency_key: Option<String>,
    /// The replay job republishing the events: written as `tributary.replay_job` on every
    /// record (accepted and dead-lettered alike).
    pub(crate) replay_job: Option<String>,
}

/// One event to check, with what it says about itself (its CloudEvents attributes).
#[derive(Debug)]
pub(crate) struct Item<'b> {
    /// Position in the request.
    pub(crate) index: usize,
    pub(crate) raw: RawEvent<'b>,
    /// The producer's id for the event; deduplicated on.
    pub(crate) event_id: Option<String>,
    pub(crate) event_time_ms: Option<i64>,
    pub(crate) source: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) body: Bytes,
    pub(crate) format: Format,
    pub(crate) max_events: usize,
    pub(crate) max_event_bytes: usize,
    pub(crate) info: Arc<EventTypeInfo>,
    pub(crate) schema: ResolvedSchema,
    pub(crate) candidate: Option<ResolvedSchema>,
    pub(crate) meta: Meta,
    pub(crate) received_at_ms: i64,
    pub(crate) dry_run: bool,
    /// Scores each event (the quality hook); `None` when scoring is off.
    pub(crate) scorer: Option<Arc<tributary_quality::Scorer>>,
    /// Which values to keep for the catalog feed (see [`crate::samples`]).
    pub(crate) sampling: Sampling,
}

/// An event checked and ready to be written.
#[derive(Debug)]
pub(crate) enum Pending {
    Accept {
        index: usize,
        event_id: String,
        /// What the event is deduplicated on, if anything: `id:{event id}` for a
        /// producer-supplied id, else `key:{Idempotency-Key}/{index}`.
        dedup_id: Option<String>,
        record: Record,
        warnings: Vec<ViolationBody>,
        shadow_violations: Vec<ViolationBody>,
        quality: Option<Scored>,
        /// The parsed event, when kept for the catalog feed.
        sample: Option<Sampled>,
    },
    Reject {
        index: usize,
        event_id: String,
        /// As for `Accept`: a rejected retry of an event accepted earlier is a duplicate.
        dedup_id: Option<String>,
        reason: Reason,
        violations: Vec<ViolationBody>,
        /// The dead-letter record, unless the event is not dead-lettered (too large).
        dead_letter: Option<Record>,
        quality: Option<Scored>,
        /// The parsed event, when kept for the catalog feed.
        sample: Option<Sampled>,
    },
}

impl Pending {
    pub(crate) fn index(&self) -> usize {
        match self {
            Pending::Accept { index, .. } | Pending::Reject { index, .. } => *index,
        }
    }

    /// Takes the event's score out (to keep it past the write).
    pub(crate) fn take_quality(&mut self) -> Option<Scored> {
        match self {
            Pending::Accept { quality, .. } | Pending::Reject { quality, .. } => quality.take(),
        }
    }

    /// Takes the value kept for the catalog feed out.
    pub(crate) fn take_sample(&mut self) -> Option<Sampled> {
        match self {
            Pending::Accept { sample, .. } | Pending::Reject { sample, .. } => sample.take(),
        }
    }

    pub(crate) fn dedup_id(&self) -> Option<&str> {
        match self {
            Pending::Accept { dedup_id, .. } | Pending::Reject { dedup_id, .. } => {
                dedup_id.as_deref()
            }
        }
    }
}

pub(crate) fn prepare(input: &Input) -> Result<Vec<Pending>, GatewayError> {
    let events = match input.format {
        Format::Avro { framed } => decode::split_avro(
            &input.body,
            &input.schema.compiled,
            framed.then_some(input.schema.id),
            input.max_events,
            input.max_event_bytes,
        )?,
        format => decode::split(&input.body, format, input.max_events, input.max_event_bytes)?,
    };
    if input.meta.event_id.is_some() && events.len() > 1 {
        return Err(GatewayError::BadRequest(format!(
            "Tributary-Event-Id names one event, but the request holds {}",
            events.len()
        )));
    }
    let items = events
        .into_iter()
        .enumerate()
        .map(|(index, raw)| Item {
            index,
            raw,
            event_id: input.meta.event_id.clone(),
            event_time_ms: None,
            source: None,
        })
        .collect();
    Ok(prepare_items(input, items))
}

/// The headers every record of one request carries alike, built once and shared by all of
/// them (see `Record::shared_headers`): producer, whether it was authenticated, when it was
/// received, the schema version, the trace context and the replay job.
struct Shared {
    headers: SharedHeaders,
    /// The bytes of the request's records (framed payloads, event ids), written one after
    /// another into one buffer that each record's `Bytes` shares: an allocation per request
    /// instead of two per event.
    arena: RefCell<BytesMut>,
}

impl Shared {
    fn new(input: &Input, events: usize) -> Shared {
        let mut list: Vec<(Cow<'static, str>, Bytes)> = vec![
            (
                headers::PRODUCER.into(),
                Bytes::from(input.meta.producer.clone()),
            ),
            (
                headers::PRODUCER_AUTHENTICATED.into(),
                Bytes::from_static(if input.meta.authenticated {
                    b"true"
                } else {
                    b"false"
                }),
            ),
            (
                headers::RECEIVED_AT.into(),
                Bytes::from(input.received_at_ms.to_string()),
            ),
            (
                headers::SCHEMA_VERSION.into(),
                Bytes::from(input.schema.version.to_string()),
            ),
        ];
        if let Some(trace) = &input.meta.traceparent {
            list.push((headers::TRACEPARENT.into(), Bytes::from(trace.clone())));
        }
        if let Some(job) = &input.meta.replay_job {
            list.push((headers::REPLAY_JOB.into(), Bytes::from(job.clone())));
        }
        // Room for the events as sent, each framed (5 bytes) and with an event id (36).
        let room = if input.dry_run {
            0
        } else {
            input.body.len() + events * 41
        };
        Shared {
            headers: list.into(),
            arena: RefCell::new(BytesMut::with_capacity(room)),
        }
    }

    /// `parts`, one after another, as one `Bytes` cut from the arena.
    fn cut(&self, parts: &[&[u8]]) -> Bytes {
        let mut arena = self.arena.borrow_mut();
        for part in parts {
            arena.extend_from_slice(part);
        }
        arena.split().freeze()
    }

    /// `payload` in Confluent's wire format, cut from the arena.
    fn framed(&self, schema_id: u32, payload: &[u8]) -> Bytes {
        self.cut(&[&confluent_prefix(schema_id), payload])
    }

    /// The record with its own headers (the event id, the CloudEvents source) and the
    /// request's shared ones.
    fn enrich(&self, mut record: Record, item: &Item<'_>, event_id: &str) -> Record {
        // Room for these and the score at once.
        record.headers.reserve(3);
        record.headers.push((
            Cow::Borrowed(headers::EVENT_ID),
            self.cut(&[event_id.as_bytes()]),
        ));
        if let Some(source) = &item.source {
            record
                .headers
                .push((Cow::Borrowed(SOURCE), Bytes::from(source.clone())));
        }
        record.with_shared_headers(Arc::clone(&self.headers))
    }
}

/// The ids of a request's events that came without one: UUIDv7s from one reading of the
/// clock, ordered within the request by a counter (RFC 9562, method 1) that starts at a random
/// value. `Uuid::now_v7` reads the clock and takes a process-wide lock for every id, which
/// kept ids ordered across concurrent requests too; nothing relies on that order.
struct EventIds {
    context: ContextV7,
    seconds: u64,
    nanos: u32,
}

impl EventIds {
    fn new() -> EventIds {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        EventIds {
            context: ContextV7::new(),
            seconds: since_epoch.as_secs(),
            nanos: since_epoch.subsec_nanos(),
        }
    }

    fn next(&self) -> String {
        let id = Uuid::new_v7(Timestamp::from_unix(
            &self.context,
            self.seconds,
            self.nanos,
        ));
        // Encoded straight into a buffer: `to_string` goes through the formatter.
        let mut text = Uuid::encode_buffer();
        id.hyphenated().encode_lower(&mut text).to_owned()
    }
}

/// Checks events already split from the body (and builds their records).
pub(crate) fn prepare_items(input: &Input, items: Vec<Item<'_>>) -> Vec<Pending> {
    let shared = Shared::new(input, items.len());
    let ids = EventIds::new();
    let mut keeper = Keeper::new(input.sampling);
    let sampled = |value: Value| Sampled {
        value,
        schema_version: input.schema.version,
        received_at_ms: input.received_at_ms,
    };
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        let index = item.index;
        let dedup_id = match (&item.event_id, &input.meta.idempotency_key) {
            (Some(id), _) => Some(format!("id:{id}")),
            (None, Some(key)) => Some(format!("key:{key}/{index}")),
            (None, None) => None,
        };
        let event_id = item.event_id.clone().unwrap_or_else(|| ids.next());
        let size = item.raw.bytes.len();
        let parsed = match std::mem::replace(&mut item.raw.parsed, Ok(Parsed::Value(Value::Null))) {
            Ok(_) if size > input.max_event_bytes => Err((
                Reason::TooLarge,
                format!(
                    "the event is {size} bytes; at most {} are allowed",
                    input.max_event_bytes
                ),
            )),
            other => other,
        };
        let content = match parsed {
            Ok(Parsed::Value(value)) => Content::Value(value),
            Ok(Parsed::Tape(tape)) => Content::from_tape(tape),
            Err((reason, message)) => {
                let violations = vec![ViolationBody {
                    pointer: String::new(),
                    message,
                }];
                let quality = input.scorer.as_ref().map(|_| unreadable(input));
                out.push(reject(
                    input, &shared, &item, event_id, dedup_id, reason, violations, quality,
                ));
                continue;
            }
        };
        let verbatim = item.raw.verbatim.then_some(&item.raw.bytes[..]);
        let (payload, violations) = check(&input.schema, &content, verbatim);
        let quality = input.scorer.as_ref().map(|scorer| {
            let facts = tributary_quality::EventFacts {
                event_id: &event_id,
                schema_valid: violations.is_empty(),
                event_time_ms: item.event_time_ms.or(input.meta.event_time_ms),
                received_at_ms: input.received_at_ms,
            };
            let assessment = content
                .tape()
                .and_then(|tape| {
                    let cursors: [Cell<MemberCursor>; CURSOR_DEPTH] = Default::default();
                    scorer.assess_by_presence(&|keys| kind_at(tape, keys, &cursors), &facts)
                })
                .unwrap_or_else(|| scorer.assess(content.value(), &facts));
            Scored {
                score: assessment.score,
                assessment: Some(assessment),
                fields: Some(Arc::clone(scorer.tracked_fields())),
                schema_version: input.schema.version,
                received_at_ms: input.received_at_ms,
            }
        });
        let warn = input.info.enforcement == Enforcement::Warn;
        let payload = match payload {
            Some(payload) if violations.is_empty() || warn => payload,
            _ => {
                let mut rejected = reject(
                    input,
                    &shared,
                    &item,
                    event_id,
                    dedup_id,
                    Reason::SchemaViolation,
                    violations,
                    quality,
                );
                if keeper.rejected(Reason::SchemaViolation)
                    && let Pending::Reject { sample, .. } = &mut rejected
                {
                    *sample = Some(sampled(content.into_value()));
                }
                out.push(rejected);
                continue;
            }
        };
        let shadow_violations = match &input.candidate {
            // Only the verdict matters: validate without encoding a payload.
            Some(candidate) => violations_of(&candidate.compiled, &content),
            None => Vec::new(),
        };
        let record = if input.dry_run {
            Record::new(Bytes::new(), 0)
        } else {
            let record = accepted_record(
                input,
                &shared,
                &item,
                &content,
                &event_id,
                &payload,
                &violations,
            );
            with_score(record, quality.as_ref())
        };
        out.push(Pending::Accept {
            index,
            event_id,
            dedup_id,
            record,
            warnings: violations,
            shadow_violations,
            quality,
            sample: keeper.accepted().then(|| sampled(content.into_value())),
        });
    }
    out
}

/// The verdicts of a dry run.
pub(crate) fn dry_run_verdicts(pending: Vec<Pending>) -> Vec<Verdict> {
    pending
        .into_iter()
        .map(|item| match item {
            Pending::Accept {
                index,
                warnings,
                shadow_violations,
                ..
            } => Verdict::Valid {
                index,
                warnings,
                shadow_violations,
            },
            Pending::Reject {
                index,
                reason,
                violations,
                ..
            } => Verdict::Invalid {
                index,
                reason,
                violations,
            },
        })
        .collect()
}

/// An event's content: a `Value`, or a tape over its JSON text with a `Value` built only
/// if something asks for one (violations to report, rules that read values, a sample).
enum Content<'b> {
    Value(Value),
    Tape {
        tape: JsonTape<'b>,
        value: OnceCell<Value>,
    },
}

/// Objects wider than this are validated and scored as `Value`s (see
/// `JsonTape::widest_object`): events are rarely that wide, hostile ones can be far wider.
const WIDEST_TAPE_OBJECT: usize = 64;

impl<'b> Content<'b> {
    fn from_tape(tape: JsonTape<'b>) -> Content<'b> {
        if tape.widest_object() > WIDEST_TAPE_OBJECT {
            return Content::Value(tape.to_value());
        }
        Content::Tape {
            tape,
            value: OnceCell::new(),
        }
    }

    fn value(&self) -> &Value {
        match self {
            Content::Value(value) => value,
            Content::Tape { tape, value } => value.get_or_init(|| tape.to_value()),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Content::Value(value) => value,
            Content::Tape { tape, value } => value.into_inner().unwrap_or_else(|| tape.to_value()),
        }
    }

    fn tape(&self) -> Option<&JsonTape<'b>> {
        match self {
            Content::Value(_) => None,
            Content::Tape { tape, .. } => Some(tape),
        }
    }
}

/// Member lookups resume where the last one at the same depth ended, this many levels deep.
const CURSOR_DEPTH: usize = 4;

/// What is at `keys` in the event, for completeness scoring. The scorer asks for its fields
/// in one order for every event, and producers mostly write members in one order too, so
/// each depth keeps a cursor and most lookups find their member first try.
fn kind_at(
    tape: &JsonTape<'_>,
    keys: &mut dyn Iterator<Item = &str>,
    cursors: &[Cell<MemberCursor>; CURSOR_DEPTH],
) -> FieldKind {
    let mut node = tape.root();
    for (depth, key) in keys.enumerate() {
        let kept = cursors.get(depth);
        let mut cursor = kept.map_or_else(MemberCursor::default, Cell::get);
        let member = match node.kind() {
            JsonType::Object => node.member_from(key, &mut cursor),
            _ => None,
        };
        if let Some(kept) = kept {
            kept.set(cursor);
        }
        match member {
            Some(member) => node = member,
            None => return FieldKind::Missing,
        }
    }
    match node.kind() {
        JsonType::Null => FieldKind::Null,
        JsonType::Object => FieldKind::Object,
        _ => FieldKind::Other,
    }
}

/// The violations of the event against a schema. A tape the schema accepts needs no
/// `Value`; otherwise the `Value` validator names each violation.
fn violations_of(schema: &CompiledSchema, content: &Content<'_>) -> Vec<ViolationBody> {
    let valid = content.tape().and_then(|tape| schema.tape_is_valid(tape));
    if valid == Some(true) {
        return Vec::new();
    }
    schema
        .validate_json(content.value())
        .into_iter()
        .map(Into::into)
        .collect()
}

/// The encoded payload (when the event can be encoded) and the violations. A JSON Schema
/// subject's payload is the event's bytes as sent when they are exactly its JSON (`verbatim`;
/// duplicate member names were refused while parsing, so every reader sees what was
/// validated), else the parsed value re-encoded.
fn check<'b>(
    schema: &ResolvedSchema,
    content: &Content<'_>,
    verbatim: Option<&'b [u8]>,
) -> (Option<Cow<'b, [u8]>>, Vec<ViolationBody>) {
    match schema.compiled.schema_type() {
        SchemaType::Avro => match schema.compiled.encode_avro_from_json(content.value()) {
            Ok(payload) => (Some(Cow::Owned(payload)), Vec::new()),
            Err(violations) => (None, violations.into_iter().map(Into::into).collect()),
        },
        _ => {
            let violations = violations_of(&schema.compiled, content);
            let payload = match verbatim {
                Some(bytes) => Some(Cow::Borrowed(bytes)),
                None => serde_json::to_vec(content.value()).ok().map(Cow::Owned),
            };
            (payload, violations)
        }
    }
}

/// The score of an event that could not be read: 0, nothing else known.
fn unreadable(input: &Input) -> Scored {
    Scored {
        score: 0,
        assessment: None,
        fields: None,
        schema_version: input.schema.version,
        received_at_ms: input.received_at_ms,
    }
}

/// "0" to "100", made once: every record carries one.
static SCORE_TEXT: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| (0..=100).map(|n: u8| n.to_string()).collect());

/// The record with its `tributary.quality` header, when the event was scored.
fn with_score(record: Record, quality: Option<&Scored>) -> Record {
    let Some(scored) = quality else {
        return record;
    };
    let text: &'static [String] = &SCORE_TEXT;
    match text.get(usize::from(scored.score)) {
        Some(score) => record.with_header(headers::QUALITY, Bytes::from_static(score.as_bytes())),
        None => record.with_header(headers::QUALITY, Bytes::from(scored.score.to_string())),
    }
}

#[allow(clippy::too_many_arguments)] // one rejected event and all it is known by
fn reject(
    input: &Input,
    shared: &Shared,
    item: &Item<'_>,
    event_id: String,
    dedup_id: Option<String>,
    reason: Reason,
    violations: Vec<ViolationBody>,
    quality: Option<Scored>,
) -> Pending {
    let index = item.index;
    let dead_letter = (!input.dry_run && reason != Reason::TooLarge).then(|| {
        let record = Record::new(item.raw.bytes.clone(), input.received_at_ms)
            .with_header(DLQ_REASON, reason.as_str())
            .with_header(DLQ_EVENT_TYPE, input.info.name.as_str().to_owned())
            .with_header(DLQ_VIOLATIONS, violations_json(&violations));
        with_score(shared.enrich(record, item, &event_id), quality.as_ref())
    });
    Pending::Reject {
        index,
        event_id,
        dedup_id,
        reason,
        violations,
        dead_letter,
        quality,
        sample: None,
    }
}

fn accepted_record(
    input: &Input,
    shared: &Shared,
    item: &Item<'_>,
    content: &Content<'_>,
    event_id: &str,
    payload: &[u8],
    warnings: &[ViolationBody],
) -> Record {
    let timestamp = item
        .event_time_ms
        .or(input.meta.event_time_ms)
        .unwrap_or(input.received_at_ms);
    let mut record = shared.enrich(
        Record::new(shared.framed(input.schema.id, payload), timestamp),
        item,
        event_id,
    );
    if !warnings.is_empty() {
        record = record.with_header(WARNINGS, violations_json(warnings));
    }
    if let Some(key) = partition_key(input.info.partition_key.as_deref(), content) {
        record = record.with_key(key);
    }
    record
}

/// The record key: the value at `pointer`, strings as they are, numbers and booleans as JSON
/// text; nothing for a missing, null or structured value.
fn partition_key(pointer: Option<&str>, content: &Content<'_>) -> Option<Bytes> {
    let pointer = pointer?;
    let key_of = |value: &Value| match value {
        Value::String(s) => Some(Bytes::from(s.clone())),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(Bytes::from(v.to_string())),
        _ => None,
    };
    match content {
        Content::Tape { tape, .. } => key_of(&tape.root().pointer(pointer)?.scalar()?),
        Content::Value(value) => key_of(value.pointer(pointer)?),
    }
}

fn violations_json(violations: &[ViolationBody]) -> Vec<u8> {
    serde_json::to_vec(violations).unwrap_or_else(|_| b"[]".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_whatever_order_they_are_asked_in() {
        let text = r#"{"z":1,"ship":{"city":"Bonn","zip":null,"geo":{"lat":1,"lon":{"deep":{"er":[]}}}},"a":null,"items":[{"x":1}],"m":"s"}"#;
        let event: Value = serde_json::from_str(text).unwrap();
        let tape = JsonTape::parse(text).unwrap();
        let paths: [&[&str]; 14] = [
            &[],
            &["a"],
            &["m"],
            &["z"],
            &["ship"],
            &["ship", "zip"],
            &["ship", "city"],
            &["ship", "geo", "lon", "deep", "er"],
            &["ship", "geo", "lat"],
            &["ship", "missing"],
            &["items", "x"],
            &["m", "x"],
            &["missing"],
            &["ship", "geo", "lon", "deep"],
        ];
        // Every path, forwards, backwards and twice over, with one set of cursors.
        let cursors: [Cell<MemberCursor>; CURSOR_DEPTH] = Default::default();
        for path in paths.iter().chain(paths.iter().rev()).chain(paths.iter()) {
            assert_eq!(
                kind_at(&tape, &mut path.iter().copied(), &cursors),
                FieldKind::at(&event, &mut path.iter().copied()),
                "{path:?}"
            );
        }
    }

    #[test]
    fn records_cut_from_the_arena_keep_their_bytes() {
        // Too small on purpose: the arena grows past its first buffer.
        let shared = Shared {
            headers: Arc::from(Vec::new()),
            arena: RefCell::new(BytesMut::with_capacity(8)),
        };
        let payloads: Vec<Vec<u8>> = (0..50u8).map(|n| vec![n; usize::from(n) * 7]).collect();
        let cut: Vec<(Bytes, Bytes)> = payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let id = format!("id-{i}");
                (shared.framed(7, payload), shared.cut(&[id.as_bytes()]))
            })
            .collect();
        for (i, (payload, (framed, id))) in payloads.iter().zip(&cut).enumerate() {
            assert_eq!(
                &framed[..],
                &tributary_registry::confluent_frame(7, payload)[..]
            );
            assert_eq!(&id[..], format!("id-{i}").as_bytes());
        }
    }

    #[test]
    fn a_requests_ids_are_v7_ordered_and_distinct() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ids = EventIds::new();
        let first: Vec<Uuid> = (0..1000).map(|_| ids.next().parse().unwrap()).collect();
        assert!(first.iter().all(|id| id.get_version_num() == 7));
        assert!(first.windows(2).all(|pair| pair[0] < pair[1]));
        let (seconds, nanos) = first[0].get_timestamp().unwrap().to_unix();
        let millis = seconds * 1000 + u64::from(nanos) / 1_000_000;
        assert!(
            millis >= before && millis <= before + 60_000,
            "{millis} vs {before}"
        );
        // Another request in the same millisecond draws its own counter start.
        let other = EventIds::new();
        let second: Vec<Uuid> = (0..1000).map(|_| other.next().parse().unwrap()).collect();
        let all: std::collections::HashSet<&Uuid> = first.iter().chain(&second).collect();
        assert_eq!(all.len(), 2000);
    }

    #[test]
    fn wide_objects_are_read_as_values() {
        let members = |n: usize| {
            let inner: Vec<String> = (0..n).map(|i| format!("\"m{i}\":{i}")).collect();
            format!("{{\"nested\":{{{}}}}}", inner.join(","))
        };
        let narrow = members(WIDEST_TAPE_OBJECT);
        let content = Content::from_tape(JsonTape::parse(&narrow).unwrap());
        assert!(content.tape().is_some());
        let wide = members(WIDEST_TAPE_OBJECT + 1);
        let content = Content::from_tape(JsonTape::parse(&wide).unwrap());
        assert!(content.tape().is_none());
        assert_eq!(
            content.into_value(),
            serde_json::from_str::<Value>(&wide).unwrap()
        );
    }
}
