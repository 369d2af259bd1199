//! Idempotent publishing: a bounded, in-memory memory of the events this gateway instance has
//! durably accepted, keyed by (event type, producer, producer-supplied id).
//!
//! The id is the producer's event id (`Tributary-Event-Id`, a CloudEvents `id`) or, for events
//! without one, the request's `Idempotency-Key` plus the event's index in the request. Only
//! durable acceptances are remembered: a rejected event is checked again on a retry (so a
//! corrected event with the same id can still go through) and an event the log did not
//! confirm (503) is written by the retry.
//!
//! Concurrency: a request claims all of its keys at once under one lock, marking them
//! *pending*. A request that meets a key pending in another request claims nothing and waits
//! until that request finishes (bounded by the request timeout), then tries again: the
//! second of two concurrent duplicates answers `duplicate` (or writes, if the first failed).
//! Claiming all-or-nothing means no request waits while holding a claim, so two requests
//! can never wait on each other.
//!
//! Entries live for the window (default 10 minutes) and at most `max_entries` are kept (the
//! oldest go first). The memory is per gateway instance: behind a load balancer, retries must
//! reach the same instance (sticky routing) until a shared store exists.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What an event is deduplicated on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) event_type: String,
    pub(crate) producer: String,
    /// `id:{event id}` or `key:{idempotency key}/{index}`.
    pub(crate) id: String,
}

/// Where the first copy of an event went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Original {
    pub(crate) event_id: String,
    pub(crate) partition: u32,
    pub(crate) offset: i64,
}

#[derive(Debug)]
enum Entry {
    /// Being written by a request; dropped (waking waiters) when it finishes.
    Pending(watch::Sender<()>),
    Done {
        original: Original,
        at: Instant,
    },
}

/// The outcome of claiming one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// No key (or idempotency is off): write as usual.
    Free,
    /// Claimed by this request: write, then [`Claims::complete`].
    Claimed,
    /// Accepted earlier, inside the window.
    Duplicate(Original),
    /// The same key as an earlier event of this request (its position in the claimed list).
    SameAs(usize),
}

/// The memory of durable acceptances.
#[derive(Debug)]
pub(crate) struct Dedup {
    window: Duration,
    max_entries: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Done entries in completion order, for expiry and the size bound.
    order: VecDeque<(Instant, Key)>,
}

impl Dedup {
    pub(crate) fn new(window: Duration, max_entries: usize) -> Dedup {
        Dedup {
            window,
            max_entries,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Off when the window is zero or no entry may be kept.
    pub(crate) fn enabled(&self) -> bool {
        !self.window.is_zero() && self.max_entries > 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims every key at once (waiting out keys pending in other requests) and says, per
    /// key, what to do with its event. Keys whose `claimable` is false (events that will not
    /// be written) are only looked up: `Duplicate`, `SameAs` or `Free`. Dropping the returned
    /// [`Claims`] releases whatever was claimed and not completed.
    pub(crate) async fn claim(
        self: &Arc<Self>,
        keys: &[Option<Key>],
        claimable: &[bool],
    ) -> (Vec<Slot>, Claims) {
        let mut claims = Claims {
            dedup: Arc::clone(self),
            held: Vec::new(),
        };
        if !self.enabled() || keys.iter().all(Option::is_none) {
            return (vec![Slot::Free; keys.len()], claims);
        }
        loop {
            let mut wait = None;
            let slots = {
                let mut inner = self.lock();
                let now = Instant::now();
                self.expire(&mut inner, now);
                for key in keys.iter().flatten() {
                    if let Some(Entry::Pending(sender)) = inner.map.get(key) {
                        wait = Some(sender.subscribe());
                        break;
                    }
                }
                if wait.is_none() {
                    Some(self.claim_all(&mut inner, keys, claimable, now, &mut claims))
                } else {
                    None
                }
            };
            match (slots, wait) {
                (Some(slots), _) => return (slots, claims),
                (None, Some(mut receiver)) => {
                    // Resolves once the other request completes or releases the key.
                    let _ = receiver.changed().await;
                }
                (None, None) => unreachable!("either claimed or waiting"),
            }
        }
    }

    fn claim_all(
        &self,
        inner: &mut Inner,
        keys: &[Option<Key>],
        claimable: &[bool],
        now: Instant,
        claims: &mut Claims,
    ) -> Vec<Slot> {
        let mut first: HashMap<&Key, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(keys.len());
        for (position, key) in keys.iter().enumerate() {
            let Some(key) = key else {
                slots.push(Slot::Free);
                continue;
            };
            if let Some(&earlier) = first.get(key) {
                slots.push(Slot::SameAs(earlier));
                continue;
            }
            match inner.map.get(key) {
                Some(Entry::Done { original, at }) if now.duration_since(*at) < self.window => {
                    first.insert(key, position);
                    slots.push(Slot::Duplicate(original.clone()));
                }
                _ if !claimable.get(position).copied().unwrap_or(true) => slots.push(Slot::Free),
                _ => {
                    first.insert(key, position);
                    let (sender, _) = watch::channel(());
                    inner.map.insert(key.clone(), Entry::Pending(sender));
                    claims.held.push(key.clone());
                    slots.push(Slot::Claimed);
                }
            }
        }
        slots
    }

    /// Drops entries older than the window and, past the size bound, the oldest ones.
    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some((at, _)) = inner.order.front() {
            let expired = now.duration_since(*at) >= self.window;
            if !expired && inner.order.len() <= self.max_entries {
                break;
            }
            let Some((at, key)) = inner.order.pop_front() else {
                break;
            };
            if matches!(inner.map.get(&key), Some(Entry::Done { at: done, .. }) if *done == at) {
                inner.map.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// The keys a request holds pending.
#[derive(Debug)]
pub(crate) struct Claims {
    dedup: Arc<Dedup>,
    held: Vec<Key>,
}

impl Claims {
    /// Remembers that the event under `key` is durable at `original`.
    pub(crate) fn complete(&mut self, key: &Key, original: Original) {
        let Some(position) = self.held.iter().position(|k| k == key) else {
            return;
        };
        let key = self.held.swap_remove(position);
        let dedup = Arc::clone(&self.dedup);
        let mut inner = dedup.lock();
        let now = Instant::now();
        inner.order.push_back((now, key.clone()));
        // Replacing the pending entry drops its sender, which wakes the waiters.
        inner.map.insert(key, Entry::Done { original, at: now });
        dedup.expire(&mut inner, now);
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut inner = self.dedup.lock();
        for key in self.held.drain(..) {
            if matches!(inner.map.get(&key), Some(Entry::Pending(_))) {
                inner.map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Option<Key> {
        Some(Key {
            event_type: "a.b".into(),
            producer: "p".into(),
            id: id.into(),
        })
    }

    fn original(offset: i64) -> Original {
        Original {
            event_id: "e".into(),
            partition: 0,
            offset,
        }
    }

    #[tokio::test]
    async fn remembers_completed_and_forgets_released() {
        let dedup = Arc::new(Dedup::new(Duration::from_secs(60), 10));
        let keys = [key("1"), key("2"), None, key("1")];
        let (slots, mut claims) = dedup.claim(&keys, &[true; 4]).await;
        assert_eq!(
            slots,
            [Slot::Claimed, Slot::Claimed, Slot::Free, Slot::SameAs(0)]
        );
        claims.complete(keys[0].as_ref().unwrap(), original(7));
        drop(claims);
        let (slots, _claims) = dedup.claim(&keys[..2], &[true, false]).await;
        assert_eq!(slots, [Slot::Duplicate(original(7)), Slot::Free]);
        // Looked up, not claimed: [not written, written] with one key writes the second.
        let (slots, _claims) = dedup.claim(&[key("9"), key("9")], &[false, true]).await;
        assert_eq!(slots, [Slot::Free, Slot::Claimed]);
    }

    #[tokio::test]
    async fn window_and_bound() {
        let dedup = Arc::new(Dedup::new(Duration::from_millis(50), 2));
        for (i, id) in ["1", "2", "3"].into_iter().enumerate() {
            let (_, mut claims) = dedup.claim(&[key(id)], &[true]).await;
            claims.complete(key(id).as_ref().unwrap(), original(i as i64));
        }
        assert_eq!(dedup.len(), 2, "the oldest went past the bound");
        let (slots, _claims) = dedup.claim(&[key("1")], &[true]).await;
        assert_eq!(slots, [Slot::Claimed]);
        drop(_claims);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (slots, _claims) = dedup.claim(&[key("3")], &[true]).await;
        assert_eq!(slots, [Slot::Claimed], "expired after the window");
    }

    #[tokio::test]
    async fn a_pending_key_makes_the_second_wait() {
        let dedup = Arc::new(Dedup::new(Duration::from_secs(60), 10));
        let (_, mut first) = dedup.claim(&[key("1")], &[true]).await;
        let waiter = {
            let dedup = Arc::clone(&dedup);
            tokio::spawn(async move { dedup.claim(&[key("1")], &[true]).await.0 })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished());
        first.complete(key("1").as_ref().unwrap(), original(3));
        assert_eq!(waiter.await.unwrap(), [Slot::Duplicate(original(3))]);
    }
}
