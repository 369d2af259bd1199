//! `gateway-summary`: turns the JSON lines of one `bench/gateway.sh` run into the result table
//! (Markdown, on stdout) and one JSON document with the headline figures and the targets.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct SummaryArgs {
    /// The JSON lines written by the runs (`http-load` and `floor`).
    results: PathBuf,
    /// Where to write the summary JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The targets.
const MIN_SHARE_OF_FLOOR: f64 = 0.5;
const MIN_TIMES_BASELINE: f64 = 5.0;
const MAX_P99_MS: f64 = 5.0;
const MAX_RSS_MIB: f64 = 256.0;

fn num(run: &Value, key: &str) -> f64 {
    run[key].as_f64().unwrap_or(0.0)
}

/// The headline figures of one HTTP system.
fn system_summary(runs: &[Value], system: &str) -> Value {
    let mine: Vec<&Value> = runs.iter().filter(|r| r["system"] == system).collect();
    let best = |phase: &str, key: &str| {
        mine.iter()
            .filter(|r| r["phase"] == phase)
            .max_by(|a, b| num(a, key).total_cmp(&num(b, key)))
            .copied()
            .cloned()
            .unwrap_or(Value::Null)
    };
    let batch = best("batch", "events_per_second");
    let batch_most_efficient = best("batch", "events_per_server_cpu_second");
    let single_max = best("single-max", "requests_per_second");
    let open = best("single-rate", "requests_per_second");
    let peak_rss = mine
        .iter()
        .map(|r| num(r, "server_peak_rss_mib"))
        .fold(0.0, f64::max);
    let failed: f64 = mine
        .iter()
        .map(|r| num(r, "failed_requests") + num(r, "transport_errors") + num(r, "unfinished"))
        .sum();
    let rejected: f64 = mine.iter().map(|r| num(r, "events_rejected")).sum();
    json!({
        "system": system,
        "batch": {
            "connections": batch["connections"],
            "events_per_second": batch["events_per_second"],
            "server_cores": batch["server_cores"],
            "events_per_server_cpu_second": batch["events_per_server_cpu_second"],
            "broker_cores": batch["broker_cores"],
            "client_cores": batch["client_cores"],
            "p99_ms": batch["latency_ms"]["p99"],
        },
        "batch_most_efficient": {
            "connections": batch_most_efficient["connections"],
            "events_per_server_cpu_second": batch_most_efficient["events_per_server_cpu_second"],
        },
        "single_max": {
            "connections": single_max["connections"],
            "requests_per_second": single_max["requests_per_second"],
            "server_cores": single_max["server_cores"],
        },
        "single_half_load": {
            "target_rate": open["target_rate"],
            "requests_per_second": open["requests_per_second"],
            "p50_ms": open["latency_ms"]["p50"],
            "p99_ms": open["latency_ms"]["p99"],
            "p999_ms": open["latency_ms"]["p999"],
            "max_ms": open["latency_ms"]["max"],
            "server_cores": open["server_cores"],
        },
        "peak_rss_mib": peak_rss,
        "failed_requests": failed,
        "rejected_events": rejected,
    })
}

pub(crate) fn run(args: &SummaryArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| format!("read {}", args.results.display()))?;
    let runs: Vec<Value> = text
        .lines()
        .filter(|line| line.trim_start().starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("a results line is not JSON")?;

    let tributary = system_summary(&runs, "tributary");
    let baseline = system_summary(&runs, "baseline");
    let floor_run = |mode: &str| {
        runs.iter()
            .find(|r| r["system"] == "floor" && r["mode"] == mode)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let floor = floor_run("producer-loop");
    // The broker and librdkafka alone at the rate of Tributary's half-load run: the latency
    // no gateway in front of them can undercut.
    let floor_paced = floor_run("paced");

    let trib_eff = tributary["batch"]["events_per_server_cpu_second"]
        .as_f64()
        .unwrap_or(0.0);
    let base_eff = baseline["batch"]["events_per_server_cpu_second"]
        .as_f64()
        .unwrap_or(0.0);
    let floor_eff = num(&floor, "events_per_cpu_second");
    let p99 = tributary["single_half_load"]["p99_ms"].as_f64();
    let rss = tributary["peak_rss_mib"].as_f64().unwrap_or(0.0);
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            (a / b * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    // The share of the floor: the median of the alternating pairs when the run has them,
    // else the best batch run against the one floor run.
    let pairs = floor_pairs(&runs);
    let share = match median_ratio(&pairs) {
        Some(median) => json!({
            "value": (median * 100.0).round() / 100.0, "target": MIN_SHARE_OF_FLOOR,
            "met": median >= MIN_SHARE_OF_FLOOR,
            "method": format!("median of {} alternating pairs, each run on a fresh broker", pairs.len()),
            "pairs": pairs.iter().map(|&(t, f)| json!({
                "tributary": t, "floor": f, "ratio": ratio(t, f),
            })).collect::<Vec<_>>(),
        }),
        None => json!({
            "value": ratio(trib_eff, floor_eff), "target": MIN_SHARE_OF_FLOOR,
            "met": floor_eff > 0.0 && trib_eff >= MIN_SHARE_OF_FLOOR * floor_eff,
            "method": "the most efficient batch run against the floor run",
        }),
    };
    let targets = json!({
        "share_of_floor": share,
        "times_baseline": {
            "value": ratio(trib_eff, base_eff), "target": MIN_TIMES_BASELINE,
            "met": base_eff > 0.0 && trib_eff >= MIN_TIMES_BASELINE * base_eff,
        },
        "p99_ms_at_half_load": {
            "value": p99, "target": MAX_P99_MS, "met": p99.is_some_and(|p| p <= MAX_P99_MS),
        },
        "peak_rss_mib": { "value": rss, "target": MAX_RSS_MIB, "met": rss > 0.0 && rss <= MAX_RSS_MIB },
    });

    let machine = machine_record(&runs);
    print_table(&tributary, &baseline, &floor, &targets);
    if let Some(line) = speed_line(&machine) {
        println!("{line}");
    }
    if let Some(line) = stalls_line(&machine) {
        println!("{line}");
    }
    if let Some(line) = pairs_line(&targets["share_of_floor"]) {
        println!("{line}");
    }
    if !floor_paced.is_null() {
        let d = &floor_paced["delivery_ms"];
        let partitioner = if floor_paced["round_robin"] == true {
            "round-robin partitions"
        } else {
            "sticky partitions"
        };
        println!(
            "reference: a bare rdkafka producer alone at {} records/s ({partitioner}) waits p50 / p99 / p99.9 = {} / {} / {} ms for its delivery reports",
            floor_paced["rate"], d["p50"], d["p99"], d["p999"],
        );
    }
    let summary = json!({
        "bench": "gateway-summary",
        "results": args.results,
        "machine": machine,
        "tributary": tributary,
        "baseline": baseline,
        "floor": floor,
        "floor_paced": floor_paced,
        "targets": targets,
    });
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("write {}", out.display()))?;
    }
    Ok(())
}

/// The alternating pairs (`GATEWAY_PAIRS` in bench/gateway.sh), in order: Tributary's batch
/// events per server CPU-second and the floor's events per CPU-second, for each pair number
/// that has both runs.
fn floor_pairs(runs: &[Value]) -> Vec<(f64, f64)> {
    let run_of = |k: u64, system: &str| {
        runs.iter()
            .find(|r| r["system"] == system && r["pair"] == k && r["bench"] == "gateway")
    };
    let mut pairs = Vec::new();
    for k in 1.. {
        let (Some(tributary), Some(floor)) = (run_of(k, "tributary"), run_of(k, "floor")) else {
            break;
        };
        pairs.push((
            num(tributary, "events_per_server_cpu_second"),
            num(floor, "events_per_cpu_second"),
        ));
    }
    pairs
}

/// The median of the pairs' ratios (the mean of the middle two for an even count); `None`
/// without a pair whose floor measured anything.
fn median_ratio(pairs: &[(f64, f64)]) -> Option<f64> {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|(_, floor)| *floor > 0.0)
        .map(|(tributary, floor)| tributary / floor)
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    Some(if ratios.len() % 2 == 1 {
        ratios[mid]
    } else {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    })
}

/// One line listing the pairs behind the share of the floor, when there were pairs.
fn pairs_line(share: &Value) -> Option<String> {
    let pairs = share["pairs"].as_array()?;
    let each: Vec<String> = pairs
        .iter()
        .map(|p| {
            format!(
                "{:.0}k / {:.0}k = {}",
                num(p, "tributary") / 1000.0,
                num(p, "floor") / 1000.0,
                p["ratio"]
            )
        })
        .collect();
    Some(format!(
        "share of the floor, {}: {}; median {}",
        share["method"].as_str().unwrap_or("pairs"),
        each.join(", "),
        share["value"]
    ))
}

/// The machine line written before the runs, with what was measured after them merged in.
fn machine_record(runs: &[Value]) -> Value {
    let mut machine = runs
        .iter()
        .find(|r| r["bench"] == "gateway-machine")
        .cloned()
        .unwrap_or(Value::Null);
    if let (Some(start), Some(end)) = (
        machine.as_object_mut(),
        runs.iter().find(|r| r["bench"] == "gateway-machine-end"),
    ) {
        for key in [
            "cpu_loop_ns_at_end",
            "load_average_at_end",
            "host_stalls_at_end",
        ] {
            start.insert(key.to_owned(), end[key].clone());
        }
    }
    machine
}

/// How fast the machine ran, from the CPU loop timed before and after the runs.
fn speed_line(machine: &Value) -> Option<String> {
    let start = machine["cpu_loop_ns_at_start"].as_f64()?;
    let end = machine["cpu_loop_ns_at_end"]
        .as_f64()
        .map_or_else(|| "—".to_owned(), |ns| ns.to_string());
    Some(format!(
        "machine speed: a fixed Python loop took {start} ns per iteration before the runs and {end} after; compare runs only at similar values"
    ))
}

/// Whether the machine stopped as a whole now and then (`bench/host-stalls.py`), before the
/// runs and after them; `None` when neither was measured.
fn stalls_line(machine: &Value) -> Option<String> {
    let probe = |key: &str| {
        let stalls = &machine[key];
        let per_second = stalls["stops_per_second"].as_f64()?;
        let longest = stalls["longest_ms"].as_f64().unwrap_or(0.0);
        Some(format!("{per_second} a second, longest {longest} ms"))
    };
    let (start, end) = (probe("host_stalls_at_start"), probe("host_stalls_at_end"));
    if start.is_none() && end.is_none() {
        return None;
    }
    let or_dash = |s: Option<String>| s.unwrap_or_else(|| "—".to_owned());
    Some(format!(
        "whole-machine stops of 2 ms or more under a waking load (bench/host-stalls.py): {} before the runs, {} after; each makes every request in flight that much later",
        or_dash(start),
        or_dash(end)
    ))
}

fn print_table(tributary: &Value, baseline: &Value, floor: &Value, targets: &Value) {
    let thousands = |v: &Value| {
        let n = v.as_f64().unwrap_or(0.0).round() as i64;
        let digits = n.abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    };
    let plain = |v: &Value| match v {
        Value::Null => "—".to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    println!(
        "| system | batch conns | events/s | server cores | events / server CPU-s | broker cores | loadgen cores | single-event max req/s | half load req/s | p50 / p99 / p99.9 ms | peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in [tributary, baseline] {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} |",
            s["system"].as_str().unwrap_or("?"),
            plain(&s["batch"]["connections"]),
            thousands(&s["batch"]["events_per_second"]),
            plain(&s["batch"]["server_cores"]),
            thousands(&s["batch"]["events_per_server_cpu_second"]),
            plain(&s["batch"]["broker_cores"]),
            plain(&s["batch"]["client_cores"]),
            thousands(&s["single_max"]["requests_per_second"]),
            thousands(&s["single_half_load"]["requests_per_second"]),
            plain(&s["single_half_load"]["p50_ms"]),
            plain(&s["single_half_load"]["p99_ms"]),
            plain(&s["single_half_load"]["p999_ms"]),
            plain(&s["peak_rss_mib"]),
        );
    }
    println!(
        "| floor (bare rdkafka, 1 thread) | — | {} | {} | {} | {} | — | — | — | — | {} |",
        thousands(&floor["events_per_second"]),
        plain(&floor["cores"]),
        thousands(&floor["events_per_cpu_second"]),
        plain(&floor["broker_cores"]),
        plain(&floor["peak_rss_mib"]),
    );
    println!();
    let verdict = |t: &Value| if t["met"] == true { "met" } else { "NOT met" };
    let t = &targets;
    println!(
        "targets: events/CPU-s ≥ {}× floor: {} ({}); ≥ {}× baseline: {} ({}); p99 ≤ {} ms at half load: {} ({}); peak RSS ≤ {} MiB: {} ({})",
        MIN_SHARE_OF_FLOOR,
        plain(&t["share_of_floor"]["value"]),
        verdict(&t["share_of_floor"]),
        MIN_TIMES_BASELINE,
        plain(&t["times_baseline"]["value"]),
        verdict(&t["times_baseline"]),
        MAX_P99_MS,
        plain(&t["p99_ms_at_half_load"]["value"]),
        verdict(&t["p99_ms_at_half_load"]),
        MAX_RSS_MIB,
        plain(&t["peak_rss_mib"]["value"]),
        verdict(&t["peak_rss_mib"]),
    );
    for s in [tributary, baseline] {
        if s["failed_requests"].as_f64().unwrap_or(0.0) > 0.0
            || s["rejected_events"].as_f64().unwrap_or(0.0) > 0.0
        {
            println!(
                "warning: {}: {} failed requests, {} rejected events (see the JSON lines)",
                s["system"].as_str().unwrap_or("?"),
                plain(&s["failed_requests"]),
                plain(&s["rejected_events"]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_line_carries_the_speed_before_and_after() {
        let runs = vec![
            json!({"bench": "gateway-machine", "nproc": 2, "cpu_loop_ns_at_start": 114.9}),
            json!({"system": "tributary", "phase": "batch"}),
            json!({"bench": "gateway-machine-end", "cpu_loop_ns_at_end": 251.3, "load_average_at_end": "2.5 2.1 1.7"}),
        ];
        let machine = machine_record(&runs);
        assert_eq!(machine["nproc"], 2);
        assert_eq!(machine["cpu_loop_ns_at_end"], 251.3);
        assert_eq!(machine["load_average_at_end"], "2.5 2.1 1.7");
        let line = speed_line(&machine).expect("a start speed");
        assert!(
            line.contains("114.9 ns per iteration before the runs and 251.3 after"),
            "{line}"
        );
    }

    #[test]
    fn the_share_of_the_floor_is_the_median_of_the_pairs() {
        let tributary = |k: u64, eff: f64| {
            json!({"bench": "gateway", "system": "tributary", "phase": "batch-pair", "pair": k,
                   "events_per_server_cpu_second": eff})
        };
        let floor = |k: u64, eff: f64| {
            json!({"bench": "gateway", "system": "floor", "mode": "producer-loop", "pair": k,
                   "events_per_cpu_second": eff})
        };
        let mut runs = vec![
            // The sweep's floor run carries no pair number and is not one.
            json!({"bench": "gateway", "system": "floor", "mode": "producer-loop",
                   "events_per_cpu_second": 100.0}),
            tributary(1, 250.0),
            floor(1, 500.0),
            tributary(2, 240.0),
            floor(2, 600.0),
            tributary(3, 270.0),
            floor(3, 450.0),
            // A pair cut short: no floor run.
            tributary(4, 900.0),
        ];
        let pairs = floor_pairs(&runs);
        assert_eq!(pairs, vec![(250.0, 500.0), (240.0, 600.0), (270.0, 450.0)]);
        assert_eq!(median_ratio(&pairs), Some(0.5));
        runs.push(floor(4, 1000.0));
        let pairs = floor_pairs(&runs);
        // 0.4, 0.5, 0.6, 0.9: the mean of the middle two.
        assert!((median_ratio(&pairs).unwrap() - 0.55).abs() < 1e-12);
        assert_eq!(median_ratio(&[]), None);
        assert_eq!(median_ratio(&[(1.0, 0.0)]), None);
    }

    #[test]
    fn the_machine_line_carries_the_stops_before_and_after() {
        let stalls = |per_second: f64, longest: f64| json!({"bench": "host-stalls", "stops_per_second": per_second, "longest_ms": longest});
        let runs = vec![
            json!({"bench": "gateway-machine", "host_stalls_at_start": stalls(0.1, 2.1)}),
            json!({"bench": "gateway-machine-end", "host_stalls_at_end": stalls(0.9, 4.7)}),
        ];
        let line = stalls_line(&machine_record(&runs)).expect("both measured");
        assert!(
            line.contains(
                "0.1 a second, longest 2.1 ms before the runs, 0.9 a second, longest 4.7 ms after"
            ),
            "{line}"
        );
        // Without perf the probe writes null; without either, nothing is said.
        let runs = vec![
            json!({"bench": "gateway-machine", "host_stalls_at_start": null}),
            json!({"bench": "gateway-machine-end", "host_stalls_at_end": stalls(1.0, 5.0)}),
        ];
        let line = stalls_line(&machine_record(&runs)).expect("one measured");
        assert!(line.contains("— before the runs, 1 a second"), "{line}");
        let runs = vec![json!({"bench": "gateway-machine", "host_stalls_at_start": null})];
        assert_eq!(stalls_line(&machine_record(&runs)), None);
    }

    #[test]
    fn results_without_a_speed_say_nothing_about_it() {
        // Results from before the loop was timed, and runs cut short before the end.
        let old = machine_record(&[json!({"bench": "gateway-machine", "nproc": 2})]);
        assert_eq!(speed_line(&old), None);
        let cut =
            machine_record(&[json!({"bench": "gateway-machine", "cpu_loop_ns_at_start": 120.0})]);
        assert!(
            speed_line(&cut)
                .expect("a start speed")
                .contains("and — after")
        );
        assert_eq!(machine_record(&[]), Value::Null);
    }
}
