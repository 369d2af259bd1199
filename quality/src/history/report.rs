//! Reports over the stored history: one event type over a range (optionally split by
//! producer, schema version or field), and the overview ranking every type.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tributary_core::Database;

use super::bucket::{
    LAG_BUCKETS, M_COMPLETENESS_EVENTS, M_FIELD_PRESENT, M_LAG_BUCKET, M_OUTCOME, M_RULE_FAILED,
    M_SCORE_BUCKET, M_SCORE_SUM, OUTCOMES, SCORE_BUCKETS, lag_bucket_bound,
};
use super::store::{self, Row, Table};
use super::{HOUR_MS, HistoryOptions, MINUTE_MS};
use crate::QualityError;

/// Buckets before each point whose mean volume is its baseline.
pub const BASELINE_BUCKETS: i64 = 60;

/// How a report splits its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Producer,
    Version,
    Field,
}

impl std::str::FromStr for By {
    type Err = QualityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "producer" => Ok(By::Producer),
            "version" => Ok(By::Version),
            "field" => Ok(By::Field),
            other => Err(QualityError::BadRequest(format!(
                "by must be producer, version or field, not {other:?}"
            ))),
        }
    }
}

/// The time resolution of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    pub fn millis(self) -> i64 {
        match self {
            Resolution::Minute => MINUTE_MS,
            Resolution::Hour => HOUR_MS,
        }
    }
}

/// The quality of some events: what every point, series total and overview entry says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Events of every outcome.
    pub volume: u64,
    pub accepted: u64,
    /// Accepted with violations (warn enforcement).
    pub warned: u64,
    /// Dead-lettered.
    pub rejected: u64,
    pub duplicates: u64,
    /// `rejected / volume`; null without events.
    pub dead_letter_rate: Option<f64>,
    pub mean_score: Option<f64>,
    /// Scores 0–9, 10–19, …, 80–89, 90–100.
    pub score_histogram: [u64; SCORE_BUCKETS],
    /// Freshness lag percentiles: the upper bound of the histogram bucket the percentile
    /// falls in (86400000 means a day or more); null without lags.
    pub lag_p50_ms: Option<i64>,
    pub lag_p99_ms: Option<i64>,
    /// Events that failed each rule.
    pub rule_failures: BTreeMap<String, u64>,
}

/// Counts added up from rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    outcomes: [u64; 4],
    scores: [u64; SCORE_BUCKETS],
    score_sum: u64,
    lags: [u64; LAG_BUCKETS],
    rules: BTreeMap<String, u64>,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Counts {
    pub(crate) fn add(&mut self, metric: &str, label: &str, value: i64) {
        let n = count(value);
        let index = label.parse::<usize>().ok();
        match metric {
            M_OUTCOME => {
                if let Some(i) = OUTCOMES.iter().position(|(_, name)| *name == label) {
                    self.outcomes[i] += n;
                }
            }
            M_SCORE_BUCKET => {
                if let Some(slot) = index.and_then(|i| self.scores.get_mut(i)) {
                    *slot += n;
                }
            }
            M_SCORE_SUM => self.score_sum += n,
            M_LAG_BUCKET => {
                if let Some(slot) = index.and_then(|i| self.lags.get_mut(i)) {
                    *slot += n;
                }
            }
            M_RULE_FAILED => *self.rules.entry(label.to_owned()).or_default() += n,
            _ => {}
        }
    }

    pub(crate) fn volume(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    pub(crate) fn summary(&self) -> Summary {
        let volume = self.volume();
        let scored: u64 = self.scores.iter().sum();
        Summary {
            volume,
            accepted: self.outcomes[0],
            warned: self.outcomes[1],
            rejected: self.outcomes[2],
            duplicates: self.outcomes[3],
            dead_letter_rate: (volume > 0).then(|| self.outcomes[2] as f64 / volume as f64),
            mean_score: (scored > 0).then(|| self.score_sum as f64 / scored as f64),
            score_histogram: self.scores,
            lag_p50_ms: self.lag_percentile(0.50),
            lag_p99_ms: self.lag_percentile(0.99),
            rule_failures: self.rules.clone(),
        }
    }

    /// The upper bound of the lag bucket holding the `p` quantile.
    pub(crate) fn lag_percentile(&self, p: f64) -> Option<i64> {
        let total: u64 = self.lags.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, n) in self.lags.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(lag_bucket_bound(i));
            }
        }
        None
    }
}

/// One time bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Start of the bucket, ms since the epoch.
    pub at_ms: i64,
    #[serde(flatten)]
    pub summary: Summary,
    /// Mean volume of the [`BASELINE_BUCKETS`] buckets before this one (null when they had
    /// no events).
    pub baseline_volume: Option<f64>,
    /// `volume / baseline_volume`.
    pub volume_vs_baseline: Option<f64>,
}

/// The points of one producer, one schema version, or of everything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    pub totals: Summary,
    /// Buckets with events, oldest first (buckets without events are left out).
    pub points: Vec<Point>,
}

/// How often an optional field was present over the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldCompleteness {
    /// The field's JSON pointer.
    pub field: String,
    /// Events that carried it.
    pub present: u64,
    /// Events for which it was tracked.
    pub events: u64,
    pub completeness: Option<f64>,
}

/// The quality of one event type over `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub event_type: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub resolution: Resolution,
    pub resolution_ms: i64,
    pub by: Option<By>,
    pub totals: Summary,
    /// One series (`by` absent or `field`), or one per producer / schema version.
    pub series: Vec<Series>,
    /// With `by=field`: completeness per field, least complete first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldCompleteness>,
}

/// One event type in the overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeQuality {
    pub event_type: String,
    pub volume: u64,
    pub mean_score: Option<f64>,
    pub dead_letter_rate: Option<f64>,
}

/// A producer of an event type, as the history saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProducerSeen {
    pub event_type: String,
    pub producer: String,
    /// The schema versions it sent, ascending.
    pub schema_versions: Vec<i32>,
    /// The end of the last minute (or hour) with its events, ms since the epoch.
    pub last_seen_ms: i64,
}

/// Every event type with history in a range, worst mean score first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    pub from_ms: i64,
    pub to_ms: i64,
    pub event_types: Vec<TypeQuality>,
}

pub(crate) fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Reads the quality history.
#[derive(Debug, Clone)]
pub struct History {
    db: Database,
    rollup_after_ms: i64,
}

impl History {
    pub fn new(db: Database) -> Self {
        History::with_options(db, &HistoryOptions::default())
    }

    /// A reader that knows when minutes become hours (for the resolution of reports).
    pub fn with_options(db: Database, options: &HistoryOptions) -> Self {
        History {
            db,
            rollup_after_ms: millis(options.rollup_after),
        }
    }

    /// Minutes when the whole range is younger than the rollup age, else hours.
    pub fn resolution(&self, from_ms: i64, now_ms: i64) -> Resolution {
        if from_ms >= now_ms.saturating_sub(self.rollup_after_ms) {
            Resolution::Minute
        } else {
            Resolution::Hour
        }
    }

    /// The quality of `event_type` over `[from_ms, to_ms)`. Both tables are read: a minute
    /// row lands in its hour at hour resolution, an hour row at its hour's start at minute
    /// resolution, so nothing is missed while a rollup is under way.
    pub async fn report(
        &self,
        event_type: &str,
        from_ms: i64,
        to_ms: i64,
        by: Option<By>,
    ) -> Result<QualityReport, QualityError> {
        if from_ms >= to_ms {
            return Err(QualityError::BadRequest(String::from(
                "from must be before to",
            )));
        }
        let resolution = self.resolution(from_ms, now_ms());
        let step = resolution.millis();
        let start = from_ms.div_euclid(step) * step;
        let lookback = start - BASELINE_BUCKETS * step;
        let mut rows = store::load(&self.db, Table::Minutes, event_type, lookback, to_ms).await?;
        let hour_start = lookback.div_euclid(HOUR_MS) * HOUR_MS;
        rows.extend(store::load(&self.db, Table::Hours, event_type, hour_start, to_ms).await?);

        // Series key → bucket → counts.
        let mut series: BTreeMap<(Option<String>, Option<i64>), BTreeMap<i64, Counts>> =
            BTreeMap::new();
        let mut totals = Counts::default();
        for row in &rows {
            let at = row.key.bucket_ms.div_euclid(step) * step;
            let key = match by {
                Some(By::Producer) => (Some(row.key.producer.clone()), None),
                Some(By::Version) => (None, Some(row.key.schema_version)),
                _ => (None, None),
            };
            let buckets = series.entry(key).or_default();
            buckets
                .entry(at)
                .or_default()
                .add(&row.key.metric, &row.key.label, row.value);
            if at >= start {
                totals.add(&row.key.metric, &row.key.label, row.value);
            }
        }
        if series.is_empty() {
            series.insert((None, None), BTreeMap::new());
        }
        let series = series
            .into_iter()
            .map(|((producer, schema_version), buckets)| {
                build_series(producer, schema_version, &buckets, start, step)
            })
            .collect();
        let fields = if by == Some(By::Field) {
            completeness(&rows, start)
        } else {
            Vec::new()
        };
        Ok(QualityReport {
            event_type: event_type.to_owned(),
            from_ms,
            to_ms,
            resolution,
            resolution_ms: step,
            by,
            totals: totals.summary(),
            series,
            fields,
        })
    }

    /// Every event type with history in `[from_ms, to_ms)`, worst mean score first (then
    /// highest dead-letter rate), at most `limit`.
    /// Who sent events of `event_type` (or of every type) since `from_ms`: each producer
    /// with the schema versions it sent and when it was last seen (the end of the last minute
    /// or hour with its events), most recent first.
    pub async fn producers(
        &self,
        event_type: Option<&str>,
        from_ms: i64,
    ) -> Result<Vec<ProducerSeen>, QualityError> {
        let minutes = store::seen(&self.db, Table::Minutes, event_type, from_ms).await?;
        let hour_start = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let hours = store::seen(&self.db, Table::Hours, event_type, hour_start).await?;
        let rows = minutes
            .into_iter()
            .map(|row| (row, MINUTE_MS))
            .chain(hours.into_iter().map(|row| (row, HOUR_MS)));
        let mut by_key: BTreeMap<(String, String), ProducerSeen> = BTreeMap::new();
        for (row, width) in rows {
            let seen = by_key
                .entry((row.event_type.clone(), row.producer.clone()))
                .or_insert_with(|| ProducerSeen {
                    event_type: row.event_type,
                    producer: row.producer,
                    schema_versions: Vec::new(),
                    last_seen_ms: 0,
                });
            let version = i32::try_from(row.schema_version).unwrap_or(i32::MAX);
            if !seen.schema_versions.contains(&version) {
                seen.schema_versions.push(version);
            }
            seen.last_seen_ms = seen.last_seen_ms.max(row.last_bucket_ms + width);
        }
        let mut out: Vec<ProducerSeen> = by_key.into_values().collect();
        for seen in &mut out {
            seen.schema_versions.sort_unstable();
        }
        out.sort_by_key(|seen| std::cmp::Reverse(seen.last_seen_ms));
        Ok(out)
    }

    pub async fn overview(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Overview, QualityError> {
        let mut sums = store::sums(&self.db, Table::Minutes, None, from_ms, to_ms).await?;
        let hour_start = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        sums.extend(store::sums(&self.db, Table::Hours, None, hour_start, to_ms).await?);
        let mut by_type: HashMap<String, Counts> = HashMap::new();
        for sum in &sums {
            by_type.entry(sum.event_type.clone()).or_default().add(
                &sum.metric,
                &sum.label,
                sum.value,
            );
        }
        let mut event_types: Vec<TypeQuality> = by_type
            .into_iter()
            .map(|(event_type, counts)| {
                let summary = counts.summary();
                TypeQuality {
                    event_type,
                    volume: summary.volume,
                    mean_score: summary.mean_score,
                    dead_letter_rate: summary.dead_letter_rate,
                }
            })
            .collect();
        event_types.sort_by(|a, b| {
            let score = |t: &TypeQuality| t.mean_score.unwrap_or(f64::INFINITY);
            let rate = |t: &TypeQuality| t.dead_letter_rate.unwrap_or(0.0);
            score(a)
                .total_cmp(&score(b))
                .then(rate(b).total_cmp(&rate(a)))
                .then(a.event_type.cmp(&b.event_type))
        });
        event_types.truncate(limit);
        Ok(Overview {
            from_ms,
            to_ms,
            event_types,
        })
    }
}

fn build_series(
    producer: Option<String>,
    schema_version: Option<i64>,
    buckets: &BTreeMap<i64, Counts>,
    start: i64,
    step: i64,
) -> Series {
    let mut totals = Counts::default();
    let mut points = Vec::new();
    for (at, counts) in buckets.range(start..) {
        merge_counts(&mut totals, counts);
        let before: u64 = buckets
            .range(at - BASELINE_BUCKETS * step..*at)
            .map(|(_, c)| c.volume())
            .sum();
        let baseline = (before > 0).then(|| before as f64 / BASELINE_BUCKETS as f64);
        let summary = counts.summary();
        let volume_vs_baseline = baseline.map(|b| summary.volume as f64 / b);
        points.push(Point {
            at_ms: *at,
            summary,
            baseline_volume: baseline,
            volume_vs_baseline,
        });
    }
    Series {
        producer,
        schema_version,
        totals: totals.summary(),
        points,
    }
}

fn merge_counts(into: &mut Counts, from: &Counts) {
    for (a, b) in into.outcomes.iter_mut().zip(from.outcomes) {
        *a += b;
    }
    for (a, b) in into.scores.iter_mut().zip(from.scores) {
        *a += b;
    }
    into.score_sum += from.score_sum;
    for (a, b) in into.lags.iter_mut().zip(from.lags) {
        *a += b;
    }
    for (rule, n) in &from.rules {
        *into.rules.entry(rule.clone()).or_default() += n;
    }
}

/// Completeness per field over the rows from `start`: a field's denominator is the number of
/// events counted for completeness in the stored buckets that tracked it.
fn completeness(rows: &[Row], start: i64) -> Vec<FieldCompleteness> {
    type Key<'r> = (&'r str, i64, i64);
    let mut events: HashMap<Key<'_>, u64> = HashMap::new();
    let mut present: Vec<(Key<'_>, &str, u64)> = Vec::new();
    for row in rows.iter().filter(|r| r.key.bucket_ms >= start) {
        let key = (
            row.key.producer.as_str(),
            row.key.schema_version,
            row.key.bucket_ms,
        );
        match row.key.metric.as_str() {
            M_COMPLETENESS_EVENTS => *events.entry(key).or_default() += count(row.value),
            M_FIELD_PRESENT => present.push((key, row.key.label.as_str(), count(row.value))),
            _ => {}
        }
    }
    let mut fields: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (key, field, n) in present {
        let entry = fields.entry(field).or_default();
        entry.0 += n;
        entry.1 += events.get(&key).copied().unwrap_or(0);
    }
    let mut out: Vec<FieldCompleteness> = fields
        .into_iter()
        .map(|(field, (present, events))| FieldCompleteness {
            field: field.to_owned(),
            present,
            events,
            completeness: (events > 0).then(|| present as f64 / events as f64),
        })
        .collect();
    out.sort_by(|a, b| {
        a.completeness
            .unwrap_or(1.0)
            .total_cmp(&b.completeness.unwrap_or(1.0))
            .then(a.field.cmp(&b.field))
    });
    out
}
