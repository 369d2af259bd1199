//! The benchmark's event: an order placed in a web shop, valid against
//! `bench/gateway/order-placed.schema.json`, every one different and exactly `size` bytes of
//! compact JSON. Every system under test gets the same events from the same seed.

use serde_json::json;

/// The JSON Schema every system validates against (the script hands the file to the servers).
pub(crate) const SCHEMA: &str = include_str!("../../gateway/order-placed.schema.json");

const STATUSES: [&str; 6] = [
    "placed",
    "paid",
    "packed",
    "shipped",
    "delivered",
    "cancelled",
];
const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "CHF", "JPY"];
const COUNTRIES: [&str; 8] = ["DE", "FR", "NL", "GB", "US", "CH", "JP", "ES"];
const CITIES: [&str; 8] = [
    "Berlin", "Lyon", "Utrecht", "Leeds", "Portland", "Basel", "Osaka", "Valencia",
];
const METHODS: [&str; 3] = ["standard", "express", "pickup"];
const CHANNELS: [&str; 4] = ["web", "ios", "android", "store"];
const WORDS: [&str; 16] = [
    "please", "leave", "the", "parcel", "at", "door", "ring", "twice", "gift", "wrap", "fragile",
    "call", "before", "delivery", "back", "entrance",
];
const SKU_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Which events a run uses (the same flags give every system the same events).
#[derive(Debug, clap::Args)]
pub(crate) struct EventArgs {
    /// Bytes per event (compact JSON).
    #[arg(long, default_value_t = 512)]
    pub(crate) event_bytes: usize,
    /// Distinct events a run cycles through.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) distinct_events: usize,
    /// Seed of the generated events.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

impl EventArgs {
    /// `count` events of `--event-bytes` bytes from `--seed`.
    pub(crate) fn generate(&self, count: usize) -> Vec<Vec<u8>> {
        generate(count, self.event_bytes, self.seed)
    }
}

/// SplitMix64: small, fast and deterministic, so every run and every system sees the same events.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `count` distinct events of exactly `size` bytes each (compact JSON), from `seed`.
///
/// The note field is padded with words to reach `size`; a `size` below the event's natural
/// length (about 400 bytes) gives events of their natural length.
pub(crate) fn generate(count: usize, size: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..count).map(|_| one_event(&mut rng, size)).collect()
}

fn one_event(rng: &mut Rng, size: usize) -> Vec<u8> {
    let items: Vec<_> = (0..1 + rng.below(3))
        .map(|_| {
            let sku: String = (0..6)
                .map(|_| SKU_CHARS[rng.below(SKU_CHARS.len() as u64) as usize] as char)
                .collect();
            json!({
                "sku": format!("SKU-{sku}"),
                "quantity": 1 + rng.below(5),
                "unit_price": (rng.below(50_000) as f64) / 100.0 + 0.99,
            })
        })
        .collect();
    let total: f64 = items
        .iter()
        .map(|item| {
            item["quantity"].as_f64().unwrap_or(0.0) * item["unit_price"].as_f64().unwrap_or(0.0)
        })
        .sum();
    let coupon = if rng.below(3) == 0 {
        json!(format!("SAVE{}", rng.below(50)))
    } else {
        json!(null)
    };
    let mut event = json!({
        "order_id": format!("ord-{:016x}", rng.next()),
        "customer_id": format!("cus-{:08}", rng.below(100_000_000)),
        "placed_at": format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000)
        ),
        "status": rng.pick(&STATUSES),
        "currency": rng.pick(&CURRENCIES),
        "total": (total * 100.0).round() / 100.0,
        "items": items,
        "shipping": {
            "country": rng.pick(&COUNTRIES),
            "postal_code": format!("{:05}", rng.below(100_000)),
            "city": rng.pick(&CITIES),
            "method": rng.pick(&METHODS),
        },
        "channel": rng.pick(&CHANNELS),
        "coupon": coupon,
        "gift": rng.below(4) == 0,
        "note": "",
    });
    let bare = serde_json::to_vec(&event).expect("a JSON value serializes");
    let mut note = String::new();
    while bare.len() + note.len() < size {
        if !note.is_empty() {
            note.push(' ');
        }
        note.push_str(rng.pick(&WORDS));
    }
    // Words overshoot by a few bytes; cut back to the exact size (ASCII, so any cut is valid).
    note.truncate(size.saturating_sub(bare.len()).min(note.len()));
    let note = note.trim_end().to_owned();
    let pad = size.saturating_sub(bare.len() + note.len());
    event["note"] = json!(format!("{note}{}", ".".repeat(pad)));
    serde_json::to_vec(&event).expect("a JSON value serializes")
}

/// One request body: the events `[first, first + n)` (wrapping) as a JSON array, or the
/// event itself when `n` is 1 and `single_object` is set.
pub(crate) fn body(events: &[Vec<u8>], first: usize, n: usize, single_object: bool) -> Vec<u8> {
    if n == 1 && single_object {
        return events[first % events.len()].clone();
    }
    let mut body = Vec::with_capacity(n * (events[0].len() + 1) + 2);
    body.push(b'[');
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&events[(first + i) % events.len()]);
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_registry::{InMemoryReferences, ParsedSchema, SchemaType};

    #[test]
    fn events_have_the_size_asked_for_and_differ() {
        let events = generate(500, 512, 7);
        assert!(
            events.iter().all(|e| e.len() == 512),
            "every event is 512 bytes"
        );
        let distinct: std::collections::HashSet<_> = events.iter().collect();
        assert_eq!(distinct.len(), events.len());
        assert_eq!(generate(3, 512, 7), events[..3], "same seed, same events");
    }

    #[test]
    fn events_are_valid_against_the_schema() {
        let schema = ParsedSchema::parse(SchemaType::Json, SCHEMA, &[], &InMemoryReferences::new())
            .expect("the benchmark schema parses");
        let compiled = schema.compiled();
        for event in generate(2000, 512, 11) {
            let value: serde_json::Value = serde_json::from_slice(&event).expect("JSON");
            let violations = compiled.validate_json(&value);
            assert!(violations.is_empty(), "{violations:?} in {value}");
        }
    }

    #[test]
    fn an_invalid_event_is_refused_by_the_schema() {
        let schema = ParsedSchema::parse(SchemaType::Json, SCHEMA, &[], &InMemoryReferences::new())
            .expect("the benchmark schema parses");
        let mut value: serde_json::Value =
            serde_json::from_slice(&generate(1, 512, 3)[0]).expect("JSON");
        value["total"] = json!(-1);
        value["placed_at"] = json!("yesterday");
        assert_eq!(schema.compiled().validate_json(&value).len(), 2);
    }

    #[test]
    fn bodies_are_arrays_or_single_objects() {
        let events = generate(3, 512, 1);
        let array: serde_json::Value =
            serde_json::from_slice(&body(&events, 2, 2, true)).expect("JSON");
        assert_eq!(array.as_array().map(Vec::len), Some(2));
        assert_eq!(body(&events, 1, 1, true), events[1]);
    }
}
