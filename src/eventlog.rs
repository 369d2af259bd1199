//! Opens the event log the configuration names.

use std::sync::Arc;

use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog, KafkaLog, KafkaOptions};

use crate::cli::Failure;
use crate::config::{Config, EventLogConfig};

pub(crate) async fn open(config: &Config) -> Result<Arc<dyn EventLog>, Failure> {
    match &config.event_log {
        EventLogConfig::Embedded {
            dir,
            fsync,
            segment_bytes,
            retention_check_interval,
        } => {
            let mut options = EmbeddedOptions::new(dir.clone());
            options.fsync = *fsync;
            options.segment_bytes = *segment_bytes;
            options.retention_check_interval = *retention_check_interval;
            let log = EmbeddedLog::open(options).await.map_err(|e| {
                Failure::runtime(format!("cannot open the embedded event log: {e}"))
            })?;
            Ok(Arc::new(log))
        }
        EventLogConfig::Kafka {
            bootstrap_servers,
            append_timeout,
            max_in_flight_bytes,
            linger,
            replication_factor,
            connect_timeout,
            properties,
            producer,
        } => {
            let mut options = KafkaOptions::new(bootstrap_servers.clone());
            options.message_timeout = *append_timeout;
            options.max_in_flight_bytes =
                usize::try_from(*max_in_flight_bytes).unwrap_or(usize::MAX);
            options.linger = *linger;
            options.replication_factor = *replication_factor;
            options.connect_timeout = *connect_timeout;
            options.extra = properties.clone();
            options.producer = *producer;
            let log = KafkaLog::connect(options).await.map_err(|e| {
                Failure::runtime(format!("cannot reach Kafka at {bootstrap_servers}: {e}"))
            })?;
            Ok(Arc::new(log))
        }
    }
}
