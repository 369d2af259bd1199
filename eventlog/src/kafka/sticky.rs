//! The partition for keyless records: appends that overlap in time share one, appends that
//! follow each other rotate.
//!
//! Rotating on every append (as the embedded log does) sends a burst of single-record appends
//! to every partition at once, so librdkafka sends one produce request per partition, each
//! holding a record or two. Kafka's own producers stick to one partition for keyless records
//! until a batch is sent (KIP-480; librdkafka's `sticky.partitioning.linger.ms`, twice
//! `linger.ms` by default). Here an append joins the current partition while another append
//! still holds it and the window (twice `linger`) has not run out; otherwise it takes the
//! next partition. Under load the records of concurrent appends travel together; one append
//! after another still spreads over every partition in turn.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Shared by every append of one producer.
#[derive(Debug)]
pub(super) struct Sticky {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The current choice, bumped whenever a new partition is chosen; the partition is the
    /// choices made before it modulo the topic's partition count.
    generation: u64,
    /// Appends holding the current choice.
    holders: usize,
    /// The current choice takes no new holders from then on.
    until: Instant,
}

/// One append's share of the current choice, released when dropped.
#[derive(Debug)]
pub(super) struct Hold<'a> {
    sticky: &'a Sticky,
    generation: u64,
}

impl Sticky {
    pub(super) fn new(window: Duration) -> Sticky {
        Sticky {
            window,
            state: Mutex::new(State {
                generation: 0,
                holders: 0,
                until: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The choice an append starting at `now` joins, or a new one.
    pub(super) fn hold(&self, now: Instant) -> Hold<'_> {
        let mut state = self.lock();
        if state.holders == 0 || now >= state.until {
            state.generation += 1;
            state.holders = 0;
            state.until = now + self.window;
        }
        state.holders += 1;
        Hold {
            sticky: self,
            generation: state.generation,
        }
    }
}

impl Hold<'_> {
    pub(super) fn partition(&self, partitions: u32) -> u32 {
        // The first choice (generation 1) is partition 0.
        ((self.generation - 1) % u64::from(partitions.max(1))) as u32
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let mut state = self.sticky.lock();
        // Holders of an older choice no longer count.
        if state.generation == self.generation {
            state.holders -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(2);

    #[test]
    fn appends_one_after_another_rotate_over_every_partition() {
        let sticky = Sticky::new(WINDOW);
        let now = Instant::now();
        let partitions: Vec<u32> = (0..7).map(|_| sticky.hold(now).partition(3)).collect();
        assert_eq!(partitions, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn overlapping_appends_share_a_partition_until_the_window_ends() {
        let sticky = Sticky::new(WINDOW);
        let start = Instant::now();
        let first = sticky.hold(start);
        let second = sticky.hold(start + Duration::from_millis(1));
        assert_eq!(second.partition(3), first.partition(3), "joins while held");
        let late = sticky.hold(start + WINDOW);
        assert_ne!(late.partition(3), first.partition(3), "the window ran out");
        // The late choice is now current; it has a holder, so the next append joins it.
        let joined = sticky.hold(start + WINDOW);
        assert_eq!(joined.partition(3), late.partition(3));
        // Releasing the older holds does not release the current choice.
        drop((first, second));
        let again = sticky.hold(start + WINDOW);
        assert_eq!(again.partition(3), late.partition(3));
        drop((late, joined, again));
        let next = sticky.hold(start + WINDOW);
        assert_eq!(next.partition(3), 2, "nobody held it: the next partition");
    }

    #[test]
    fn a_zero_window_rotates_even_under_overlap() {
        let sticky = Sticky::new(Duration::ZERO);
        let now = Instant::now();
        let a = sticky.hold(now);
        let b = sticky.hold(now);
        assert_ne!(a.partition(2), b.partition(2));
    }
}
