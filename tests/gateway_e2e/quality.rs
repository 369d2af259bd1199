//! Quality through the real binary: a rule set put on an event type, every event scored (the
//! score in the answer when asked, and on its record or dead letter), the verdicts counted in
//! the quality history, and `tributary quality show` summarising it.

use reqwest::Method;
use serde_json::{Value, json};
use tributary_core::headers;

use crate::common::{Backend, Bed, answer, command};
use crate::{EventType, record_of, results, statuses};

fn order_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "amount": {"type": "number"},
            "coupon": {"type": "string"},
            "note": {"type": "string"}
        },
        "required": ["order_id", "amount"]
    })
}

/// Two rules, weights as shipped (validity 40, rules 30, completeness 10, freshness 10,
/// uniqueness 10); `coupon` and `note` are the optional fields completeness counts.
fn rules() -> Value {
    json!({"rules": [
        {"name": "amount_in_range", "kind": "range", "field": "/amount", "min": 0, "max": 1000, "severity": "error"},
        {"name": "order_id_shape", "kind": "pattern", "field": "/order_id", "regex": "^o-[0-9]+$"}
    ]})
}

pub(crate) fn events_are_scored_and_counted(backend: Backend) {
    // Flushed often, so the history is readable within the test.
    let mut bed = Bed::start(backend, &[("TRIBUTARY_QUALITY__FLUSH_INTERVAL", "200ms")]);
    let orders = EventType::json(&bed, "scored", json!({}), &order_schema());
    let rules_path = format!("/v1/event-types/{}/quality/rules", orders.name);
    let put = answer(
        bed.request(Method::PUT, &rules_path)
            .header("content-type", "application/json")
            .body(rules().to_string()),
    );
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body["version"], 1, "{:?}", put.body);

    // A rule naming a field the schema does not have is refused, naming the rule.
    let bad = json!({"rules": [{"name": "ghost", "kind": "required", "field": "/nope"}]});
    let refused = answer(
        bed.request(Method::PUT, &rules_path)
            .header("content-type", "application/json")
            .body(bad.to_string()),
    );
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(
        refused.body["field"], "rules[0].field",
        "{:?}",
        refused.body
    );

    let events = [
        // Everything right: 40 + 30 + 10 (2 of 2 optional fields) + 10 + 10.
        json!({"order_id": "o-1", "amount": 5, "coupon": "x", "note": "n"}),
        // The pattern (warning, 3 of 13) fails and no optional field: 40 + 30 × 10/13 + 0 + 20 = 83.
        json!({"order_id": "bad", "amount": 5}),
        // The range (error, 10 of 13) fails, one optional field of two: 40 + 30 × 3/13 + 5 + 20 = 72.
        json!({"order_id": "o-2", "amount": 5000, "coupon": "x"}),
        // Not valid (no amount): rejected; rules pass: 0 + 30 + 0 + 20 = 50.
        json!({"order_id": "o-3"}),
    ];
    let body = Value::Array(events.to_vec()).to_string();
    let (status, answered) = bed.post(
        &format!("{}?quality=true", orders.events()),
        "application/json",
        body,
    );
    assert_eq!(status, 207, "{answered}");
    assert_eq!(
        statuses(&answered),
        ["accepted", "accepted", "accepted", "rejected"]
    );
    let verdicts = results(&answered);
    let scores: Vec<u64> = verdicts
        .iter()
        .map(|v| v["quality"]["score"].as_u64().unwrap())
        .collect();
    assert_eq!(scores, [100, 83, 72, 50], "{answered}");
    assert_eq!(
        verdicts[2]["quality"]["failed"][0]["rule"], "amount_in_range",
        "{answered}"
    );
    // Without `?quality=true` the answer carries no scores.
    let (status, plain) = bed.post(&orders.events(), "application/json", events[0].to_string());
    assert_eq!(status, 200, "{plain}");
    assert!(results(&plain)[0].get("quality").is_none(), "{plain}");

    // The history counts every verdict (the flush runs every 200 ms).
    let quality_path = format!("/v1/event-types/{}/quality?from=-1h", orders.name);
    let mut report = Value::Null;
    for _ in 0..100 {
        report = bed.get(&quality_path).json().unwrap();
        if report["totals"]["volume"] == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(report["totals"]["volume"], 5, "{report}");
    let totals = &report["totals"];
    assert_eq!(
        (&totals["accepted"], &totals["rejected"]),
        (&json!(4), &json!(1)),
        "{report}"
    );
    // (100 + 83 + 72 + 50 + 100) / 5
    assert_eq!(totals["mean_score"], 81.0, "{report}");
    assert_eq!(
        totals["rule_failures"],
        json!({"amount_in_range": 1, "order_id_shape": 1}),
        "{report}"
    );

    // `tributary quality show` prints a line per metric with a sparkline.
    let shown = command(bed.dir())
        .args([
            "quality",
            "show",
            &orders.name,
            "--server",
            &bed.url(""),
            "--from",
            "-1h",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.contains(&orders.name), "{text}");
    for metric in ["score", "volume", "dead letters"] {
        assert!(text.contains(metric), "{metric} in {text}");
    }

    // The rule set as the CLI prints it, and a new version put from a file.
    let file = bed.dir().join("rules.json");
    let mut next = rules();
    next["weights"] =
        json!({"validity": 1, "rules": 1, "completeness": 0, "freshness": 0, "uniqueness": 0});
    std::fs::write(&file, next.to_string()).unwrap();
    let server = bed.url("");
    let cli = |args: &[&str]| {
        let output = command(bed.dir())
            .args([
                "quality",
                "rules",
                &orders.name,
                "--server",
                &server,
                "--json",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    assert_eq!(cli(&[])["version"], 1);
    let put = cli(&["--set", file.to_str().unwrap()]);
    assert_eq!(put["version"], 2, "{put}");
    assert_eq!(put["weights"]["completeness"], 0, "{put}");

    // The score rides on each record and dead letter.
    let log = bed.log();
    let records = log.records(&orders.name);
    for (verdict, score) in verdicts[..3].iter().zip(["100", "83", "72"]) {
        assert_eq!(
            record_of(&records, verdict).header(headers::QUALITY),
            Some(score)
        );
    }
    let dead = log.dead_letters(&orders.name);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].header(headers::QUALITY), Some("50"));
}
