//! One bucket of counts: what the aggregator keeps per (event type, producer, schema version,
//! minute), and how it becomes the long rows of `quality_minutes` (see migration 0007).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Observation, Outcome};

/// Upper bounds (inclusive, ms) of the freshness-lag buckets; one more bucket holds lags
/// over a day. A negative lag (event time in the future) counts in the first bucket.
pub(crate) const LAG_BOUNDS_MS: [i64; 18] = [
    0, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
    3_600_000, 21_600_000, 86_400_000,
];
pub(crate) const LAG_BUCKETS: usize = LAG_BOUNDS_MS.len() + 1;
pub(crate) const SCORE_BUCKETS: usize = 10;

/// Most distinct rule names counted per bucket; failures of further rules count as
/// [`OTHER_RULE`].
pub(crate) const MAX_RULES_PER_BUCKET: usize = 100;
pub(crate) const OTHER_RULE: &str = "_other";
/// Most distinct field names counted per bucket by name (when the field list is not the
/// bucket's own); further fields are not counted.
const MAX_NAMED_FIELDS: usize = 500;

pub(crate) const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Accepted, "accepted"),
    (Outcome::Warned, "warned"),
    (Outcome::Rejected, "rejected"),
    (Outcome::Duplicate, "duplicate"),
];

pub(crate) const M_OUTCOME: &str = "outcome";
pub(crate) const M_SCORE_BUCKET: &str = "score_bucket";
pub(crate) const M_SCORE_SUM: &str = "score_sum";
pub(crate) const M_LAG_BUCKET: &str = "lag_bucket";
pub(crate) const M_COMPLETENESS_EVENTS: &str = "completeness_events";
pub(crate) const M_FIELD_PRESENT: &str = "field_present";
pub(crate) const M_RULE_FAILED: &str = "rule_failed";

pub(crate) fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Accepted => 0,
        Outcome::Warned => 1,
        Outcome::Rejected => 2,
        Outcome::Duplicate => 3,
    }
}

pub(crate) fn score_bucket(score: u8) -> usize {
    usize::from(score / 10).min(SCORE_BUCKETS - 1)
}

pub(crate) fn lag_bucket(lag_ms: i64) -> usize {
    LAG_BOUNDS_MS
        .iter()
        .position(|bound| lag_ms <= *bound)
        .unwrap_or(LAG_BUCKETS - 1)
}

/// The value reported for a lag percentile that falls in bucket `index`: its upper bound;
/// the last bucket (over a day) reports one day.
pub(crate) fn lag_bucket_bound(index: usize) -> i64 {
    LAG_BOUNDS_MS[index.min(LAG_BOUNDS_MS.len() - 1)]
}

/// The counts of one key over one minute.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) outcomes: [u64; 4],
    pub(crate) scores: [u64; SCORE_BUCKETS],
    pub(crate) score_sum: u64,
    pub(crate) lags: [u64; LAG_BUCKETS],
    pub(crate) completeness_events: u64,
    /// Present counts aligned with the field list of the first event of the bucket.
    aligned: Option<(Arc<[String]>, Vec<u64>)>,
    /// Present counts of fields from other field lists, by name.
    named: HashMap<String, u64>,
    pub(crate) rules: HashMap<String, u64>,
}

impl Bucket {
    pub(crate) fn record(&mut self, o: &Observation<'_>) {
        self.outcomes[outcome_index(o.outcome)] += 1;
        self.scores[score_bucket(o.score)] += 1;
        self.score_sum += u64::from(o.score);
        if let Some(lag) = o.lag_ms {
            self.lags[lag_bucket(lag)] += 1;
        }
        if !o.fields.is_empty() {
            self.completeness_events += 1;
            self.record_fields(o.fields, o.present);
        }
        for rule in o.failed_rules {
            self.fail(rule, 1);
        }
    }

    fn record_fields(&mut self, fields: &Arc<[String]>, present: &[bool]) {
        let aligned = self
            .aligned
            .get_or_insert_with(|| (fields.clone(), vec![0; fields.len()]));
        // An equal list from another scorer (one compiled again, or by a racing request) is
        // the same list: adopt it, so the next event takes the pointer test.
        if !Arc::ptr_eq(&aligned.0, fields) && *aligned.0 == **fields {
            aligned.0 = Arc::clone(fields);
        }
        if Arc::ptr_eq(&aligned.0, fields) {
            for (count, here) in aligned.1.iter_mut().zip(present) {
                *count += u64::from(*here);
            }
            return;
        }
        for (field, here) in fields.iter().zip(present) {
            self.add_named(field, u64::from(*here));
        }
    }

    fn add_named(&mut self, field: &str, n: u64) {
        if let Some(count) = self.named.get_mut(field) {
            *count += n;
        } else if self.named.len() < MAX_NAMED_FIELDS {
            self.named.insert(field.to_owned(), n);
        }
    }

    fn fail(&mut self, rule: &str, n: u64) {
        if let Some(count) = self.rules.get_mut(rule) {
            *count += n;
            return;
        }
        let name = if self.rules.len() < MAX_RULES_PER_BUCKET {
            rule
        } else {
            OTHER_RULE
        };
        *self.rules.entry(name.to_owned()).or_default() += n;
    }

    /// Adds `other`'s counts to this bucket.
    pub(crate) fn merge(&mut self, other: Bucket) {
        add(&mut self.outcomes, &other.outcomes);
        add(&mut self.scores, &other.scores);
        self.score_sum += other.score_sum;
        add(&mut self.lags, &other.lags);
        self.completeness_events += other.completeness_events;
        if let Some((fields, counts)) = other.aligned {
            match &mut self.aligned {
                Some((mine, my_counts)) if Arc::ptr_eq(mine, &fields) => add(my_counts, &counts),
                None => self.aligned = Some((fields, counts)),
                Some(_) => {
                    for (field, n) in fields.iter().zip(counts) {
                        self.add_named(field, n);
                    }
                }
            }
        }
        for (field, n) in other.named {
            self.add_named(&field, n);
        }
        for (rule, n) in other.rules {
            self.fail(&rule, n);
        }
    }

    /// The bucket as (metric, label, value) rows; zero counts are left out except
    /// `field_present`, whose rows say which fields were tracked.
    pub(crate) fn rows(&self) -> Vec<(&'static str, String, i64)> {
        let mut rows = Vec::new();
        let mut push = |metric: &'static str, label: String, value: u64, keep_zero: bool| {
            if value > 0 || keep_zero {
                rows.push((metric, label, i64::try_from(value).unwrap_or(i64::MAX)));
            }
        };
        for ((_, name), n) in OUTCOMES.iter().zip(self.outcomes) {
            push(M_OUTCOME, (*name).to_owned(), n, false);
        }
        for (i, n) in self.scores.iter().enumerate() {
            push(M_SCORE_BUCKET, i.to_string(), *n, false);
        }
        push(M_SCORE_SUM, String::new(), self.score_sum, false);
        for (i, n) in self.lags.iter().enumerate() {
            push(M_LAG_BUCKET, i.to_string(), *n, false);
        }
        push(
            M_COMPLETENESS_EVENTS,
            String::new(),
            self.completeness_events,
            false,
        );
        let mut fields: HashMap<&str, u64> = HashMap::new();
        if let Some((names, counts)) = &self.aligned {
            for (name, n) in names.iter().zip(counts) {
                *fields.entry(name.as_str()).or_default() += n;
            }
        }
        for (name, n) in &self.named {
            *fields.entry(name.as_str()).or_default() += n;
        }
        for (name, n) in fields {
            push(M_FIELD_PRESENT, name.to_owned(), n, true);
        }
        for (rule, n) in &self.rules {
            push(M_RULE_FAILED, rule.clone(), *n, false);
        }
        rows
    }
}

fn add(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_of_scores_and_lags() {
        assert_eq!(score_bucket(0), 0);
        assert_eq!(score_bucket(9), 0);
        assert_eq!(score_bucket(89), 8);
        assert_eq!(score_bucket(90), 9);
        assert_eq!(score_bucket(100), 9);
        assert_eq!(lag_bucket(-5_000), 0);
        assert_eq!(lag_bucket(0), 0);
        assert_eq!(lag_bucket(1), 1);
        assert_eq!(lag_bucket(1_000), 7);
        assert_eq!(lag_bucket(86_400_000), 17);
        assert_eq!(lag_bucket(86_400_001), 18);
        assert_eq!(lag_bucket_bound(18), 86_400_000);
    }

    #[test]
    fn rule_names_are_bounded() {
        let mut bucket = Bucket::default();
        for i in 0..150 {
            bucket.fail(&format!("rule{i}"), 1);
        }
        assert_eq!(bucket.rules.len(), MAX_RULES_PER_BUCKET + 1);
        assert_eq!(bucket.rules[OTHER_RULE], 50);
    }

    #[test]
    fn equal_field_lists_count_aligned() {
        let a: Arc<[String]> = Arc::from(vec![String::from("/x"), String::from("/y")]);
        let b: Arc<[String]> = Arc::from(vec![String::from("/x"), String::from("/y")]);
        let mut bucket = Bucket::default();
        for (fields, present) in [(&a, [true, false]), (&b, [true, true]), (&b, [false, true])] {
            bucket.record(&observation(fields, &present));
        }
        assert!(bucket.named.is_empty(), "{:?}", bucket.named);
        let (names, counts) = bucket.aligned.as_ref().expect("aligned counts");
        assert!(Arc::ptr_eq(names, &b), "the bucket adopts the newer list");
        assert_eq!(counts, &[2, 2]);
        let rows = bucket.rows();
        assert!(rows.contains(&(M_FIELD_PRESENT, String::from("/x"), 2)));
        assert!(rows.contains(&(M_FIELD_PRESENT, String::from("/y"), 2)));
    }

    fn observation<'a>(fields: &'a Arc<[String]>, present: &'a [bool]) -> Observation<'a> {
        Observation {
            event_type: "t",
            producer: "p",
            schema_version: 1,
            received_at_ms: 0,
            outcome: Outcome::Accepted,
            score: 100,
            lag_ms: None,
            fields,
            present,
            failed_rules: &[],
        }
    }

    #[test]
    fn foreign_field_lists_are_counted_by_name() {
        let a: Arc<[String]> = Arc::from(vec![String::from("/x"), String::from("/y")]);
        let b: Arc<[String]> = Arc::from(vec![String::from("/y"), String::from("/z")]);
        let mut bucket = Bucket::default();
        let observe = |fields: &Arc<[String]>, present: &[bool], bucket: &mut Bucket| {
            bucket.record(&observation(fields, present));
        };
        observe(&a, &[true, false], &mut bucket);
        observe(&b, &[true, true], &mut bucket);
        let rows = bucket.rows();
        let present = |name: &str| {
            rows.iter()
                .find(|(m, l, _)| *m == M_FIELD_PRESENT && l == name)
                .map(|r| r.2)
        };
        assert_eq!(present("/x"), Some(1));
        assert_eq!(present("/y"), Some(1));
        assert_eq!(present("/z"), Some(1));
        assert!(rows.contains(&(M_COMPLETENESS_EVENTS, String::new(), 2)));
    }
}
