//! `http-load`: an HTTP/1.1 keep-alive load generator for publishing endpoints.
//!
//! * Closed loop (no `--rate`): each of `--connections` connections posts a request, waits for
//!   the answer, and posts the next, for `--warmup` + `--duration` seconds. Answers completed
//!   inside the measured window count.
//! * Open loop (`--rate R`): request *i* is due at `start + i / R`; the first free connection
//!   sends it (at once, or as soon as one is free). Latency runs from the due time, so a server
//!   that falls behind is charged for the queue it causes (no coordinated omission).
//!
//! The requests go out through [`super::driver`]: one thread (or `--threads`) and one `epoll`
//! set, so that the load generator takes as little as it can from the cores it shares with the
//! server it measures.
//!
//! Every answer is read: an event counts as accepted only when the answer's per-event verdict
//! says `accepted` (or `duplicate`). CPU time of the server, the broker and this process is read
//! from `/proc` at the start and end of the measured window, on a thread of its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;

use super::{driver, events, procstat};

#[derive(Debug, clap::Args)]
pub(crate) struct HttpLoadArgs {
    /// Where to POST: `http://HOST:PORT/PATH` (an IP address; HTTP/1.1, keep-alive).
    #[arg(long)]
    url: String,
    /// Name of the system under test, copied into the report.
    #[arg(long, default_value = "tributary")]
    system: String,
    /// Events per request: 1 posts a single JSON object, more post a JSON array.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Open loop: requests per second at fixed intervals. Closed loop when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    #[command(flatten)]
    events: events::EventArgs,
    /// The server's process id: its CPU time (with its descendants') and peak RSS are reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The broker's process id: its CPU time is reported.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Threads of the load generator, each with its share of the connections and of the
    /// open loop's schedule.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Extra label copied into the report (e.g. the phase of a script).
    #[arg(long, default_value = "")]
    phase: String,
    /// Open loop: also write every measured request to this file, one line each: the intended
    /// send time and the latency, in microseconds (to see whether a tail comes in bursts).
    #[arg(long)]
    timeline: Option<std::path::PathBuf>,
}

/// What one connection saw inside the measured window.
#[derive(Debug)]
struct Tally {
    requests: u64,
    accepted: u64,
    rejected: u64,
    /// Answers that were not 200/207 with one verdict per event.
    failed_requests: u64,
    transport_errors: u64,
    /// Open loop: requests not answered by the deadline (their latency is a lower bound).
    unfinished: u64,
    statuses: BTreeMap<u16, u64>,
    /// Microseconds; open loop: from the intended send time.
    latency: Histogram<u64>,
    /// Microseconds from the actual send (open loop only; equals `latency` when closed).
    service: Histogram<u64>,
    first_error: Option<String>,
    /// `--timeline`: (intended send, µs after the measured window began; latency, µs).
    timeline: Vec<(u64, u64)>,
}

impl Tally {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        Tally {
            requests: 0,
            accepted: 0,
            rejected: 0,
            failed_requests: 0,
            transport_errors: 0,
            unfinished: 0,
            statuses: BTreeMap::new(),
            latency: histogram(),
            service: histogram(),
            first_error: None,
            timeline: Vec::new(),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.failed_requests += other.failed_requests;
        self.transport_errors += other.transport_errors;
        self.unfinished += other.unfinished;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.latency.add(&other.latency).expect("same bounds");
        self.service.add(&other.service).expect("same bounds");
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.timeline.extend_from_slice(&other.timeline);
    }

    /// Records one answered request.
    fn answer(
        &mut self,
        batch: usize,
        status: u16,
        body: &[u8],
        latency: Duration,
        service: Duration,
    ) {
        self.requests += 1;
        *self.statuses.entry(status).or_default() += 1;
        self.latency.saturating_record(micros(latency));
        self.service.saturating_record(micros(service));
        if status != 200 && status != 207 {
            self.failed_requests += 1;
            self.note_error(|| {
                format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )
            });
            return;
        }
        match count_verdicts(body) {
            Ok((accepted, rejected)) if (accepted + rejected) as usize == batch => {
                self.accepted += accepted;
                self.rejected += rejected;
            }
            Ok((accepted, rejected)) => {
                self.failed_requests += 1;
                self.note_error(|| {
                    format!("{accepted} accepted + {rejected} rejected verdicts for {batch} events")
                });
            }
            Err(err) => {
                self.failed_requests += 1;
                self.note_error(|| format!("unreadable answer: {err}"));
            }
        }
    }

    fn note_error(&mut self, describe: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }
}

/// `--timeline`'s file: a line per request, `{intended send} {latency}` in microseconds, in
/// the order they were due.
fn timeline_text(timeline: &mut [(u64, u64)]) -> String {
    timeline.sort_unstable();
    let mut text = String::with_capacity(timeline.len() * 16);
    for (due, latency) in timeline.iter() {
        let _ = writeln!(text, "{due} {latency}");
    }
    text
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    results: Vec<Verdict<'a>>,
}

#[derive(Deserialize)]
struct Verdict<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
}

/// (accepted, not accepted) verdicts of a publish answer; duplicates count as accepted.
fn count_verdicts(body: &[u8]) -> anyhow::Result<(u64, u64)> {
    let answer: Answer<'_> = serde_json::from_slice(body)?;
    let accepted = answer
        .results
        .iter()
        .filter(|v| v.status == "accepted" || v.status == "duplicate")
        .count() as u64;
    Ok((accepted, answer.results.len() as u64 - accepted))
}

pub(crate) fn run(args: &HttpLoadArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.connections == 0 || args.duration <= 0.0 {
        bail!("need --batch >= 1, --connections >= 1 and --duration > 0");
    }
    if args.rate.is_some_and(|rate| rate <= 0.0) {
        bail!("--rate must be positive");
    }
    let target = Target::parse(&args.url)?;
    let all_events = args
        .events
        .generate(args.events.distinct_events.max(args.batch));
    let bodies: Vec<Vec<u8>> = (0..all_events.len().div_ceil(args.batch))
        .map(|i| events::body(&all_events, i * args.batch, args.batch, true))
        .collect();
    let body_bytes = bodies[0].len();
    let requests: Vec<Vec<u8>> = bodies
        .iter()
        .map(|body| driver::post_request(&target.host, &target.path, body))
        .collect();

    // Every thread connects before the first request is due.
    let started = Instant::now() + CONNECT_GRACE;
    let measure_start = started + Duration::from_secs_f64(args.warmup);
    let end = measure_start + Duration::from_secs_f64(args.duration);
    let window = Window {
        measure_start,
        end,
        open: args.rate.is_some(),
        batch: args.batch,
        timeline: args.timeline.is_some(),
    };
    let pids = (args.server_pid, args.broker_pid);
    let sampler = std::thread::spawn(move || -> anyhow::Result<(Usage, Usage)> {
        pause(measure_start.saturating_duration_since(Instant::now()));
        let before = Usage::sample(pids)?;
        pause(end.saturating_duration_since(Instant::now()));
        Ok((before, Usage::sample(pids)?))
    });
    let threads = args.threads.clamp(1, args.connections);
    let tallies: Vec<anyhow::Result<Tally>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                let plan = driver::Plan {
                    addr: target.addr,
                    requests: &requests,
                    // The first `connections % threads` threads take one more.
                    connections: args.connections / threads
                        + usize::from(k < args.connections % threads),
                    pace: args
                        .rate
                        .map_or(driver::Pace::Closed, |rate| driver::Pace::Open { rate }),
                    share: (k as u64, threads as u64),
                    start: started,
                    end,
                    deadline: end + ANSWER_GRACE,
                };
                let window = &window;
                scope.spawn(move || {
                    let mut tally = Tally::new();
                    driver::drive(&plan, |outcome| window.record(&mut tally, outcome))?;
                    Ok(tally)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a load thread panicked")))
            })
            .collect()
    });
    let mut tally = Tally::new();
    for worker in tallies {
        tally.merge(&worker?);
    }
    let (before, after) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the CPU sampler panicked"))??;
    if let Some(path) = &args.timeline {
        std::fs::write(path, timeline_text(&mut tally.timeline))
            .with_context(|| format!("--timeline {}", path.display()))?;
    }
    let seconds = args.duration;
    let server_cpu = after.server - before.server;
    let broker_cpu = after.broker - before.broker;
    let client_cpu = after.client - before.client;
    let server_peak_rss = match args.server_pid {
        Some(pid) => Some(procstat::tree_peak_rss_bytes(pid)?),
        None => None,
    };
    let ms = |h: &Histogram<u64>, q: f64| (h.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    let latency = |h: &Histogram<u64>| {
        json!({
            "p50": ms(h, 0.50), "p90": ms(h, 0.90), "p99": ms(h, 0.99), "p999": ms(h, 0.999),
            "max": (h.max() as f64 / 10.0).round() / 100.0,
            "mean": (h.mean() / 10.0).round() / 100.0,
        })
    };
    let per_cpu = |cpu: f64| {
        if cpu > 0.0 {
            (tally.accepted as f64 / cpu).round()
        } else {
            0.0
        }
    };
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let report = json!({
        "bench": "gateway",
        "system": args.system,
        "phase": args.phase,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "batch": args.batch,
        "event_bytes": args.events.event_bytes,
        "body_bytes": body_bytes,
        "connections": args.connections,
        "target_rate": args.rate,
        "seconds": seconds,
        "requests": tally.requests,
        "events_accepted": tally.accepted,
        "events_rejected": tally.rejected,
        "failed_requests": tally.failed_requests,
        "transport_errors": tally.transport_errors,
        "unfinished": tally.unfinished,
        "statuses": tally.statuses,
        "first_error": tally.first_error,
        "requests_per_second": (tally.requests as f64 / seconds).round(),
        "events_per_second": (tally.accepted as f64 / seconds).round(),
        "latency_ms": latency(&tally.latency),
        "service_ms": latency(&tally.service),
        "server_cpu_seconds": round3(server_cpu),
        "server_cores": round3(server_cpu / seconds),
        "events_per_server_cpu_second": per_cpu(server_cpu),
        "server_peak_rss_mib": server_peak_rss.map(|b| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0),
        "broker_cpu_seconds": round3(broker_cpu),
        "broker_cores": round3(broker_cpu / seconds),
        "client_cpu_seconds": round3(client_cpu),
        "client_cores": round3(client_cpu / seconds),
    });
    println!("{report}");
    Ok(())
}

/// CPU seconds so far of the server, the broker and this process.
#[derive(Debug)]
struct Usage {
    server: f64,
    broker: f64,
    client: f64,
}

impl Usage {
    fn sample((server, broker): (Option<u32>, Option<u32>)) -> anyhow::Result<Self> {
        let tree = |pid: Option<u32>| pid.map_or(Ok(0.0), procstat::tree_cpu_seconds);
        Ok(Usage {
            server: tree(server)?,
            broker: tree(broker)?,
            client: procstat::own_cpu_seconds()?,
        })
    }
}

/// The first request is due this long after start-up, so that every load thread has
/// connected by then (a few milliseconds for 256 connections).
const CONNECT_GRACE: Duration = Duration::from_millis(200);

/// How long after the end an answer is still waited for (a closed loop waits that long only
/// when the server has stopped answering).
const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// Where to POST.
#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    /// `host:port`, for the `host` header.
    host: String,
    path: String,
}

impl Target {
    /// `http://IP:PORT/PATH` (an IP address: no name lookups in the measured loop).
    fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .context("--url must start with http:// (plain HTTP/1.1)")?;
        let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let addr: SocketAddr = if host.contains(':') {
            host.parse()
        } else {
            format!("{host}:80").parse()
        }
        .with_context(|| format!("--url must name an IP address and port, not {host:?}"))?;
        Ok(Target {
            addr,
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Which answers count, and how.
#[derive(Debug)]
struct Window {
    measure_start: Instant,
    end: Instant,
    /// Open loop: a request counts when it was due inside the window, and its latency runs
    /// from then. Closed loop: an answer counts when it came inside the window.
    open: bool,
    batch: usize,
    timeline: bool,
}

impl Window {
    fn counts(&self, due: Instant, done: Instant) -> bool {
        if self.open {
            due >= self.measure_start
        } else {
            done >= self.measure_start && done <= self.end
        }
    }

    fn record(&self, tally: &mut Tally, outcome: driver::Outcome<'_>) {
        match outcome {
            driver::Outcome::Answered {
                due,
                sent,
                done,
                status,
                body,
            } if self.counts(due, done) => {
                tally.answer(self.batch, status, body, done - due, done - sent);
                if self.open && self.timeline {
                    tally
                        .timeline
                        .push((micros(due - self.measure_start), micros(done - due)));
                }
            }
            driver::Outcome::Failed { due, done, error } if self.counts(due, done) => {
                tally.transport_errors += 1;
                tally.note_error(|| format!("transport: {error}"));
            }
            driver::Outcome::Unfinished { due, done } if due >= self.measure_start => {
                tally.unfinished += 1;
                tally.latency.saturating_record(micros(done - due));
            }
            _ => {}
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "runs on the CPU sampler, a plain std thread that no async task shares"
)]
fn pause(duration: Duration) {
    std::thread::sleep(duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_counted_from_the_answer() {
        let body = br#"{"accepted":2,"rejected":1,"results":[
            {"status":"accepted","index":0,"partition":1,"offset":5},
            {"status":"rejected","index":1,"reason":"schema_violation"},
            {"status":"duplicate","index":2}]}"#;
        assert_eq!(count_verdicts(body).expect("readable"), (2, 1));
        assert!(count_verdicts(b"{}").is_err());
    }

    #[test]
    fn the_timeline_lists_every_connections_requests_in_the_order_they_were_due() {
        let mut first = Tally::new();
        first.timeline = vec![(30, 900), (10, 1200)];
        let mut second = Tally::new();
        second.timeline = vec![(20, 15000)];
        let mut all = Tally::new();
        all.merge(&first);
        all.merge(&second);
        assert_eq!(
            timeline_text(&mut all.timeline),
            "10 1200\n20 15000\n30 900\n"
        );
    }

    #[test]
    fn the_window_counts_open_requests_by_due_time_and_closed_answers_by_arrival() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let ok = br#"{"results":[{"status":"accepted"}]}"#;
        let answered = |due, sent, done| driver::Outcome::Answered {
            due,
            sent,
            done,
            status: 200,
            body: ok,
        };
        let mut window = Window {
            measure_start: ms(100),
            end: ms(200),
            open: true,
            batch: 1,
            timeline: true,
        };
        let mut tally = Tally::new();
        // Due before the window: not counted, however late the answer.
        window.record(&mut tally, answered(ms(99), ms(99), ms(150)));
        // Due inside: counted, latency from the due time, service from the send.
        window.record(&mut tally, answered(ms(120), ms(125), ms(130)));
        // Due inside and answered after the end: still counted.
        window.record(&mut tally, answered(ms(190), ms(190), ms(260)));
        window.record(
            &mut tally,
            driver::Outcome::Unfinished {
                due: ms(150),
                done: ms(5_200),
            },
        );
        window.record(
            &mut tally,
            driver::Outcome::Failed {
                due: ms(160),
                done: ms(161),
                error: "reset".into(),
            },
        );
        assert_eq!((tally.requests, tally.accepted), (2, 2));
        assert_eq!((tally.unfinished, tally.transport_errors), (1, 1));
        assert_eq!(tally.timeline, vec![(20_000, 10_000), (90_000, 70_000)]);
        assert!(tally.service.equivalent(tally.service.max(), 70_000));
        assert!(tally.latency.max() >= 5_050_000);

        // Closed loop: what counts is when the answer came.
        window.open = false;
        let mut tally = Tally::new();
        window.record(&mut tally, answered(ms(95), ms(95), ms(101)));
        window.record(&mut tally, answered(ms(195), ms(195), ms(201)));
        assert_eq!(tally.requests, 1);
        assert!(tally.timeline.is_empty());
    }

    #[test]
    fn the_url_names_an_address_and_a_path() {
        let target = Target::parse("http://127.0.0.1:8080/v1/events/bench.gateway").unwrap();
        assert_eq!(target.addr, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(
            (target.host.as_str(), target.path.as_str()),
            ("127.0.0.1:8080", "/v1/events/bench.gateway")
        );
        let bare = Target::parse("http://[::1]:9").unwrap();
        assert_eq!((bare.host.as_str(), bare.path.as_str()), ("[::1]:9", "/"));
        assert_eq!(Target::parse("http://10.0.0.1/x").unwrap().addr.port(), 80);
        for bad in [
            "https://127.0.0.1:1/x",
            "http://localhost:8080/x",
            "127.0.0.1:1",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_short_answer_is_a_failed_request() {
        let mut tally = Tally::new();
        let body = br#"{"results":[{"status":"accepted"}]}"#;
        tally.answer(
            2,
            200,
            body,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!((tally.accepted, tally.failed_requests), (0, 1));
        tally.answer(
            1,
            200,
            body,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!((tally.accepted, tally.failed_requests), (1, 1));
        tally.answer(1, 503, b"{}", Duration::ZERO, Duration::ZERO);
        assert_eq!(tally.failed_requests, 2);
    }
}
