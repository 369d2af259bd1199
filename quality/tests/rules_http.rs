//! The rule store and `/v1/event-types/{type}/quality/rules` in process
//! (`tower::ServiceExt::oneshot`), over a real embedded event log, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::middleware;
use serde_json::{Value, json};
use tower::ServiceExt;
use tributary_core::testkit::{ScratchDatabase, scratch_postgres, scratch_sqlite};
use tributary_core::{AuthMode, Principal};
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog};
use tributary_quality::{QualityRules, RuleService, RuleStore, rule_routes};
use tributary_registry::{EventTypeSettings, EventTypes, Registry, api_routes, identify};

struct Fresh {
    scratch: ScratchDatabase,
    app: Router,
    service: RuleService,
    _log_dir: tempfile::TempDir,
}

async fn fresh(scratch: ScratchDatabase) -> Fresh {
    scratch.db.migrate().await.unwrap();
    let log_dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedOptions::new(log_dir.path().join("log")))
        .await
        .unwrap();
    let log: Arc<dyn EventLog> = Arc::new(log);
    let event_types = EventTypes::new(
        scratch.db.clone(),
        Registry::new(scratch.db.clone()),
        log,
        EventTypeSettings {
            topic_prefix: String::new(),
            default_partitions: 1,
            default_retention: Some(Duration::from_secs(86_400)),
        },
    );
    let service = RuleService::new(scratch.db.clone(), event_types.clone());
    let app = Router::from(
        api_routes(event_types)
            .merge(rule_routes(service.clone()))
            .layer(middleware::from_fn_with_state(AuthMode::Off, identify)),
    );
    Fresh {
        scratch,
        app,
        service,
        _log_dir: log_dir,
    }
}

async fn fresh_sqlite() -> Fresh {
    fresh(scratch_sqlite().await).await
}

async fn fresh_postgres() -> Fresh {
    fresh(scratch_postgres().await).await
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl Answer {
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{self:?}");
        &self.body
    }

    #[track_caller]
    fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        &self.body
    }

    /// A 422 naming `field`; returns the detail.
    #[track_caller]
    fn invalid(&self, field: &str) -> String {
        let body = self.problem(422, "unprocessable");
        assert_eq!(body["field"], field, "{self:?}");
        body["detail"].as_str().unwrap().to_owned()
    }
}

impl Fresh {
    async fn send(
        &self,
        method: Method,
        path: &str,
        principal: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(principal) = principal {
            request = request.header("Tributary-Principal", principal);
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Creates `name`, owned by team `orders`, with `schema` (JSON Schema or Avro) if any.
    async fn event_type(&self, name: &str, schema: Option<(&str, Value)>) {
        let created = self
            .send(
                Method::POST,
                "/v1/event-types",
                Some("admin"),
                Some(&json!({ "name": name, "owner": "orders" })),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        if let Some((schema_type, schema)) = schema {
            let registered = self
                .send(
                    Method::POST,
                    &format!("/v1/event-types/{name}/schemas"),
                    Some("admin"),
                    Some(&json!({ "schemaType": schema_type, "schema": schema })),
                )
                .await;
            assert_eq!(registered.status, 201, "{registered:?}");
        }
    }

    async fn put(&self, name: &str, principal: &str, rules: &Value) -> Answer {
        self.send(Method::PUT, &rules_path(name), Some(principal), Some(rules))
            .await
    }
}

fn rules_path(name: &str) -> String {
    format!("/v1/event-types/{name}/quality/rules")
}

fn order_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "total"],
        "properties": {
            "id": {"type": "string"},
            "total": {"type": "number"},
            "status": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object",
                "properties": {"sku": {"type": "string"}}}}
        }
    })
}

fn typical_rules() -> Value {
    json!({
        "rules": [
            {"name": "total_in_range", "kind": "range", "field": "/total", "min": 0, "max": 10000, "severity": "error"},
            {"name": "sku_form", "kind": "pattern", "field": "/items/*/sku", "regex": "^[A-Z]-[0-9]+$"}
        ],
        "weights": {"validity": 50, "rules": 50, "completeness": 0, "freshness": 0, "uniqueness": 0}
    })
}

async fn owners_put_versions_and_everyone_reads(fresh: Fresh) {
    fresh
        .event_type("orders.placed", Some(("JSON", order_schema())))
        .await;
    let path = rules_path("orders.placed");
    // No rules yet: version 0 and the defaults.
    let none = fresh.send(Method::GET, &path, None, None).await;
    assert_eq!(
        none.ok(),
        &json!({"version": 0, "rules": [], "weights": {
            "validity": 40, "rules": 30, "completeness": 10, "freshness": 10, "uniqueness": 10}})
    );

    let first = fresh
        .put("orders.placed", "team:orders", &typical_rules())
        .await;
    assert_eq!(first.ok()["version"], 1);
    assert_eq!(first.ok()["rules"][1]["severity"], "warning");
    // The same rules again: nothing written.
    let same = fresh
        .put("orders.placed", "team:orders", &typical_rules())
        .await;
    assert_eq!(same.ok()["version"], 1);
    // An admin changes them: version 2.
    let mut changed = typical_rules();
    changed["rules"][0]["max"] = json!(500);
    let second = fresh.put("orders.placed", "admin", &changed).await;
    assert_eq!(second.ok()["version"], 2);

    let current = fresh
        .send(Method::GET, &path, Some("producer:shop"), None)
        .await;
    assert_eq!(current.ok()["version"], 2);
    assert_eq!(current.ok()["rules"][0]["max"], 500);
    assert_eq!(current.ok()["weights"]["validity"], 50);

    let versions = fresh
        .send(Method::GET, &format!("{path}/versions"), None, None)
        .await;
    let versions = versions.ok()["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["created_by"], "team:orders");
    assert_eq!(versions[0]["rules"][0]["max"], 10000);
    assert_eq!(versions[1]["created_by"], "admin");

    // Each change is in the event type's audit log.
    let audit = fresh
        .send(
            Method::GET,
            "/v1/event-types/orders.placed/audit",
            None,
            None,
        )
        .await;
    let actions: Vec<&str> = audit.ok()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "quality_rules.put")
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["admin", "team:orders"]);

    // The compiled scorer the gateway would use.
    let (version, scorer) = fresh.service.scorer("orders.placed").await.unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        scorer.rule_names().collect::<Vec<_>>(),
        ["total_in_range", "sku_form"]
    );
}

async fn only_owners_change_rules(fresh: Fresh) {
    fresh
        .event_type("orders.placed", Some(("JSON", order_schema())))
        .await;
    for outsider in ["team:search", "producer:orders"] {
        let answer = fresh.put("orders.placed", outsider, &typical_rules()).await;
        let detail = answer.problem(403, "forbidden")["detail"].as_str().unwrap();
        assert!(
            detail.contains(outsider) && detail.contains("orders"),
            "{detail}"
        );
    }
    let current = fresh
        .send(Method::GET, &rules_path("orders.placed"), None, None)
        .await;
    assert_eq!(current.ok()["version"], 0);
}

async fn bad_rules_are_refused_naming_the_key(fresh: Fresh) {
    fresh
        .event_type("orders.placed", Some(("JSON", order_schema())))
        .await;
    let detail = fresh
        .put(
            "orders.placed",
            "team:orders",
            &json!({"rules": [
                {"name": "ok", "kind": "required", "field": "/id"},
                {"name": "a", "kind": "required", "field": "/totl"}
            ]}),
        )
        .await
        .invalid("rules[1].field");
    assert!(detail.contains("no field /totl"), "{detail}");
    let detail = fresh
        .put(
            "orders.placed",
            "team:orders",
            &json!({"rules": [{"name": "a", "kind": "pattern", "field": "/id", "regex": "(x)\\1"}]}),
        )
        .await
        .invalid("rules[0].regex");
    assert!(detail.contains("backreferences"), "{detail}");
    fresh
        .put(
            "orders.placed",
            "team:orders",
            &json!({"rules": [{"name": "a", "kind": "expression", "expr": "nope == 1"}]}),
        )
        .await
        .invalid("rules[0].expr");
    // Unknown and misplaced keys are refused while reading the body.
    let detail = fresh
        .put(
            "orders.placed",
            "team:orders",
            &json!({"rules": [{"name": "a", "kind": "range", "field": "/total", "regex": "x"}]}),
        )
        .await
        .invalid("rules[0]");
    assert!(
        detail.contains("`regex` does not apply to a range rule"),
        "{detail}"
    );
    let answer = fresh
        .put("orders.placed", "team:orders", &json!({"rulez": []}))
        .await;
    answer.problem(422, "unprocessable");
    let syntax = fresh
        .send(
            Method::PUT,
            &rules_path("orders.placed"),
            Some("admin"),
            None,
        )
        .await;
    assert!(syntax.status == 400 || syntax.status == 415, "{syntax:?}");
    // Nothing was stored.
    let current = fresh
        .send(Method::GET, &rules_path("orders.placed"), None, None)
        .await;
    assert_eq!(current.ok()["version"], 0);
}

async fn unknown_types_and_types_without_schemas(fresh: Fresh) {
    let path = rules_path("orders.nothing");
    fresh
        .send(Method::GET, &path, None, None)
        .await
        .problem(404, "not_found");
    fresh
        .send(Method::GET, &format!("{path}/versions"), None, None)
        .await
        .problem(404, "not_found");
    fresh
        .put("orders.nothing", "admin", &typical_rules())
        .await
        .problem(404, "not_found");

    // Without a schema only rules that name no field are accepted.
    fresh.event_type("orders.draft", None).await;
    let detail = fresh
        .put("orders.draft", "team:orders", &typical_rules())
        .await
        .invalid("rules[0].field");
    assert!(detail.contains("no schema fields yet"), "{detail}");
    let field_free = json!({"rules": [
        {"name": "fresh", "kind": "freshness", "max_age": "5m", "max_future": "30s"},
        {"name": "once", "kind": "unique", "window": "1h"},
        {"name": "has_id", "kind": "expression", "expr": "has(event.id)"}
    ]});
    let answer = fresh.put("orders.draft", "team:orders", &field_free).await;
    assert_eq!(answer.ok()["version"], 1);
}

async fn avro_schemas_give_the_fields(fresh: Fresh) {
    let avro = json!({
        "type": "record", "name": "Shipped",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "carrier", "type": ["null", "string"], "default": null},
            {"name": "parcels", "type": {"type": "array", "items": {
                "type": "record", "name": "Parcel", "fields": [{"name": "weight", "type": "double"}]}}}
        ]
    });
    fresh
        .event_type("orders.shipped", Some(("AVRO", avro)))
        .await;
    let rules = json!({"rules": [
        {"name": "carrier_known", "kind": "enum", "field": "/carrier", "values": ["ups", "dhl"]},
        {"name": "weight_positive", "kind": "range", "field": "/parcels/*/weight", "min": 0}
    ]});
    assert_eq!(
        fresh
            .put("orders.shipped", "team:orders", &rules)
            .await
            .ok()["version"],
        1
    );
    let fields = fresh.service.fields("orders.shipped").await.unwrap();
    let pointers: Vec<&str> = fields.iter().map(|f| f.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/id",
            "/carrier",
            "/parcels",
            "/parcels/*",
            "/parcels/*/weight"
        ]
    );
}

/// Concurrent writers each get their own version.
async fn concurrent_puts_get_distinct_versions(fresh: Fresh) {
    let store = RuleStore::new(fresh.scratch.db.clone());
    let who = Principal::local_admin();
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let store = store.clone();
        let who = who.clone();
        tasks.push(tokio::spawn(async move {
            let mut rules = QualityRules::default();
            rules.weights.validity = i + 1;
            store.put(&who, "orders.placed", &rules).await.unwrap()
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    let stored = store.versions("orders.placed").await.unwrap();
    assert_eq!(stored.len(), 6);
    let (current, rules) = store.current("orders.placed").await.unwrap().unwrap();
    assert_eq!(current, 6);
    assert_eq!(rules, stored[5].rules);
    assert!(store.current("orders.other").await.unwrap().is_none());
}

#[tokio::test]
async fn the_routes_are_described_in_openapi() {
    let fresh = fresh_sqlite().await;
    let (_, api) = rule_routes(fresh.service.clone()).split_for_parts();
    let doc = serde_json::to_value(&api).unwrap();
    let rules = &doc["paths"]["/v1/event-types/{name}/quality/rules"];
    for method in ["get", "put"] {
        assert_eq!(rules[method]["tags"], json!(["quality"]), "{method}");
    }
    assert!(rules["put"]["responses"]["422"].is_object());
    assert!(doc["paths"]["/v1/event-types/{name}/quality/rules/versions"]["get"].is_object());
    let schemas = &doc["components"]["schemas"];
    for name in [
        "QualityRules",
        "QualityRule",
        "QualityRuleSet",
        "Weights",
        "Severity",
    ] {
        assert!(schemas[name].is_object(), "{name}: {schemas}");
    }
    assert!(schemas["QualityRule"]["properties"]["regex"].is_object());
}

macro_rules! suite {
    ($backend:ident, $fresh:path $(, #[$meta:meta])*) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    $(#[$meta])*
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name($fresh().await).await;
                    }
                };
            }

            case!(owners_put_versions_and_everyone_reads);
            case!(only_owners_change_rules);
            case!(bad_rules_are_refused_naming_the_key);
            case!(unknown_types_and_types_without_schemas);
            case!(avro_schemas_give_the_fields);
            case!(concurrent_puts_get_distinct_versions);
        }
    };
}

suite!(sqlite, fresh_sqlite);
suite!(
    postgres,
    fresh_postgres,
    #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
);
