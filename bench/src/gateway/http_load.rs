//! `http-load`: an HTTP/1.1 keep-alive load generator for publishing endpoints.
//!
//! * Closed loop (no `--rate`): each of `--connections` connections posts a request, waits for
//!   the answer, and posts the next, for `--warmup` + `--duration` seconds. Answers completed
//!   inside the measured window count.
//! * Open loop (`--rate R`): a pacing thread schedules request *i* at `start + i / R`; a free
//!   connection sends it as soon as it can. Latency runs from the intended send time, so a
//!   server that falls behind is charged for the queue it causes (no coordinated omission).
//!
//! Every answer is read: an event counts as accepted only when the answer's per-event verdict
//! says `accepted` (or `duplicate`). CPU time of the server, the broker and this process is read
//! from `/proc` at the start and end of the measured window.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};

use super::{events, procstat};

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
    /// Runtime threads of the load generator.
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

/// Everything the connections share.
#[derive(Debug)]
struct Plan {
    addr: SocketAddr,
    host: String,
    path: String,
    bodies: Vec<Bytes>,
    batch: usize,
    measure_start: Instant,
    end: Instant,
    /// Open loop: the last moment an answer is waited for.
    deadline: Instant,
    /// Keep each answered request's send time and latency (`--timeline`).
    timeline: bool,
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
        status: StatusCode,
        body: &[u8],
        latency: Duration,
        service: Duration,
    ) {
        self.requests += 1;
        *self.statuses.entry(status.as_u16()).or_default() += 1;
        self.latency.saturating_record(micros(latency));
        self.service.saturating_record(micros(service));
        if status != StatusCode::OK && status != StatusCode::MULTI_STATUS {
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

pub(crate) fn run(args: HttpLoadArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.connections == 0 || args.duration <= 0.0 {
        bail!("need --batch >= 1, --connections >= 1 and --duration > 0");
    }
    if args.rate.is_some_and(|rate| rate <= 0.0) {
        bail!("--rate must be positive");
    }
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(load(args))
}

async fn load(args: HttpLoadArgs) -> anyhow::Result<()> {
    let uri: Uri = args.url.parse().context("--url")?;
    let authority = uri.authority().context("--url needs host:port")?.clone();
    let addr: SocketAddr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    )
    .parse()
    .context("--url must name an IP address")?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();

    let all_events = args
        .events
        .generate(args.events.distinct_events.max(args.batch));
    let bodies: Vec<Bytes> = (0..all_events.len().div_ceil(args.batch))
        .map(|i| Bytes::from(events::body(&all_events, i * args.batch, args.batch, true)))
        .collect();
    let body_bytes = bodies[0].len();

    // Connect every connection before the clock starts.
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(connect(addr).await?);
    }

    let started = Instant::now();
    let measure_start = started + Duration::from_secs_f64(args.warmup);
    let end = measure_start + Duration::from_secs_f64(args.duration);
    let plan = Arc::new(Plan {
        addr,
        host: authority.to_string(),
        path,
        bodies,
        batch: args.batch,
        measure_start,
        end,
        deadline: end + Duration::from_secs(5),
        timeline: args.timeline.is_some(),
    });

    let mut workers = Vec::with_capacity(args.connections);
    match args.rate {
        None => {
            for (i, sender) in senders.into_iter().enumerate() {
                let plan = plan.clone();
                let stride = args.connections;
                workers.push(tokio::spawn(closed_loop(plan, sender, i, stride)));
            }
        }
        Some(rate) => {
            let schedule = pace(started, end, rate);
            let schedule = Arc::new(Mutex::new(schedule));
            for (i, sender) in senders.into_iter().enumerate() {
                workers.push(tokio::spawn(open_loop(
                    plan.clone(),
                    sender,
                    schedule.clone(),
                    i,
                )));
            }
        }
    }

    tokio::time::sleep_until(measure_start.into()).await;
    let pids = (args.server_pid, args.broker_pid);
    let before = Usage::sample_off_runtime(pids).await?;
    tokio::time::sleep_until(end.into()).await;
    let after = Usage::sample_off_runtime(pids).await?;

    let mut tally = Tally::new();
    for worker in workers {
        tally.merge(&worker.await??);
    }
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
    /// Samples on the blocking pool: reading `/proc` on the runtime's one thread held up the
    /// requests due meanwhile (about 20 ms at the window's end), and their latency was charged
    /// to the server.
    async fn sample_off_runtime(pids: (Option<u32>, Option<u32>)) -> anyhow::Result<Self> {
        tokio::task::spawn_blocking(move || Usage::sample(pids)).await?
    }

    fn sample((server, broker): (Option<u32>, Option<u32>)) -> anyhow::Result<Self> {
        let tree = |pid: Option<u32>| pid.map_or(Ok(0.0), procstat::tree_cpu_seconds);
        Ok(Usage {
            server: tree(server)?,
            broker: tree(broker)?,
            client: procstat::own_cpu_seconds()?,
        })
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Posts one body and reads the whole answer.
async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    plan: &Plan,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let request = Request::post(plan.path.as_str())
        .header(HOST, plan.host.as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One connection of the closed loop: post, wait for the answer, post again until the end.
async fn closed_loop(
    plan: Arc<Plan>,
    mut sender: SendRequest<Full<Bytes>>,
    first: usize,
    stride: usize,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new();
    let mut next = first;
    loop {
        let sent = Instant::now();
        if sent >= plan.end {
            break;
        }
        let body = plan.bodies[next % plan.bodies.len()].clone();
        next += stride;
        let outcome = post(&mut sender, &plan, body).await;
        let done = Instant::now();
        let counted = done >= plan.measure_start && done <= plan.end;
        match outcome {
            Ok((status, body)) if counted => {
                tally.answer(plan.batch, status, &body, done - sent, done - sent);
            }
            Ok(_) => {}
            Err(err) => {
                if counted {
                    tally.transport_errors += 1;
                    tally.note_error(|| format!("transport: {err:#}"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                sender = connect(plan.addr).await?;
            }
        }
    }
    Ok(tally)
}

/// The open loop's schedule: a thread that releases intended send times at `rate` per second
/// from `start` until `end`. A std thread sleeps with microsecond precision, where the async
/// runtime's timer would round to milliseconds.
fn pace(start: Instant, end: Instant, rate: f64) -> mpsc::UnboundedReceiver<Instant> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let interval = Duration::from_secs_f64(1.0 / rate);
    std::thread::spawn(move || {
        let mut due = start;
        while due < end {
            let now = Instant::now();
            if due > now {
                pause(due - now);
            }
            if sender.send(due).is_err() {
                return;
            }
            due += interval;
        }
    });
    receiver
}

#[expect(
    clippy::disallowed_methods,
    reason = "runs on the pacing thread, a plain std thread that no async task shares"
)]
fn pause(duration: Duration) {
    std::thread::sleep(duration);
}

/// One connection of the open loop: take the next scheduled request, send it at once (or as
/// soon as this connection is free), and charge the latency from the scheduled time.
async fn open_loop(
    plan: Arc<Plan>,
    mut sender: SendRequest<Full<Bytes>>,
    schedule: Arc<Mutex<mpsc::UnboundedReceiver<Instant>>>,
    first: usize,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new();
    let mut next = first;
    loop {
        let Some(due) = schedule.lock().await.recv().await else {
            break;
        };
        let counted = due >= plan.measure_start;
        let sent = Instant::now();
        if sent >= plan.deadline {
            if counted {
                tally.unfinished += 1;
                tally.latency.saturating_record(micros(plan.deadline - due));
            }
            continue;
        }
        let body = plan.bodies[next % plan.bodies.len()].clone();
        next += 1;
        let outcome =
            tokio::time::timeout_at(plan.deadline.into(), post(&mut sender, &plan, body)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok((status, body))) => {
                if counted {
                    tally.answer(plan.batch, status, &body, done - due, done - sent);
                    if plan.timeline {
                        tally
                            .timeline
                            .push((micros(due - plan.measure_start), micros(done - due)));
                    }
                }
            }
            Ok(Err(err)) => {
                if counted {
                    tally.transport_errors += 1;
                    tally.note_error(|| format!("transport: {err:#}"));
                }
                sender = connect(plan.addr).await?;
            }
            Err(_elapsed) => {
                if counted {
                    tally.unfinished += 1;
                    tally.latency.saturating_record(micros(done - due));
                }
                sender = connect(plan.addr).await?;
            }
        }
    }
    Ok(tally)
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
    fn a_short_answer_is_a_failed_request() {
        let mut tally = Tally::new();
        let body = br#"{"results":[{"status":"accepted"}]}"#;
        tally.answer(
            2,
            StatusCode::OK,
            body,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!((tally.accepted, tally.failed_requests), (0, 1));
        tally.answer(
            1,
            StatusCode::OK,
            body,
            Duration::from_millis(1),
            Duration::from_millis(1),
        );
        assert_eq!((tally.accepted, tally.failed_requests), (1, 1));
        tally.answer(
            1,
            StatusCode::SERVICE_UNAVAILABLE,
            b"{}",
            Duration::ZERO,
            Duration::ZERO,
        );
        assert_eq!(tally.failed_requests, 2);
    }
}
