//! The catalog search index through its public API: ranking, typos and prefixes, facets,
//! removal, rebuild, recovery from a damaged directory, hostile queries, and how soon
//! changes become searchable.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use tributary_registry::{
    CatalogDocument, CatalogIndex, QualityBand, SearchField, SearchRequest, SearchResults,
};

fn field(path: &str, doc: &str) -> SearchField {
    SearchField {
        path: path.to_owned(),
        doc: Some(doc.to_owned()),
    }
}

fn event(name: &str, owner: &str, tags: &[&str], quality: QualityBand) -> CatalogDocument {
    CatalogDocument {
        name: name.to_owned(),
        owner: owner.to_owned(),
        description: format!("Emitted when {name} happens."),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        fields: vec![field("/id", "Unique identifier of the event")],
        producers: vec!["svc-default".to_owned()],
        quality_band: Some(quality),
    }
}

/// A small catalog: the shipping words live only in a field doc of `payments.charge_captured`.
fn catalog() -> Vec<CatalogDocument> {
    let mut captured = event(
        "payments.charge_captured",
        "payments-team",
        &["money", "pii"],
        QualityBand::Good,
    );
    captured.fields.push(field(
        "/items/*/sku",
        "Stock keeping unit of the shipping order line",
    ));
    let mut refund_doc = event(
        "payments.charge_failed",
        "payments-team",
        &["money"],
        QualityBand::Poor,
    );
    refund_doc.fields.push(field(
        "/reason",
        "Why the charge failed, e.g. a refund in flight",
    ));
    vec![
        captured,
        refund_doc,
        event(
            "payments.refund_issued",
            "payments-team",
            &["money"],
            QualityBand::Fair,
        ),
        event(
            "users.user_signed_up",
            "growth",
            &["pii", "funnel"],
            QualityBand::Good,
        ),
        event(
            "inventory.stock_adjusted",
            "warehouse",
            &["ops"],
            QualityBand::Fair,
        ),
    ]
}

fn index() -> CatalogIndex {
    let index = CatalogIndex::in_memory().unwrap();
    assert!(index.needs_rebuild());
    assert_eq!(index.rebuild(catalog()).unwrap(), 5);
    assert!(!index.needs_rebuild());
    index
}

fn query(q: &str) -> SearchRequest {
    SearchRequest {
        q: q.to_owned(),
        limit: 20,
        ..SearchRequest::default()
    }
}

fn names(results: &SearchResults) -> Vec<&str> {
    results.hits.iter().map(|hit| hit.name.as_str()).collect()
}

#[test]
fn a_typo_finds_an_event_type_by_a_word_in_a_field_doc() {
    let index = index();
    for typo in ["shiping", "SHIPING", "keping", "shipping"] {
        let results = index.search(&query(typo)).unwrap();
        assert_eq!(
            names(&results),
            ["payments.charge_captured"],
            "query {typo:?}"
        );
        assert!(
            results.hits[0]
                .matched
                .contains(&"field:/items/*/sku".to_owned()),
            "{:?}",
            results.hits[0].matched
        );
    }
    // "ordr" reaches "order" in the same field doc.
    let results = index.search(&query("ordr")).unwrap();
    assert_eq!(names(&results), ["payments.charge_captured"]);
}

#[test]
fn prefixes_match() {
    let index = index();
    let results = index.search(&query("invent")).unwrap();
    assert_eq!(names(&results), ["inventory.stock_adjusted"]);
    assert_eq!(results.hits[0].matched[0], "name");
    // A prefix of a whole name, punctuation and all.
    let results = index.search(&query("users.user_sig")).unwrap();
    assert_eq!(names(&results)[0], "users.user_signed_up");
}

#[test]
fn a_name_match_ranks_above_a_field_doc_match() {
    let index = index();
    let results = index.search(&query("refund")).unwrap();
    assert_eq!(
        names(&results),
        ["payments.refund_issued", "payments.charge_failed"]
    );
    assert!(results.hits[0].score > results.hits[1].score);
    assert!(results.hits[0].matched.contains(&"name".to_owned()));
    assert_eq!(results.hits[1].matched, ["field:/reason"]);
}

#[test]
fn every_term_must_match_somewhere() {
    let index = index();
    let results = index.search(&query("payments refund")).unwrap();
    assert_eq!(
        names(&results),
        ["payments.refund_issued", "payments.charge_failed"]
    );
    let results = index.search(&query("payments funnel")).unwrap();
    assert_eq!(results.total, 0);
}

#[test]
fn an_exact_name_comes_first() {
    let index = index();
    let results = index.search(&query("payments.charge_failed")).unwrap();
    assert_eq!(names(&results)[0], "payments.charge_failed");
}

#[test]
fn an_empty_query_lists_everything_by_name() {
    let index = index();
    let results = index.search(&query("")).unwrap();
    assert_eq!(results.total, 5);
    assert_eq!(
        names(&results),
        [
            "inventory.stock_adjusted",
            "payments.charge_captured",
            "payments.charge_failed",
            "payments.refund_issued",
            "users.user_signed_up",
        ]
    );
    let page = index
        .search(&SearchRequest {
            limit: 2,
            offset: 2,
            ..query("  ")
        })
        .unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(
        names(&page),
        ["payments.charge_failed", "payments.refund_issued"]
    );
}

#[test]
fn facets_count_the_whole_match_and_filter_exactly() {
    let index = index();
    let results = index
        .search(&SearchRequest {
            limit: 1,
            ..query("")
        })
        .unwrap();
    assert_eq!(results.hits.len(), 1);
    assert_eq!(
        results.facets.owners,
        [
            ("payments-team".to_owned(), 3),
            ("growth".to_owned(), 1),
            ("warehouse".to_owned(), 1)
        ]
    );
    assert_eq!(
        results.facets.tags,
        [
            ("money".to_owned(), 3),
            ("pii".to_owned(), 2),
            ("funnel".to_owned(), 1),
            ("ops".to_owned(), 1)
        ]
    );
    assert_eq!(
        results.facets.quality,
        [
            ("fair".to_owned(), 2),
            ("good".to_owned(), 2),
            ("poor".to_owned(), 1)
        ]
    );

    // Counts follow the text query.
    let results = index.search(&query("payments")).unwrap();
    assert_eq!(results.total, 3);
    assert_eq!(results.facets.owners, [("payments-team".to_owned(), 3)]);

    // Filters are exact and combine.
    let pii = index
        .search(&SearchRequest {
            tag: Some("pii".to_owned()),
            ..query("")
        })
        .unwrap();
    assert_eq!(
        names(&pii),
        ["payments.charge_captured", "users.user_signed_up"]
    );
    let good_payments = index
        .search(&SearchRequest {
            owner: Some("payments-team".to_owned()),
            quality: Some(QualityBand::Good),
            ..query("charge")
        })
        .unwrap();
    assert_eq!(names(&good_payments), ["payments.charge_captured"]);
    assert_eq!(good_payments.facets.quality, [("good".to_owned(), 1)]);
    // A prefix of an owner is not that owner.
    let none = index
        .search(&SearchRequest {
            owner: Some("payments".to_owned()),
            ..query("")
        })
        .unwrap();
    assert_eq!(none.total, 0);
    let none = index
        .search(&SearchRequest {
            owner: Some(String::new()),
            ..query("")
        })
        .unwrap();
    assert_eq!(none.total, 0);
}

#[test]
fn a_request_from_a_query_string_has_defaults() {
    let request: SearchRequest =
        serde_json::from_str(r#"{"q": "order", "quality": "good"}"#).unwrap();
    assert_eq!(
        request,
        SearchRequest {
            q: "order".to_owned(),
            quality: Some(QualityBand::Good),
            limit: tributary_registry::DEFAULT_SEARCH_LIMIT,
            ..SearchRequest::default()
        }
    );
    assert!(serde_json::from_str::<SearchRequest>(r#"{"quality": "great"}"#).is_err());
}

#[test]
fn quality_bands_follow_the_score() {
    assert_eq!(QualityBand::from_score(100.0), QualityBand::Good);
    assert_eq!(QualityBand::from_score(90.0), QualityBand::Good);
    assert_eq!(QualityBand::from_score(89.9), QualityBand::Fair);
    assert_eq!(QualityBand::from_score(70.0), QualityBand::Fair);
    assert_eq!(QualityBand::from_score(69.9), QualityBand::Poor);
    assert_eq!(
        serde_json::to_string(&QualityBand::Fair).unwrap(),
        "\"fair\""
    );
}

#[test]
fn upsert_replaces_and_remove_deletes() {
    let index = index();
    let mut changed = event("users.user_signed_up", "identity", &[], QualityBand::Poor);
    changed.description = "Now about onboarding".to_owned();
    index.upsert(changed).unwrap();
    index.flush().unwrap();
    let results = index.search(&query("onboarding")).unwrap();
    assert_eq!(names(&results), ["users.user_signed_up"]);
    assert_eq!(results.hits[0].owner, "identity");
    assert_eq!(index.search(&query("")).unwrap().total, 5);

    index.remove("users.user_signed_up").unwrap();
    index.remove("no.such_event").unwrap();
    index.flush().unwrap();
    assert_eq!(index.search(&query("onboarding")).unwrap().total, 0);
    assert_eq!(index.search(&query("")).unwrap().total, 4);
}

#[test]
fn rebuild_replaces_everything() {
    let index = index();
    index
        .upsert(event("x.pending", "o", &[], QualityBand::Good))
        .unwrap();
    let count = index
        .rebuild(vec![
            event("fresh.one", "newteam", &[], QualityBand::Good),
            event("fresh.two", "newteam", &[], QualityBand::Good),
        ])
        .unwrap();
    assert_eq!(count, 2);
    let results = index.search(&query("")).unwrap();
    assert_eq!(names(&results), ["fresh.one", "fresh.two"]);
    assert_eq!(results.facets.owners, [("newteam".to_owned(), 2)]);
}

#[test]
fn upsert_then_flush_is_visible_at_once() {
    let index = CatalogIndex::in_memory().unwrap();
    index
        .upsert(event("orders.order_placed", "shop", &[], QualityBand::Good))
        .unwrap();
    index.flush().unwrap();
    assert_eq!(
        names(&index.search(&query("order")).unwrap()),
        ["orders.order_placed"]
    );
}

/// Polls `ready` every 10 ms until it holds; fails if that takes longer than `within`.
#[expect(
    clippy::disallowed_methods,
    reason = "a sync test waiting on the index's own thread; there is no async runtime here"
)]
fn within(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < within,
            "{what}: not after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn upsert_without_flush_is_visible_within_a_second() {
    let index = index();
    index
        .upsert(event("orders.order_placed", "shop", &[], QualityBand::Good))
        .unwrap();
    within(Duration::from_secs(1), "upsert searchable", || {
        index.search(&query("placed")).unwrap().total == 1
    });
    index.remove("orders.order_placed").unwrap();
    within(Duration::from_secs(1), "removal searchable", || {
        index.search(&query("placed")).unwrap().total == 0
    });
}

#[test]
fn open_creates_persists_and_recovers_from_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    {
        let index = CatalogIndex::open(&path).unwrap();
        assert!(index.needs_rebuild());
        index.rebuild(catalog()).unwrap();
        assert!(!index.needs_rebuild());
    }
    {
        // Reopened: same documents, no rebuild wanted.
        let index = CatalogIndex::open(&path).unwrap();
        assert!(!index.needs_rebuild());
        assert_eq!(index.search(&query("")).unwrap().total, 5);
    }
    // Garbage over the index's own files.
    for entry in std::fs::read_dir(&path).unwrap() {
        let file = entry.unwrap().path();
        if file.is_file() && !file.ends_with("tributary-catalog.stamp") {
            std::fs::write(&file, b"\xff garbage \x00").unwrap();
        }
    }
    std::fs::write(path.join("stray.bin"), b"junk").unwrap();
    let index = CatalogIndex::open(&path).unwrap();
    assert!(index.needs_rebuild());
    assert_eq!(index.search(&query("")).unwrap().total, 0);
    index.rebuild(catalog()).unwrap();
    assert_eq!(index.search(&query("shiping")).unwrap().total, 1);
}

#[test]
fn open_twice_is_an_error_not_a_wipe() {
    let dir = tempfile::tempdir().unwrap();
    let first = CatalogIndex::open(dir.path()).unwrap();
    first.rebuild(catalog()).unwrap();
    let second = CatalogIndex::open(dir.path());
    assert!(second.is_err(), "{second:?}");
    assert_eq!(first.search(&query("")).unwrap().total, 5);
    drop(first);
    let reopened = CatalogIndex::open(dir.path()).unwrap();
    assert!(!reopened.needs_rebuild());
}

#[test]
fn open_wipes_an_index_of_another_version() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = CatalogIndex::open(dir.path()).unwrap();
        index.rebuild(catalog()).unwrap();
    }
    std::fs::write(dir.path().join("tributary-catalog.stamp"), "v0").unwrap();
    let index = CatalogIndex::open(dir.path()).unwrap();
    assert!(index.needs_rebuild());
    assert_eq!(index.search(&query("")).unwrap().total, 0);
}

#[test]
fn open_on_a_directory_of_only_garbage() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.json"), b"{ not json").unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    let index = CatalogIndex::open(dir.path()).unwrap();
    assert!(index.needs_rebuild());
    index
        .upsert(event("a.b", "o", &[], QualityBand::Good))
        .unwrap();
    index.flush().unwrap();
    assert_eq!(index.search(&query("")).unwrap().total, 1);
}

#[test]
fn hostile_queries_are_answered() {
    let index = index();
    let long = "shipping ".repeat(1200);
    let hostile: Vec<String> = vec![
        "field:(".into(),
        "*".into(),
        "\"".into(),
        "\"unterminated phrase".into(),
        "name:payments AND (owner:x OR".into(),
        "+-!~^[]{}:\\/".into(),
        "a".into(),
        "payments~2^10".into(),
        "\u{0}\u{1}\u{7}\u{1b}[31m".into(),
        "\u{202e}drow\u{200b}\u{feff}".into(),
        "ǅǈǋ ﬁ İstanbul ß ΣΑΣ".into(),
        "🚀🔥 💩".into(),
        "日本語 検索".into(),
        "x".repeat(10_240),
        long.clone(),
        "a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff gg hh".into(),
        "/items/*/sku".into(),
        "%00%ff".into(),
        "\u{fffd}\u{10ffff}".into(),
    ];
    for q in &hostile {
        let results = index.search(&query(q));
        assert!(results.is_ok(), "query {q:?}: {results:?}");
    }
    // Syntax-looking text is just words.
    let results = index.search(&query("field:(")).unwrap();
    assert_eq!(results.total, 0);
    let results = index.search(&query("/items/*/sku")).unwrap();
    assert_eq!(names(&results), ["payments.charge_captured"]);
    // A 10 KB query is trimmed, not refused.
    assert!(index.search(&query(&long)).unwrap().total >= 1);
    // Limits and offsets beyond reason.
    let results = index
        .search(&SearchRequest {
            limit: usize::MAX,
            offset: usize::MAX,
            ..query("payments")
        })
        .unwrap();
    assert_eq!(results.total, 3);
    assert!(results.hits.is_empty());
    let results = index
        .search(&SearchRequest {
            limit: 0,
            ..query("payments")
        })
        .unwrap();
    assert_eq!((results.total, results.hits.len()), (3, 0));
}

#[test]
fn hostile_documents_are_indexed() {
    let index = CatalogIndex::in_memory().unwrap();
    let mut doc = event(
        "weird.one",
        "own\u{0}er",
        &["", "t\u{0}ag", "ok"],
        QualityBand::Good,
    );
    doc.description = "<script>alert(1)</script> ".repeat(2000);
    doc.fields
        .push(field(&"/a".repeat(5000), &"z".repeat(100_000)));
    doc.producers.push(String::new());
    let slash = event("weird.two", "ops/infra", &["a/b"], QualityBand::Poor);
    index.rebuild(vec![doc, slash]).unwrap();
    let results = index.search(&query("script")).unwrap();
    assert_eq!(names(&results), ["weird.one"]);
    assert_eq!(results.facets.owners, [("owner".to_owned(), 1)]);
    // A slash in a facet value is part of the value, not a level.
    let results = index
        .search(&SearchRequest {
            owner: Some("ops/infra".to_owned()),
            tag: Some("a/b".to_owned()),
            ..query("")
        })
        .unwrap();
    assert_eq!(names(&results), ["weird.two"]);
    assert_eq!(results.facets.tags, [("a/b".to_owned(), 1)]);
}

#[test]
fn clones_share_one_index_across_threads() {
    let index = index();
    let writer = index.clone();
    std::thread::spawn(move || {
        writer
            .upsert(event("threads.made_it", "o", &[], QualityBand::Good))
            .unwrap();
        writer.flush().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(index.search(&query("made")).unwrap().total, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_query_strings_never_error(q in any::<String>(), extra in "[a-z*:()\"~^ ]{0,40}") {
        let index = shared_index();
        let request = SearchRequest { q: format!("{q}{extra}"), limit: 10, ..SearchRequest::default() };
        let results = index.search(&request);
        prop_assert!(results.is_ok(), "{:?}", results.err());
    }
}

fn shared_index() -> &'static CatalogIndex {
    static INDEX: std::sync::OnceLock<CatalogIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(index)
}
