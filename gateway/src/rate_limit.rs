//! Per-producer rate limits: a token bucket of events per producer.
//!
//! A request takes one token per event it carries, all or nothing, before anything is
//! written; a producer without enough tokens gets 429 with `Retry-After` (the whole seconds
//! until its bucket holds enough). Buckets live in this gateway instance: with several
//! instances behind a load balancer each enforces the limit on what it sees.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Most producers tracked; past it, full buckets (idle producers) are forgotten first.
const MAX_PRODUCERS: usize = 100_000;

/// A producer's allowance: `events_per_second` on average, bursts up to `burst` events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub events_per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `None`: no limit.
    pub(crate) fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `events` tokens from `producer`'s bucket, or says how many seconds until it
    /// could. A request larger than the burst can never pass: it is told to wait for a full
    /// bucket and should be split.
    pub(crate) fn take(&self, producer: &str, events: usize, now: Instant) -> Result<(), u64> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_PRODUCERS && !buckets.contains_key(producer) {
            forget_idle(&mut buckets, limit, now);
        }
        let bucket = buckets.entry(producer.to_owned()).or_insert(Bucket {
            tokens: limit.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.events_per_second).min(limit.burst);
        bucket.updated = now;
        let wanted = events as f64;
        if wanted <= bucket.tokens {
            bucket.tokens -= wanted;
            return Ok(());
        }
        let missing = wanted.min(limit.burst) - bucket.tokens;
        Err((missing / limit.events_per_second).ceil().max(1.0) as u64)
    }
}

/// Drops the buckets that have refilled completely (their producers are idle).
fn forget_idle(buckets: &mut HashMap<String, Bucket>, limit: RateLimit, now: Instant) {
    buckets.retain(|_, bucket| {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens + elapsed * limit.events_per_second < limit.burst
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(rate: f64, burst: f64) -> RateLimiter {
        RateLimiter::new(Some(RateLimit {
            events_per_second: rate,
            burst,
        }))
    }

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let limiter = limiter(10.0, 100.0);
        let t0 = Instant::now();
        assert_eq!(limiter.take("p", 100, t0), Ok(()));
        assert_eq!(limiter.take("p", 1, t0), Err(1), "empty bucket: wait");
        assert_eq!(limiter.take("p", 50, t0), Err(5), "50 events at 10/s");
        assert_eq!(
            limiter.take("p", 10, t0 + Duration::from_secs(1)),
            Ok(()),
            "refilled 10"
        );
        assert_eq!(limiter.take("p", 1, t0 + Duration::from_secs(1)), Err(1));
    }

    #[test]
    fn producers_have_their_own_buckets() {
        let limiter = limiter(1.0, 5.0);
        let t0 = Instant::now();
        assert_eq!(limiter.take("a", 5, t0), Ok(()));
        assert!(limiter.take("a", 1, t0).is_err());
        assert_eq!(limiter.take("b", 5, t0), Ok(()));
    }

    #[test]
    fn a_refused_request_takes_nothing() {
        let limiter = limiter(1.0, 10.0);
        let t0 = Instant::now();
        assert!(limiter.take("p", 11, t0).is_err(), "larger than the burst");
        assert_eq!(
            limiter.take("p", 10, t0),
            Ok(()),
            "the bucket is still full"
        );
    }

    #[test]
    fn no_limit_never_refuses() {
        let limiter = RateLimiter::new(None);
        assert_eq!(limiter.take("p", 1_000_000, Instant::now()), Ok(()));
    }
}
