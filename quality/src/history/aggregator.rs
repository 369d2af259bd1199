//! The in-memory aggregator the gateway records every event into, and its flush to SQL.
//!
//! `record` is on the ingest hot path: it locks one of [`SHARDS`] mutexes (chosen by event
//! type and producer) for a few map lookups and additions, and allocates only when a key is
//! new in the current minute. `flush` swaps every shard's map out, writes all of it in one
//! transaction, and merges it back when the write fails, so nothing is lost.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tributary_core::Database;

use super::bucket::Bucket;
use super::store::{self, RowKey, Table};
use super::{MINUTE_MS, Observation};
use crate::QualityError;
use crate::metrics;

const SHARDS: usize = 16;

/// Most keys (event type × producer × schema version × minute) held between flushes. Past
/// it, observations of a producer that has no key yet are counted under the producer
/// [`OTHER_PRODUCER`] instead, and the flush loop is woken early from half of it.
pub const MAX_PENDING_KEYS: usize = 50_000;
/// The producer that stands for every producer that came while the aggregator was full.
pub const OTHER_PRODUCER: &str = "_other";

type Versions = HashMap<(i32, i64), Bucket>;
type Producers = HashMap<String, Versions>;

#[derive(Debug, Default)]
struct Shard {
    types: HashMap<String, Producers>,
    keys: usize,
}

impl Shard {
    fn has(&self, event_type: &str, producer: &str, key: (i32, i64)) -> bool {
        self.types
            .get(event_type)
            .and_then(|producers| producers.get(producer))
            .is_some_and(|versions| versions.contains_key(&key))
    }

    /// The bucket of a key, and whether it was created.
    fn bucket(&mut self, event_type: &str, producer: &str, key: (i32, i64)) -> (&mut Bucket, bool) {
        let producers = slot(&mut self.types, event_type);
        let versions = slot(producers, producer);
        let mut created = false;
        let bucket = versions.entry(key).or_insert_with(|| {
            created = true;
            Bucket::default()
        });
        if created {
            self.keys += 1;
        }
        (bucket, created)
    }

    /// Adds every bucket of `other`; returns how many keys were new here.
    fn absorb(&mut self, other: Shard) -> usize {
        let mut added = 0;
        for (event_type, producers) in other.types {
            for (producer, versions) in producers {
                for (key, bucket) in versions {
                    let (mine, created) = self.bucket(&event_type, &producer, key);
                    mine.merge(bucket);
                    added += usize::from(created);
                }
            }
        }
        added
    }
}

/// The value of `key` in `map`, inserted empty when missing (the key is only copied then).
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    match map.get_mut(key) {
        Some(value) => value,
        None => unreachable!("inserted above"),
    }
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Keys (event type × producer × schema version × minute) written.
    pub keys: usize,
    /// Rows added to `quality_minutes`.
    pub rows: usize,
}

#[derive(Debug)]
struct Inner {
    shards: Vec<Mutex<Shard>>,
    pending_keys: AtomicUsize,
    early_flush: Notify,
}

/// Counts observations per event type × producer × schema version × minute until flushed.
/// Cheap to clone (an `Arc`); shared by every gateway worker.
#[derive(Debug, Clone)]
pub struct Aggregator {
    inner: Arc<Inner>,
}

impl Default for Aggregator {
    fn default() -> Self {
        Aggregator::new()
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while holding the lock leaves counts that are still counts: keep going.
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Aggregator {
    pub fn new() -> Self {
        Aggregator {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
                pending_keys: AtomicUsize::new(0),
                early_flush: Notify::new(),
            }),
        }
    }

    /// Counts one event.
    pub fn record(&self, o: &Observation<'_>) {
        self.record_run(std::slice::from_ref(o));
    }

    /// Counts many events at once — the gateway hands over a request's events together.
    /// Consecutive events of the same type, producer, schema version and minute (a request's,
    /// as a rule) share one shard lock and one bucket lookup.
    pub fn record_all(&self, observations: &[Observation<'_>]) {
        let mut rest = observations;
        while let Some(first) = rest.first() {
            let key = bucket_key(first);
            let run = rest
                .iter()
                .take_while(|o| {
                    o.event_type == first.event_type
                        && o.producer == first.producer
                        && bucket_key(o) == key
                })
                .count();
            let (now, later) = rest.split_at(run);
            self.record_run(now);
            rest = later;
        }
    }

    /// Counts `run`: events of one type, producer, schema version and minute.
    fn record_run(&self, run: &[Observation<'_>]) {
        let Some(first) = run.first() else {
            return;
        };
        let key = bucket_key(first);
        let mut hasher = DefaultHasher::new();
        first.event_type.hash(&mut hasher);
        first.producer.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0);
        let mut shard = lock(&self.inner.shards[index]);
        let full = self.inner.pending_keys.load(Ordering::Relaxed) >= MAX_PENDING_KEYS;
        let producer = if full && !shard.has(first.event_type, first.producer, key) {
            metrics::folded_observations(run.len());
            OTHER_PRODUCER
        } else {
            first.producer
        };
        let (bucket, created) = shard.bucket(first.event_type, producer, key);
        for o in run {
            bucket.record(o);
        }
        drop(shard);
        if created {
            let pending = self.inner.pending_keys.fetch_add(1, Ordering::Relaxed) + 1;
            if pending >= MAX_PENDING_KEYS / 2 {
                self.inner.early_flush.notify_one();
            }
        }
    }

    pub fn pending_keys(&self) -> usize {
        self.inner.pending_keys.load(Ordering::Relaxed)
    }

    /// Resolves when the aggregator holds so many keys that it wants an early flush.
    pub(crate) async fn wants_flush(&self) {
        self.inner.early_flush.notified().await;
    }

    /// Adds everything counted since the last flush to `quality_minutes`, in one
    /// transaction. On failure the counts are kept for the next flush.
    pub async fn flush(&self, db: &Database) -> Result<FlushReport, QualityError> {
        let mut snapshots = Vec::with_capacity(SHARDS);
        let mut keys = 0;
        for shard in &self.inner.shards {
            let taken = std::mem::take(&mut *lock(shard));
            keys += taken.keys;
            snapshots.push(taken);
        }
        self.inner.pending_keys.fetch_sub(keys, Ordering::Relaxed);
        if keys == 0 {
            return Ok(FlushReport::default());
        }
        let rows = rows_of(&snapshots);
        match store::add_rows(db, Table::Minutes, &rows).await {
            Ok(()) => Ok(FlushReport {
                keys,
                rows: rows.len(),
            }),
            Err(error) => {
                for (shard, snapshot) in self.inner.shards.iter().zip(snapshots) {
                    let added = lock(shard).absorb(snapshot);
                    self.inner.pending_keys.fetch_add(added, Ordering::Relaxed);
                }
                metrics::flush_failed();
                Err(error)
            }
        }
    }
}

/// Every row of the snapshots, keys merged across shards (the `_other` producer may sit in
/// several), sorted by primary key so concurrent writers lock rows in the same order.
/// The bucket an event is counted in: its schema version and receive minute.
fn bucket_key(o: &Observation<'_>) -> (i32, i64) {
    (
        o.schema_version,
        o.received_at_ms.div_euclid(MINUTE_MS) * MINUTE_MS,
    )
}

fn rows_of(snapshots: &[Shard]) -> BTreeMap<RowKey, i64> {
    let mut rows = BTreeMap::new();
    for shard in snapshots {
        for (event_type, producers) in &shard.types {
            for (producer, versions) in producers {
                for ((version, minute), bucket) in versions {
                    for (metric, label, value) in bucket.rows() {
                        let key = RowKey {
                            event_type: event_type.clone(),
                            producer: producer.clone(),
                            schema_version: i64::from(*version),
                            bucket_ms: *minute,
                            metric: metric.to_owned(),
                            label,
                        };
                        *rows.entry(key).or_insert(0) += value;
                    }
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn observe(aggregator: &Aggregator, producer: &str, minute: i64) {
        let fields: Arc<[String]> = Arc::from(Vec::new());
        aggregator.record(&Observation {
            event_type: "orders.placed",
            producer,
            schema_version: 1,
            received_at_ms: minute * MINUTE_MS,
            outcome: Outcome::Accepted,
            score: 100,
            lag_ms: None,
            fields: &fields,
            present: &[],
            failed_rules: &[],
        });
    }

    #[test]
    fn new_producers_fold_into_other_when_full() {
        let aggregator = Aggregator::new();
        for minute in 0..i64::try_from(MAX_PENDING_KEYS).unwrap() {
            observe(&aggregator, "web", minute);
        }
        assert_eq!(aggregator.pending_keys(), MAX_PENDING_KEYS);
        // An existing key still counts as itself; a new one is folded.
        observe(&aggregator, "web", 0);
        observe(&aggregator, "mobile", 0);
        observe(&aggregator, "tablet", 0);
        // One `_other` key per shard that saw a new producer (merged when flushed).
        let pending = aggregator.pending_keys();
        assert!((MAX_PENDING_KEYS + 1..=MAX_PENDING_KEYS + 2).contains(&pending));
        let shards: Vec<Shard> = aggregator
            .inner
            .shards
            .iter()
            .map(|s| std::mem::take(&mut *lock(s)))
            .collect();
        let rows = rows_of(&shards);
        let accepted = |producer: &str| {
            rows.iter()
                .find(|(k, _)| k.producer == producer && k.bucket_ms == 0 && k.label == "accepted")
                .map(|(_, n)| *n)
        };
        assert_eq!(accepted("web"), Some(2));
        assert_eq!(accepted(OTHER_PRODUCER), Some(2));
        assert_eq!(accepted("mobile"), None);
    }

    fn rows(aggregator: &Aggregator) -> BTreeMap<RowKey, i64> {
        let shards: Vec<Shard> = aggregator
            .inner
            .shards
            .iter()
            .map(|s| std::mem::take(&mut *lock(s)))
            .collect();
        rows_of(&shards)
    }

    #[test]
    fn a_batch_counts_as_its_events_one_by_one() {
        let fields: Arc<[String]> = Arc::from(vec![String::from("/coupon")]);
        let event = |producer, version, minute: i64, score, present: &'static [bool]| Observation {
            event_type: "orders.placed",
            producer,
            schema_version: version,
            received_at_ms: minute * MINUTE_MS + 7,
            outcome: if score > 50 {
                Outcome::Accepted
            } else {
                Outcome::Rejected
            },
            score,
            lag_ms: Some(40),
            fields: &fields,
            present,
            failed_rules: &["total_in_range"],
        };
        // Runs of one key, then a change of producer, version and minute, then back.
        let batch = [
            event("web", 1, 0, 90, &[true]),
            event("web", 1, 0, 30, &[false]),
            event("ios", 1, 0, 80, &[true]),
            event("ios", 2, 0, 70, &[true]),
            event("ios", 2, 1, 60, &[false]),
            event("web", 1, 0, 95, &[true]),
        ];
        let one_by_one = Aggregator::new();
        for o in &batch {
            one_by_one.record(o);
        }
        let together = Aggregator::new();
        together.record_all(&batch);
        let expected = rows(&one_by_one);
        assert_eq!(rows(&together), expected);
        let web_accepted = expected
            .iter()
            .find(|(k, _)| k.producer == "web" && k.label == "accepted")
            .map(|(_, n)| *n);
        assert_eq!(web_accepted, Some(2));
    }
}
