//! One TCP connection to one broker, with requests pipelined on it.
//!
//! Callers write whole request frames under a lock; one reader task reads answers and hands
//! each to the caller waiting on its correlation id. When the connection breaks, every
//! waiting caller gets an error at once and the connection is marked dead, so the producer
//! opens a new one instead of reusing it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

use crate::LogError;

/// The largest answer accepted from a broker: produce and metadata answers are small.
const MAX_RESPONSE: usize = 64 << 20;

type Waiters = HashMap<i32, oneshot::Sender<Result<Bytes, LogError>>>;

#[derive(Debug)]
pub(super) struct Conn {
    address: String,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    waiters: Arc<Mutex<Waiters>>,
    dead: Arc<AtomicBool>,
    next_id: AtomicI32,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Conn {
    /// Connects to `address` (host:port) within `timeout`.
    pub(super) async fn connect(address: &str, timeout: Duration) -> Result<Conn, LogError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                LogError::Unavailable(format!(
                    "kafka broker {address} did not accept within {timeout:?}"
                ))
            })?
            .map_err(|e| LogError::Unavailable(format!("kafka broker {address}: {e}")))?;
        stream.set_nodelay(true)?;
        let (mut read, write) = stream.into_split();
        let waiters: Arc<Mutex<Waiters>> = Arc::default();
        let dead = Arc::new(AtomicBool::new(false));
        let reader = {
            let waiters = waiters.clone();
            let dead = dead.clone();
            let address = address.to_owned();
            tokio::spawn(async move {
                let why = loop {
                    match read_frame(&mut read).await {
                        Ok((id, body)) => {
                            let waiter = lock(&waiters).remove(&id);
                            if let Some(waiter) = waiter {
                                let _ = waiter.send(Ok(body));
                            }
                        }
                        Err(why) => break why,
                    }
                };
                dead.store(true, Ordering::Release);
                let failed: Vec<_> = lock(&waiters).drain().collect();
                for (_, waiter) in failed {
                    let _ = waiter.send(Err(LogError::Unavailable(format!(
                        "connection to kafka broker {address} lost: {why}"
                    ))));
                }
            })
        };
        Ok(Conn {
            address: address.to_owned(),
            writer: tokio::sync::Mutex::new(write),
            waiters,
            dead,
            next_id: AtomicI32::new(1),
            reader,
        })
    }

    pub(super) fn address(&self) -> &str {
        &self.address
    }

    pub(super) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// A correlation id for the next request on this connection.
    pub(super) fn next_correlation_id(&self) -> i32 {
        self.next_id.fetch_add(1, Ordering::Relaxed) & i32::MAX
    }

    /// Sends `frame` (built with `correlation_id`) and waits up to `timeout` for its answer's
    /// body. Any error leaves the outcome unknown: the broker may have acted on the request.
    pub(super) async fn call(
        &self,
        correlation_id: i32,
        frame: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, LogError> {
        if self.is_dead() {
            return Err(LogError::Unavailable(format!(
                "connection to kafka broker {} is closed",
                self.address
            )));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(correlation_id, tx);
        // Removes the waiter however this call ends (answered, failed or dropped).
        let _forget = Forget {
            waiters: &self.waiters,
            id: correlation_id,
        };
        let exchange = async {
            {
                let mut writer = self.writer.lock().await;
                if let Err(e) = writer.write_all(frame).await {
                    self.dead.store(true, Ordering::Release);
                    return Err(LogError::Unavailable(format!(
                        "writing to kafka broker {}: {e}",
                        self.address
                    )));
                }
            }
            match rx.await {
                Ok(answer) => answer,
                Err(_) => Err(LogError::Unavailable(format!(
                    "connection to kafka broker {} closed",
                    self.address
                ))),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => {
                // A late answer would arrive on a connection whose order we no longer track
                // well enough to trust: start over on a new one.
                self.dead.store(true, Ordering::Release);
                Err(LogError::Timeout(format!(
                    "kafka broker {} did not answer within {timeout:?}",
                    self.address
                )))
            }
        }
    }
}

struct Forget<'a> {
    waiters: &'a Mutex<Waiters>,
    id: i32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.waiters).remove(&self.id);
    }
}

fn lock(waiters: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    waiters.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads one answer: `(correlation id, body after it)`.
async fn read_frame(read: &mut tokio::net::tcp::OwnedReadHalf) -> Result<(i32, Bytes), String> {
    let size = read.read_i32().await.map_err(|e| e.to_string())?;
    if size < 4 || size as usize > MAX_RESPONSE {
        return Err(format!("the broker sent a frame of {size} bytes"));
    }
    let mut body = vec![0; size as usize];
    read.read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    let id = i32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
    let mut body = Bytes::from(body);
    let _ = body.split_to(4);
    Ok((id, body))
}
