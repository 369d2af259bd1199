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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
}
