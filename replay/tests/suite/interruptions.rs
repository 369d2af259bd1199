//! Runs that stop part-way — killed, failing, cancelled, paused — and resume from their
//! checkpoints, one partition at a time or side by side.

use super::*;

/// Source: 2 partitions × 1 300 records (3 batches each); a producer filter keeps 4 in 7.
/// Through sinks without concurrent writers (partitions one after another, as into a file),
/// the job is killed right after its second checkpoint, then its sink fails on its second
/// write, then it is cancelled during a write; each time a fresh run resumes from the
/// checkpoints. The target holds every selected record exactly once, in the source's order
/// per partition.
pub(crate) async fn interrupted_job_resumes_exactly_once(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "resume", 2).await;
    let t = base_ms();
    for chunk in 0..2 {
        let records = (0..1_300)
            .map(|i| {
                let i = chunk * 1_300 + i;
                let producer = if i % 7 < 4 { "keep" } else { "drop" };
                Record::new(format!("r{i}"), t + i)
                    .with_key(format!("key{}", i % 13))
                    .with_header(headers::PRODUCER, producer)
                    .with_partition(chunk as u32)
            })
            .collect();
        append(log.as_ref(), &topic, records).await;
    }
    let source = read_target(log.as_ref(), &topic, 2).await;
    let mut sel = selection(&topic, t, t + 10_000);
    sel.producers = vec!["keep".into()];
    let Topical {
        planned,
        id,
        job,
        target,
    } = topical(log.as_ref(), "resume", &sel, 2).await;
    let checkpoints = MemoryCheckpoints::new();
    let open_sink = || TopicSink::open(log.clone(), &target, &sel.topics);

    // 1. Killed: the second checkpoint is saved, then the run never gets further and is dropped.
    let hanging = HangingCheckpoints::new(&checkpoints, 2);
    let mut sink = ScriptedSink::sequential(open_sink().await.unwrap());
    tokio::select! {
        result = run_into(&log, &job, &planned, &mut sink, &hanging) => {
            panic!("the run should hang after its second checkpoint, got {result:?}")
        }
        () = hanging.hung() => {}
    }
    let saved = checkpoints.snapshot(&id);
    assert_eq!(saved.len(), 1, "partition 0 only so far");
    assert_eq!(saved[&(topic.clone(), 0)].next_offset, 1_000);

    // 2. The sink fails on its second write (partition 1's first batch; nothing written).
    let mut failing = ScriptedSink::new(open_sink().await.unwrap(), 2, Script::Fail);
    let err = run_into(&log, &job, &planned, &mut failing, &checkpoints)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplayError::Sink(_)), "{err}");
    assert_eq!(
        checkpoints.snapshot(&id).len(),
        1,
        "partition 1 not confirmed"
    );

    // 3. Cancelled during its second write: that batch is confirmed, then the run stops.
    let control = Control::new();
    let mut cancelling = ScriptedSink::new(
        open_sink().await.unwrap(),
        2,
        Script::Cancel(control.clone()),
    );
    let (progress, _) = watch::channel(Progress::default());
    let outcome = run(
        log.clone(),
        &job,
        &planned,
        &mut cancelling,
        &checkpoints,
        control,
        progress,
    )
    .await
    .unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome:?}");
    assert_eq!(
        checkpoints.snapshot(&id)[&(topic.clone(), 1)].next_offset,
        1_000
    );

    // 4. To the end.
    let mut sink = open_sink().await.unwrap();
    let outcome = run_into(&log, &job, &planned, &mut sink, &checkpoints)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");

    let replayed = read_target(log.as_ref(), &target, 2).await;
    let mut total = 0;
    for p in 0..2 {
        let expected: Vec<String> = source[&p]
            .iter()
            .filter(|r| r.header(headers::PRODUCER).map(|v| &v[..]) == Some(b"keep"))
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .collect();
        total += expected.len();
        assert_eq!(values(&replayed[&p]), expected, "partition {p}");
    }
    assert_eq!(outcome.totals().emitted as usize, total);
    assert_eq!(outcome.totals().emitted + outcome.totals().filtered, 2_600);
}

/// Source: 3 partitions × 1 300 records (3 batches each). Into a topic the partitions are
/// replayed side by side: the sink's three writers each hold their first write until all
/// three are writing. One writer fails its third write; the others stop at their next batch
/// boundary, having confirmed what they wrote. A fresh run resumes from the checkpoints, and
/// the target holds every record exactly once, in the source's order per partition.
pub(crate) async fn partitions_are_replayed_side_by_side(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "lanes", 3).await;
    let t = base_ms();
    for partition in 0..3u32 {
        let records = (0..1_300)
            .map(|i| {
                Record::new(format!("p{partition}-{i}"), t + i)
                    .with_key(format!("key{}", i % 13))
                    .with_partition(partition)
            })
            .collect();
        append(log.as_ref(), &topic, records).await;
    }
    let source = read_target(log.as_ref(), &topic, 3).await;
    let sel = selection(&topic, t, t + 10_000);
    let Topical {
        planned,
        id,
        job,
        target,
    } = topical(log.as_ref(), "lanes", &sel, 3).await;
    let checkpoints = MemoryCheckpoints::new();
    let open_sink = || TopicSink::open(log.clone(), &target, &sel.topics);

    let mut sink = SideBySideSink::new(open_sink().await.unwrap(), 3, 3);
    let failed = tokio::time::timeout(
        Duration::from_secs(120),
        run_into(&log, &job, &planned, &mut sink, &checkpoints),
    )
    .await
    .expect("three writers writing at once: the partitions are replayed side by side")
    .unwrap_err();
    assert!(matches!(failed, ReplayError::Sink(_)), "{failed}");
    let saved = checkpoints.snapshot(&id);
    assert_eq!(saved.len(), 3, "every partition confirmed its first batch");
    assert!(saved.values().all(|c| c.next_offset >= 500), "{saved:?}");
    assert!(
        saved.values().any(|c| c.next_offset < 1_300),
        "the failure stopped a partition: {saved:?}"
    );

    let mut sink = open_sink().await.unwrap();
    let outcome = run_into(&log, &job, &planned, &mut sink, &checkpoints)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
    assert_eq!(outcome.totals().emitted, 3_900);
    let replayed = read_target(log.as_ref(), &target, 3).await;
    for p in 0..3 {
        assert_eq!(values(&replayed[&p]), values(&source[&p]), "partition {p}");
    }
}

/// Two partitions side by side; the job is paused just as one lane's write fails. The other
/// lane, waiting for the job to resume, stops too: the run ends with the failure instead of
/// waiting for a resume nobody will send.
pub(crate) async fn a_failure_ends_a_paused_run(log: Arc<dyn EventLog>) {
    let topic = new_topic(log.as_ref(), "paused-failure", 2).await;
    let t = base_ms();
    for partition in 0..2u32 {
        let records = (0..600)
            .map(|i| Record::new(format!("p{partition}-{i}"), t + i).with_partition(partition))
            .collect();
        append(log.as_ref(), &topic, records).await;
    }
    let sel = selection(&topic, t, t + 10_000);
    let Topical {
        planned,
        job,
        target,
        ..
    } = topical(log.as_ref(), "paused-failure", &sel, 2).await;
    let control = Control::new();
    let sink = TopicSink::open(log.clone(), &target, &sel.topics)
        .await
        .unwrap();
    let mut sink = SideBySideSink::new(sink, 2, 2).pausing(control.clone());
    let (progress, _) = watch::channel(Progress::default());
    let checkpoints = MemoryCheckpoints::new();
    let ran = tokio::time::timeout(
        Duration::from_secs(120),
        run(
            log.clone(),
            &job,
            &planned,
            &mut sink,
            &checkpoints,
            control,
            progress,
        ),
    )
    .await
    .expect("the run ends although the job is paused");
    assert!(matches!(ran, Err(ReplayError::Sink(_))), "{ran:?}");
}
