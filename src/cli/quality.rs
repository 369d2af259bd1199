//! `tributary quality show | rules`: an event type's quality from the command line — a compact
//! summary with a sparkline per metric, and its rule set (print it, or put a new one from a
//! file). Talks to a running server's `/v1` API.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

use super::Failure;
use super::schema::client::{CliError, RegistryClient};

/// An event type's quality: its summary over a time range, and its rules.
#[derive(Debug, clap::Args)]
pub(crate) struct QualityArgs {
    #[command(flatten)]
    global: super::server_args::ServerArgs,

    #[command(subcommand)]
    command: QualityCommand,
}

#[derive(Debug, Subcommand)]
enum QualityCommand {
    /// A compact summary of an event type's quality with a sparkline per metric: score,
    /// volume, freshness lag, dead letters, and the rules that fail most.
    Show {
        /// The event type.
        event_type: String,
        /// Start of the range: RFC 3339, or relative such as -6h [default: -1h].
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        from: Option<String>,
        /// End of the range (exclusive): RFC 3339, relative, or now [default: now].
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        to: Option<String>,
    },
    /// Print an event type's quality rules, or put a new version of them from a file.
    Rules {
        /// The event type.
        event_type: String,
        /// A JSON file holding the rule set (`{"rules": [...], "weights": {...}}`); `-` reads
        /// standard input. The server checks it against the type's latest schema.
        #[arg(long, value_name = "FILE")]
        set: Option<PathBuf>,
    },
}

pub(crate) async fn run(args: QualityArgs) -> Result<(), Failure> {
    let json = args.global.json;
    match dispatch(args).await {
        Ok(()) => Ok(()),
        Err(error) => {
            if json && let CliError::Api { code, message } = &error {
                println!(
                    "{}",
                    serde_json::json!({ "status": code, "message": message })
                );
            }
            Err(Failure {
                message: super::schema::message(&error),
                exit_code: error.exit_code(),
            })
        }
    }
}

async fn dispatch(args: QualityArgs) -> Result<(), CliError> {
    let client = RegistryClient::new(&args.global.server, args.global.timeout)?;
    match &args.command {
        QualityCommand::Show {
            event_type,
            from,
            to,
        } => {
            let query = [
                ("from", from.as_deref().unwrap_or("-1h")),
                ("to", to.as_deref().unwrap_or("now")),
            ];
            let path = ["event-types", event_type.as_str(), "quality"];
            let report: Value = client.v1(Method::GET, &path, &query, None).await?;
            if args.global.json {
                println!("{report}");
            } else {
                print!("{}", render_summary(event_type, &report));
            }
            Ok(())
        }
        QualityCommand::Rules { event_type, set } => {
            let path = ["event-types", event_type.as_str(), "quality", "rules"];
            let answer: Value = match set {
                None => client.v1(Method::GET, &path, &[], None).await?,
                Some(file) => {
                    let body = read_rules(file).await?;
                    client.v1(Method::PUT, &path, &[], Some(&body)).await?
                }
            };
            if args.global.json {
                println!("{answer}");
            } else {
                let pretty = serde_json::to_string_pretty(&answer).unwrap_or_default();
                println!("{pretty}");
            }
            Ok(())
        }
    }
}

async fn read_rules(file: &PathBuf) -> Result<Value, CliError> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Input(format!("cannot read standard input: {e}")))?;
        text
    } else {
        tokio::fs::read_to_string(file)
            .await
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?
    };
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{} is not JSON: {e}", file.display())))
}

/// Eight levels, lowest to highest.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value, scaled between the series' minimum and maximum; a gap (no data)
/// is a space. A flat series sits on the lowest bar.
pub(crate) fn sparkline(values: &[Option<f64>]) -> String {
    let known = values.iter().flatten().copied();
    let (min, max) = known.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    values
        .iter()
        .map(|value| match value {
            None => ' ',
            Some(v) if max > min => {
                let level = ((v - min) / (max - min) * 7.0).round();
                BARS[(level as usize).min(7)]
            }
            Some(_) => BARS[0],
        })
        .collect()
}

/// Most characters a sparkline spans; longer ranges merge neighbouring buckets.
const MAX_WIDTH: usize = 60;

/// One column of the summary: what the buckets it merges add up to.
#[derive(Debug, Default, Clone, Copy)]
struct Column {
    volume: f64,
    rejected: f64,
    score_sum: f64,
    scored: f64,
    lag_p99_ms: Option<f64>,
}

/// The report's points as at most [`MAX_WIDTH`] columns over `[from, to)`, empty buckets
/// included (points leave them out).
fn columns(report: &Value) -> Vec<Column> {
    let from = report["from_ms"].as_i64().unwrap_or(0);
    let to = report["to_ms"].as_i64().unwrap_or(from);
    let step = report["resolution_ms"].as_i64().unwrap_or(60_000).max(1);
    let buckets = usize::try_from((to - from + step - 1) / step)
        .unwrap_or(0)
        .max(1);
    let per_column = buckets.div_ceil(MAX_WIDTH);
    let mut out = vec![Column::default(); buckets.div_ceil(per_column)];
    let points = report["series"][0]["points"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for point in &points {
        let at = point["at_ms"].as_i64().unwrap_or(from);
        let Ok(bucket) = usize::try_from((at - from) / step) else {
            continue;
        };
        let Some(column) = out.get_mut(bucket / per_column) else {
            continue;
        };
        let volume = point["volume"].as_f64().unwrap_or(0.0);
        column.volume += volume;
        column.rejected += point["rejected"].as_f64().unwrap_or(0.0);
        if let Some(mean) = point["mean_score"].as_f64() {
            column.score_sum += mean * volume;
            column.scored += volume;
        }
        if let Some(lag) = point["lag_p99_ms"].as_f64() {
            column.lag_p99_ms = Some(column.lag_p99_ms.map_or(lag, |seen| seen.max(lag)));
        }
    }
    out
}

fn render_summary(event_type: &str, report: &Value) -> String {
    use std::fmt::Write;

    let columns = columns(report);
    let totals = &report["totals"];
    let count = |key: &str| totals[key].as_u64().unwrap_or(0);
    let resolution = report["resolution"].as_str().unwrap_or("minute");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{event_type}: {} → {} ({resolution} buckets)",
        time_text(report["from_ms"].as_i64()),
        time_text(report["to_ms"].as_i64()),
    );
    let volume: Vec<Option<f64>> = columns.iter().map(|c| Some(c.volume)).collect();
    let _ = writeln!(
        out,
        "  volume        {}  {} events (accepted {}, warned {}, duplicates {})",
        sparkline(&volume),
        count("volume"),
        count("accepted"),
        count("warned"),
        count("duplicates"),
    );
    let score: Vec<Option<f64>> = columns
        .iter()
        .map(|c| (c.scored > 0.0).then(|| c.score_sum / c.scored))
        .collect();
    let mean = totals["mean_score"]
        .as_f64()
        .map_or_else(|| String::from("no events"), |m| format!("mean {m:.1}"));
    let _ = writeln!(out, "  score         {}  {mean}", sparkline(&score));
    let lag: Vec<Option<f64>> = columns.iter().map(|c| c.lag_p99_ms).collect();
    let lags = match (totals["lag_p50_ms"].as_i64(), totals["lag_p99_ms"].as_i64()) {
        (Some(p50), Some(p99)) => format!("p50 ≤ {} · p99 ≤ {}", lag_text(p50), lag_text(p99)),
        _ => String::from("no event times"),
    };
    let _ = writeln!(out, "  freshness p99 {}  {lags}", sparkline(&lag));
    let dead: Vec<Option<f64>> = columns
        .iter()
        .map(|c| (c.volume > 0.0).then(|| c.rejected / c.volume))
        .collect();
    let rate = totals["dead_letter_rate"]
        .as_f64()
        .map_or_else(|| String::from("—"), |r| format!("{:.1} %", r * 100.0));
    let _ = writeln!(
        out,
        "  dead letters  {}  {} ({rate})",
        sparkline(&dead),
        count("rejected"),
    );
    if let Some(failures) = totals["rule_failures"].as_object()
        && !failures.is_empty()
    {
        let mut failing: Vec<(&String, u64)> = failures
            .iter()
            .map(|(rule, n)| (rule, n.as_u64().unwrap_or(0)))
            .collect();
        failing.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let listed: Vec<String> = failing
            .iter()
            .take(5)
            .map(|(rule, n)| format!("{rule} {n}"))
            .collect();
        let _ = writeln!(out, "  failing rules {}", listed.join(", "));
    }
    out
}

/// A time in ms since the epoch as RFC 3339 (UTC, to the minute's second).
fn time_text(ms: Option<i64>) -> String {
    let Some(ms) = ms.and_then(|ms| u64::try_from(ms).ok()) else {
        return String::from("?");
    };
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A lag bound: "250ms", "5s", "1m"; a day or more is "≥ 1d".
fn lag_text(ms: i64) -> String {
    if ms >= 86_400_000 {
        return String::from("1d or more");
    }
    let ms = u64::try_from(ms.max(0)).unwrap_or(0);
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_the_extremes() {
        let line = sparkline(&[Some(0.0), Some(50.0), None, Some(100.0)]);
        assert_eq!(line, "▁▅ █");
        assert_eq!(sparkline(&[Some(3.0), Some(3.0)]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn the_summary_fills_empty_buckets_and_names_failing_rules() {
        let report = serde_json::json!({
            "from_ms": 0, "to_ms": 240_000, "resolution": "minute", "resolution_ms": 60_000,
            "totals": {"volume": 30, "accepted": 27, "warned": 0, "rejected": 3, "duplicates": 0,
                "dead_letter_rate": 0.1, "mean_score": 80.0, "lag_p50_ms": 250, "lag_p99_ms": 1000,
                "rule_failures": {"amount_in_range": 2, "order_id_shape": 5}},
            "series": [{"totals": {}, "points": [
                {"at_ms": 0, "volume": 10, "rejected": 0, "mean_score": 90.0, "lag_p99_ms": 250},
                {"at_ms": 180_000, "volume": 20, "rejected": 3, "mean_score": 75.0, "lag_p99_ms": 1000}
            ]}]
        });
        let text = render_summary("orders.placed", &report);
        assert!(
            text.starts_with("orders.placed: 1970-01-01T00:00:00Z → 1970-01-01T00:04:00Z"),
            "{text}"
        );
        assert!(text.contains("volume        ▅▁▁█  30 events"), "{text}");
        assert!(text.contains("score         █  ▁  mean 80.0"), "{text}");
        assert!(text.contains("dead letters  ▁  █  3 (10.0 %)"), "{text}");
        assert!(text.contains("p50 ≤ 250ms · p99 ≤ 1s"), "{text}");
        assert!(
            text.contains("failing rules order_id_shape 5, amount_in_range 2"),
            "{text}"
        );
    }
}
