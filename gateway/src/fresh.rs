//! How long the gateway trusts what it looked up (event types, schema versions, quality
//! rules), and who looks it up again.
//!
//! An answer is kept for the metadata TTL. Letting it simply expire makes every request that
//! arrives while it is being looked up again miss as well: at tens of thousands of requests
//! a second, each expiry sent dozens of identical queries to the database at once and held
//! those requests for as long as the slowest took. Instead an answer is refreshed ahead of
//! its expiry, as caches with a refresh interval shorter than their expiry do: for the first
//! half of the TTL it is used as it is; in the second half the first request to see it looks
//! it up again while every other request goes on using it; past the TTL nobody uses it. So
//! under steady traffic one request per half-TTL waits for the database, and a change
//! still applies within the TTL.
//!
//! An answer nobody holds yet (the first requests after a start, a new event type, one unused
//! past its TTL) has nothing to serve meanwhile. The first request to miss it looks it up;
//! the requests that miss the same key meanwhile wait for that lookup ([`Fills`]) and then use
//! what it kept. After a restart a load balancer's connections send their first requests
//! within milliseconds of each other: without this, each of them queried the database (and
//! compiled the quality rules) on its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When an answer was looked up, and whether a request has taken on looking it up again.
/// Cheap to clone: the clones share the claim.
#[derive(Debug, Clone)]
pub(crate) struct Stamp(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    at: Instant,
    claimed: AtomicBool,
}

/// What a request should do with a kept answer.
#[derive(Debug)]
pub(crate) enum Age {
    /// Use it.
    Fresh,
    /// Use it after looking it up again: this request is the one to do so. Should the lookup
    /// fail, the kept answer may still be used. Dropping the claim (when the lookup fails, or
    /// the request is abandoned halfway) lets the next request try.
    Refresh(Claim),
    /// Past the TTL: look it up again before using it.
    Expired,
}

/// The one request refreshing an answer; released when dropped.
#[derive(Debug)]
pub(crate) struct Claim(Stamp);

impl Drop for Claim {
    fn drop(&mut self) {
        // A successful refresh has already replaced the stamp in its cache, so releasing
        // the old one changes nothing there.
        self.0.0.claimed.store(false, Ordering::Relaxed);
    }
}

impl Stamp {
    /// An answer looked up just now.
    pub(crate) fn now() -> Stamp {
        Stamp::at(Instant::now())
    }

    /// An answer looked up `age` ago (for tests of the caches that keep stamps).
    #[cfg(test)]
    pub(crate) fn aged(age: Duration) -> Stamp {
        Stamp::at(Instant::now() - age)
    }

    fn at(at: Instant) -> Stamp {
        Stamp(Arc::new(Inner {
            at,
            claimed: AtomicBool::new(false),
        }))
    }

    /// What the request asking now should do with the answer, given the TTL.
    pub(crate) fn check(&self, ttl: Duration) -> Age {
        let inner = &self.0;
        let age = inner.at.elapsed();
        if age >= ttl {
            Age::Expired
        } else if age < ttl / 2 || inner.claimed.swap(true, Ordering::Relaxed) {
            Age::Fresh
        } else {
            Age::Refresh(Claim(self.clone()))
        }
    }
}

/// Lookups of answers nobody holds, one per key at a time (see the module docs).
#[derive(Debug)]
pub(crate) struct Fills<K> {
    /// The keys being looked up, each with the lock its lookup holds; an entry lives while
    /// any request holds or waits for its lock.
    pending: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
    /// False with a TTL of zero: nothing is kept, so waiting would only queue requests
    /// behind each other's lookups, and every request looks up for itself.
    shared: bool,
}

/// The right to look `key` up; the next request waiting for it goes on when this is dropped.
/// Made before waiting, so a request abandoned while it waits still tidies up.
pub(crate) struct Fill<'a, K: Hash + Eq> {
    fills: &'a Fills<K>,
    key: Option<K>,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// What a request that found nothing to serve does once it is its turn.
pub(crate) enum Turn<'a, K: Hash + Eq, T> {
    /// Another request looked the key up meanwhile: use its answer.
    Served(T),
    /// Look it up, holding the fill until the answer is kept (or the lookup failed).
    LookUp(Fill<'a, K>),
}

impl<K: Hash + Eq + Clone> Fills<K> {
    /// Fills for a cache that keeps its answers for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Fills<K> {
        Fills {
            pending: Mutex::new(HashMap::new()),
            shared: !ttl.is_zero(),
        }
    }

    /// For a request that found no answer it may use for `key`: waits until no other request
    /// is looking `key` up, then asks `fresh` for what the cache holds now. Gives that answer
    /// if there is one, or else the fill under which this request looks the key up.
    pub(crate) async fn turn<T>(
        &self,
        key: &K,
        fresh: impl FnOnce() -> Option<T>,
    ) -> Turn<'_, K, T> {
        if !self.shared {
            return Turn::LookUp(Fill {
                fills: self,
                key: None,
                lock: None,
                guard: None,
            });
        }
        let fill = self.wait(key).await;
        match fresh() {
            Some(answer) => Turn::Served(answer),
            None => Turn::LookUp(fill),
        }
    }

    /// Waits until no other request is looking `key` up.
    async fn wait(&self, key: &K) -> Fill<'_, K> {
        let lock = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(pending.entry(key.clone()).or_default())
        };
        let mut fill = Fill {
            fills: self,
            key: Some(key.clone()),
            lock: Some(Arc::clone(&lock)),
            guard: None,
        };
        fill.guard = Some(lock.lock_owned().await);
        fill
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<K: Hash + Eq> Drop for Fill<'_, K> {
    fn drop(&mut self) {
        // A fill made with a TTL of zero holds no key and no lock: nothing to let go of.
        let Some(key) = self.key.take() else {
            return;
        };
        let mut pending = self
            .fills
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Let go while the map is held, so no request can take the lock from the map between
        // the count below and the removal.
        drop(self.guard.take());
        drop(self.lock.take());
        if pending
            .get(&key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            pending.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn fresh_then_refreshed_by_one_request_then_expired() {
        assert!(matches!(Stamp::now().check(TTL), Age::Fresh));
        assert!(matches!(
            Stamp::aged(Duration::from_secs(29)).check(TTL),
            Age::Fresh
        ));

        // In the second half one request refreshes; every other one uses the answer.
        let due = Stamp::aged(Duration::from_secs(31));
        let claim = due.check(TTL);
        assert!(matches!(claim, Age::Refresh(_)));
        for _ in 0..3 {
            assert!(matches!(due.check(TTL), Age::Fresh));
        }
        // A refresh that failed, or whose request went away, hands the job to the next one.
        drop(claim);
        let claim = due.check(TTL);
        assert!(matches!(claim, Age::Refresh(_)));
        assert!(matches!(due.check(TTL), Age::Fresh));
        drop(claim);

        // Past the TTL nobody uses it, claimed or not.
        let old = Stamp::aged(Duration::from_secs(61));
        assert!(matches!(old.check(TTL), Age::Expired));
        assert!(matches!(old.check(TTL), Age::Expired));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        assert!(matches!(Stamp::now().check(Duration::ZERO), Age::Expired));
    }

    #[tokio::test]
    async fn one_lookup_per_key_at_a_time_and_nothing_left_behind() {
        let fills: Arc<Fills<&'static str>> = Arc::new(Fills::new(TTL));
        let first = fills.wait(&"a").await;
        // Another key is not held up.
        drop(fills.wait(&"b").await);

        let waiter = tokio::spawn({
            let fills = Arc::clone(&fills);
            async move {
                drop(fills.wait(&"a").await);
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while the first lookup runs");
        assert_eq!(fills.pending(), 1);
        drop(first);
        waiter.await.unwrap();
        assert_eq!(fills.pending(), 0, "the last one out removes the key");

        // A request abandoned while it waits leaves nothing behind either.
        let first = fills.wait(&"a").await;
        let abandoned = tokio::spawn({
            let fills = Arc::clone(&fills);
            async move {
                drop(fills.wait(&"a").await);
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(fills.pending(), 0);
    }

    /// What the cache holds for a key, as a `turn`'s re-check reads it.
    type Kept = Arc<Mutex<Option<u32>>>;

    async fn served(fills: &Fills<&'static str>, kept: &Kept) -> Option<u32> {
        match fills.turn(&"a", || *kept.lock().unwrap()).await {
            Turn::Served(answer) => Some(answer),
            Turn::LookUp(_) => None,
        }
    }

    #[tokio::test]
    async fn a_turn_serves_what_the_lookup_before_it_kept() {
        let fills = Arc::new(Fills::new(TTL));
        let kept = Kept::default();
        let Turn::LookUp(first) = fills.turn(&"a", || *kept.lock().unwrap()).await else {
            panic!("nothing is kept yet: the first request looks it up");
        };
        let waiter = tokio::spawn({
            let (fills, kept) = (Arc::clone(&fills), Arc::clone(&kept));
            async move { served(&fills, &kept).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while the first lookup runs");
        *kept.lock().unwrap() = Some(7);
        drop(first);
        assert_eq!(
            waiter.await.unwrap(),
            Some(7),
            "uses the answer the first kept"
        );

        // A lookup that kept nothing (it failed) leaves the next request to look it up.
        *kept.lock().unwrap() = None;
        assert_eq!(served(&fills, &kept).await, None);
        assert_eq!(fills.pending(), 0);
    }

    #[tokio::test]
    async fn with_a_zero_ttl_nobody_waits() {
        let fills = Fills::new(Duration::ZERO);
        let first = fills.turn(&"a", || None::<u32>).await;
        let second = tokio::time::timeout(Duration::from_secs(5), fills.turn(&"a", || Some(1)))
            .await
            .expect("a second request for the key does not wait");
        assert!(
            matches!(second, Turn::LookUp(_)),
            "with nothing kept, every request looks up for itself"
        );
        drop((first, second));
        assert_eq!(fills.pending(), 0);
    }
}
