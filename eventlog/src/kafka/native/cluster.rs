//! The native producer's view of the cluster: brokers, partition leaders, one connection
//! per broker, and the idempotent producer identity.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::TopicPartition;
use crate::LogError;
use crate::kafka::KafkaOptions;
use crate::kafka::conn::Conn;
use crate::kafka::wire;

/// An idempotent producer identity, and which one it is in this process.
#[derive(Debug, Clone, Copy)]
pub(super) struct Writer {
    pub(super) producer_id: i64,
    pub(super) epoch: i16,
    pub(super) generation: u64,
}

/// Brokers, partition leaders, connections and the producer id.
#[derive(Debug)]
pub(super) struct Cluster {
    options: Arc<KafkaOptions>,
    state: Mutex<ClusterState>,
    /// Serializes connecting, metadata and producer-id requests.
    refresh: tokio::sync::Mutex<()>,
    writer: tokio::sync::Mutex<Option<Writer>>,
    generations: AtomicU64,
}

#[derive(Debug, Default)]
struct ClusterState {
    brokers: HashMap<i32, String>,
    leaders: HashMap<TopicPartition, i32>,
    conns: HashMap<String, Arc<Conn>>,
}

impl Cluster {
    pub(super) fn new(options: Arc<KafkaOptions>) -> Cluster {
        Cluster {
            options,
            state: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
            writer: tokio::sync::Mutex::new(None),
            generations: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect_timeout(&self) -> Duration {
        self.options
            .connect_timeout
            .min(self.options.request_timeout)
    }

    /// A live connection to the leader of `(topic, partition)`, asking for metadata when the
    /// leader is not known.
    pub(super) async fn leader(
        &self,
        topic: &Arc<str>,
        partition: u32,
    ) -> Result<Arc<Conn>, LogError> {
        let known = |state: &ClusterState| {
            let node = state.leaders.get(&(Arc::clone(topic), partition))?;
            state.brokers.get(node).cloned()
        };
        let address = known(&self.lock());
        let address = match address {
            Some(address) => address,
            None => {
                self.refresh_metadata(topic).await?;
                known(&self.lock()).ok_or_else(|| {
                    LogError::Unavailable(format!(
                        "no leader known for {topic:?} partition {partition}"
                    ))
                })?
            }
        };
        self.conn(&address).await
    }

    /// The live connection to `address`, opened if there is none.
    async fn conn(&self, address: &str) -> Result<Arc<Conn>, LogError> {
        let alive =
            |state: &ClusterState| state.conns.get(address).filter(|c| !c.is_dead()).cloned();
        if let Some(conn) = alive(&self.lock()) {
            return Ok(conn);
        }
        let _one = self.refresh.lock().await;
        if let Some(conn) = alive(&self.lock()) {
            return Ok(conn);
        }
        let conn = Arc::new(Conn::connect(address, self.connect_timeout()).await?);
        self.lock()
            .conns
            .insert(address.to_owned(), Arc::clone(&conn));
        Ok(conn)
    }

    /// Drops `conn` so that the next request opens a new connection.
    pub(super) fn forget_conn(&self, conn: &Conn) {
        let mut state = self.lock();
        if state
            .conns
            .get(conn.address())
            .is_some_and(|c| std::ptr::eq(&**c, conn))
        {
            state.conns.remove(conn.address());
        }
    }

    /// Forgets where `topic`'s partitions lead, so that the next send asks again.
    pub(super) fn forget_leaders(&self, topic: &str) {
        self.lock().leaders.retain(|(t, _), _| &**t != topic);
    }

    /// Any broker that answers: known brokers first, then the bootstrap list.
    async fn any_conn(&self) -> Result<Arc<Conn>, LogError> {
        let mut addresses: Vec<String> = self.lock().brokers.values().cloned().collect();
        addresses.extend(
            self.options
                .bootstrap_servers
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        );
        let mut last = LogError::Unavailable("no kafka brokers configured".into());
        for address in addresses {
            match self.conn(&address).await {
                Ok(conn) => return Ok(conn),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Asks a broker where `topic`'s partitions lead.
    async fn refresh_metadata(&self, topic: &Arc<str>) -> Result<(), LogError> {
        let conn = self.any_conn().await?;
        let id = conn.next_correlation_id();
        let frame = wire::metadata_request(id, &[topic]);
        let body = match conn.call(id, &frame, self.options.request_timeout).await {
            Ok(body) => body,
            Err(err) => {
                self.forget_conn(&conn);
                return Err(err);
            }
        };
        let metadata =
            wire::metadata_response(&body).map_err(|e| LogError::Unavailable(e.to_string()))?;
        let mut state = self.lock();
        for (node, address) in metadata.brokers {
            state.brokers.insert(node, address);
        }
        for (name, error, partitions) in metadata.topics {
            if *name != **topic {
                continue;
            }
            if error != 0 {
                return Err(LogError::Unavailable(format!(
                    "metadata for {topic:?}: {} ({error})",
                    wire::error_name(error)
                )));
            }
            for (partition, error, leader) in partitions {
                if error == 0 && leader >= 0 {
                    state.leaders.insert((Arc::clone(topic), partition), leader);
                }
            }
        }
        Ok(())
    }

    /// The current producer identity, asking a broker for one if there is none.
    pub(super) async fn writer(&self) -> Result<Writer, LogError> {
        let mut slot = self.writer.lock().await;
        if let Some(writer) = *slot {
            return Ok(writer);
        }
        let conn = self.any_conn().await?;
        let id = conn.next_correlation_id();
        let frame = wire::init_producer_id_request(id);
        let body = match conn.call(id, &frame, self.options.request_timeout).await {
            Ok(body) => body,
            Err(err) => {
                self.forget_conn(&conn);
                return Err(err);
            }
        };
        let (error, producer_id, epoch) = wire::init_producer_id_response(&body)
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        if error != 0 || producer_id < 0 {
            return Err(LogError::Unavailable(format!(
                "the broker gave no producer id: {} ({error})",
                wire::error_name(error)
            )));
        }
        let writer = Writer {
            producer_id,
            epoch,
            generation: self.generations.fetch_add(1, Ordering::AcqRel) + 1,
        };
        *slot = Some(writer);
        Ok(writer)
    }

    /// Stops using producer identity `generation` (if it is still the current one): the next
    /// batch asks for a new one and starts every partition's sequence at 0.
    pub(super) async fn retire(&self, generation: u64) {
        let mut slot = self.writer.lock().await;
        if slot.is_some_and(|w| w.generation == generation) {
            *slot = None;
        }
    }
}
