//! Checking a broker's answers about offsets against the records themselves.
//!
//! Brokers answer ListOffsets (the end of a partition, the offset for a timestamp) from
//! indexes that can be wrong — Tansu's `memory://` engine answers 0 for every timestamp and
//! under-reports the end of partitions holding multi-record batches; several brokers answer 0
//! instead of "none" for a timestamp after the last record. The functions here are pure: given
//! what the broker claimed and what reading the records showed, they say which answer is true.

/// The offsets whose records decide whether a broker's answer `O` to "first offset with a
/// timestamp at or after T" holds: `at` (record `O`, must be at or after T) and `before`
/// (record `O - 1`, must be before T). `None` when `O` is outside `[low, high]`, which no
/// correct answer can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimeProbes {
    pub(super) at: Option<i64>,
    pub(super) before: Option<i64>,
}

/// Which records to read to check `answer` (`None`: the broker said no record is that late,
/// which means the high watermark).
pub(super) fn time_probes(low: i64, high: i64, answer: Option<i64>) -> Option<TimeProbes> {
    let answer = answer.unwrap_or(high);
    if answer < low || answer > high {
        return None;
    }
    Some(TimeProbes {
        at: (answer < high).then_some(answer),
        before: (answer > low).then_some(answer - 1),
    })
}

/// Whether the records read at the probes confirm the answer for `target`. `at_ts` and
/// `before_ts` are the timestamps found at the probe offsets (`None` where there was nothing
/// to read, or no record was found there — which fails the check if a probe was asked for).
pub(super) fn time_answer_holds(
    probes: TimeProbes,
    target: i64,
    at_ts: Option<i64>,
    before_ts: Option<i64>,
) -> bool {
    if probes.at.is_some() {
        match at_ts {
            Some(ts) if ts >= target => {}
            _ => return false,
        }
    }
    if probes.before.is_some() {
        match before_ts {
            Some(ts) if ts < target => {}
            _ => return false,
        }
    }
    true
}

/// The first offset in `[low, high)` whose record timestamp is at or after `target`, or
/// `high` if none is, by binary search over `timestamp_at(offset)`.
///
/// Exact when timestamps are non-decreasing within the partition (Tributary's producers write
/// event time, which is close to but not strictly monotonic): with out-of-order timestamps it
/// returns *an* offset `O` with `ts(O) >= target` and `ts(O - 1) < target`, which is what
/// Kafka's own time index answers in spirit but not necessarily the same offset.
pub(super) fn first_at_or_after<E>(
    low: i64,
    high: i64,
    target: i64,
    mut timestamp_at: impl FnMut(i64) -> Result<i64, E>,
) -> Result<i64, E> {
    let (mut lo, mut hi) = (low, high);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if timestamp_at(mid)? >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Where to start reading again when a fetch at `offset` came back starting *after* it
/// (a broker that answers a fetch in the middle of a batch with the next batch), on the
/// `attempt`-th retry (1, 2, …): 1, 8, 64, … records earlier, never below `low`.
pub(super) fn step_back(offset: i64, low: i64, attempt: u32) -> i64 {
    let distance = 8i64.saturating_pow(attempt.saturating_sub(1));
    offset.saturating_sub(distance).max(low)
}

/// The end of a partition, given what ListOffsets claimed and the end a Fetch reached
/// (the offset after the last record, when the broker reported end-of-partition).
/// Returns the verified end and whether the claim was wrong.
pub(super) fn verified_end(claimed: i64, observed: i64) -> (i64, bool) {
    (observed, observed != claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Timestamps of a partition `[low, low + ts.len())`.
    fn answer_is_right(low: i64, ts: &[i64], target: i64, answer: Option<i64>) -> bool {
        let high = low + ts.len() as i64;
        let Some(probes) = time_probes(low, high, answer) else {
            return false;
        };
        let at = probes.at.map(|o| ts[(o - low) as usize]);
        let before = probes.before.map(|o| ts[(o - low) as usize]);
        time_answer_holds(probes, target, at, before)
    }

    const TS: [i64; 6] = [100, 110, 120, 120, 120, 150];

    #[test]
    fn correct_answers_are_accepted() {
        assert!(answer_is_right(0, &TS, 50, Some(0)));
        assert!(answer_is_right(0, &TS, 100, Some(0)));
        assert!(answer_is_right(0, &TS, 101, Some(1)));
        assert!(
            answer_is_right(0, &TS, 120, Some(2)),
            "first of equal stamps"
        );
        assert!(answer_is_right(0, &TS, 121, Some(5)));
        assert!(answer_is_right(0, &TS, 151, Some(6)), "high watermark");
        assert!(answer_is_right(0, &TS, 151, None), "'none' means the end");
        assert!(
            answer_is_right(10, &TS, 99, Some(10)),
            "retention moved low"
        );
        assert!(answer_is_right(0, &[], 5, Some(0)), "empty partition");
        assert!(answer_is_right(0, &[], 5, None));
    }

    #[test]
    fn wrong_answers_are_caught() {
        // Tansu memory://: always 0.
        assert!(!answer_is_right(0, &TS, 130, Some(0)));
        // 0 instead of "none" after the last record.
        assert!(!answer_is_right(0, &TS, 151, Some(0)));
        // Not the first of equal timestamps.
        assert!(!answer_is_right(0, &TS, 120, Some(3)));
        // Past the record that qualifies.
        assert!(!answer_is_right(0, &TS, 110, Some(2)));
        // "none" although a record qualifies.
        assert!(!answer_is_right(0, &TS, 150, None));
        // Outside the partition.
        assert!(!answer_is_right(0, &TS, 50, Some(-1)));
        assert!(!answer_is_right(0, &TS, 200, Some(7)));
        assert!(
            !answer_is_right(10, &TS, 50, Some(0)),
            "below low watermark"
        );
    }

    #[test]
    fn a_probe_that_found_nothing_fails_the_check() {
        let probes = time_probes(0, 6, Some(2)).unwrap();
        assert!(!time_answer_holds(probes, 120, None, Some(110)));
        assert!(!time_answer_holds(probes, 120, Some(120), None));
    }

    #[test]
    fn search_finds_the_first_record_at_or_after() {
        let ts = |o: i64| Ok::<_, ()>(TS[o as usize]);
        for (target, expected) in [
            (0, 0),
            (100, 0),
            (101, 1),
            (120, 2),
            (121, 5),
            (150, 5),
            (151, 6),
        ] {
            assert_eq!(
                first_at_or_after(0, 6, target, ts),
                Ok(expected),
                "{target}"
            );
        }
        assert_eq!(first_at_or_after(3, 3, 1, ts), Ok(3), "empty range");
        let failing = |_: i64| Err::<i64, _>("down");
        assert_eq!(first_at_or_after(0, 6, 1, failing), Err("down"));
    }

    #[test]
    fn search_agrees_with_a_scan_on_every_target() {
        let ts: Vec<i64> = (0..200).map(|i| 1000 + (i / 3) * 7).collect();
        for target in 990..1500 {
            let scan = ts
                .iter()
                .position(|&t| t >= target)
                .map_or(ts.len() as i64, |p| p as i64);
            let found =
                first_at_or_after(0, ts.len() as i64, target, |o| Ok::<_, ()>(ts[o as usize]));
            assert_eq!(found, Ok(scan), "{target}");
            assert!(answer_is_right(0, &ts, target, Some(scan)));
        }
    }

    #[test]
    fn stepping_back_grows_and_stops_at_low() {
        assert_eq!(step_back(100, 0, 1), 99);
        assert_eq!(step_back(100, 0, 2), 92);
        assert_eq!(step_back(100, 0, 3), 36);
        assert_eq!(step_back(100, 0, 4), 0);
        assert_eq!(step_back(100, 50, 3), 50);
        assert_eq!(step_back(5, 0, 40), 0, "no overflow");
    }

    #[test]
    fn end_is_what_the_fetch_reached() {
        assert_eq!(verified_end(50, 50), (50, false));
        assert_eq!(
            verified_end(8, 50),
            (50, true),
            "under-reported (memory://)"
        );
        assert_eq!(verified_end(60, 50), (50, true), "over-reported");
    }
}
