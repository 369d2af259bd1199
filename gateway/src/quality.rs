//! The quality hook of the pipeline: every event is also scored with its type's current rule
//! set (compiled against the fields of the type's schema), the score rides on its record or
//! dead letter as `tributary.quality`, and every verdict is counted by the aggregator the
//! binary flushes into the quality history.
//!
//! Rule sets are looked up at most once per metadata TTL per event type and schema; a scorer
//! is compiled again only when the rule-set version or the schema changes, so the memory of
//! its `unique` rules lasts as long as the rules do. Scoring never refuses an event.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use tributary_core::EventTypeName;
use tributary_quality::{
    Aggregator, Assessment, Components, Observation, Outcome, RuleFailure, RuleService, Scorer,
};
use tributary_registry::SchemaId;

use crate::fresh::{Age, Claim, Fills, Stamp, Turn};
use crate::verdict::Verdict;

/// Most (event type, schema) scorers remembered; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

/// What the gateway scores with and where it counts verdicts. Cheap to clone.
#[derive(Clone)]
pub struct QualityHook {
    inner: Arc<Inner>,
}

struct Inner {
    rules: RuleService,
    aggregator: Aggregator,
    ttl: Duration,
    scorers: RwLock<HashMap<(EventTypeName, SchemaId), Cached>>,
    fills: Fills<(EventTypeName, SchemaId)>,
    /// Reads of the rules version, for the tests of the cache.
    #[cfg(test)]
    reads: std::sync::atomic::AtomicUsize,
}

/// See [`QualityHook::kept`].
enum Kept {
    Fresh(Arc<Scorer>),
    Stale((i64, Arc<Scorer>), Option<Claim>),
    Nothing,
}

struct Cached {
    /// When the rules version was last read (refreshed ahead of expiry, see `crate::fresh`).
    checked: Stamp,
    /// The rule-set version the scorer was compiled from (0: none).
    rules_version: i64,
    scorer: Arc<Scorer>,
}

impl std::fmt::Debug for QualityHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityHook")
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl QualityHook {
    /// Scores with the rule sets `rules` serves (trusted for `ttl`) and counts verdicts in
    /// `aggregator`.
    pub fn new(rules: RuleService, aggregator: Aggregator, ttl: Duration) -> QualityHook {
        QualityHook {
            inner: Arc::new(Inner {
                rules,
                aggregator,
                ttl,
                scorers: RwLock::new(HashMap::new()),
                fills: Fills::new(ttl),
                #[cfg(test)]
                reads: Default::default(),
            }),
        }
    }

    /// The scorer for events of `event_type` checked with schema `schema_id`. Rules that
    /// cannot be read, or no longer fit the schema, leave the events scored without rules
    /// (and say so in the log) — never unscored or refused.
    pub(crate) async fn scorer(
        &self,
        event_type: &EventTypeName,
        schema_id: SchemaId,
    ) -> Arc<Scorer> {
        let key = (event_type.clone(), schema_id);
        // `_claim`: while this request checks the rules version again, the others keep
        // scoring with the scorer they have.
        let (stale, claim) = match self.kept(&key) {
            Kept::Fresh(scorer) => return scorer,
            Kept::Stale(stale, claim) => (Some(stale), claim),
            Kept::Nothing => (None, None),
        };
        // No scorer to go on with (none yet, or past the TTL): one request reads the rules
        // again, the others wait and use its scorer (see `crate::fresh`).
        let _fill = match claim {
            Some(_) => None,
            None => {
                let fresh = || match self.kept(&key) {
                    Kept::Fresh(scorer) => Some(scorer),
                    _ => None,
                };
                match self.inner.fills.turn(&key, fresh).await {
                    Turn::Served(scorer) => return scorer,
                    Turn::LookUp(fill) => Some(fill),
                }
            }
        };
        let _claim = claim;
        let name = event_type.as_str();
        #[cfg(test)]
        self.inner
            .reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let version = match self.inner.rules.store.current(name).await {
            Ok(current) => current.map_or(0, |(version, _)| version),
            Err(error) => {
                tracing::warn!(event_type = name, %error, "cannot read the quality rules; keeping the scorer");
                stale.as_ref().map_or(0, |(version, _)| *version)
            }
        };
        let scorer = match stale {
            Some((cached, scorer)) if cached == version => scorer,
            _ => Arc::new(self.compile(name).await),
        };
        let mut scorers = self
            .inner
            .scorers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if scorers.len() >= MAX_CACHED {
            scorers.clear();
        }
        // Requests that raced here compiled the same rules: all of them keep the first
        // scorer, so the aggregator sees one field list (and counts it by position).
        let scorer = match scorers.get(&key) {
            Some(cached) if cached.rules_version == version => Arc::clone(&cached.scorer),
            _ => scorer,
        };
        scorers.insert(
            key,
            Cached {
                checked: Stamp::now(),
                rules_version: version,
                scorer: Arc::clone(&scorer),
            },
        );
        scorer
    }

    /// What is kept for `key`: a scorer to use, one to check again first (with the claim,
    /// when this request is the one to do so), or nothing.
    fn kept(&self, key: &(EventTypeName, SchemaId)) -> Kept {
        let scorers = self
            .inner
            .scorers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(cached) = scorers.get(key) else {
            return Kept::Nothing;
        };
        let claim = match cached.checked.check(self.inner.ttl) {
            Age::Fresh => return Kept::Fresh(Arc::clone(&cached.scorer)),
            Age::Refresh(claim) => Some(claim),
            Age::Expired => None,
        };
        Kept::Stale((cached.rules_version, Arc::clone(&cached.scorer)), claim)
    }

    async fn compile(&self, event_type: &str) -> Scorer {
        match self.inner.rules.scorer(event_type).await {
            Ok((_, scorer)) => scorer,
            Err(error) => {
                tracing::warn!(event_type, %error, "the quality rules do not compile against the schema; scoring without them");
                let fields = self
                    .inner
                    .rules
                    .fields(event_type)
                    .await
                    .unwrap_or_default();
                Scorer::default_for(&fields)
            }
        }
    }

    /// Counts the verdicts of one request of `event_type` from `producer`, with the scores
    /// of their events. The verdicts are in index order.
    pub(crate) fn observe(
        &self,
        event_type: &str,
        producer: &str,
        verdicts: &[Verdict],
        scored: &[(usize, Scored)],
    ) {
        let none: Arc<[String]> = Arc::from(Vec::new());
        let mut counted = Vec::with_capacity(verdicts.len());
        // Both go in index order: walk the scores alongside instead of searching each.
        let mut scores = scored.iter().peekable();
        for verdict in verdicts {
            let outcome = match verdict {
                Verdict::Accepted { warnings, .. } if warnings.is_empty() => Outcome::Accepted,
                Verdict::Accepted { .. } => Outcome::Warned,
                Verdict::Rejected { .. } => Outcome::Rejected,
                Verdict::Duplicate { .. } => Outcome::Duplicate,
                Verdict::Valid { .. } | Verdict::Invalid { .. } => continue,
            };
            let index = verdict.index();
            while scores.next_if(|(at, _)| *at < index).is_some() {}
            if let Some((_, scored)) = scores.next_if(|(at, _)| *at == index) {
                let failed: Vec<&str> = scored
                    .assessment
                    .iter()
                    .flat_map(|a| a.failed.iter().map(|f| &*f.rule))
                    .collect();
                counted.push((outcome, scored, failed));
            }
        }
        let observations: Vec<Observation<'_>> = counted
            .iter()
            .map(|(outcome, scored, failed)| {
                let (fields, present, lag_ms) = match (&scored.assessment, &scored.fields) {
                    (Some(assessment), Some(fields)) => {
                        (fields, assessment.present.as_slice(), assessment.lag_ms)
                    }
                    _ => (&none, &[][..], None),
                };
                Observation {
                    event_type,
                    producer,
                    schema_version: scored.schema_version,
                    received_at_ms: scored.received_at_ms,
                    outcome: *outcome,
                    score: scored.score,
                    lag_ms,
                    fields,
                    present,
                    failed_rules: failed,
                }
            })
            .collect();
        self.inner.aggregator.record_all(&observations);
    }
}

/// One event's score, kept from the check to the verdict.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub(crate) score: u8,
    /// `None` for an event that could not be read (scored 0).
    pub(crate) assessment: Option<Assessment>,
    /// The scorer's tracked fields, which `assessment.present` is aligned with.
    pub(crate) fields: Option<Arc<[String]>>,
    pub(crate) schema_version: i32,
    pub(crate) received_at_ms: i64,
}

impl Scored {
    /// What the answer says about the score when the producer asks (`?quality=true`).
    pub(crate) fn body(&self) -> QualityBody {
        QualityBody {
            score: self.score,
            components: self.assessment.as_ref().map(|a| a.components),
            failed: self
                .assessment
                .as_ref()
                .map(|a| a.failed.clone())
                .unwrap_or_default(),
        }
    }
}

/// An event's quality in a publish answer: the score, its components, the failed rules.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QualityBody {
    /// 0–100 (0 for an event that could not be read).
    pub score: u8,
    /// Each component in [0, 1]: validity, rules, completeness, freshness, uniqueness.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub components: Option<Components>,
    /// The rules the event failed: `{rule, severity, message}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub failed: Vec<RuleFailure>,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tributary_core::testkit::{ScratchDatabase, scratch_sqlite};
    use tributary_eventlog::{EmbeddedLog, EmbeddedOptions};
    use tributary_registry::{EventTypeSettings, EventTypes, Registry};

    use super::*;

    /// A hook over rules in a fresh SQLite database, with an embedded event log under `dir`.
    async fn hook(dir: &std::path::Path, ttl: Duration) -> (QualityHook, ScratchDatabase) {
        let scratch = scratch_sqlite().await;
        scratch.db.migrate().await.unwrap();
        let log = EmbeddedLog::open(EmbeddedOptions::new(dir.join("log")))
            .await
            .unwrap();
        let event_types = EventTypes::new(
            scratch.db.clone(),
            Registry::new(scratch.db.clone()),
            Arc::new(log),
            EventTypeSettings {
                topic_prefix: String::new(),
                default_partitions: 1,
                default_retention: None,
            },
        );
        let rules = RuleService::new(scratch.db.clone(), event_types);
        (QualityHook::new(rules, Aggregator::new(), ttl), scratch)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_share_one_scorer() {
        let dir = tempfile::tempdir().unwrap();
        let (hook, _scratch) = hook(dir.path(), Duration::from_secs(60)).await;
        let name = EventTypeName::parse("shop.order_placed").unwrap();
        let requests: Vec<_> = (0..64)
            .map(|_| {
                let (hook, name) = (hook.clone(), name.clone());
                tokio::spawn(async move { hook.scorer(&name, 1).await })
            })
            .collect();
        let mut scorers = Vec::new();
        for request in requests {
            scorers.push(request.await.unwrap());
        }
        assert!(scorers.iter().all(|s| Arc::ptr_eq(s, &scorers[0])));
        assert_eq!(hook.inner.reads.load(Ordering::SeqCst), 1);
        assert_eq!(hook.inner.fills.pending(), 0);
    }

    #[tokio::test]
    async fn with_a_zero_ttl_every_request_reads_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (hook, _scratch) = hook(dir.path(), Duration::ZERO).await;
        let name = EventTypeName::parse("shop.order_placed").unwrap();
        for _ in 0..3 {
            hook.scorer(&name, 1).await;
        }
        assert_eq!(hook.inner.reads.load(Ordering::SeqCst), 3);
    }
}
