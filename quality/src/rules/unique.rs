//! The memory of a `unique` rule: which values were seen, and when, within its window.
//!
//! Values are remembered by a 64-bit hash (SipHash with fixed keys), so memory per value is
//! constant and nothing is allocated per event once the tables have grown; two different
//! values share a hash with probability about 2⁻⁶⁴. At most [`MAX_REMEMBERED`] values are
//! kept per rule: past that the oldest are forgotten first. The memory lives in the compiled
//! [`super::Scorer`] and starts empty when a new one is compiled (a rule change, a restart).

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// Most values one `unique` rule remembers.
pub const MAX_REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
struct Seen {
    /// Hash → when it was first seen (within the current window).
    last: HashMap<u64, i64>,
    /// (hash, when) in the order seen: what to forget first.
    order: VecDeque<(u64, i64)>,
}

pub(crate) struct Memory {
    window_ms: i64,
    capacity: usize,
    seen: Mutex<Seen>,
}

/// The hash a value is remembered by.
pub(crate) fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("window_ms", &self.window_ms)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Memory {
    pub(crate) fn new(window_ms: i64) -> Memory {
        Memory::with_capacity(window_ms, MAX_REMEMBERED)
    }

    pub(crate) fn with_capacity(window_ms: i64, capacity: usize) -> Memory {
        Memory {
            window_ms,
            capacity: capacity.max(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records `key` seen at `now_ms`; true when it was already seen within the window.
    pub(crate) fn seen_before(&self, key: u64, now_ms: i64) -> bool {
        let oldest = now_ms.saturating_sub(self.window_ms);
        let mut seen = match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        while let Some(&(hash, at)) = seen.order.front() {
            if at >= oldest && seen.order.len() < self.capacity {
                break;
            }
            seen.order.pop_front();
            if seen.last.get(&hash) == Some(&at) {
                seen.last.remove(&hash);
            }
        }
        if let Some(&at) = seen.last.get(&key)
            && at >= oldest
        {
            return true;
        }
        seen.last.insert(key, now_ms);
        seen.order.push_back((key, now_ms));
        false
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().map(|s| s.last.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_the_window_only() {
        let memory = Memory::new(1_000);
        let a = fingerprint(&"a");
        assert!(!memory.seen_before(a, 0));
        assert!(memory.seen_before(a, 500));
        assert!(memory.seen_before(a, 1_000));
        // First seen at 0: forgotten after the window.
        assert!(!memory.seen_before(a, 1_001));
        assert!(memory.seen_before(a, 1_500));
        assert!(!memory.seen_before(fingerprint(&"b"), 1_500));
    }

    #[test]
    fn memory_is_bounded_oldest_first() {
        let memory = Memory::with_capacity(i64::MAX, 3);
        for i in 0..5u32 {
            assert!(!memory.seen_before(fingerprint(&i), i64::from(i)));
        }
        assert_eq!(memory.len(), 3);
        // 0 and 1 were forgotten; 4 is remembered.
        assert!(!memory.seen_before(fingerprint(&0u32), 10));
        assert!(memory.seen_before(fingerprint(&4u32), 10));
    }
}
