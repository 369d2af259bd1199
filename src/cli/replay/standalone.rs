//! `tributary replay run`: the replay engine in this process, against Kafka, with its jobs
//! and checkpoints in a local SQLite file — for operators without a server at hand.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tributary_core::{Database, now_ms};
use tributary_eventlog::{EventLog, KafkaLog, KafkaOptions, LogError};
use tributary_replay::{
    Control, FileFormat, JobStore, NewJob, Outcome, Predicate, Progress, ReplayError, Selection,
    StoredJob, Target, default_target_topic, dry_run, new_job_id, open_sink, parse_time, plan,
    validate,
};

use super::{StandaloneArgs, parse_predicate, progress_line, render_dry_run};
use crate::cli::Failure;

pub(super) async fn run(args: StandaloneArgs, json: bool) -> Result<(), Failure> {
    let mut options = KafkaOptions::new(args.bootstrap.clone());
    options.extra = args.kafka_properties.iter().cloned().collect();
    let log: Arc<dyn EventLog> =
        Arc::new(KafkaLog::connect(options).await.map_err(|e| match e {
            // Refused options or a client librdkafka cannot build: the command line's fault.
            LogError::Fatal(why) => {
                Failure::usage(format!("cannot use these Kafka options: {why}"))
            }
            e => Failure::runtime(format!("cannot reach Kafka at {}: {e}", args.bootstrap)),
        })?);
    let store = open_state(&args.state).await?;
    let job = match &args.resume {
        Some(id) => store
            .get(id)
            .await
            .map_err(Failure::runtime)?
            .ok_or_else(|| {
                Failure::usage(format!(
                    "no replay job {id} in {}: --resume takes the id an earlier run printed",
                    args.state.display()
                ))
            })?,
        None => {
            let new = new_job(&args)?;
            if args.dry_run {
                return print_dry_run(log.as_ref(), &new.selection, json).await;
            }
            store.insert(&new).await.map_err(Failure::runtime)?
        }
    };
    if job.state.is_final() {
        return Err(Failure::usage(format!(
            "replay job {} already {}: nothing to resume",
            job.id,
            job.state.as_str()
        )));
    }
    eprintln!("replay job {} (state in {})", job.id, args.state.display());
    let outcome = drive(&log, &store, &job, json).await;
    let closed = log.close().await;
    match outcome {
        Ok(Outcome::Cancelled(totals)) => {
            let _ = store
                .progress(&job.id, tributary_replay::JobState::Paused, counts(&totals))
                .await;
            Err(Failure {
                message: format!(
                    "stopped after {} events; resume with: tributary replay run --bootstrap {} --state {} --resume {}",
                    totals.emitted,
                    args.bootstrap,
                    args.state.display(),
                    job.id
                ),
                exit_code: 130,
            })
        }
        Ok(outcome) => {
            let totals = outcome.totals();
            let state = tributary_replay::JobState::Completed;
            store
                .progress(&job.id, state, counts(&totals))
                .await
                .map_err(Failure::runtime)?;
            store
                .finished(&job.id, state, None)
                .await
                .map_err(Failure::runtime)?;
            closed
                .map_err(|e| Failure::runtime(format!("event log did not close cleanly: {e}")))?;
            let summary = serde_json::json!({
                "id": job.id, "state": "completed", "emitted": totals.emitted,
                "filtered": totals.filtered, "unreadable": totals.unreadable,
                "target": job.target,
            });
            if json {
                println!("{summary}");
            } else {
                println!(
                    "replay job {} completed: {} emitted, {} filtered, {} unreadable",
                    job.id, totals.emitted, totals.filtered, totals.unreadable
                );
            }
            Ok(())
        }
        Err(error) => {
            let _ = store
                .finished(
                    &job.id,
                    tributary_replay::JobState::Failed,
                    Some(&error.to_string()),
                )
                .await;
            Err(Failure::runtime(error))
        }
    }
}

fn counts(totals: &tributary_replay::Totals) -> (u64, u64, u64) {
    (totals.emitted, totals.filtered, totals.unreadable)
}

/// The local SQLite file of jobs and checkpoints, created and migrated on first use.
async fn open_state(path: &Path) -> Result<JobStore, Failure> {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let db = Database::connect(&url, Duration::from_secs(10))
        .await
        .map_err(|e| Failure::runtime(format!("cannot open {}: {e}", path.display())))?;
    db.migrate()
        .await
        .map_err(|e| Failure::runtime(format!("cannot migrate {}: {e}", path.display())))?;
    Ok(JobStore::new(db))
}

/// The job the flags describe, checked before any work starts.
fn new_job(args: &StandaloneArgs) -> Result<NewJob, Failure> {
    let usage = |e: ReplayError| Failure::usage(e.to_string());
    let now = now_ms();
    let from = args.from.as_deref().unwrap_or_default();
    let from = parse_time(from, now).map_err(|e| Failure::usage(format!("--from: {e}")))?;
    let to = match &args.to {
        Some(text) => parse_time(text, now).map_err(|e| Failure::usage(format!("--to: {e}")))?,
        None => now,
    };
    let predicate: Option<Predicate> = match args.filters.predicate.as_deref() {
        None => None,
        Some(text) => {
            let value = parse_predicate(text).map_err(Failure::usage)?;
            Some(serde_json::from_value(value).map_err(Failure::usage)?)
        }
    };
    let selection = Selection {
        topics: args.topics.clone(),
        from_ms: from,
        to_ms: to,
        keys: args.filters.keys.clone(),
        producers: args.filters.producers.clone(),
        schema_versions: args.filters.schema_versions.clone(),
        predicate,
        dead_letter_reasons: args.filters.reasons.clone(),
        dead_letter_types: Vec::new(),
    };
    validate(&selection).map_err(usage)?;
    let id = new_job_id();
    let target = match (&args.to_topic, &args.file) {
        (_, Some(dir)) => {
            if dir.exists() {
                return Err(Failure::usage(format!(
                    "{} already exists: an export never overwrites one",
                    dir.display()
                )));
            }
            let format = match args.format.as_str() {
                "avro" => FileFormat::Avro,
                _ => FileFormat::Ndjson,
            };
            Target::Files {
                dir: dir.clone(),
                format,
            }
        }
        (Some(topic), None) => Target::Topic {
            topic: topic.clone(),
        },
        (None, None) => Target::Topic {
            topic: default_target_topic(&id),
        },
    };
    if let Target::Topic { topic } = &target
        && selection.topics.contains(topic)
    {
        eprintln!(
            "note: replaying into the source topic {topic}; records carry tributary.replay_job"
        );
    }
    Ok(NewJob {
        request: serde_json::json!({ "cli": std::env::args().skip(1).collect::<Vec<_>>() }),
        event_types: Vec::new(),
        rate_per_sec: args.filters.rate,
        max_events: args.filters.max_events,
        created_by: String::from("cli"),
        selection,
        target,
        id,
    })
}

async fn print_dry_run(
    log: &dyn EventLog,
    selection: &Selection,
    json: bool,
) -> Result<(), Failure> {
    let planned = plan(log, selection).await.map_err(Failure::runtime)?;
    let partitions = dry_run(log, selection, &planned)
        .await
        .map_err(Failure::runtime)?;
    let would_emit: u64 = partitions.iter().map(|p| p.emitted).sum();
    let answer = serde_json::json!({
        "from_ms": selection.from_ms, "to_ms": selection.to_ms, "partitions": partitions,
        "would_emit": would_emit, "warnings": planned.warnings,
    });
    if json {
        println!("{answer}");
    } else {
        print!("{}", render_dry_run(&answer));
    }
    Ok(())
}

/// Plans (or reuses the stored plan), opens the sink and runs to the end; Ctrl-C stops
/// between batches with the checkpoints saved.
async fn drive(
    log: &Arc<dyn EventLog>,
    store: &JobStore,
    job: &StoredJob,
    json: bool,
) -> Result<Outcome, ReplayError> {
    let planned = tributary_replay::start(log.as_ref(), store, job).await?;
    for warning in &planned.warnings {
        eprintln!("warning: {warning}");
    }
    let checkpoints = store.checkpoints();
    let mut sink = open_sink(
        log,
        &job.id,
        &job.selection,
        &job.target,
        &checkpoints,
        None,
    )
    .await?;
    let control = Control::new();
    let interrupt = {
        let control = control.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping after the current batch");
                control.cancel();
            }
        })
    };
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let printer = tokio::spawn(show_progress(progress_rx, json));
    let outcome = tributary_replay::run(
        Arc::clone(log),
        &tributary_replay::job_run(job),
        &planned,
        sink.as_mut(),
        &checkpoints,
        control,
        progress_tx,
    )
    .await;
    interrupt.abort();
    let _ = printer.await;
    let outcome = outcome?;
    if !matches!(outcome, Outcome::Cancelled(_)) {
        let report = sink
            .finish()
            .await
            .map_err(|e| ReplayError::Sink(e.to_string()))?;
        if let Some(manifest) = report.manifest {
            eprintln!("manifest: {}", manifest.display());
        }
    }
    Ok(outcome)
}

/// Redraws one progress line on stderr each second (JSON lines on stdout with `--json`)
/// until the run drops its sender.
async fn show_progress(mut progress: watch::Receiver<Progress>, json: bool) {
    let mut stderr = std::io::stderr();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let ended = tokio::select! {
            changed = progress.changed() => changed.is_err(),
            _ = tick.tick() => false,
        };
        let value = serde_json::to_value(&*progress.borrow()).unwrap_or(Value::Null);
        if json {
            println!("{value}");
        } else {
            let _ = write!(stderr, "\r{}", progress_line("running", 0, &value));
            let _ = stderr.flush();
        }
        if ended {
            if !json {
                let _ = writeln!(stderr);
            }
            return;
        }
    }
}
