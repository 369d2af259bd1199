//! Opening a job's sink: the same for the server's runner and the standalone CLI.

use std::sync::Arc;

use tributary_eventlog::EventLog;

use crate::engine::resume_position;
use crate::error::ReplayError;
use crate::file::FileSink;
use crate::model::{Checkpoints, Selection, Sink, Target};
use crate::topic::{TopicSink, ensure_topic};

/// The sink of job `job_id`: a topic (created with as many partitions as the widest source,
/// so records keep their partition and order) or an export directory — new, or reopened at
/// the position of the job's checkpoints when the job already confirmed writes.
pub async fn open_sink(
    log: &Arc<dyn EventLog>,
    job_id: &str,
    selection: &Selection,
    target: &Target,
    checkpoints: &dyn Checkpoints,
) -> Result<Box<dyn Sink>, ReplayError> {
    match target {
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
