//! The quality chart, drawn on the server as SVG: three panels over one time axis — mean
//! score (0–100), volume (events per bucket, accepted and dead-lettered stacked), and
//! freshness (p99 lag). No script and no library: the numbers come from the quality history
//! and every label is text the page escapes. The same numbers follow in a table for screen
//! readers and for copying.

use maud::{Markup, html};
use tributary_quality::Point;

use super::format;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const PANEL: f64 = 96.0;
const GAP: f64 = 34.0;
const TOP: f64 = 22.0;

/// What the chart covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    /// The width of one bucket.
    pub(crate) bucket_ms: i64,
}

impl Span {
    fn x(&self, at_ms: i64) -> f64 {
        let width = (self.to_ms - self.from_ms).max(1) as f64;
        let centre = (at_ms + self.bucket_ms / 2 - self.from_ms) as f64;
        LEFT + (centre / width).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn bar_width(&self) -> f64 {
        let width = (self.to_ms - self.from_ms).max(1) as f64;
        ((self.bucket_ms as f64 / width) * (WIDTH - LEFT - RIGHT) * 0.8).clamp(1.0, 40.0)
    }
}

/// The chart of `points` (oldest first, buckets with events only).
pub(crate) fn quality_chart(title: &str, span: Span, points: &[Point]) -> Markup {
    let height = TOP + 3.0 * PANEL + 2.0 * GAP + 26.0;
    let max_volume = points
        .iter()
        .map(|p| p.summary.volume)
        .max()
        .unwrap_or(0)
        .max(1);
    let max_lag = points
        .iter()
        .filter_map(|p| p.summary.lag_p99_ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let scores: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| p.summary.mean_score.map(|s| (span.x(p.at_ms), s)))
        .collect();
    let lags: Vec<(f64, i64)> = points
        .iter()
        .filter_map(|p| p.summary.lag_p99_ms.map(|l| (span.x(p.at_ms), l)))
        .collect();
    let top = |panel: usize| TOP + panel as f64 * (PANEL + GAP);
    let score_y = |s: f64| top(0) + PANEL - (s.clamp(0.0, 100.0) / 100.0) * PANEL;
    let lag_y = |l: i64| top(2) + PANEL - (l as f64 / max_lag as f64).clamp(0.0, 1.0) * PANEL;
    let volume_h = |v: u64| (v as f64 / max_volume as f64) * PANEL;
    let line = |pts: &[(f64, f64)]| {
        pts.iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let score_line = line(
        &scores
            .iter()
            .map(|&(x, s)| (x, score_y(s)))
            .collect::<Vec<_>>(),
    );
    let lag_line = line(&lags.iter().map(|&(x, l)| (x, lag_y(l))).collect::<Vec<_>>());
    let total: u64 = points.iter().map(|p| p.summary.volume).sum();
    let description = if points.is_empty() {
        String::from("No events in this range.")
    } else {
        let worst = scores.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        format!(
            "{} events in {} buckets from {} to {}; lowest mean score {:.0}; highest p99 freshness lag {}.",
            format::count(total),
            points.len(),
            format::utc(span.from_ms),
            format::utc(span.to_ms),
            if worst.is_finite() { worst } else { 0.0 },
            format::duration_ms(max_lag),
        )
    };
    let plot_right = WIDTH - RIGHT;
    html! {
        figure.chart {
            svg.quality-chart viewBox={ "0 0 " (WIDTH) " " (height) } width="100%" role="img"
                aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet" {
                title #chart-title { (title) }
                desc #chart-desc { (description) }
                // Panel frames, labels and gridlines.
                @for (panel, label, max) in [
                    (0, "Mean score", String::from("100")),
                    (1, "Volume (events)", format::count(max_volume)),
                    (2, "Freshness lag p99", format::duration_ms(max_lag)),
                ] {
                    text.panel-label x=(LEFT) y=(top(panel) - 7.0) { (label) }
                    line.grid x1=(LEFT) x2=(plot_right) y1=(top(panel)) y2=(top(panel)) {}
                    line.grid x1=(LEFT) x2=(plot_right) y1=(top(panel) + PANEL / 2.0) y2=(top(panel) + PANEL / 2.0) {}
                    line.axis x1=(LEFT) x2=(plot_right) y1=(top(panel) + PANEL) y2=(top(panel) + PANEL) {}
                    text.tick x=(LEFT - 6.0) y=(top(panel) + 4.0) text-anchor="end" { (max) }
                    text.tick x=(LEFT - 6.0) y=(top(panel) + PANEL + 4.0) text-anchor="end" { "0" }
                }
                @if points.is_empty() {
                    text.empty-note x=(WIDTH / 2.0) y=(top(1) + PANEL / 2.0) text-anchor="middle" {
                        "No events in this range"
                    }
                }
                polyline.series-score points=(score_line) {}
                @for &(x, s) in &scores {
                    circle.dot-score cx=(format!("{x:.1}")) cy=(format!("{:.1}", score_y(s))) r="2.5" {}
                }
                @for p in points {
                    @let x = span.x(p.at_ms);
                    @let w = span.bar_width();
                    @let good = p.summary.volume - p.summary.rejected.min(p.summary.volume);
                    @let base = top(1) + PANEL;
                    rect.bar-volume x=(format!("{:.1}", x - w / 2.0)) y=(format!("{:.1}", base - volume_h(good)))
                        width=(format!("{w:.1}")) height=(format!("{:.1}", volume_h(good))) {}
                    @if p.summary.rejected > 0 {
                        rect.bar-rejected x=(format!("{:.1}", x - w / 2.0))
                            y=(format!("{:.1}", base - volume_h(p.summary.volume)))
                            width=(format!("{w:.1}")) height=(format!("{:.1}", volume_h(p.summary.rejected))) {}
                    }
                }
                polyline.series-lag points=(lag_line) {}
                text.tick x=(LEFT) y=(height - 6.0) { (format::utc(span.from_ms)) }
                text.tick x=(plot_right) y=(height - 6.0) text-anchor="end" { (format::utc(span.to_ms)) }
            }
            figcaption {
                span.key.key-score { "Mean score" } " "
                span.key.key-volume { "Accepted" } " "
                span.key.key-rejected { "Dead-lettered" } " "
                span.key.key-lag { "p99 lag" }
            }
        }
        details.chart-data {
            summary { "The chart's numbers" }
            table {
                caption.visually-hidden { (title) ", as a table" }
                thead { tr {
                    th scope="col" { "Bucket (UTC)" } th scope="col" { "Events" }
                    th scope="col" { "Dead-lettered" } th scope="col" { "Mean score" } th scope="col" { "p99 lag" }
                } }
                tbody {
                    @for p in points {
                        tr {
                            td { (format::utc(p.at_ms)) }
                            td.num { (format::count(p.summary.volume)) }
                            td.num { (format::count(p.summary.rejected)) }
                            td.num { @if let Some(s) = p.summary.mean_score { (format!("{s:.1}")) } @else { "—" } }
                            td.num { @if let Some(l) = p.summary.lag_p99_ms { (format::duration_ms(l)) } @else { "—" } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_quality::Summary;

    fn point(at_ms: i64, volume: u64, rejected: u64, score: f64, lag: i64) -> Point {
        Point {
            at_ms,
            summary: Summary {
                volume,
                accepted: volume - rejected,
                rejected,
                mean_score: Some(score),
                lag_p99_ms: Some(lag),
                ..Summary::default()
            },
            baseline_volume: None,
            volume_vs_baseline: None,
        }
    }

    #[test]
    fn draws_every_series_inside_the_frame() {
        let span = Span {
            from_ms: 0,
            to_ms: 3_600_000,
            bucket_ms: 60_000,
        };
        let points = [
            point(0, 10, 0, 100.0, 500),
            point(1_800_000, 40, 10, 50.0, 2_000),
            point(3_540_000, 20, 0, 80.0, 1_000),
        ];
        let out = quality_chart("Quality of <orders>", span, &points).into_string();
        assert!(out.contains("<svg"), "{out}");
        assert!(out.contains("role=\"img\""), "{out}");
        assert!(out.contains("Quality of &lt;orders&gt;"), "{out}");
        assert_eq!(out.matches("class=\"dot-score\"").count(), 3);
        assert_eq!(out.matches("class=\"bar-volume\"").count(), 3);
        assert_eq!(out.matches("class=\"bar-rejected\"").count(), 1);
        // The lowest score (50) sits halfway down the score panel.
        let half = format!("{:.1}", TOP + PANEL / 2.0);
        assert!(out.contains(&format!("cy=\"{half}\"")), "{out}");
        assert!(out.contains("70 events in 3 buckets"), "{out}");
    }

    #[test]
    fn an_empty_range_says_so() {
        let span = Span {
            from_ms: 0,
            to_ms: 60_000,
            bucket_ms: 60_000,
        };
        let out = quality_chart("q", span, &[]).into_string();
        assert!(out.contains("No events in this range"), "{out}");
    }
}
