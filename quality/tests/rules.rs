//! Each rule kind on passing and failing events, and the refusals at registration.

mod rules_common;

use rules_common::{assess, failed, one, order, order_fields, refusal, rules};
use serde_json::{Value, json};
use tributary_quality::{QualityRules, Scorer, Severity};

/// Whether the single rule `rule` passes on `event`.
#[track_caller]
fn passes(rule: &Value, event: &Value) -> bool {
    let scorer = one(rule.clone()).unwrap();
    let assessment = assess(&scorer, event);
    assessment.failed.is_empty()
}

fn with(mut event: Value, pointer: &str, value: Value) -> Value {
    *event.pointer_mut(pointer).unwrap() = value;
    event
}

fn without(mut event: Value, key: &str) -> Value {
    event.as_object_mut().unwrap().remove(key);
    event
}

#[test]
fn required_means_present_null_included() {
    let rule = json!({"name": "has_email", "kind": "required", "field": "/email"});
    assert!(passes(&rule, &order()));
    assert!(passes(&rule, &with(order(), "/email", Value::Null)));
    assert!(!passes(&rule, &without(order(), "email")));
    // Under `*`: every element.
    let rule = json!({"name": "qty_given", "kind": "required", "field": "/items/*/qty"});
    assert!(passes(&rule, &order()));
    let event = with(order(), "/items/1", json!({"sku": "B-2"}));
    let scorer = one(rule.clone()).unwrap();
    let found = assess(&scorer, &event);
    assert_eq!(failed(&found), ["qty_given"]);
    assert_eq!(found.failed[0].message, "/items/*/qty: is missing");
    // No elements: nothing to check.
    assert!(passes(&rule, &with(order(), "/items", json!([]))));
}

#[test]
fn not_null_lets_missing_pass() {
    let rule = json!({"name": "note_not_null", "kind": "not_null", "field": "/note"});
    assert!(passes(&rule, &order()));
    assert!(passes(&rule, &without(order(), "note")));
    assert!(!passes(&rule, &with(order(), "/note", Value::Null)));
}

#[test]
fn range_is_inclusive_and_wants_numbers() {
    let rule = json!({"name": "total_in_range", "kind": "range", "field": "/total", "min": 0, "max": 10000});
    for ok in [json!(0), json!(10000), json!(12.5)] {
        assert!(passes(&rule, &with(order(), "/total", ok.clone())), "{ok}");
    }
    for bad in [json!(-0.01), json!(10000.5), json!("12"), json!(true)] {
        assert!(
            !passes(&rule, &with(order(), "/total", bad.clone())),
            "{bad}"
        );
    }
    // Missing and null pass (`required` / `not_null` are the rules for those).
    assert!(passes(&rule, &without(order(), "total")));
    assert!(passes(&rule, &with(order(), "/total", Value::Null)));
    let only_min =
        json!({"name": "qty_positive", "kind": "range", "field": "/items/*/qty", "min": 1});
    assert!(passes(&only_min, &order()));
    assert!(!passes(&only_min, &with(order(), "/items/1/qty", json!(0))));
    let scorer = one(only_min).unwrap();
    let found = assess(&scorer, &with(order(), "/items/1/qty", json!(0)));
    assert_eq!(
        found.failed[0].message,
        "/items/*/qty: 0 is below the minimum 1"
    );
    assert_eq!(found.failed[0].severity, Severity::Warning);
}

#[test]
fn enum_compares_json_values() {
    let rule = json!({"name": "status_known", "kind": "enum", "field": "/status",
        "values": ["placed", "paid", "shipped"], "severity": "error"});
    assert!(passes(&rule, &order()));
    assert!(!passes(&rule, &with(order(), "/status", json!("lost"))));
    assert!(!passes(&rule, &with(order(), "/status", json!(1))));
    assert!(passes(&rule, &without(order(), "status")));
    // Numbers compare by value: 1 and 1.0 are the same.
    let numbers =
        json!({"name": "qty_small", "kind": "enum", "field": "/items/*/qty", "values": [1, 2.0]});
    assert!(passes(&numbers, &order()));
    assert!(!passes(&numbers, &with(order(), "/items/0/qty", json!(3))));
}

#[test]
fn pattern_matches_strings() {
    let rule = json!({"name": "sku_form", "kind": "pattern", "field": "/items/*/sku", "regex": "^[A-Z]-[0-9]+$"});
    assert!(passes(&rule, &order()));
    assert!(!passes(&rule, &with(order(), "/items/1/sku", json!("b2"))));
    assert!(!passes(&rule, &with(order(), "/items/1/sku", json!(12))));
    // Unanchored unless the regex anchors itself.
    let loose = json!({"name": "has_at", "kind": "pattern", "field": "/email", "regex": "@"});
    assert!(passes(&loose, &order()));
    assert!(!passes(&loose, &with(order(), "/email", json!("nobody"))));
    assert!(passes(&loose, &without(order(), "email")));
}

#[test]
fn length_counts_characters_and_items() {
    let rule =
        json!({"name": "note_short", "kind": "length", "field": "/note", "min": 2, "max": 4});
    // Four characters, twelve bytes.
    assert!(passes(&rule, &with(order(), "/note", json!("日本語文"))));
    assert!(!passes(&rule, &with(order(), "/note", json!("日本語文字"))));
    assert!(!passes(&rule, &with(order(), "/note", json!("a"))));
    assert!(!passes(&rule, &with(order(), "/note", json!(12))));
    let items = json!({"name": "some_items", "kind": "length", "field": "/items", "min": 1});
    assert!(passes(&items, &order()));
    assert!(!passes(&items, &with(order(), "/items", json!([]))));
}

#[test]
fn freshness_reads_the_field_or_the_event_time() {
    let rule = json!({"name": "fresh", "kind": "freshness", "field": "/placed_at",
        "max_age": "5m", "max_future": "30s"});
    assert!(passes(&rule, &order()));
    // Ten minutes old, as RFC 3339 and as epoch milliseconds.
    assert!(!passes(
        &rule,
        &with(order(), "/placed_at", json!("2025-12-31T23:50:00Z"))
    ));
    assert!(!passes(
        &rule,
        &with(order(), "/placed_at", json!(rules_common::NOW_MS - 600_000))
    ));
    // A minute ahead.
    assert!(!passes(
        &rule,
        &with(order(), "/placed_at", json!("2026-01-01T00:01:00Z"))
    ));
    assert!(passes(
        &rule,
        &with(order(), "/placed_at", json!("2026-01-01T00:00:20Z"))
    ));
    assert!(!passes(
        &rule,
        &with(order(), "/placed_at", json!("yesterday"))
    ));
    // Without the field: the record's event time (the facts say: now).
    assert!(passes(&rule, &without(order(), "placed_at")));
    let by_record =
        json!({"name": "fresh", "kind": "freshness", "max_age": "5m", "max_future": "30s"});
    assert!(passes(&by_record, &order()));
}

#[test]
fn unique_remembers_ids_or_field_values() {
    let scorer = one(json!({"name": "once", "kind": "unique", "window": "10m"})).unwrap();
    let facts = |id| rules_common::facts(id);
    assert!(!scorer.assess(&order(), &facts("e1")).duplicate);
    assert!(!scorer.assess(&order(), &facts("e2")).duplicate);
    let again = scorer.assess(&order(), &facts("e1"));
    assert!(again.duplicate);
    assert_eq!(failed(&again), ["once"]);
    // A new scorer forgets.
    let scorer =
        one(json!({"name": "once", "kind": "unique", "window": "10m", "field": "/id"})).unwrap();
    assert!(!scorer.assess(&order(), &facts("e1")).duplicate);
    assert!(scorer.assess(&order(), &facts("e2")).duplicate);
    assert!(
        !scorer
            .assess(&with(order(), "/id", json!("o-2")), &facts("e3"))
            .duplicate
    );
    // Outside the window it is new again.
    let mut late = facts("e4");
    late.received_at_ms += 11 * 60_000;
    assert!(!scorer.assess(&order(), &late).duplicate);
}

#[test]
fn expressions_see_top_level_fields_and_the_event() {
    let rule = |expr: &str| json!({"name": "expr", "kind": "expression", "expr": expr});
    assert!(passes(
        &rule("total > 100.0 && status == 'placed'"),
        &order()
    ));
    assert!(!passes(&rule("total > 1000.0"), &order()));
    assert!(passes(&rule("items.all(i, i.qty > 0)"), &order()));
    assert!(!passes(&rule("items.all(i, i.qty > 1)"), &order()));
    assert!(passes(&rule("size(event.items) == 2"), &order()));
    assert!(passes(&rule("has(event.email)"), &order()));
    assert!(!passes(
        &rule("has(event.email)"),
        &without(order(), "email")
    ));
    // Not a boolean, or an error (a missing field is null here): fails.
    assert!(!passes(&rule("total"), &order()));
    assert!(!passes(
        &rule("email.size() > 3"),
        &without(order(), "email")
    ));
    let scorer = one(rule("1 / 0 == 1")).unwrap();
    let found = assess(&scorer, &order());
    assert!(
        found.failed[0].message.starts_with("expression failed"),
        "{found:?}"
    );
}

#[test]
fn rule_sets_round_trip_in_the_flat_shape() {
    let document = json!({
        "rules": [
            {"name": "total_in_range", "kind": "range", "field": "/total", "min": 0, "max": 10000, "severity": "error"},
            {"name": "fresh", "kind": "freshness", "max_age": "5m", "max_future": "30s", "severity": "info", "description": "recent"},
            {"name": "expr", "kind": "expression", "expr": "true", "severity": "warning"}
        ],
        "weights": {"validity": 40, "rules": 30, "completeness": 10, "freshness": 10, "uniqueness": 10}
    });
    let parsed: QualityRules = serde_json::from_value(document.clone()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), document);
    // Defaults: severity warning, default weights, no rules.
    let empty: QualityRules = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, QualityRules::default());
    let minimal = rules(json!({"rules": [{"name": "a", "kind": "required", "field": "/id"}]}));
    assert_eq!(minimal.rules[0].severity, Severity::Warning);
}

#[test]
fn unknown_and_misplaced_keys_are_refused_when_read() {
    let read = |document: Value| {
        serde_json::from_value::<QualityRules>(document)
            .unwrap_err()
            .to_string()
    };
    let error = read(json!({"rules": [], "weight": {}}));
    assert!(error.contains("unknown field `weight`"), "{error}");
    let error =
        read(json!({"rules": [{"name": "a", "kind": "range", "field": "/total", "regex": "x"}]}));
    assert!(
        error.contains("`regex` does not apply to a range rule"),
        "{error}"
    );
    let error =
        read(json!({"rules": [{"name": "a", "kind": "range", "field": "/total", "mni": 1}]}));
    assert!(error.contains("unknown field `mni`"), "{error}");
    let error = read(json!({"rules": [{"name": "a", "kind": "between", "field": "/total"}]}));
    assert!(error.contains("unknown rule kind \"between\""), "{error}");
    let error = read(json!({"rules": [{"name": "a", "kind": "pattern", "field": "/id"}]}));
    assert!(error.contains("a pattern rule needs `regex`"), "{error}");
    let error =
        read(json!({"rules": [{"name": "a", "kind": "length", "field": "/id", "min": -1}]}));
    assert!(error.contains("non-negative integer"), "{error}");
    let error = read(
        json!({"rules": [{"name": "a", "kind": "required", "field": "/id", "severity": "fatal"}]}),
    );
    assert!(error.contains("unknown variant `fatal`"), "{error}");
    let error = read(json!({"weights": {"validity": 1, "speed": 2}}));
    assert!(error.contains("unknown field `speed`"), "{error}");
}

#[track_caller]
fn refused(document: Value, field: &str, reason_has: &str) {
    let (got_field, reason) = refusal(document);
    assert_eq!(got_field, field, "{reason}");
    assert!(reason.contains(reason_has), "{field}: {reason}");
}

fn set(rule: Value) -> Value {
    let mut document = json!({"rules": [{"name": "ok", "kind": "required", "field": "/id"}]});
    document["rules"].as_array_mut().unwrap().push(rule);
    document
}

#[test]
fn field_pointers_must_be_in_the_schema() {
    for (rule, field, reason) in [
        (
            json!({"name": "a", "kind": "required", "field": "/totl"}),
            "rules[1].field",
            "the schema has no field /totl",
        ),
        (
            json!({"name": "a", "kind": "required", "field": "/items/*/price"}),
            "rules[1].field",
            "no field /items/*/price",
        ),
        (
            json!({"name": "a", "kind": "required", "field": "/items/0/sku"}),
            "rules[1].field",
            "no field /items/0/sku",
        ),
        (
            json!({"name": "a", "kind": "required", "field": "total"}),
            "rules[1].field",
            "must start with `/`",
        ),
        (
            json!({"name": "a", "kind": "unique", "field": "/nope", "window": "1m"}),
            "rules[1].field",
            "no field /nope",
        ),
    ] {
        refused(set(rule), field, reason);
    }
    refused(
        set(json!({"name": "a", "kind": "unique", "field": "/items/*/sku", "window": "1m"})),
        "rules[1].field",
        "without `*`",
    );
    refused(
        set(
            json!({"name": "a", "kind": "freshness", "field": "/tags/*", "max_age": "1m", "max_future": "1m"}),
        ),
        "rules[1].field",
        "without `*`",
    );
    // Without schema fields every field rule is refused, and field-free ones are fine.
    let none = Scorer::compile(
        &rules(json!({"rules": [{"name": "a", "kind": "required", "field": "/id"}]})),
        &[],
    );
    assert!(
        none.unwrap_err()
            .to_string()
            .contains("no schema fields yet")
    );
    Scorer::compile(
        &rules(json!({"rules": [{"name": "a", "kind": "freshness", "max_age": "1m", "max_future": "1m"}]})),
        &[],
    )
    .unwrap();
}

#[test]
fn regexes_are_checked() {
    for (rule, field, reason) in [
        (
            json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "(unclosed"}),
            "rules[1].regex",
            "regex does not compile",
        ),
        (
            json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "(a)\\1"}),
            "rules[1].regex",
            "backreferences",
        ),
        (
            json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "a(?=b)"}),
            "rules[1].regex",
            "lookaround",
        ),
        (
            json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "a".repeat(1001)}),
            "rules[1].regex",
            "at most 1000",
        ),
        (
            json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "\\w{1000}\\w{1000}"}),
            "rules[1].regex",
            "too large",
        ),
    ] {
        refused(set(rule), field, reason);
    }
    // A pattern that backtracks exponentially elsewhere is linear here.
    let scorer =
        one(json!({"name": "a", "kind": "pattern", "field": "/id", "regex": "^(a+)+$"})).unwrap();
    let event = with(order(), "/id", json!(format!("{}!", "a".repeat(5000))));
    let started = std::time::Instant::now();
    assert_eq!(failed(&assess(&scorer, &event)), ["a"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn expressions_are_checked() {
    let expr = |e: String| set(json!({"name": "a", "kind": "expression", "expr": e}));
    refused(expr("total >".into()), "rules[1].expr", "does not parse");
    refused(expr("totl > 1".into()), "rules[1].expr", "\"totl\"");
    refused(
        expr("items.all(i, j.qty > 0)".into()),
        "rules[1].expr",
        "\"j\"",
    );
    refused(expr("x".repeat(2001)), "rules[1].expr", "at most 2000");
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    refused(
        expr(format!("size({deep}) == 1")),
        "rules[1].expr",
        "deeper than 32",
    );
    let deep_sum = format!("{} 1 == 41", "1 + ".repeat(40));
    refused(expr(deep_sum), "rules[1].expr", "deeper than 32");
    refused(expr(" ".into()), "rules[1].expr", "empty");
    refused(
        expr("items.all(i, items.all(j, items.all(k, k.qty > 0)))".into()),
        "rules[1].expr",
        "more than 2 deep",
    );
    one(json!({"name": "a", "kind": "expression", "expr": "items.all(i, items.exists(j, j.sku == i.sku))"})).unwrap();
    // Comprehension variables are bound; `event` is always known.
    one(json!({"name": "a", "kind": "expression", "expr": "items.exists(it, it.sku == 'A-1') && event.id != ''"})).unwrap();
}

#[test]
fn bounds_durations_names_and_weights_are_checked() {
    for (rule, field, reason) in [
        (
            json!({"name": "a", "kind": "range", "field": "/total", "min": 5, "max": 1}),
            "rules[1].min",
            "min 5 is greater than max 1",
        ),
        (
            json!({"name": "a", "kind": "length", "field": "/note", "min": 5, "max": 1}),
            "rules[1].min",
            "greater than max",
        ),
        (
            json!({"name": "a", "kind": "enum", "field": "/status", "values": []}),
            "rules[1].values",
            "at least one value",
        ),
    ] {
        refused(set(rule), field, reason);
    }
    for (key, bad) in [
        ("max_age", "5 parsecs"),
        ("max_age", "0s"),
        ("max_future", "31days"),
    ] {
        let mut rule =
            json!({"name": "a", "kind": "freshness", "max_age": "5m", "max_future": "1m"});
        rule[key] = json!(bad);
        refused(set(rule), &format!("rules[1].{key}"), bad);
    }
    for (rule, field, reason) in [
        (
            json!({"name": "a", "kind": "unique", "window": "forever"}),
            "rules[1].window",
            "not a duration",
        ),
        (
            json!({"name": "ok", "kind": "required", "field": "/status"}),
            "rules[1].name",
            "already named \"ok\"",
        ),
        (
            json!({"name": "Bad Name", "kind": "required", "field": "/status"}),
            "rules[1].name",
            "not a rule name",
        ),
        (
            json!({"name": "a".repeat(65), "kind": "required", "field": "/status"}),
            "rules[1].name",
            "not a rule name",
        ),
    ] {
        refused(set(rule), field, reason);
    }
    refused(
        json!({"weights": {"validity": 0, "rules": 0, "completeness": 0, "freshness": 0, "uniqueness": 0}}),
        "weights",
        "add up to 0",
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("r{i}"), "kind": "required", "field": "/id"}))
        .collect();
    refused(json!({ "rules": many }), "rules", "at most 100");
    assert!(one(json!({"name": "a.b-c_9", "kind": "required", "field": "/id"})).is_ok());
}

#[test]
fn the_scorer_is_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Scorer>();
    let scorer = std::sync::Arc::new(
        one(json!({"name": "once", "kind": "unique", "window": "1h"})).unwrap(),
    );
    let duplicates: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let scorer = std::sync::Arc::clone(&scorer);
                scope.spawn(move || {
                    (0..100)
                        .filter(|i| {
                            let id = format!("e{i}");
                            scorer.assess(&order(), &rules_common::facts(&id)).duplicate
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    // 100 distinct ids seen 4 times each: 300 duplicates whatever the interleaving.
    assert_eq!(duplicates, 300);
    assert_eq!(order_fields().len(), 15);
}
