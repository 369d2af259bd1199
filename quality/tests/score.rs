//! The score on deterministic inputs, worked out by hand.
//!
//! Default weights: validity 40, rules 30, completeness 10, freshness 10, uniqueness 10.
//! The order fields track five optional leaves: /customer/name, /customer/phone, /email,
//! /note, /tags.

mod rules_common;

use rules_common::{NOW_MS, assess, facts, failed, order, order_fields, rules};
use serde_json::{Value, json};
use tributary_quality::{Components, EventFacts, FieldKind, Scorer};

const MINUTE: i64 = 60_000;

fn compile(document: Value) -> Scorer {
    Scorer::compile(&rules(document), &order_fields()).unwrap()
}

/// The five typical rules: severities error 10 + error 10 + warning 3 + info 1 = 24 count in
/// the `rules` component; freshness has its own.
fn typical() -> Value {
    json!([
        {"name": "id_given", "kind": "required", "field": "/id", "severity": "error"},
        {"name": "total_in_range", "kind": "range", "field": "/total", "min": 0, "max": 10000, "severity": "error"},
        {"name": "status_known", "kind": "enum", "field": "/status", "values": ["placed", "paid"]},
        {"name": "sku_form", "kind": "pattern", "field": "/items/*/sku", "regex": "^[A-Z]-[0-9]+$", "severity": "info"},
        {"name": "fresh", "kind": "freshness", "max_age": "10m", "max_future": "1m"}
    ])
}

#[test]
fn a_perfect_event_scores_100() {
    let scorer = Scorer::default_for(&order_fields());
    assert_eq!(
        &*scorer.tracked_fields().to_vec(),
        [
            "/customer/name",
            "/customer/phone",
            "/email",
            "/note",
            "/tags"
        ]
    );
    let found = assess(&scorer, &order());
    assert_eq!(found.score, 100);
    assert_eq!(
        found.components,
        Components {
            validity: 1.0,
            rules: 1.0,
            completeness: 1.0,
            freshness: 1.0,
            uniqueness: 1.0
        }
    );
    assert_eq!(found.present, [true; 5]);
    assert!(found.failed.is_empty());
    assert_eq!(found.lag_ms, Some(0));
    assert!(!found.duplicate);
}

#[test]
fn an_invalid_event_loses_the_validity_weight() {
    let scorer = Scorer::default_for(&order_fields());
    let mut invalid = facts("e1");
    invalid.schema_valid = false;
    // 100 × (0 + 30 + 10 + 10 + 10) / 100 = 60.
    assert_eq!(scorer.assess(&order(), &invalid).score, 60);
}

#[test]
fn completeness_counts_optional_leaves_under_present_parents() {
    let scorer = Scorer::default_for(&order_fields());
    let mut event = order();
    let object = event.as_object_mut().unwrap();
    object.remove("email");
    object.remove("customer");
    object.insert("note".into(), Value::Null);
    let found = assess(&scorer, &event);
    // customer/* are not counted (no customer); of email, note, tags only tags is filled:
    // completeness 1/3; 100 × (40 + 30 + 10/3 + 10 + 10) / 100 = 93.33 → 93.
    assert_eq!(found.present, [false, false, false, false, true]);
    assert!((found.components.completeness - 1.0 / 3.0).abs() < 1e-6);
    assert_eq!(found.score, 93);
    // Everything optional missing, customer present but empty: 0/2 + 0/3 → 0.
    let bare = json!({"id": "o", "total": 1, "status": "placed", "placed_at": 0, "items": [], "customer": {}});
    let found = assess(&scorer, &bare);
    assert_eq!(found.components.completeness, 0.0);
    assert_eq!(found.score, 90);
}

#[test]
fn failed_rules_cost_their_severity_weight() {
    let scorer = compile(json!({ "rules": typical() }));
    assert_eq!(assess(&scorer, &order()).score, 100);
    let mut event = order();
    event["total"] = json!(20000);
    event["items"][1]["sku"] = json!("bad");
    let found = assess(&scorer, &event);
    assert_eq!(failed(&found), ["total_in_range", "sku_form"]);
    // rules = 1 − (10 + 1) / 24 = 13/24; 40 + 30 × 13/24 + 10 + 10 + 10 = 86.25 → 86.
    assert!((found.components.rules - 13.0 / 24.0).abs() < 1e-6);
    assert_eq!(found.score, 86);
    // Everything counted fails: rules = 0 → 70.
    let bad = json!({"total": "x", "status": "lost", "items": [{"sku": "?"}], "placed_at": 0});
    let found = assess(&scorer, &bad);
    assert_eq!(
        failed(&found),
        ["id_given", "total_in_range", "status_known", "sku_form"]
    );
    assert_eq!(found.components.rules, 0.0);
    // Completeness: email, note, tags missing (0/3) → 40 + 0 + 0 + 10 + 10 = 60.
    assert_eq!(found.score, 60);
}

#[test]
fn custom_weights_change_the_mix() {
    let only_rules = json!({
        "rules": typical(),
        "weights": {"validity": 0, "rules": 1, "completeness": 0, "freshness": 0, "uniqueness": 0}
    });
    let scorer = compile(only_rules);
    let mut event = order();
    event["total"] = json!(-1);
    event["status"] = json!("lost");
    // rules = 1 − (10 + 3) / 24 = 11/24 → 45.83 → 46.
    assert_eq!(assess(&scorer, &event).score, 46);
    // Weights left out keep their defaults: validity 40 → 0 here, rules 30, … with an
    // invalid event: 100 × (0 + 30 + 10 + 10 + 50) / 140 = 71.43 → 71.
    let scorer = compile(json!({"weights": {"uniqueness": 50}}));
    let mut invalid = facts("e1");
    invalid.schema_valid = false;
    assert_eq!(scorer.assess(&order(), &invalid).score, 71);
}

fn at_lag(scorer: &Scorer, lag_ms: i64) -> tributary_quality::Assessment {
    let facts = EventFacts {
        event_id: "e1",
        schema_valid: true,
        event_time_ms: Some(NOW_MS - lag_ms),
        received_at_ms: NOW_MS,
    };
    scorer.assess(&order(), &facts)
}

#[test]
fn freshness_decays_linearly_to_twice_max_age() {
    let scorer = compile(json!({ "rules": [
        {"name": "fresh", "kind": "freshness", "max_age": "10m", "max_future": "1m"}
    ]}));
    // (lag, freshness component, score with default weights).
    for (lag, component, score) in [
        (0, 1.0, 100),
        (10 * MINUTE, 1.0, 100),
        (15 * MINUTE, 0.5, 95),
        (20 * MINUTE, 0.0, 90),
        (25 * MINUTE, 0.0, 90),
        (-MINUTE / 2, 1.0, 100),
        (-MINUTE, 1.0, 100),
        (-2 * MINUTE, 0.0, 90),
    ] {
        let found = at_lag(&scorer, lag);
        assert_eq!(found.components.freshness, component, "lag {lag}");
        assert_eq!(found.score, score, "lag {lag}");
        assert_eq!(found.lag_ms, Some(lag));
        assert_eq!(found.failed.is_empty(), component == 1.0, "lag {lag}");
        // Freshness is its own component, never the rules one.
        assert_eq!(found.components.rules, 1.0);
    }
    let found = at_lag(&scorer, 12 * MINUTE);
    assert_eq!(
        found.failed[0].message,
        "event is 720000 ms old; at most 600000 ms are allowed"
    );
    // Only freshness weighs: 12 minutes → 1 − 2/10 = 0.8 → 80.
    let scorer = compile(json!({
        "rules": [{"name": "fresh", "kind": "freshness", "max_age": "10m", "max_future": "1m"}],
        "weights": {"validity": 0, "rules": 0, "completeness": 0, "freshness": 1, "uniqueness": 0}
    }));
    assert_eq!(at_lag(&scorer, 12 * MINUTE).score, 80);
    // No event time at all: nothing to judge.
    let mut timeless = facts("e1");
    timeless.event_time_ms = None;
    let found = scorer.assess(&order(), &timeless);
    assert_eq!((found.score, found.lag_ms), (100, None));
}

#[test]
fn the_lag_is_reported_without_a_freshness_rule() {
    let scorer = Scorer::default_for(&order_fields());
    let found = at_lag(&scorer, 3 * MINUTE);
    assert_eq!(found.lag_ms, Some(3 * MINUTE));
    assert_eq!(found.components.freshness, 1.0);
}

#[test]
fn a_duplicate_loses_the_uniqueness_weight() {
    let scorer = compile(json!({ "rules": [
        {"name": "once", "kind": "unique", "window": "1h", "severity": "error"}
    ]}));
    assert_eq!(assess(&scorer, &order()).score, 100);
    let again = assess(&scorer, &order());
    assert!(again.duplicate);
    assert_eq!(again.components.uniqueness, 0.0);
    // The rules component ignores it: 40 + 30 + 10 + 10 + 0 = 90.
    assert_eq!(again.components.rules, 1.0);
    assert_eq!(again.score, 90);
    assert_eq!(failed(&again), ["once"]);
    assert_eq!(again.failed[0].message, "event id \"e1\" was seen before");
}

#[test]
fn everything_at_once() {
    let mut all = typical().as_array().unwrap().clone();
    all.push(json!({"name": "once", "kind": "unique", "field": "/id", "window": "1h"}));
    let scorer = compile(json!({
        "rules": all,
        "weights": {"validity": 10, "rules": 20, "completeness": 30, "freshness": 20, "uniqueness": 20}
    }));
    assess(&scorer, &order());
    let mut event = order();
    event["status"] = json!("lost");
    event.as_object_mut().unwrap().remove("email");
    let facts = EventFacts {
        event_id: "e2",
        schema_valid: false,
        event_time_ms: Some(NOW_MS - 15 * MINUTE),
        received_at_ms: NOW_MS,
    };
    let found = scorer.assess(&event, &facts);
    assert_eq!(failed(&found), ["status_known", "fresh", "once"]);
    // validity 0; rules 1 − 3/24 = 0.875; completeness 4/5; freshness 0.5; uniqueness 0:
    // (0 + 20 × 0.875 + 30 × 0.8 + 20 × 0.5 + 0) / 100 = 51.5 → 52 (half away from zero).
    assert_eq!(found.score, 52);
}

/// Per-event cost with the five typical rules. Run in release:
/// `cargo test -p tributary-quality --release --test score -- --ignored --nocapture`.
#[test]
#[ignore = "timing: run in release with --nocapture"]
fn micro_timing_of_five_typical_rules() {
    let scorer = compile(json!({ "rules": typical() }));
    let event = order();
    let facts = facts("e1");
    let rounds = 200_000u32;
    let started = std::time::Instant::now();
    let mut total = 0u64;
    for _ in 0..rounds {
        total += u64::from(scorer.assess(&event, &facts).score);
    }
    let per_event = started.elapsed() / rounds;
    assert_eq!(total, 100 * u64::from(rounds));
    println!("assess with five typical rules: {per_event:?} per event");
}

/// The worked example of `docs/quality.md`.
#[test]
fn the_documented_example() {
    let scorer = compile(json!({ "rules": [
        {"name": "total_in_range", "kind": "range", "field": "/total", "min": 0, "max": 10000, "severity": "error"},
        {"name": "status_known", "kind": "enum", "field": "/status", "values": ["placed", "paid"]},
        {"name": "sku_form", "kind": "pattern", "field": "/items/*/sku", "regex": "^[A-Z]-[0-9]+$", "severity": "info"},
        {"name": "fresh", "kind": "freshness", "field": "/placed_at", "max_age": "5m", "max_future": "30s"},
        {"name": "once", "kind": "unique", "window": "1h"}
    ]}));
    let mut event = order();
    event["total"] = json!(20000);
    event["items"][0]["sku"] = json!("a1");
    let found = assess(&scorer, &event);
    assert_eq!(failed(&found), ["total_in_range", "sku_form"]);
    // 40 + 30 × (1 − 11/14) + 10 + 10 + 10 = 76.43 → 76.
    assert_eq!(found.score, 76);
}

#[test]
fn without_rules_presence_alone_gives_the_same_assessment() {
    let scorer = Scorer::default_for(&order_fields());
    assert!(!scorer.reads_values());
    let mut sparse = order();
    let object = sparse.as_object_mut().unwrap();
    object.remove("email");
    object.insert("note".into(), Value::Null);
    object.insert("customer".into(), json!({"name": null}));
    let bare = json!({"id": "o", "customer": "not an object", "tags": null});
    let mut late = facts("e1");
    late.event_time_ms = Some(NOW_MS - 5 * MINUTE);
    late.schema_valid = false;
    for event in [order(), sparse, bare] {
        for facts in [facts("e1"), late] {
            let by_presence = scorer
                .assess_by_presence(&|keys| FieldKind::at(&event, keys), &facts)
                .expect("no rules: presence is enough");
            assert_eq!(by_presence, scorer.assess(&event, &facts), "{event}");
        }
    }
    // With rules the values matter, and presence is not enough.
    let with_rules = compile(json!({ "rules": typical() }));
    assert!(with_rules.reads_values());
    assert!(
        with_rules
            .assess_by_presence(&|keys| FieldKind::at(&order(), keys), &facts("e1"))
            .is_none()
    );
}
