//! Opening a job's sink: the same for the server's runner and the standalone CLI.

use std::sync::Arc;

use tributary_eventlog::EventLog;

use crate::engine::resume_position;
use crate::error::ReplayError;
use crate::file::FileSink;
use crate::model::{Checkpoints, Selection, Sink, Target};
use crate::reingest::{Reingest, ReingestSink};
use crate::topic::{TopicSink, ensure_topic};

/// The sink of job `job_id`: a topic (created with as many partitions as the widest source,
/// so records keep their partition and order), an export directory — new, or reopened at
/// the position of the job's checkpoints when the job already confirmed writes — or the
/// gateway, for dead letters fixed and re-ingested.
///
/// Re-ingesting dead letters needs the gateway (`reingest`), which only a server has.
pub async fn open_sink(
    log: &Arc<dyn EventLog>,
    job_id: &str,
    selection: &Selection,
    target: &Target,
    checkpoints: &dyn Checkpoints,
    reingest: Option<&Arc<dyn Reingest>>,
) -> Result<Box<dyn Sink>, ReplayError> {
    match target {
        Target::Reingest { fix } => {
            let Some(reingest) = reingest else {
                return Err(ReplayError::BadRequest(String::from(
                    "re-ingesting dead letters goes through a server's gateway: start the job on a server",
                )));
            };
            Ok(Box::new(ReingestSink::new(
                Arc::clone(reingest),
                fix.clone(),
                job_id,
            )))
        }
        Target::Topic { topic } => {
            let mut partitions = 1;
            for source in &selection.topics {
                partitions = partitions.max(log.describe_topic(source).await?.partitions);
            }
            ensure_topic(log.as_ref(), topic, partitions).await?;
            let sink = TopicSink::open(Arc::clone(log), topic, &selection.topics).await?;
            Ok(Box::new(sink))
        }
        Target::Files { dir, format } => {
            let done = checkpoints
                .load(job_id)
                .await
                .map_err(|e| ReplayError::Checkpoint(e.to_string()))?;
            let opened = if done.is_empty() {
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(parent).await.map_err(|e| {
                        ReplayError::Sink(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                FileSink::create(dir, *format, job_id).await
            } else {
                FileSink::resume(dir, *format, job_id, resume_position(&done)).await
            };
            Ok(Box::new(
                opened.map_err(|e| ReplayError::Sink(e.to_string()))?,
            ))
        }
    }
}
