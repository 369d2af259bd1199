//! Consumer groups of one process.
//!
//! Members of a group share the partitions of the topics they subscribe to: every
//! `(topic, partition)`, in sorted order, is dealt round-robin over the members subscribed to
//! that topic, in join order. Joining or leaving bumps the group's generation; the other
//! members see it on their next `poll` or `commit` and take up the new assignment. A newly
//! assigned partition is *claimed* only once its previous owner has released it (on its own
//! next `poll`/`commit`, or when dropped), so no two members ever read one partition at the
//! same time; reading starts at the committed offset as of the claim (or the low watermark).
//! Committed offsets are written atomically to `groups/{group}.json` before `commit` returns.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Inner;
use super::fsutil::{blocking, read_if_exists, write_atomic};
use super::partition::Partition;
use crate::{ConsumedRecord, GroupConsumer, LogError};

/// What `groups/{group}.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupFile {
    group: String,
    topics: BTreeMap<String, CommittedTopic>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CommittedTopic {
    /// The topic incarnation the offsets belong to: a re-created topic starts afresh.
    topic_id: String,
    offsets: BTreeMap<u32, i64>,
}

/// Every group the log has seen since it opened.
#[derive(Debug)]
pub(super) struct Groups {
    dir: PathBuf,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
}

#[derive(Debug)]
pub(super) struct Group {
    /// Member id (join order) → subscribed topics.
    members: Mutex<BTreeMap<u64, Vec<String>>>,
    generation: watch::Sender<u64>,
    /// Which member holds each claimed `(topic, partition)`.
    owners: Mutex<HashMap<(String, u32), u64>>,
    /// Bumped whenever a member releases a partition.
    released: watch::Sender<u64>,
    /// Held across the file write of a commit, so commits apply one at a time.
    committed: tokio::sync::Mutex<GroupFile>,
    path: PathBuf,
}

/// The file name of a group: bytes outside `[A-Za-z0-9_-]` are percent-escaped.
fn file_name(group: &str) -> Result<String, LogError> {
    if group.is_empty() {
        return Err(LogError::Rejected(
            "a consumer group needs a name".to_owned(),
        ));
    }
    let mut name = String::with_capacity(group.len() + 5);
    for b in group.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > 240 {
        return Err(LogError::Rejected(format!(
            "consumer group name {group:?} is too long for the embedded log"
        )));
    }
    name.push_str(".json");
    Ok(name)
}

fn lock<'a, T>(mutex: &'a Mutex<T>, what: &str) -> Result<MutexGuard<'a, T>, LogError> {
    mutex
        .lock()
        .map_err(|_| LogError::Fatal(format!("{what} is unusable after a panic")))
}

impl Groups {
    pub(super) fn new(dir: PathBuf) -> Groups {
        Groups {
            dir,
            groups: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
        }
    }

    /// The group called `name`, loading its committed offsets on first use.
    pub(super) async fn get(&self, name: &str) -> Result<Arc<Group>, LogError> {
        if let Some(group) = lock(&self.groups, "the group registry")?.get(name) {
            return Ok(Arc::clone(group));
        }
        let path = self.dir.join(file_name(name)?);
        let load_path = path.clone();
        let group_name = name.to_owned();
        let file = blocking(move || load(&load_path, &group_name)).await?;
        let mut groups = lock(&self.groups, "the group registry")?;
        let group = groups.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(Group {
                members: Mutex::new(BTreeMap::new()),
                generation: watch::Sender::new(0),
                owners: Mutex::new(HashMap::new()),
                released: watch::Sender::new(0),
                committed: tokio::sync::Mutex::new(file),
                path,
            })
        });
        Ok(Arc::clone(group))
    }

    fn next_member_id(&self) -> u64 {
        self.next_member.fetch_add(1, Ordering::Relaxed)
    }
}

fn load(path: &Path, group: &str) -> Result<GroupFile, LogError> {
    let Some(bytes) = read_if_exists(path)? else {
        return Ok(GroupFile {
            group: group.to_owned(),
            topics: BTreeMap::new(),
        });
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| LogError::Fatal(format!("{} is invalid: {e}", path.display())))
}

impl Group {
    /// `(partition, committed offset)` of every partition of a topic.
    pub(super) async fn committed(
        &self,
        topic: &str,
        topic_id: &str,
        partitions: u32,
    ) -> Vec<(u32, Option<i64>)> {
        let file = self.committed.lock().await;
        let offsets = file.topics.get(topic).filter(|t| t.topic_id == topic_id);
        (0..partitions)
            .map(|p| (p, offsets.and_then(|t| t.offsets.get(&p).copied())))
            .collect()
    }

    async fn commit(&self, updates: Vec<(String, String, u32, i64)>) -> Result<(), LogError> {
        let mut file = self.committed.lock().await;
        let mut next = file.clone();
        for (topic, topic_id, partition, offset) in updates {
            let entry = next.topics.entry(topic).or_default();
            if entry.topic_id != topic_id {
                *entry = CommittedTopic {
                    topic_id,
                    offsets: BTreeMap::new(),
                };
            }
            entry.offsets.insert(partition, offset);
        }
        let bytes = serde_json::to_vec_pretty(&next)
            .map_err(|e| LogError::Fatal(format!("could not encode committed offsets: {e}")))?;
        let path = self.path.clone();
        blocking(move || write_atomic(&path, &bytes)).await?;
        *file = next;
        Ok(())
    }

    fn leave(&self, member: u64) {
        if let Ok(mut members) = self.members.lock() {
            members.remove(&member);
        }
        if let Ok(mut owners) = self.owners.lock() {
            owners.retain(|_, owner| *owner != member);
        }
        self.released.send_modify(|r| *r += 1);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Claims a partition for `member` unless another member still holds it.
    fn try_claim(&self, topic: &str, partition: u32, member: u64) -> Result<bool, LogError> {
        let mut owners = lock(&self.owners, "the consumer group")?;
        let owner = owners
            .entry((topic.to_owned(), partition))
            .or_insert(member);
        Ok(*owner == member)
    }

    fn release(&self, topic: &str, partition: u32, member: u64) -> Result<(), LogError> {
        let mut owners = lock(&self.owners, "the consumer group")?;
        let key = (topic.to_owned(), partition);
        if owners.get(&key) == Some(&member) {
            owners.remove(&key);
            drop(owners);
            self.released.send_modify(|r| *r += 1);
        }
        Ok(())
    }
}

/// Deals `(topic, partition)` pairs over the members subscribed to each topic.
fn assign(
    members: &BTreeMap<u64, Vec<String>>,
    partitions_of: impl Fn(&str) -> Option<u32>,
) -> BTreeMap<u64, Vec<(String, u32)>> {
    let mut topics: Vec<&String> = members.values().flatten().collect();
    topics.sort();
    topics.dedup();
    let mut out: BTreeMap<u64, Vec<(String, u32)>> = BTreeMap::new();
    let mut dealt = 0usize;
    for topic in topics {
        let Some(count) = partitions_of(topic) else {
            continue;
        };
        let candidates: Vec<u64> = members
            .iter()
            .filter(|(_, subscribed)| subscribed.contains(topic))
            .map(|(id, _)| *id)
            .collect();
        for partition in 0..count {
            let owner = candidates[dealt % candidates.len()];
            dealt += 1;
            out.entry(owner)
                .or_default()
                .push((topic.clone(), partition));
        }
    }
    out
}

/// Joins `group` and returns the new member with its first assignment.
pub(super) async fn subscribe(
    log: Arc<Inner>,
    group: &str,
    topics: &[String],
) -> Result<EmbeddedConsumer, LogError> {
    for topic in topics {
        log.topic(topic)?;
    }
    let group = log.groups.get(group).await?;
    let member = log.groups.next_member_id();
    let mut subscribed = topics.to_vec();
    subscribed.sort();
    subscribed.dedup();
    lock(&group.members, "the consumer group")?.insert(member, subscribed);
    group.generation.send_modify(|g| *g += 1);
    let generation = group.generation.subscribe();
    let released = group.released.subscribe();
    let mut consumer = EmbeddedConsumer {
        log,
        group,
        member,
        generation,
        released,
        synced: false,
        owned: Vec::new(),
        cursor: 0,
    };
    consumer.rebalance().await?;
    Ok(consumer)
}

/// A partition a member owns and how far it has read it.
#[derive(Debug)]
struct Owned {
    topic: String,
    topic_id: String,
    partition: u32,
    handle: Arc<Partition>,
    high: watch::Receiver<i64>,
    /// Whether the previous owner has let go and this member holds the partition.
    claimed: bool,
    /// The next offset to hand out (once claimed).
    position: i64,
    /// `position` moved since the last commit.
    dirty: bool,
}

/// One member of a consumer group of the embedded log; leaves the group when dropped.
#[derive(Debug)]
pub(super) struct EmbeddedConsumer {
    log: Arc<Inner>,
    group: Arc<Group>,
    member: u64,
    generation: watch::Receiver<u64>,
    released: watch::Receiver<u64>,
    /// The assignment matches a generation already seen.
    synced: bool,
    owned: Vec<Owned>,
    /// Which owned partition a fetch starts with, so none starves the others.
    cursor: usize,
}

impl EmbeddedConsumer {
    /// Takes up the group's current assignment if the generation moved (or on first use).
    async fn rebalance(&mut self) -> Result<(), LogError> {
        if self.synced && !self.generation.has_changed().unwrap_or(false) {
            return Ok(());
        }
        self.generation.borrow_and_update();
        self.synced = true;
        let members = lock(&self.group.members, "the consumer group")?.clone();
        let log = &self.log;
        let mut wanted = assign(&members, |t| {
            log.topic(t).ok().map(|t| t.partitions.len() as u32)
        })
        .remove(&self.member)
        .unwrap_or_default();

        let mut kept = Vec::with_capacity(wanted.len());
        for owned in self.owned.drain(..) {
            let still = wanted
                .iter()
                .position(|(t, p)| *t == owned.topic && *p == owned.partition);
            let same_topic = log
                .topic(&owned.topic)
                .is_ok_and(|t| t.id == owned.topic_id);
            if let Some(i) = still.filter(|_| same_topic) {
                wanted.swap_remove(i);
                kept.push(owned);
            } else {
                // Uncommitted progress on it is redelivered to the next owner.
                self.group
                    .release(&owned.topic, owned.partition, self.member)?;
            }
        }
        for (topic_name, partition) in wanted {
            let Ok(topic) = log.topic(&topic_name) else {
                continue;
            };
            let handle = Arc::clone(topic.partition(partition)?);
            kept.push(Owned {
                topic: topic.name.clone(),
                topic_id: topic.id.clone(),
                partition,
                high: handle.subscribe_high(),
                handle,
                claimed: false,
                position: 0,
                dirty: false,
            });
        }
        kept.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        self.owned = kept;
        self.claim_released().await
    }

    /// Claims assigned partitions their previous owners have released, positioned at the
    /// committed offset (or the low watermark).
    async fn claim_released(&mut self) -> Result<(), LogError> {
        self.released.borrow_and_update();
        for owned in self.owned.iter_mut().filter(|o| !o.claimed) {
            if !self
                .group
                .try_claim(&owned.topic, owned.partition, self.member)?
            {
                continue;
            }
            let committed = self
                .group
                .committed(&owned.topic, &owned.topic_id, owned.partition + 1)
                .await;
            let w = owned.handle.watermarks();
            owned.position = match committed[owned.partition as usize].1 {
                Some(offset) if (w.low..=w.high).contains(&offset) => offset,
                _ => w.low,
            };
            owned.claimed = true;
        }
        Ok(())
    }

    /// Reads what the owned partitions have past their positions, without waiting.
    async fn fetch(&mut self, max: usize) -> Result<Vec<ConsumedRecord>, LogError> {
        let n = self.owned.len();
        let mut wanted = Vec::new();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let owned = &mut self.owned[i];
            let high = *owned.high.borrow_and_update();
            if owned.claimed && high > owned.position {
                wanted.push((i, Arc::clone(&owned.handle), owned.position));
            }
        }
        self.cursor = self.cursor.wrapping_add(1);
        if wanted.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let batches = blocking(move || {
            let mut remaining = max;
            let mut batches = Vec::new();
            for (i, handle, position) in wanted {
                if remaining == 0 {
                    break;
                }
                let (from, read) = match handle.read(position, remaining) {
                    Err(LogError::OffsetOutOfRange { low, .. }) if position < low => {
                        (low, handle.read(low, remaining))
                    }
                    other => (position, other),
                };
                let batch = match read {
                    Ok(batch) => batch,
                    // The topic was deleted under the member; it stops getting records.
                    Err(LogError::UnknownTopic(_)) => continue,
                    Err(e) => return Err(e),
                };
                remaining = remaining.saturating_sub(batch.len());
                batches.push((i, from, batch));
            }
            Ok(batches)
        })
        .await?;
        let mut out = Vec::new();
        for (i, from, batch) in batches {
            let owned = &mut self.owned[i];
            let next = batch.last().map_or(from, |r| r.offset + 1);
            if next != owned.position {
                owned.position = next;
                owned.dirty = true;
            }
            for record in batch {
                out.push(ConsumedRecord {
                    topic: owned.topic.clone(),
                    partition: owned.partition,
                    record,
                });
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl GroupConsumer for EmbeddedConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.log.check_open()?;
            self.rebalance().await?;
            if self.released.has_changed().unwrap_or(false) {
                self.claim_released().await?;
            }
            let records = self.fetch(max_records).await?;
            if !records.is_empty() || max_records == 0 {
                return Ok(records);
            }
            let highs: Vec<_> = self
                .owned
                .iter_mut()
                .map(|o| Box::pin(o.high.changed()))
                .collect();
            let any_high = async move {
                if highs.is_empty() {
                    std::future::pending::<()>().await;
                }
                let _ = futures::future::select_all(highs).await;
            };
            tokio::select! {
                () = any_high => {}
                _ = self.generation.changed() => {}
                _ = self.released.changed() => {}
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            }
        }
    }

    async fn commit(&mut self) -> Result<(), LogError> {
        self.log.check_open()?;
        // Partitions another member took over are not ours to commit.
        self.rebalance().await?;
        let updates: Vec<_> = self
            .owned
            .iter()
            .filter(|o| o.claimed && o.dirty)
            .map(|o| (o.topic.clone(), o.topic_id.clone(), o.partition, o.position))
            .collect();
        if updates.is_empty() {
            return Ok(());
        }
        self.group.commit(updates).await?;
        for owned in &mut self.owned {
            owned.dirty = false;
        }
        Ok(())
    }

    /// Includes partitions assigned but not yet released by their previous owner.
    fn assignment(&self) -> Vec<(String, u32)> {
        self.owned
            .iter()
            .map(|o| (o.topic.clone(), o.partition))
            .collect()
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        self.group.leave(self.member);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_deterministic_and_balanced() {
        let mut members = BTreeMap::new();
        members.insert(1, vec!["a".to_owned()]);
        members.insert(2, vec!["a".to_owned(), "b".to_owned()]);
        let counts = |t: &str| match t {
            "a" => Some(4),
            "b" => Some(2),
            _ => None,
        };
        let got = assign(&members, counts);
        let a = |p| ("a".to_owned(), p);
        let b = |p| ("b".to_owned(), p);
        assert_eq!(got[&1], vec![a(0), a(2)]);
        assert_eq!(got[&2], vec![a(1), a(3), b(0), b(1)]);
        members.remove(&1);
        assert_eq!(assign(&members, counts)[&2].len(), 6);
    }

    #[test]
    fn group_file_names_are_safe() {
        assert_eq!(file_name("billing-v2").unwrap(), "billing-v2.json");
        assert_eq!(file_name("../x").unwrap(), "%2E%2E%2Fx.json");
        assert!(file_name("").is_err());
        assert!(file_name(&"g".repeat(300)).is_err());
    }
}
