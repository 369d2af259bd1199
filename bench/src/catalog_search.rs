//! `catalog-search`: the catalog search index at the scale.
//!
//! Builds an index of generated event types (10,000 × 20 fields by default, field docs drawn
//! from a word list), then measures search latency over a mix of queries (exact names,
//! prefixes, typos, several words) and how long an upsert takes to become searchable under
//! the index's own commit policy (no `flush`). Prints JSON lines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary_registry::{CatalogDocument, CatalogIndex, QualityBand, SearchField, SearchRequest};

#[derive(Debug, clap::Args)]
pub(crate) struct CatalogSearchArgs {
    /// Event types in the catalog.
    #[arg(long, default_value_t = 10_000)]
    event_types: usize,
    /// Fields per event type.
    #[arg(long, default_value_t = 20)]
    fields: usize,
    /// Queries to time.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Upserts whose time to searchable is measured.
    #[arg(long, default_value_t = 100)]
    upserts: usize,
    /// Keep the index in this directory instead of memory.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

const WORDS: &[&str] = &[
    "order",
    "payment",
    "customer",
    "account",
    "invoice",
    "shipping",
    "address",
    "amount",
    "currency",
    "refund",
    "discount",
    "coupon",
    "product",
    "catalog",
    "inventory",
    "warehouse",
    "stock",
    "quantity",
    "price",
    "tax",
    "total",
    "subtotal",
    "merchant",
    "session",
    "device",
    "browser",
    "country",
    "region",
    "city",
    "postal",
    "email",
    "phone",
    "identifier",
    "unique",
    "timestamp",
    "created",
    "updated",
    "deleted",
    "status",
    "reason",
    "failure",
    "success",
    "attempt",
    "retry",
    "channel",
    "campaign",
    "referral",
    "source",
    "medium",
    "content",
    "language",
    "locale",
    "timezone",
    "latitude",
    "longitude",
    "carrier",
    "tracking",
    "package",
    "weight",
    "dimension",
    "delivery",
    "estimate",
    "return",
    "exchange",
    "subscription",
    "plan",
    "trial",
    "renewal",
    "cancellation",
    "billing",
    "card",
    "brand",
    "expiry",
    "fingerprint",
    "risk",
    "score",
    "fraud",
    "review",
    "rating",
    "comment",
    "author",
    "version",
    "schema",
    "feature",
    "model",
    "prediction",
    "label",
    "experiment",
    "variant",
    "exposure",
    "click",
    "impression",
    "search",
    "query",
    "result",
    "position",
    "recommendation",
    "basket",
    "checkout",
    "loyalty",
    "points",
    "balance",
    "ledger",
    "transfer",
    "settlement",
    "payout",
    "fee",
    "commission",
    "partner",
    "vendor",
    "supplier",
    "contract",
    "agreement",
    "consent",
    "privacy",
    "segment",
    "cohort",
    "lifetime",
    "value",
    "margin",
    "revenue",
    "forecast",
    "budget",
];
const DOMAINS: &[&str] = &[
    "orders",
    "payments",
    "users",
    "inventory",
    "shipping",
    "billing",
    "marketing",
    "search",
    "fraud",
    "loyalty",
    "catalog",
    "support",
    "identity",
    "pricing",
    "ledger",
    "partners",
    "reviews",
    "experiments",
    "notifications",
    "analytics",
];
const VERBS: &[&str] = &[
    "created",
    "updated",
    "deleted",
    "placed",
    "cancelled",
    "completed",
    "failed",
    "started",
    "viewed",
    "clicked",
    "approved",
    "rejected",
    "shipped",
    "delivered",
    "returned",
    "scored",
    "renewed",
    "expired",
    "merged",
    "flagged",
];
const OWNERS: &[&str] = &[
    "checkout-team",
    "payments-team",
    "growth",
    "platform",
    "data",
    "risk",
    "logistics",
    "crm",
];

/// A small deterministic generator (xorshift64*): the same catalog on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

fn name_of(i: usize) -> String {
    let domain = DOMAINS[i % DOMAINS.len()];
    let noun = WORDS[(i / DOMAINS.len()) % WORDS.len()];
    let verb = VERBS[(i / (DOMAINS.len() * WORDS.len())) % VERBS.len()];
    let round = i / (DOMAINS.len() * WORDS.len() * VERBS.len());
    if round == 0 {
        format!("{domain}.{noun}_{verb}")
    } else {
        format!("{domain}.{noun}_{verb}_{round}")
    }
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn document(rng: &mut Rng, i: usize, fields: usize) -> CatalogDocument {
    let name = name_of(i);
    CatalogDocument {
        description: format!("Emitted when {}. {}", name, sentence(rng, 12)),
        owner: rng.pick(OWNERS).to_owned(),
        tags: vec![rng.pick(WORDS).to_owned(), rng.pick(DOMAINS).to_owned()],
        fields: (0..fields)
            .map(|_| {
                let path = format!("/{}/{}", rng.pick(WORDS), rng.pick(WORDS));
                let words = 6 + rng.below(7);
                SearchField {
                    path,
                    doc: Some(sentence(rng, words)),
                }
            })
            .collect(),
        producers: vec![format!("svc-{}", rng.pick(DOMAINS))],
        quality_band: Some(match rng.below(3) {
            0 => QualityBand::Good,
            1 => QualityBand::Fair,
            _ => QualityBand::Poor,
        }),
        name,
    }
}

/// One query of the mix: exact name, prefix, typo, or several words.
fn query(rng: &mut Rng, event_types: usize) -> (&'static str, String) {
    match rng.below(4) {
        0 => ("name", name_of(rng.below(event_types))),
        1 => {
            let word = rng.pick(WORDS);
            let len = (3 + rng.below(3)).min(word.len());
            ("prefix", word[..len].to_owned())
        }
        2 => {
            let word = rng.pick(WORDS);
            let mut chars: Vec<char> = word.chars().collect();
            let at = 1 + rng.below(chars.len() - 2);
            if rng.below(2) == 0 {
                chars.remove(at);
            } else {
                chars.swap(at, at + 1);
            }
            ("typo", chars.into_iter().collect())
        }
        _ => {
            let words = 2 + rng.below(2);
            ("words", sentence(rng, words))
        }
    }
}

fn report(name: &str, mut fields: Value) {
    if let Some(fields) = fields.as_object_mut() {
        fields.insert("bench".into(), json!("catalog-search"));
        fields.insert("measure".into(), json!(name));
    }
    println!("{fields}");
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

fn summary(samples: &mut [Duration]) -> Value {
    samples.sort();
    json!({
        "count": samples.len(),
        "p50_ms": percentile(samples, 0.50),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": percentile(samples, 1.0),
    })
}

pub(crate) fn run(args: &CatalogSearchArgs) -> anyhow::Result<()> {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let index = match &args.dir {
        Some(dir) => CatalogIndex::open(dir)?,
        None => CatalogIndex::in_memory()?,
    };
    let docs: Vec<CatalogDocument> = (0..args.event_types)
        .map(|i| document(&mut rng, i, args.fields))
        .collect();
    let started = Instant::now();
    let indexed = index.rebuild(docs)?;
    report(
        "rebuild",
        json!({
            "event_types": indexed,
            "fields": indexed * args.fields,
            "ms": ms(started.elapsed()),
        }),
    );

    let queries: Vec<(&str, String)> = (0..args.queries)
        .map(|_| query(&mut rng, args.event_types))
        .collect();
    // Warm up the page cache and the automaton builders.
    for (_, q) in queries.iter().take(100) {
        black_box(index.search(&request(q))?);
    }
    let mut all = Vec::with_capacity(queries.len());
    let mut by_kind: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut empty = 0usize;
    for (kind, q) in &queries {
        let started = Instant::now();
        let results = index.search(&request(q))?;
        let took = started.elapsed();
        if results.total == 0 {
            empty += 1;
        }
        black_box(results);
        all.push(took);
        by_kind.entry(kind).or_default().push(took);
    }
    let mut overall = summary(&mut all);
    overall["no_hits"] = json!(empty);
    report("search", overall);
    for (kind, mut samples) in by_kind {
        let mut line = summary(&mut samples);
        line["kind"] = json!(kind);
        report("search_by_kind", line);
    }

    let mut latencies = Vec::with_capacity(args.upserts);
    for i in 0..args.upserts {
        let mut doc = document(&mut rng, args.event_types + i, args.fields);
        // A random word of its own, so the probe finds this upsert and no earlier one.
        let marker: String = (0..12)
            .map(|_| char::from(b'a' + rng.below(26) as u8))
            .collect();
        doc.description.push(' ');
        doc.description.push_str(&marker);
        let name = doc.name.clone();
        let started = Instant::now();
        index.upsert(doc)?;
        let probe = request(&marker);
        loop {
            if index
                .search(&probe)?
                .hits
                .iter()
                .any(|hit| hit.name == name)
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "upsert {i} not searchable after 10 s"
            );
            pause();
        }
        latencies.push(started.elapsed());
    }
    report("upsert_to_searchable", summary(&mut latencies));
    Ok(())
}

fn request(q: &str) -> SearchRequest {
    SearchRequest {
        q: q.to_owned(),
        limit: 20,
        ..SearchRequest::default()
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "a sync benchmark polling the index's commit thread; no async runtime here"
)]
fn pause() {
    std::thread::sleep(Duration::from_millis(1));
}
