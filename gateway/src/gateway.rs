//! The [`Gateway`] service: resolve → read → decode → check → enrich → append, with the
//! back-pressure around it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tributary_core::EventTypeName;
use tributary_eventlog::{AppendResult, EventLog, LogError, Record, Retention, TopicSpec};
use tributary_quality::SampleSink;
use tributary_registry::{Registry, SchemaType};
use uuid::Uuid;

use crate::GatewayError;
use crate::cloudevents;
use crate::decode::{self, Encoding, Format};
use crate::event_types::{CachedEventTypes, Enforcement, EventTypeInfo, EventTypes};
use crate::idempotency::{Dedup, Key, Original, Slot};
use crate::limits::GatewayLimits;
use crate::metrics::{self, Outcomes, StageName};
use crate::prepare::{self, Item, Meta, Pending};
use crate::quality::{QualityHook, Scored};
use crate::rate_limit::RateLimiter;
use crate::samples::{self, Sampled, Sampling};
use crate::schemas::{Pin, ResolvedSchema, Schemas};
use crate::verdict::{Answer, Reason, Verdict, Written};

/// How the gateway is set up. [`GatewayOptions::default`] holds the binary's defaults.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub limits: GatewayLimits,
    /// The one dead-letter topic: `tributary.dlq`.
    pub dlq_topic: String,
    /// Partitions of the dead-letter topic when the gateway creates it: 3.
    pub dlq_partitions: u32,
    /// Retention of the dead-letter topic when the gateway creates it: no limit.
    pub dlq_retention: Retention,
    /// Scores every event and counts verdicts in the quality history; `None`: no scoring.
    pub quality: Option<QualityHook>,
    /// Offers samples of accepted events and dead-letter reasons to the catalog; `None`: no
    /// samples.
    pub samples: Option<SampleSink>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            limits: GatewayLimits::default(),
            dlq_topic: String::from("tributary.dlq"),
            dlq_partitions: 3,
            dlq_retention: Retention::default(),
            quality: None,
            samples: None,
        }
    }
}

/// One publish or validate request, as the HTTP layer hands it over.
#[derive(Debug)]
pub(crate) struct Submission {
    /// From the path; `None` on `POST /v1/events` (CloudEvents carry their own types).
    pub(crate) event_type: Option<String>,
    pub(crate) format: Format,
    /// How the request carries CloudEvents, if it does.
    pub(crate) cloudevents: Option<cloudevents::Mode>,
    pub(crate) encoding: Encoding,
    pub(crate) content_length: Option<u64>,
    pub(crate) meta: Meta,
    /// Validate only; write nothing.
    pub(crate) dry_run: bool,
    /// Show each event's quality in the answer (`?quality=true`).
    pub(crate) include_quality: bool,
    /// What an authenticated producer key may publish; `None`: no restriction (auth off, or
    /// an admin or team principal). Checked per event for CloudEvents, whose types travel in
    /// the events.
    pub(crate) grants: Option<tributary_core::PublishGrants>,
    /// Charge the events to the producer's rate limit. Off for republished events: the
    /// replay job sending them has a rate of its own (see [`Gateway::republish`]).
    pub(crate) charge_rate: bool,
}

/// The publishing pipeline. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Gateway {
    log: Arc<dyn EventLog>,
    schemas: Schemas,
    event_types: CachedEventTypes,
    limits: GatewayLimits,
    dlq_topic: String,
    in_flight: Arc<Semaphore>,
    dedup: Arc<Dedup>,
    rate: RateLimiter,
    producer_labels: metrics::ProducerLabels,
    quality: Option<QualityHook>,
    samples: Option<SampleSink>,
}

mod cloudevent_ingest;
mod republish;

pub use republish::Republish;

impl Gateway {
    /// A gateway writing to `log`, creating the dead-letter topic if it is missing.
    pub async fn start(
        log: Arc<dyn EventLog>,
        registry: Registry,
        event_types: Arc<dyn EventTypes>,
        options: GatewayOptions,
    ) -> Result<Gateway, GatewayError> {
        let spec = TopicSpec::new(&options.dlq_topic, options.dlq_partitions)
            .with_retention(options.dlq_retention);
        match log.create_topic(&spec).await {
            Ok(()) | Err(LogError::TopicExists(_)) => {}
            Err(error) => return Err(GatewayError::from_log(error, Vec::new())),
        }
        let limits = options.limits;
        Ok(Gateway {
            log,
            schemas: Schemas::new(registry, limits.metadata_ttl),
            event_types: CachedEventTypes::new(event_types, limits.metadata_ttl),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight_bytes)),
            dedup: Arc::new(Dedup::new(
                limits.idempotency_window,
                limits.idempotency_max_entries,
            )),
            rate: RateLimiter::new(limits.producer_rate),
            producer_labels: metrics::ProducerLabels::default(),
            limits,
            dlq_topic: options.dlq_topic,
            quality: options.quality,
            samples: options.samples,
        })
    }

    pub fn limits(&self) -> &GatewayLimits {
        &self.limits
    }

    pub fn dlq_topic(&self) -> &str {
        &self.dlq_topic
    }

    /// Runs one request through the pipeline within the request timeout. Returns the
    /// resolved event type (for metrics labels) with the answer.
    pub(crate) async fn ingest(
        &self,
        submission: Submission,
        body: Body,
    ) -> (Option<EventTypeName>, Result<Answer, GatewayError>) {
        let _in_flight = metrics::InFlightRequest::enter();
        let mut resolved = None;
        let work = self.ingest_within(submission, body, &mut resolved);
        let answer = match tokio::time::timeout(self.limits.request_timeout, work).await {
            Ok(answer) => answer,
            Err(_) => Err(GatewayError::Timeout(self.limits.request_timeout)),
        };
        (resolved, answer)
    }

    async fn ingest_within(
        &self,
        submission: Submission,
        body: Body,
        resolved: &mut Option<EventTypeName>,
    ) -> Result<Answer, GatewayError> {
        let path_type = match &submission.event_type {
            None => None,
            Some(raw) => Some(
                EventTypeName::parse(raw)
                    .map_err(|_| GatewayError::UnknownEventType(raw.clone()))?,
            ),
        };
        let max_body = self.limits.max_body_bytes;
        if let Some(declared) = submission.content_length
            && declared > max_body as u64
        {
            return Err(body_too_large(max_body));
        }
        // Reserve before reading, so the bytes are counted while they are in memory.
        let declared = submission
            .content_length
            .map_or(max_body, |n| usize::try_from(n).unwrap_or(max_body));
        let _body_permit = self.reserve(declared)?;

        let mut resolving = metrics::Stage::start(StageName::Resolve);
        let info = match &path_type {
            Some(name) => Some(
                self.event_types
                    .resolve(name)
                    .await?
                    .ok_or_else(|| GatewayError::UnknownEventType(name.as_str().to_owned()))?,
            ),
            None => None,
        };
        if let Some(mode) = submission.cloudevents.clone() {
            return self
                .ingest_cloudevents(submission, mode, path_type, body, resolved)
                .await;
        }
        let Some(info) = info else {
            return Err(GatewayError::UnsupportedMediaType(
                "POST /v1/events takes CloudEvents (application/cloudevents+json, \
                 application/cloudevents-batch+json or binary mode); for other events name \
                 the event type: POST /v1/events/{type}"
                    .into(),
            ));
        };
        *resolved = Some(info.name.clone());
        // The schema is resolved after the body is read (an Avro frame names it): one
        // `resolve` sample for both parts.
        resolving.pause();
        let reading = metrics::Stage::start(StageName::Read);
        let (decompressed, _decompressed_permit) =
            self.read_decompressed(body, submission.encoding).await?;
        reading.done();
        resolving.resume();
        let schema = match submission.format {
            // The body names its schema: the version of the type's subject holding that id.
            Format::Avro { framed: true } => {
                let id = decode::first_frame_id(&decompressed)?;
                let schema = self
                    .schemas
                    .resolve_pin(&info.subject, Pin::SchemaId(id))
                    .await?;
                if let Some(pinned) = submission.meta.pinned_version
                    && pinned != schema.version
                {
                    return Err(GatewayError::BadRequest(format!(
                        "the body is framed with schema id {id} (version {}), but the request pins version {pinned}",
                        schema.version
                    )));
                }
                schema
            }
            _ => {
                self.schema_in_force(&info, submission.meta.pinned_version)
                    .await?
            }
        };
        if matches!(submission.format, Format::Avro { .. })
            && schema.compiled.schema_type() != SchemaType::Avro
        {
            return Err(GatewayError::UnsupportedMediaType(format!(
                "event type {} has a {} schema; avro bodies need an avro schema — send json",
                info.name.as_str(),
                schema.compiled.schema_type()
            )));
        }
        let candidate = self.candidate(&info).await;
        let scorer = self.scorer(&info.name, schema.id).await;
        resolving.done();

        let received_at_ms = now_ms();
        let sampling = self.sampling(
            submission.dry_run,
            &info.name,
            schema.version,
            received_at_ms,
        );
        let input = prepare::Input {
            body: decompressed,
            format: submission.format,
            max_events: self.limits.max_events_per_request,
            max_event_bytes: info.max_event_bytes.unwrap_or(self.limits.max_event_bytes),
            info: Arc::clone(&info),
            schema,
            candidate,
            meta: submission.meta,
            received_at_ms,
            dry_run: submission.dry_run,
            scorer,
            sampling,
        };
        let producer = input.meta.producer.clone();
        let checking = metrics::Stage::start(StageName::Check);
        let pending = if input.body.len() <= INLINE_BODY_BYTES {
            prepare::prepare(&input)?
        } else {
            blocking(move || prepare::prepare(&input)).await?
        };
        checking.done();
        if submission.dry_run {
            let (pending, scored) = take_scores(pending);
            let answer = Answer::new(prepare::dry_run_verdicts(pending));
            return Ok(show_quality(answer, submission.include_quality, &scored));
        }
        if submission.charge_rate {
            self.take_rate(&producer, pending.len())?;
        }
        let (verdicts, scored) = self.write(&info, &producer, pending).await?;
        Ok(show_quality(
            Answer::new(verdicts),
            submission.include_quality,
            &scored,
        ))
    }

    /// The scorer of `event_type` for events checked with `schema`, when scoring is on.
    async fn scorer(
        &self,
        event_type: &EventTypeName,
        schema: tributary_registry::SchemaId,
    ) -> Option<Arc<tributary_quality::Scorer>> {
        match &self.quality {
            Some(hook) => Some(hook.scorer(event_type, schema).await),
            None => None,
        }
    }

    /// Which of a request's events keep a value for the catalog feed.
    fn sampling(
        &self,
        dry_run: bool,
        event_type: &EventTypeName,
        schema_version: i32,
        received_at_ms: i64,
    ) -> Sampling {
        Sampling::for_request(
            self.samples.as_ref(),
            dry_run,
            event_type.as_str(),
            schema_version,
            received_at_ms,
        )
    }

    /// Charges `events` to `producer`'s rate limit, before anything of the request is written.
    fn take_rate(&self, producer: &str, events: usize) -> Result<(), GatewayError> {
        self.rate
            .take(producer, events, std::time::Instant::now())
            .map_err(|retry_after_secs| GatewayError::RateLimited {
                producer: producer.to_owned(),
                retry_after_secs,
            })
    }

    /// The schema events of `info` are held to: the pinned version, else the latest — except
    /// that a shadow candidate is not in force yet (see [`Enforcement::Shadow`]).
    async fn schema_in_force(
        &self,
        info: &EventTypeInfo,
        pinned: Option<i32>,
    ) -> Result<ResolvedSchema, GatewayError> {
        let pin = match (pinned, info.enforcement) {
            (Some(version), _) => Pin::Version(version),
            (
                None,
                Enforcement::Shadow {
                    candidate_version: Some(candidate),
                },
            ) => Pin::InForceBefore(candidate),
            (None, _) => Pin::Latest,
        };
        self.schemas.resolve_pin(&info.subject, pin).await
    }

    /// The shadow candidate of `info`, if it has one and it resolves.
    async fn candidate(&self, info: &EventTypeInfo) -> Option<ResolvedSchema> {
        let Enforcement::Shadow {
            candidate_version: Some(candidate_version),
        } = info.enforcement
        else {
            return None;
        };
        match self
            .schemas
            .resolve(&info.subject, Some(candidate_version))
            .await
        {
            Ok(candidate) => Some(candidate),
            Err(error) => {
                tracing::warn!(event_type = %info.name.as_str(), %error, "shadow candidate unavailable; skipping shadow checks");
                None
            }
        }
    }

    /// Reads and decompresses the body; the permit counts decompressed bytes in flight.
    async fn read_decompressed(
        &self,
        body: Body,
        encoding: Encoding,
    ) -> Result<(Bytes, Option<InFlight>), GatewayError> {
        let raw = read_body(body, self.limits.max_body_bytes).await?;
        let cap = self.limits.max_decompressed_bytes;
        // Only decompressing is worth the blocking pool: a hop there and back costs two thread
        // wake-ups, as much CPU as the rest of a small request.
        let decompressed = match encoding {
            Encoding::Identity => raw,
            _ => blocking(move || decode::decompress(raw, encoding, cap)).await?,
        };
        let permit = match encoding {
            Encoding::Identity => None,
            _ => Some(self.reserve(decompressed.len())?),
        };
        Ok((decompressed, permit))
    }

    /// Appends accepted events to the type's topic and rejected ones to the dead-letter
    /// topic, concurrently, and turns the log's answers into verdicts (in index order).
    /// Events accepted earlier under the same producer-supplied id are answered `duplicate`
    /// and not written again (see [`crate::idempotency`]).
    async fn write(
        &self,
        info: &EventTypeInfo,
        producer: &str,
        pending: Vec<Pending>,
    ) -> Result<(Vec<Verdict>, Vec<(usize, Scored)>), GatewayError> {
        let (mut pending, scored) = take_scores(pending);
        let kept = take_samples(&mut pending);
        let keys: Vec<Option<Key>> = pending
            .iter()
            .map(|item| {
                item.dedup_id().map(|id| Key {
                    event_type: info.name.as_str().to_owned(),
                    producer: producer.to_owned(),
                    id: id.to_owned(),
                })
            })
            .collect();
        let claimable: Vec<bool> = pending
            .iter()
            .map(|item| matches!(item, Pending::Accept { .. }))
            .collect();
        let indices: Vec<usize> = pending.iter().map(Pending::index).collect();
        let (slots, mut claims) = self.dedup.claim(&keys, &claimable).await;

        let mut outcomes = Outcomes::default();
        // By position in `pending`, which is in index order.
        let mut verdicts: Vec<Option<Verdict>> = vec![None; pending.len()];
        let mut main = Vec::with_capacity(pending.len());
        let mut main_records = Vec::with_capacity(pending.len());
        let mut dead = Vec::new();
        let mut dead_records = Vec::new();
        // Events repeating an earlier event of this request: (position, position of the first).
        let mut repeats = Vec::new();
        for (position, ((item, slot), key)) in pending.into_iter().zip(slots).zip(keys).enumerate()
        {
            let index = item.index();
            match slot {
                // Accepted earlier: answered as such, not written again — also when the retry
                // no longer passes (say, the latest schema changed): same id, same event.
                Slot::Duplicate(original) => {
                    outcomes.duplicates += 1;
                    verdicts[position] = Some(duplicate(index, &original));
                    continue;
                }
                Slot::SameAs(first) => {
                    repeats.push((position, first));
                    continue;
                }
                Slot::Free | Slot::Claimed => {}
            }
            match item {
                Pending::Accept {
                    index,
                    event_id,
                    record,
                    warnings,
                    shadow_violations,
                    ..
                } => {
                    if !shadow_violations.is_empty() {
                        outcomes.shadow_violations += 1;
                    }
                    main.push((position, index, event_id, key, warnings, shadow_violations));
                    main_records.push(record);
                }
                Pending::Reject {
                    index,
                    event_id,
                    reason,
                    violations,
                    dead_letter,
                    ..
                } => {
                    let verdict = Verdict::Rejected {
                        index,
                        event_id,
                        reason,
                        violations,
                        dead_lettered: false,
                    };
                    verdicts[position] = Some(verdict);
                    match dead_letter {
                        Some(record) => {
                            dead.push(position);
                            dead_records.push(record);
                        }
                        None => outcomes.rejected += 1,
                    }
                }
            }
        }

        let appending = metrics::Stage::start(StageName::Append);
        let (main_results, dead_results) = tokio::join!(
            self.append(&info.topic, main_records),
            self.append(&self.dlq_topic, dead_records),
        );
        appending.done();
        let producer_label = self.producer_labels.label(producer);

        let mut unavailable: Option<LogError> = None;
        match main_results {
            Err(error) => {
                outcomes.failed += main.len() as u64;
                if !error.is_retryable() {
                    outcomes.report(info.name.as_str(), &producer_label);
                    return Err(GatewayError::from_log(error, Vec::new()));
                }
                unavailable = Some(error);
            }
            Ok(results) => {
                for ((at, index, event_id, key, warnings, shadow_violations), result) in
                    main.into_iter().zip(results)
                {
                    match result {
                        Ok(position) => {
                            outcomes.accepted += 1;
                            if let Some(key) = &key {
                                claims.complete(
                                    key,
                                    Original {
                                        event_id: event_id.clone(),
                                        partition: position.partition,
                                        offset: position.offset,
                                    },
                                );
                            }
                            verdicts[at] = Some(Verdict::Accepted {
                                index,
                                event_id,
                                partition: position.partition,
                                offset: position.offset,
                                warnings,
                                shadow_violations,
                            });
                        }
                        Err(error) if error.is_retryable() => {
                            outcomes.failed += 1;
                            unavailable.get_or_insert(error);
                        }
                        Err(error) => {
                            outcomes.rejected += 1;
                            verdicts[at] = Some(Verdict::Rejected {
                                index,
                                event_id,
                                reason: Reason::LogRejected,
                                violations: vec![crate::verdict::ViolationBody {
                                    pointer: String::new(),
                                    message: error.to_string(),
                                }],
                                dead_lettered: false,
                            });
                        }
                    }
                }
            }
        }
        drop(claims);
        let dead_results = match dead_results {
            Ok(results) => results,
            Err(error) => dead.iter().map(|_| Err(error.clone())).collect(),
        };
        for (position, result) in dead.into_iter().zip(dead_results) {
            match result {
                Ok(_) => {
                    outcomes.dead_lettered += 1;
                    if let Some(Verdict::Rejected { dead_lettered, .. }) = &mut verdicts[position] {
                        *dead_lettered = true;
                    }
                }
                Err(error) => {
                    outcomes.rejected += 1;
                    if error.is_retryable() {
                        unavailable.get_or_insert(error);
                    } else {
                        tracing::warn!(%error, "dead-letter record refused");
                    }
                }
            }
        }
        // A repeat within the request shares the first copy's fate: a duplicate of it when
        // it was written, the same rejection when the log refused it.
        for (position, first) in repeats {
            let index = indices[position];
            let verdict = match &verdicts[first] {
                Some(
                    Verdict::Accepted {
                        event_id,
                        partition,
                        offset,
                        ..
                    }
                    | Verdict::Duplicate {
                        event_id,
                        partition,
                        offset,
                        ..
                    },
                ) => {
                    let original = Original {
                        event_id: event_id.clone(),
                        partition: *partition,
                        offset: *offset,
                    };
                    outcomes.duplicates += 1;
                    duplicate(index, &original)
                }
                Some(Verdict::Rejected {
                    event_id,
                    reason,
                    violations,
                    ..
                }) => Verdict::Rejected {
                    index,
                    event_id: event_id.clone(),
                    reason: *reason,
                    violations: violations.clone(),
                    dead_lettered: false,
                },
                // The first copy was not confirmed: the request fails with 503 below.
                _ => continue,
            };
            verdicts[position] = Some(verdict);
        }
        outcomes.report(info.name.as_str(), &producer_label);
        if let Some(error) = unavailable {
            // What was stored (or had been) before the log went away, in index order.
            let mut written: Vec<Written> =
                verdicts.iter().flatten().filter_map(written_of).collect();
            written.sort_by_key(|w| w.index);
            return Err(GatewayError::LogUnavailable { error, written });
        }
        let mut verdicts: Vec<Verdict> = verdicts.into_iter().flatten().collect();
        if !verdicts.is_sorted_by_key(Verdict::index) {
            verdicts.sort_by_key(Verdict::index);
        }
        if let Some(hook) = &self.quality {
            hook.observe(info.name.as_str(), producer, &verdicts, &scored);
        }
        if let Some(sink) = &self.samples {
            samples::offer(sink, info.name.as_str(), producer, &verdicts, &kept);
        }
        Ok((verdicts, scored))
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendResult>, LogError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.log.append(topic, records).await
    }

    /// Takes `bytes` of the in-flight budget, or answers 503 at once when it is spent.
    fn reserve(&self, bytes: usize) -> Result<InFlight, GatewayError> {
        let max = self.limits.max_in_flight_bytes;
        let n = u32::try_from(bytes.min(max)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.in_flight)
            .try_acquire_many_owned(n)
            .map_err(|_| {
                GatewayError::Busy(format!(
                    "the gateway is holding its maximum of {max} request bytes; retry shortly"
                ))
            })?;
        let guard = InFlight {
            _permit: permit,
            semaphore: Arc::clone(&self.in_flight),
            max,
        };
        guard.report();
        Ok(guard)
    }
}

/// Bytes held by one request; given back (and the gauge updated) on drop.
struct InFlight {
    _permit: OwnedSemaphorePermit,
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl InFlight {
    fn report(&self) {
        let held = self.max.saturating_sub(self.semaphore.available_permits());
        metrics::in_flight_bytes(held);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let held = self
            .max
            .saturating_sub(self.semaphore.available_permits())
            .saturating_sub(self._permit.num_permits());
        metrics::in_flight_bytes(held);
    }
}

fn written_of(verdict: &Verdict) -> Option<Written> {
    match verdict {
        Verdict::Accepted {
            index,
            event_id,
            partition,
            offset,
            ..
        }
        | Verdict::Duplicate {
            index,
            event_id,
            partition,
            offset,
        } => Some(Written {
            index: *index,
            event_id: event_id.clone(),
            partition: *partition,
            offset: *offset,
        }),
        _ => None,
    }
}

fn duplicate(index: usize, original: &Original) -> Verdict {
    Verdict::Duplicate {
        index,
        event_id: original.event_id.clone(),
        partition: original.partition,
        offset: original.offset,
    }
}

/// Takes the events' scores out of the pending checks: (index, score), in the checks' order
/// (index order). A vector: a `BTreeMap` cost 2% of the gateway's CPU in node inserts and
/// moves of the 130-byte scores.
fn take_scores(mut pending: Vec<Pending>) -> (Vec<Pending>, Vec<(usize, Scored)>) {
    let scored = pending
        .iter_mut()
        .filter_map(|item| Some((item.index(), item.take_quality()?)))
        .collect();
    (pending, scored)
}

/// Takes the values kept for the catalog feed out of the pending checks, by index.
fn take_samples(pending: &mut [Pending]) -> BTreeMap<usize, Sampled> {
    pending
        .iter_mut()
        .filter_map(|item| Some((item.index(), item.take_sample()?)))
        .collect()
}

/// `answer`, showing each event's quality when the producer asked for it.
fn show_quality(answer: Answer, asked: bool, scored: &[(usize, Scored)]) -> Answer {
    if !asked {
        return answer;
    }
    answer.with_quality(scored.iter().map(|(index, s)| (*index, s.body())).collect())
}

fn body_too_large(max: usize) -> GatewayError {
    GatewayError::TooLarge(format!("the request body may be at most {max} bytes"))
}

/// Reads the whole body, refusing past `max` bytes (whatever the headers claimed).
async fn read_body(body: Body, max: usize) -> Result<Bytes, GatewayError> {
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(body_too_large(max))
        }
        Err(error) => Err(GatewayError::BadRequest(format!(
            "cannot read the request body: {error}"
        ))),
    }
}

/// Bodies up to this size are checked on the request's own task: about 100 typical events,
/// a few hundred microseconds of work — less than handing it to the blocking pool and back
/// costs under load. Larger bodies go to the blocking pool, so no request holds a runtime
/// thread for long.
const INLINE_BODY_BYTES: usize = 64 << 10;

/// Runs CPU-bound work on the blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, GatewayError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, GatewayError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(GatewayError::Internal(format!(
            "decode worker failed: {error}"
        ))),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
