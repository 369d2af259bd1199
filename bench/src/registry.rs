//! `registry`: the schema registry's hot-path costs and registration latency.
//!
//! * cached validator lookup by schema id (what the gateway does per request);
//! * JSON Schema validation of a typical 20-field event, already parsed and from bytes;
//! * Avro binary decode of the same event;
//! * reading the gateway benchmark's 512-byte events into a tape (the gateway's path), through
//!   the fast reader and through serde_json alone, and into a `serde_json::Value`; and reading
//!   plus validating them against the gateway benchmark's schema;
//! * registration latency through the `Registry` service on SQLite (and PostgreSQL when a
//!   database URL is given): sequential registrations of new, compatible versions.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tributary_core::Database;
use tributary_registry::{
    InMemoryReferences, JsonTape, NewSchema, ParsedSchema, RegisterOptions, Registry, SchemaType,
    ValidatorCache,
};

#[derive(Debug, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Also measure registration on this PostgreSQL database (a fresh database is created).
    #[arg(long, env = "TRIBUTARY_BENCH_DATABASE_URL")]
    postgres: Option<String>,
    /// Registrations per engine.
    #[arg(long, default_value_t = 500)]
    registrations: usize,
    /// Only the tape measures: reading the gateway's events (and validating them), for
    /// profiling the reader on its own.
    #[arg(long)]
    tape_only: bool,
}

/// Median nanoseconds per call over `rounds` rounds of `iterations` calls.
fn ns_per_op(rounds: usize, iterations: usize, mut op: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        op();
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..iterations {
            op();
        }
        samples.push(started.elapsed().as_nanos() as f64 / iterations as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn report(name: &str, mut fields: Value) {
    if let Some(fields) = fields.as_object_mut() {
        fields.insert("bench".into(), json!("registry"));
        fields.insert("measure".into(), json!(name));
    }
    println!("{fields}");
}

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    if args.tape_only {
        return tape_reading();
    }
    let event = typical_event();
    let event_bytes = serde_json::to_vec(&event)?;

    let json_schema = ParsedSchema::parse(
        SchemaType::Json,
        &typical_json_schema().to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .context("parse the JSON Schema")?;
    let avro_schema = ParsedSchema::parse(
        SchemaType::Avro,
        &typical_avro_schema().to_string(),
        &[],
        &InMemoryReferences::new(),
    )
    .context("parse the Avro schema")?;

    // Cached validator lookup by id, as the gateway does per request.
    let cache = ValidatorCache::default();
    for id in 1..=1000u32 {
        cache.insert(
            id,
            if id % 2 == 0 {
                json_schema.compiled()
            } else {
                avro_schema.compiled()
            },
        );
    }
    let mut id = 0u32;
    let lookup = ns_per_op(7, 2_000_000, || {
        id = id % 1000 + 1;
        black_box(cache.get(black_box(id)));
    });
    report(
        "cached_validator_lookup",
        json!({ "ns_per_op": lookup.round(), "cached_ids": 1000 }),
    );

    let compiled_json = json_schema.compiled();
    assert!(
        compiled_json.validate_json(&event).is_empty(),
        "the benchmark event is valid"
    );
    let validate = ns_per_op(7, 100_000, || {
        black_box(compiled_json.validate_json(black_box(&event)));
    });
    let parse_and_validate = ns_per_op(7, 50_000, || {
        let value: Value = serde_json::from_slice(black_box(&event_bytes)).expect("valid json");
        black_box(compiled_json.validate_json(&value));
    });
    report(
        "json_schema_validate_20_fields",
        json!({
            "ns_per_event": validate.round(),
            "ns_per_event_including_parse": parse_and_validate.round(),
            "event_bytes": event_bytes.len(),
        }),
    );

    let compiled_avro = avro_schema.compiled();
    let avro_bytes = compiled_avro
        .encode_avro_from_json(&event)
        .map_err(|v| anyhow::anyhow!("event does not fit the Avro schema: {v:?}"))?;
    let decode = ns_per_op(7, 100_000, || {
        black_box(
            compiled_avro
                .decode_avro(black_box(&avro_bytes))
                .expect("decodes"),
        );
    });
    let decode_to_json = ns_per_op(7, 50_000, || {
        black_box(
            compiled_avro
                .decode_avro_to_json(black_box(&avro_bytes))
                .expect("decodes"),
        );
    });
    report(
        "avro_decode_20_fields",
        json!({
            "ns_per_event": decode.round(),
            "ns_per_event_to_json": decode_to_json.round(),
            "avro_bytes": avro_bytes.len(),
        }),
    );

    tape_reading()?;

    let dir = tempfile::tempdir()?;
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    registration_latency("sqlite", &sqlite_url, args.registrations).await?;
    if let Some(admin_url) = &args.postgres {
        let name = format!("bench_{}", std::process::id());
        let url =
            Database::create_postgres_database(admin_url, &name, Duration::from_secs(10)).await?;
        registration_latency("postgres", &url, args.registrations).await?;
    }
    Ok(())
}

/// Reading the gateway benchmark's events (100 distinct, 512 bytes each) into a tape, both
/// ways, and into a `Value`; then reading and validating, as the gateway does per event.
fn tape_reading() -> anyhow::Result<()> {
    let events: Vec<String> = crate::gateway::events::generate(100, 512, 1)
        .into_iter()
        .map(String::from_utf8)
        .collect::<Result<_, _>>()?;
    let schema = ParsedSchema::parse(
        SchemaType::Json,
        crate::gateway::events::SCHEMA,
        &[],
        &InMemoryReferences::new(),
    )
    .context("parse the gateway benchmark's schema")?
    .compiled();
    for event in &events {
        let tape = JsonTape::parse(event).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            schema.tape_is_valid(&tape) == Some(true),
            "a bench event is invalid"
        );
    }
    let per_event = |op: &dyn Fn(&str)| {
        ns_per_op(7, 200, || {
            for event in &events {
                op(black_box(event));
            }
        }) / events.len() as f64
    };
    let fast = per_event(&|text| {
        black_box(JsonTape::parse(text).is_ok());
    });
    let serde = per_event(&|text| {
        black_box(JsonTape::parse_with_serde(text).is_ok());
    });
    let value = per_event(&|text| {
        black_box(serde_json::from_str::<Value>(text).is_ok());
    });
    let read_and_validate = per_event(&|text| {
        let valid = JsonTape::parse(text).map(|tape| schema.tape_is_valid(&tape));
        black_box(valid.is_ok());
    });
    report(
        "json_tape_read_gateway_event",
        json!({
            "event_bytes": 512,
            "ns_per_event_tape_fast": fast.round(),
            "ns_per_event_tape_serde": serde.round(),
            "ns_per_event_value": value.round(),
            "ns_per_event_tape_fast_and_validate": read_and_validate.round(),
        }),
    );
    Ok(())
}

/// Registers `count` new versions (10 subjects, each version adding an optional field, so
/// every registration runs a BACKWARD check against the subject's latest version).
async fn registration_latency(engine: &str, url: &str, count: usize) -> anyhow::Result<()> {
    let db = Database::connect(url, Duration::from_secs(10)).await?;
    db.migrate().await?;
    let registry = Registry::with_cache(db.clone(), Arc::new(ValidatorCache::default()));
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let subject = format!("bench.type_{}-value", i % 10);
        let version = i / 10;
        let mut schema = typical_avro_schema();
        if let Some(fields) = schema["fields"].as_array_mut() {
            for extra in 0..version {
                fields.push(json!({ "name": format!("extra_{extra}"), "type": ["null", "string"], "default": null }));
            }
        }
        let new = NewSchema {
            schema_type: SchemaType::Avro,
            schema: schema.to_string(),
            references: Vec::new(),
        };
        let started = Instant::now();
        registry
            .register(&subject, &new, RegisterOptions::default())
            .await?;
        latencies.push(started.elapsed());
    }
    db.close().await;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    report(
        "registration_latency",
        json!({
            "engine": engine,
            "registrations": count,
            "p50_ms": ms(at(0.50)),
            "p99_ms": ms(at(0.99)),
            "max_ms": ms(*latencies.last().expect("at least one registration")),
        }),
    );
    Ok(())
}

/// An order event with 20 fields of the usual kinds.
fn typical_event() -> Value {
    json!({
        "event_id": "0190f0d4-5c6e-7a3b-8c1d-2e3f4a5b6c7d",
        "occurred_at": 1_764_150_000_000i64,
        "order_id": "ord-20261126-000042",
        "customer_id": "cus-88412",
        "email": "ada@example.com",
        "amount": 129.95,
        "currency": "EUR",
        "items": 3,
        "country": "DE",
        "city": "Berlin",
        "postcode": "10115",
        "channel": "web",
        "device": "desktop",
        "first_order": false,
        "discount": 10.0,
        "coupon": "WINTER10",
        "shipping": "standard",
        "payment": "card",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
    })
}

fn typical_json_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "OrderPlaced",
        "type": "object",
        "additionalProperties": false,
        "required": ["event_id", "occurred_at", "order_id", "customer_id", "amount", "currency", "items", "country", "channel"],
        "properties": {
            "event_id": { "type": "string", "pattern": "^[0-9a-f-]{36}$" },
            "occurred_at": { "type": "integer", "minimum": 0 },
            "order_id": { "type": "string", "minLength": 1, "maxLength": 64 },
            "customer_id": { "type": "string", "minLength": 1 },
            "email": { "type": "string", "maxLength": 254 },
            "amount": { "type": "number", "minimum": 0 },
            "currency": { "enum": ["EUR", "USD", "GBP", "JPY"] },
            "items": { "type": "integer", "minimum": 1, "maximum": 1000 },
            "country": { "type": "string", "pattern": "^[A-Z]{2}$" },
            "city": { "type": "string" },
            "postcode": { "type": "string", "maxLength": 16 },
            "channel": { "enum": ["web", "app", "store"] },
            "device": { "type": "string" },
            "first_order": { "type": "boolean" },
            "discount": { "type": ["number", "null"], "minimum": 0 },
            "coupon": { "type": ["string", "null"] },
            "shipping": { "type": "string" },
            "payment": { "type": "string" },
            "ip": { "type": "string" },
            "user_agent": { "type": "string", "maxLength": 512 }
        }
    })
}

fn typical_avro_schema() -> Value {
    let string = |name: &str| json!({ "name": name, "type": "string" });
    json!({
        "type": "record",
        "name": "OrderPlaced",
        "namespace": "bench.orders",
        "fields": [
            string("event_id"),
            { "name": "occurred_at", "type": { "type": "long", "logicalType": "timestamp-millis" } },
            string("order_id"),
            string("customer_id"),
            string("email"),
            { "name": "amount", "type": "double" },
            { "name": "currency", "type": { "type": "enum", "name": "Currency", "symbols": ["EUR", "USD", "GBP", "JPY"] } },
            { "name": "items", "type": "int" },
            string("country"),
            string("city"),
            string("postcode"),
            string("channel"),
            string("device"),
            { "name": "first_order", "type": "boolean" },
            { "name": "discount", "type": ["null", "double"], "default": null },
            { "name": "coupon", "type": ["null", "string"], "default": null },
            string("shipping"),
            string("payment"),
            string("ip"),
            string("user_agent"),
        ]
    })
}
