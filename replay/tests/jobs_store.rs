//! The replay job store on SQLite and PostgreSQL: jobs round-trip, owners' requests are
//! audited, the runner's progress and checkpoints are kept, and the plan is fixed once.

use serde_json::json;
use tributary_core::Database;
use tributary_core::testkit::{scratch_postgres, scratch_sqlite};
use tributary_replay::{
    Checkpoint, Checkpoints, Desired, JobState, JobStore, NewJob, Selection, Target,
};

fn job(id: &str) -> NewJob {
    NewJob {
        id: id.to_owned(),
        request: json!({"event_types": ["orders.placed"], "from": "-1h"}),
        selection: Selection {
            topics: vec!["orders.placed".into()],
            from_ms: 1_000,
            to_ms: 2_000,
            keys: vec!["k1".into()],
            producers: Vec::new(),
            schema_versions: vec![2],
            predicate: None,
            dead_letter_reasons: Vec::new(),
            dead_letter_types: Vec::new(),
        },
        target: Target::Topic {
            topic: format!("replay.{id}"),
        },
        event_types: vec!["orders.placed".into()],
        rate_per_sec: Some(500),
        max_events: None,
        created_by: "team:orders".into(),
    }
}

async fn jobs_round_trip_with_their_progress(db: Database) {
    db.migrate().await.unwrap();
    let store = JobStore::new(db.clone());
    let stored = store.insert(&job("j1")).await.unwrap();
    assert_eq!(stored.state, JobState::Pending);
    assert_eq!(stored.desired, Desired::Run);
    assert_eq!(stored.selection.keys, ["k1"]);
    assert_eq!(stored.rate_per_sec, Some(500));
    assert_eq!(stored.event_types, ["orders.placed"]);
    store.insert(&job("j2")).await.unwrap();
    assert_eq!(store.unfinished().await.unwrap().len(), 2);
    assert_eq!(
        store.list(Some("orders.placed"), 10).await.unwrap().len(),
        2
    );
    assert!(store.list(Some("other"), 10).await.unwrap().is_empty());

    // The plan is fixed at the first start; a restart keeps it.
    store.started("j1", &json!({"end": 10})).await.unwrap();
    store.started("j1", &json!({"end": 99})).await.unwrap();
    let got = store.get("j1").await.unwrap().unwrap();
    assert_eq!(got.plan, Some(json!({"end": 10})));
    assert_eq!(got.state, JobState::Running);

    let checkpoints = store.checkpoints();
    let mut point = Checkpoint {
        topic: "orders.placed".into(),
        partition: 1,
        next_offset: 42,
        emitted: 40,
        filtered: 2,
        unreadable: 0,
        sink_position: 0,
    };
    checkpoints.save("j1", &point).await.unwrap();
    point.next_offset = 50;
    point.emitted = 47;
    checkpoints.save("j1", &point).await.unwrap();
    let loaded = checkpoints.load("j1").await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[&("orders.placed".to_owned(), 1)], point);
    assert!(checkpoints.load("j2").await.unwrap().is_empty());

    store
        .progress("j1", JobState::Running, (47, 2, 0))
        .await
        .unwrap();
    let cancelled = store
        .set_desired("j1", Desired::Cancel, "team:orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.desired, Desired::Cancel);
    assert_eq!(cancelled.emitted, 47);
    assert!(
        store
            .set_desired("nope", Desired::Pause, "x")
            .await
            .unwrap()
            .is_none()
    );
    store
        .finished("j1", JobState::Cancelled, None)
        .await
        .unwrap();
    let done = store.get("j1").await.unwrap().unwrap();
    assert!(done.state.is_final());
    assert!(done.finished_at_ms.is_some());
    assert_eq!(store.unfinished().await.unwrap().len(), 1);

    let actions: Vec<String> = db
        .audit_for(&[("replay", "j1")], 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(actions, ["replay.cancel", "replay.create"]);
}

#[tokio::test]
async fn sqlite_jobs_round_trip_with_their_progress() {
    let scratch = scratch_sqlite().await;
    jobs_round_trip_with_their_progress(scratch.db.clone()).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
async fn postgres_jobs_round_trip_with_their_progress() {
    let scratch = scratch_postgres().await;
    jobs_round_trip_with_their_progress(scratch.db.clone()).await;
}
