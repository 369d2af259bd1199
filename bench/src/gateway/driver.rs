//! The load generator's engine: one thread drives many keep-alive HTTP/1.1 connections from
//! one `epoll` set, writing pre-built requests and reading the answers itself.
//!
//! The load generator shares the cores with the server and the broker it measures, so what it
//! spends is taken from them. The first version (hyper's client on a one-thread tokio runtime,
//! with a pacing thread handing each send time over a channel) cost about 30 µs of CPU per
//! request at 18,000 requests a second, mostly waking threads: the pacing thread for every
//! request, then the runtime, then the connection's task. Here the thread that keeps the
//! schedule also sends, and it sleeps in `epoll_pwait2`, whose timeout has nanosecond
//! resolution, until the next send is due or an answer arrives.
//!
//! * Closed loop: each connection sends its next request as soon as it has its answer.
//! * Open loop: request *i* is due at `start + i / rate`; the first idle connection sends it
//!   (at once, or as soon as one is free). What the caller records runs from the due time.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pace {
    /// Each connection sends again as soon as it is answered, until `end`.
    Closed,
    /// Request *i* is due at `start + i / rate`; this driver sends those of its share (see
    /// [`Plan::share`]) due before `end`.
    Open { rate: f64 },
}

/// One driver's work.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub(super) addr: SocketAddr,
    /// Whole requests (head and body), sent in turn.
    pub(super) requests: &'a [Vec<u8>],
    pub(super) connections: usize,
    pub(super) pace: Pace,
    /// `(first, stride)`: this driver takes requests `first`, `first + stride`, … of the
    /// schedule and of `requests` in turn, so that threads splitting one load between them
    /// send each request of the rotation once.
    pub(super) share: (u64, u64),
    pub(super) start: Instant,
    pub(super) end: Instant,
    /// The last moment an answer is waited for (a closed loop reaches it only when the server
    /// has stopped answering).
    pub(super) deadline: Instant,
}

/// What became of one request.
#[derive(Debug)]
pub(super) enum Outcome<'b> {
    Answered {
        /// When it was due (open loop) or sent (closed loop).
        due: Instant,
        sent: Instant,
        done: Instant,
        status: u16,
        body: &'b [u8],
    },
    /// The connection failed before the answer was complete.
    Failed {
        due: Instant,
        done: Instant,
        error: String,
    },
    /// Open loop: not sent, or not answered, by the deadline.
    Unfinished { due: Instant, done: Instant },
}

/// A connection that failed waits this long before it connects again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet taken by an answer.
    read: Vec<u8>,
    /// The request in flight: (due, sent), and how much of it is written.
    busy: Option<(Instant, Instant)>,
    request: usize,
    written: usize,
    wants_write: bool,
}

/// Runs `plan` on this thread, telling `record` about every request.
pub(super) fn drive(plan: &Plan<'_>, mut record: impl FnMut(Outcome<'_>)) -> anyhow::Result<()> {
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let mut conns = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        conns.push(connect(plan.addr, &epoll, i)?);
    }
    let (first, stride) = (plan.share.0, plan.share.1.max(1));
    // The next request of the rotation.
    let mut next = first;
    // Idle connections take turns (first in, first out), as in a pool: every connection
    // stays in use, and none idles long enough for the server to close it (uvicorn closes a
    // keep-alive connection after 5 s).
    let mut idle: VecDeque<usize> = (0..plan.connections).collect();
    let mut retry: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut backlog: VecDeque<Instant> = VecDeque::new();
    let mut schedule = match plan.pace {
        Pace::Open { rate } => Some(Schedule {
            start: plan.start,
            rate,
            index: first,
            stride,
        }),
        Pace::Closed => None,
    };
    let mut events = Vec::with_capacity(plan.connections.max(1));
    let mut scratch = vec![0; 64 << 10];
    let mut finished = 0;
    loop {
        let now = Instant::now();
        while let Some(&(at, i)) = retry.front() {
            if at > now {
                break;
            }
            retry.pop_front();
            conns[i] = connect(plan.addr, &epoll, i)?;
            idle.push_back(i);
        }
        if let Some(schedule) = &mut schedule {
            while let Some(due) = schedule.due().filter(|d| *d <= now && *d < plan.end) {
                backlog.push_back(due);
                schedule.advance();
            }
        }
        // Hand out work to idle connections.
        while let Some(i) = idle.pop_front() {
            let due = match schedule {
                None if now >= plan.end => {
                    finished += 1;
                    continue;
                }
                None => now,
                Some(_) => match backlog.pop_front() {
                    Some(due) if now >= plan.deadline => {
                        record(Outcome::Unfinished { due, done: now });
                        idle.push_front(i);
                        continue;
                    }
                    Some(due) => due,
                    None => {
                        idle.push_front(i);
                        break;
                    }
                },
            };
            let conn = &mut conns[i];
            conn.busy = Some((due, now));
            conn.request = (next % plan.requests.len() as u64) as usize;
            next += stride;
            conn.written = 0;
            if let Err(error) = write_some(conn, plan.requests, &epoll, i) {
                fail(&mut conns[i], &epoll, &mut record, now, &error);
                retry.push_back((now + RECONNECT_PAUSE, i));
            }
        }
        let busy = conns.iter().filter(|c| c.busy.is_some()).count();
        let done = match schedule {
            None => finished + retry.len() >= plan.connections && busy == 0,
            Some(schedule) => {
                schedule.due().is_none_or(|d| d >= plan.end) && backlog.is_empty() && busy == 0
            }
        };
        if done {
            break;
        }
        if now >= plan.deadline {
            // Whatever is still out is unfinished. (A closed loop gets here only when the
            // server has stopped answering: its deadline is long past its end.)
            for conn in conns.iter_mut() {
                if let Some((due, _)) = conn.busy.take() {
                    record(Outcome::Unfinished { due, done: now });
                }
            }
            for due in backlog.drain(..) {
                record(Outcome::Unfinished { due, done: now });
            }
            break;
        }
        // Sleep until the next send is due, a reconnect is due, or the deadline.
        let mut wake = plan.deadline;
        if let Some(due) = schedule.as_ref().and_then(Schedule::due)
            && due < plan.end
        {
            wake = wake.min(due);
        }
        if let Some(&(at, _)) = retry.front() {
            wake = wake.min(at);
        }
        let timeout = Timespec::try_from(wake.saturating_duration_since(now))
            .context("a wait past the end of time")?;
        events.clear();
        match epoll::wait(&epoll, spare_capacity(&mut events), Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error).context("epoll_pwait2"),
        }
        for event in &events {
            // Copied out: the event is a packed struct.
            let (flags, data) = (event.flags, event.data);
            let i = data.u64() as usize;
            let now = Instant::now();
            let conn = &mut conns[i];
            if flags.contains(epoll::EventFlags::OUT)
                && conn.busy.is_some()
                && let Err(error) = write_some(conn, plan.requests, &epoll, i)
            {
                fail(&mut conns[i], &epoll, &mut record, now, &error);
                retry.push_back((now + RECONNECT_PAUSE, i));
                continue;
            }
            match read_answer(conn, &mut scratch) {
                Ok((None, _)) => {}
                Ok((Some((status, head, length)), closed)) => {
                    let (due, sent) = conn.busy.take().unwrap_or((now, now));
                    record(Outcome::Answered {
                        due,
                        sent,
                        done: now,
                        status,
                        body: &conn.read[head..head + length],
                    });
                    conn.read.drain(..head + length);
                    if closed {
                        // Answered, then closed (keep-alive over): connect again at once.
                        let _ = epoll::delete(&epoll, &conn.stream);
                        retry.push_front((now, i));
                    } else {
                        idle.push_back(i);
                    }
                }
                Err(error) => {
                    if conn.busy.is_none() {
                        // The server closed an idle connection: it leaves the turns until it
                        // has connected again.
                        idle.retain(|&j| j != i);
                    }
                    fail(&mut conns[i], &epoll, &mut record, now, &error);
                    retry.push_back((now + RECONNECT_PAUSE, i));
                }
            }
        }
    }
    Ok(())
}

/// The open loop's send times.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    rate: f64,
    index: u64,
    stride: u64,
}

impl Schedule {
    fn due(&self) -> Option<Instant> {
        self.start
            .checked_add(Duration::from_secs_f64(self.index as f64 / self.rate))
    }

    fn advance(&mut self) {
        self.index += self.stride;
    }
}

fn connect(addr: SocketAddr, epoll: &impl std::os::fd::AsFd, index: usize) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    epoll::add(
        epoll,
        &stream,
        epoll::EventData::new_u64(index as u64),
        epoll::EventFlags::IN,
    )?;
    Ok(Conn {
        stream,
        read: Vec::with_capacity(16 << 10),
        busy: None,
        request: 0,
        written: 0,
        wants_write: false,
    })
}

/// Records the connection's request (if any) as failed, and stops watching the connection
/// (it is replaced when it reconnects).
fn fail(
    conn: &mut Conn,
    epoll: &impl std::os::fd::AsFd,
    record: &mut impl FnMut(Outcome<'_>),
    now: Instant,
    error: &str,
) {
    if let Some((due, _)) = conn.busy.take() {
        record(Outcome::Failed {
            due,
            done: now,
            error: error.to_owned(),
        });
    }
    let _ = epoll::delete(epoll, &conn.stream);
    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
}

/// Writes what the socket takes of the request in flight; asks for `OUT` readiness while some
/// is left.
fn write_some(
    conn: &mut Conn,
    requests: &[Vec<u8>],
    epoll: &impl std::os::fd::AsFd,
    index: usize,
) -> Result<(), String> {
    let request = &requests[conn.request];
    while conn.written < request.len() {
        match conn.stream.write(&request[conn.written..]) {
            Ok(0) => return Err("the connection took no more bytes".into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    let wants_write = conn.written < request.len();
    if wants_write != conn.wants_write {
        let mut flags = epoll::EventFlags::IN;
        if wants_write {
            flags |= epoll::EventFlags::OUT;
        }
        epoll::modify(
            epoll,
            &conn.stream,
            epoll::EventData::new_u64(index as u64),
            flags,
        )
        .map_err(|e| format!("epoll_ctl: {e}"))?;
        conn.wants_write = wants_write;
    }
    Ok(())
}

/// Reads what the socket has: the answer once `conn.read` holds a whole one, and whether the
/// server has closed the connection.
fn read_answer(conn: &mut Conn, scratch: &mut [u8]) -> Result<(Option<Whole>, bool), String> {
    let mut closed = false;
    loop {
        match conn.stream.read(scratch) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => conn.read.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    if conn.busy.is_none() && !conn.read.is_empty() {
        return Err("the server answered a request that was not sent".into());
    }
    match parse_answer(&conn.read)? {
        None if closed => Err("the server closed the connection".into()),
        answer => Ok((answer, closed)),
    }
}

/// A whole answer at the front of a connection's buffer: (status, head length, body length).
type Whole = (u16, usize, usize);

/// `Some(whole)` when `buf` starts with a whole HTTP/1.1 answer with a `content-length`;
/// `None` while it is incomplete.
fn parse_answer(buf: &[u8]) -> Result<Option<Whole>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 << 10 {
            return Err("an answer's head is over 64 KiB".into());
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "an answer's head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("a content-length that is not a number: {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "answers in transfer-encoding {:?} are not read; only content-length",
                value.trim()
            ));
        }
    }
    let length = length.ok_or("an answer without content-length")?;
    let head_len = end + 4;
    Ok((buf.len() >= head_len + length).then_some((status, head_len, length)))
}

/// A POST of `body` to `path`, as sent on the wire.
pub(super) fn post_request(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn an_answer_is_whole_only_with_all_of_its_body() {
        let answer = b"HTTP/1.1 207 Multi-Status\r\nContent-Length: 5\r\nx: y\r\n\r\nhello";
        assert_eq!(parse_answer(answer), Ok(Some((207, answer.len() - 5, 5))));
        assert_eq!(parse_answer(&answer[..answer.len() - 1]), Ok(None));
        assert_eq!(parse_answer(&answer[..10]), Ok(None));
        let two = [&answer[..], &answer[..]].concat();
        assert_eq!(parse_answer(&two), Ok(Some((207, answer.len() - 5, 5))));
    }

    #[test]
    fn answers_the_driver_cannot_read_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"SSH-2.0 hello\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: many\r\n\r\n",
        ] {
            assert!(
                parse_answer(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// A keep-alive server answering every POST with `{"n":<its body's length>,"c":<the
    /// connection's number, from 0 in the order accepted>}`; after
    /// `answers` answers on a connection (never when `None`) it reads the next request and
    /// closes the connection without answering.
    fn server(answers: Option<usize>) -> SocketAddr {
        serve(answers, None)
    }

    /// [`server`], closing each connection right after its `hang_up_after`th answer.
    fn serve(answers: Option<usize>, hang_up_after: Option<usize>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (number, stream) in listener.incoming().enumerate() {
                let stream = stream.unwrap();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    let mut answered = 0;
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        if answers == Some(answered) {
                            return;
                        }
                        let answer = format!("{{\"n\":{length},\"c\":{number}}}");
                        write!(
                            writer,
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        )
                        .unwrap();
                        answered += 1;
                        if hang_up_after == Some(answered) {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn requests() -> Vec<Vec<u8>> {
        vec![
            post_request("h", "/p", b"{}"),
            post_request("h", "/p", &[b'x'; 200_000]),
        ]
    }

    /// A plan for `requests` over `connections`, starting now and sending for `run`.
    fn plan(
        addr: SocketAddr,
        requests: &[Vec<u8>],
        connections: usize,
        pace: Pace,
        run: Duration,
    ) -> Plan<'_> {
        let start = Instant::now();
        Plan {
            addr,
            requests,
            connections,
            pace,
            share: (0, 1),
            start,
            end: start + run,
            deadline: start + Duration::from_secs(5),
        }
    }

    #[test]
    fn the_open_loop_sends_every_due_request_and_reads_every_answer() {
        let addr = server(None);
        let requests = requests();
        let plan = plan(
            addr,
            &requests,
            3,
            Pace::Open { rate: 2000.0 },
            Duration::from_millis(100),
        );
        let mut bodies: Vec<serde_json::Value> = Vec::new();
        let mut dues = Vec::new();
        drive(&plan, |outcome| match outcome {
            Outcome::Answered {
                due,
                sent,
                done,
                status,
                body,
            } => {
                assert_eq!(status, 200);
                assert!(due <= sent && sent <= done);
                bodies.push(serde_json::from_slice(body).unwrap());
                dues.push(due);
            }
            other => panic!("{other:?}"),
        })
        .unwrap();
        // 2,000 a second for 100 ms: due at 0, 0.5, …, 99.5 ms.
        assert_eq!(bodies.len(), 200);
        // The two requests in turn.
        let small = bodies.iter().filter(|b| b["n"] == 2).count();
        assert_eq!((small, bodies.len() - small), (100, 100));
        assert!(bodies.iter().all(|b| b["n"] == 2 || b["n"] == 200_000));
        // The connections take turns: each carries about a third.
        for c in 0..3 {
            let carried = bodies.iter().filter(|b| b["c"] == c).count();
            assert!(
                (50..=84).contains(&carried),
                "connection {c} carried {carried}"
            );
        }
        dues.sort();
        assert_eq!(dues[0], plan.start);
        assert_eq!(dues[199] - plan.start, Duration::from_micros(99_500));
    }

    #[test]
    fn a_connection_the_server_closes_after_answering_is_no_failure() {
        // Every answer ends its connection, as an HTTP/1.0 server or a keep-alive timeout
        // would; often the answer and the close arrive together.
        let addr = serve(None, Some(1));
        let requests = vec![post_request("h", "/p", b"{}")];
        let plan = plan(
            addr,
            &requests,
            4,
            Pace::Open { rate: 200.0 },
            Duration::from_millis(300),
        );
        let mut answered = 0;
        drive(&plan, |outcome| match outcome {
            Outcome::Answered { status: 200, .. } => answered += 1,
            other => panic!("{other:?}"),
        })
        .unwrap();
        assert_eq!(answered, 60);
    }

    #[test]
    fn a_closed_loop_reconnects_when_the_server_closes_and_reports_the_failure() {
        // Every connection's fourth request is read and never answered: it fails, and the
        // connection starts over.
        let addr = server(Some(3));
        let requests = vec![post_request("h", "/p", b"{}")];
        let plan = plan(addr, &requests, 2, Pace::Closed, Duration::from_millis(200));
        let (mut answered, mut failed) = (0, 0);
        drive(&plan, |outcome| match outcome {
            Outcome::Answered { status: 200, .. } => answered += 1,
            Outcome::Failed { .. } => failed += 1,
            other => panic!("{other:?}"),
        })
        .unwrap();
        assert!(failed >= 2, "{failed} failed");
        // Three answers per connection before each failure, the last connections may stop
        // (at the end) before their fourth request.
        assert!(
            answered >= 3 * failed && answered <= 3 * failed + 6,
            "{answered} answered, {failed} failed"
        );
    }
}
