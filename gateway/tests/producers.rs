//! Producers and API keys in-process: issuing (secret shown once, stored hashed), publishing
//! with a key only to granted event types, revocation, rotation, glob grants, HTTP Basic, and
//! who may manage producers. Every case runs on SQLite, and on PostgreSQL under
//! `scripts/test-full`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::middleware;
use common::{ORDER_SCHEMA, Reply, register};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tributary_core::testkit::{scratch_postgres, scratch_sqlite};
use tributary_core::{AuthMode, Authentication, Database};
use tributary_eventlog::{EmbeddedLog, EmbeddedOptions, EventLog};
use tributary_gateway::{Gateway, GatewayOptions, ProducerOptions, Producers, producer_routes};
use tributary_registry::{Registry, SchemaType, authenticate};

const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijklmnopqrstuvwxyz";
const TYPES: [&str; 3] = ["orders.placed", "orders.cancelled", "payments.settled"];
const ORDER: &str = r#"{ "order_id": "o-1", "amount": 12.5 }"#;

struct World {
    app: Router,
    db: Database,
    log: Arc<dyn EventLog>,
    _dir: tempfile::TempDir,
}

async fn world_on(db: Database, mode: AuthMode) -> World {
    let dir = tempfile::tempdir().unwrap();
    db.migrate().await.unwrap();
    let registry = Registry::new(db.clone());
    for name in TYPES {
        register(
            &registry,
            &format!("{name}-value"),
            SchemaType::Json,
            ORDER_SCHEMA,
        )
        .await;
    }
    let log: Arc<dyn EventLog> = Arc::new(
        EmbeddedLog::open(EmbeddedOptions::new(dir.path().join("log")))
            .await
            .unwrap(),
    );
    let types = Arc::new(common::RegistrySubjects::new(
        registry.clone(),
        log.clone(),
        "",
        3,
    ));
    let gateway = Arc::new(
        Gateway::start(log.clone(), registry, types, GatewayOptions::default())
            .await
            .unwrap(),
    );
    let producers = Arc::new(Producers::new(
        db.clone(),
        ProducerOptions {
            cache_ttl: Duration::from_secs(10),
            admin_key: Some(ADMIN_KEY.to_owned()),
        },
    ));
    let auth = match mode {
        AuthMode::Keys => Authentication::keys(producers.clone()),
        AuthMode::Off => Authentication::from(AuthMode::Off),
    };
    let app = tributary_gateway::router(gateway)
        .merge(producer_routes(producers))
        .layer(middleware::from_fn_with_state(auth, authenticate))
        .into();
    World {
        app,
        db,
        log,
        _dir: dir,
    }
}

impl World {
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_owned())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        }
    }

    async fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let bearer = format!("Bearer {ADMIN_KEY}");
        self.call(method, path, &[("authorization", &bearer)], body)
            .await
    }

    /// Publishes one order to `event_type` with `key` as a bearer token.
    async fn publish(&self, key: &str, event_type: &str) -> Reply {
        let bearer = format!("Bearer {key}");
        self.call(
            "POST",
            &format!("/v1/events/{event_type}"),
            &[("authorization", &bearer), ("tributary-producer", "spoof")],
            Some(ORDER),
        )
        .await
    }

    /// Records in the topic of `event_type`, over every partition (0 before the topic exists).
    async fn high_watermark(&self, event_type: &str) -> i64 {
        let Ok(topic) = self.log.describe_topic(event_type).await else {
            return 0;
        };
        let mut total = 0;
        for partition in 0..topic.partitions {
            total += self
                .log
                .watermarks(event_type, partition)
                .await
                .unwrap()
                .high;
        }
        total
    }

    /// Creates producer `checkout` (team `shop`) granted `grants`, and issues it a key.
    async fn checkout(&self, grants: &[&str]) -> (String, i64) {
        let body = serde_json::json!({
            "name": "checkout", "owner": "shop", "description": "the checkout service",
            "grants": grants,
        });
        let created = self
            .admin("POST", "/v1/producers", Some(&body.to_string()))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let issued = self
            .admin("POST", "/v1/producers/checkout/keys", None)
            .await;
        assert_eq!(issued.status, 201, "{issued:?}");
        (
            issued.body["key"].as_str().unwrap().to_owned(),
            issued.body["id"].as_i64().unwrap(),
        )
    }
}

mod cases {
    use super::*;

    pub(super) async fn keys_are_shown_once_and_stored_hashed(db: Database) {
        let w = world_on(db, AuthMode::Keys).await;
        let (key, id) = w.checkout(&["orders.placed"]).await;
        assert!(key.starts_with("trb_") && key.len() == 68, "{key}");

        let listed = w.admin("GET", "/v1/producers/checkout/keys", None).await;
        assert_eq!(listed.status, 200, "{listed:?}");
        let keys = listed.body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["id"], id);
        assert_eq!(keys[0]["prefix"], key[..12]);
        assert!(keys[0].get("key").is_none(), "{listed:?}");
        assert!(!listed.body.to_string().contains(&key[12..]));

        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT prefix, key_sha256 FROM producer_keys")
                .fetch_all(w.db.pool())
                .await
                .unwrap();
        assert_eq!(rows.len(), 1);
        let (prefix, hash) = &rows[0];
        assert_eq!(prefix, &key[..12]);
        assert!(!hash.contains(&key[4..]) && !key.contains(hash.as_str()));
        let expected: String = Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash, &expected);

        let audit =
            w.db.audit_for(&[("producer", "checkout")], 10)
                .await
                .unwrap();
        let actions: Vec<_> = audit.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(actions, ["producer.key.issue", "producer.create"]);
        assert!(audit.iter().all(|r| r.entry.actor == "admin"));
        let text = serde_json::to_string(&audit).unwrap();
        assert!(!text.contains(&key[12..]), "no secret in the audit log");

        let described = w.admin("GET", "/v1/producers/checkout", None).await;
        assert_eq!(described.status, 200);
        assert_eq!(described.body["owner"], "shop");
        assert_eq!(
            described.body["grants"],
            serde_json::json!(["orders.placed"])
        );
    }

    pub(super) async fn keys_publish_only_granted_types(db: Database) {
        let w = world_on(db, AuthMode::Keys).await;
        let (key, _) = w.checkout(&["orders.placed"]).await;

        let published = w.publish(&key, "orders.placed").await;
        assert_eq!(published.status, 200, "{published:?}");
        let stored = common::read_all(w.log.as_ref(), "orders.placed").await;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            common::header(&stored[0].1, tributary_core::headers::PRODUCER),
            "checkout",
            "the key names the producer, not the header"
        );
        assert_eq!(
            common::header(
                &stored[0].1,
                tributary_core::headers::PRODUCER_AUTHENTICATED
            ),
            "true"
        );

        let before = w.high_watermark("payments.settled").await;
        let refused = w.publish(&key, "payments.settled").await;
        assert_eq!(refused.status, 403, "{refused:?}");
        assert_eq!(refused.problem_code(), "forbidden");
        assert_eq!(w.high_watermark("payments.settled").await, before);
        let validated = w
            .call(
                "POST",
                "/v1/validate/payments.settled",
                &[("authorization", &format!("Bearer {key}"))],
                Some(ORDER),
            )
            .await;
        assert_eq!(validated.status, 403, "{validated:?}");

        let anonymous = w
            .call("POST", "/v1/events/orders.placed", &[], Some(ORDER))
            .await;
        assert_eq!(anonymous.status, 401, "{anonymous:?}");
        assert_eq!(anonymous.problem_code(), "unauthenticated");
        assert!(anonymous.headers.contains_key("www-authenticate"));
        let forged = format!("trb_{}", "0".repeat(64));
        for bad in [forged.as_str(), "nonsense", ""] {
            let reply = w.publish(bad, "orders.placed").await;
            assert_eq!(reply.status, 401, "{bad:?}: {reply:?}");
        }
        assert_eq!(w.high_watermark("orders.placed").await, 1);

        // Confluent routes answer in Confluent's shape.
        let confluent = w.call("GET", "/subjects", &[], None).await;
        assert_eq!(confluent.status, 401);
        assert_eq!(confluent.body["error_code"], 40101);
    }

    pub(super) async fn revoked_and_rotated_keys(db: Database) {
        let w = world_on(db, AuthMode::Keys).await;
        let (first, first_id) = w.checkout(&["orders.placed"]).await;
        assert_eq!(w.publish(&first, "orders.placed").await.status, 200);

        let rotated = w
            .admin(
                "POST",
                &format!("/v1/producers/checkout/keys/{first_id}/rotate"),
                None,
            )
            .await;
        assert_eq!(rotated.status, 201, "{rotated:?}");
        assert_eq!(rotated.headers["cache-control"], "no-store");
        let second = rotated.body["key"]["key"].as_str().unwrap().to_owned();
        let second_id = rotated.body["key"]["id"].as_i64().unwrap();
        assert_eq!(w.publish(&second, "orders.placed").await.status, 200);
        assert_eq!(
            w.publish(&first, "orders.placed").await.status,
            401,
            "the old key no longer works"
        );

        // With a grace period the old key keeps working until it ends.
        let graced = w
            .admin(
                "POST",
                &format!("/v1/producers/checkout/keys/{second_id}/rotate?grace_seconds=3600"),
                None,
            )
            .await;
        assert_eq!(graced.status, 201, "{graced:?}");
        let third = graced.body["key"]["key"].as_str().unwrap().to_owned();
        assert_eq!(w.publish(&second, "orders.placed").await.status, 200);
        assert_eq!(w.publish(&third, "orders.placed").await.status, 200);

        let revoked = w
            .admin(
                "DELETE",
                &format!("/v1/producers/checkout/keys/{second_id}"),
                None,
            )
            .await;
        assert_eq!(revoked.status, 204, "{revoked:?}");
        assert_eq!(w.publish(&second, "orders.placed").await.status, 401);
        assert_eq!(w.publish(&third, "orders.placed").await.status, 200);
        let missing = w
            .admin("DELETE", "/v1/producers/checkout/keys/999", None)
            .await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.problem_code(), "not_found");

        let listed = w.admin("GET", "/v1/producers/checkout/keys", None).await;
        let live = listed.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["revoked_at_ms"].is_null())
            .count();
        assert_eq!(live, 1, "{listed:?}");
        let audit =
            w.db.audit_for(&[("producer", "checkout")], 10)
                .await
                .unwrap();
        let actions: Vec<_> = audit.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "producer.key.revoke",
                "producer.key.rotate",
                "producer.key.rotate",
                "producer.key.issue",
                "producer.create"
            ]
        );
    }

    pub(super) async fn glob_grants_and_basic_auth(db: Database) {
        let w = world_on(db, AuthMode::Keys).await;
        let (key, _) = w.checkout(&[]).await;
        assert_eq!(w.publish(&key, "orders.placed").await.status, 403);

        let bad = w
            .admin(
                "PUT",
                "/v1/producers/checkout/grants",
                Some(r#"{"grants": ["orders.*", "Payments"]}"#),
            )
            .await;
        assert_eq!(bad.status, 422, "{bad:?}");
        assert_eq!(bad.problem_code(), "unprocessable");

        let set = w
            .admin(
                "PUT",
                "/v1/producers/checkout/grants",
                Some(r#"{"grants": ["orders.*"]}"#),
            )
            .await;
        assert_eq!(set.status, 200, "{set:?}");
        assert_eq!(set.body["grants"], serde_json::json!(["orders.*"]));
        assert_eq!(w.publish(&key, "orders.placed").await.status, 200);
        assert_eq!(w.publish(&key, "payments.settled").await.status, 403);

        // Confluent clients: basic.auth.user.info = "<anything>:<key>".
        let basic = format!("Basic {}", base64(&format!("checkout:{key}")));
        let reply = w
            .call(
                "POST",
                "/v1/events/orders.cancelled",
                &[("authorization", &basic)],
                Some(ORDER),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }

    pub(super) async fn only_admins_and_owners_manage_producers(db: Database) {
        let w = world_on(db, AuthMode::Keys).await;
        let (key, id) = w.checkout(&["orders.placed"]).await;
        let bearer = format!("Bearer {key}");
        let as_producer = [("authorization", bearer.as_str())];
        let create = w
            .call(
                "POST",
                "/v1/producers",
                &as_producer,
                Some(r#"{"name": "other", "owner": "shop"}"#),
            )
            .await;
        assert_eq!(create.status, 403, "{create:?}");
        for (method, path) in [
            ("POST", String::from("/v1/producers/checkout/keys")),
            ("POST", format!("/v1/producers/checkout/keys/{id}/rotate")),
            ("DELETE", format!("/v1/producers/checkout/keys/{id}")),
        ] {
            let reply = w.call(method, &path, &as_producer, None).await;
            assert_eq!(reply.status, 403, "{method} {path}: {reply:?}");
        }
        let grant = w
            .call(
                "PUT",
                "/v1/producers/checkout/grants",
                &as_producer,
                Some(r#"{"grants": ["*.*"]}"#),
            )
            .await;
        assert_eq!(grant.status, 403, "a producer cannot grant itself");

        let other = w
            .admin(
                "POST",
                "/v1/producers",
                Some(r#"{"name": "billing", "owner": "money"}"#),
            )
            .await;
        assert_eq!(other.status, 201);
        let seen = w.call("GET", "/v1/producers", &as_producer, None).await;
        assert_eq!(seen.status, 200);
        let names: Vec<_> = seen.body["producers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["checkout"], "a producer sees only itself");
        let all = w.admin("GET", "/v1/producers", None).await;
        assert_eq!(all.body["producers"].as_array().unwrap().len(), 2);
        let duplicate = w
            .admin(
                "POST",
                "/v1/producers",
                Some(r#"{"name": "billing", "owner": "money"}"#),
            )
            .await;
        assert_eq!(duplicate.status, 409);
        assert_eq!(
            w.admin("GET", "/v1/producers/nobody", None).await.status,
            404
        );
    }

    pub(super) async fn auth_off_trusts_headers(db: Database) {
        let w = world_on(db, AuthMode::Off).await;
        let team = [("tributary-principal", "team:shop")];
        let created = w
            .call(
                "POST",
                "/v1/producers",
                &team,
                Some(r#"{"name": "checkout", "owner": "shop"}"#),
            )
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.body["created_by"], "team:shop");
        let stranger = w
            .call(
                "POST",
                "/v1/producers/checkout/keys",
                &[("tributary-principal", "team:search")],
                None,
            )
            .await;
        assert_eq!(stranger.status, 403, "{stranger:?}");
        assert_eq!(stranger.problem_code(), "forbidden");

        // Publishing names the producer in a header, unauthenticated, with no grants needed.
        let published = w
            .call(
                "POST",
                "/v1/events/payments.settled",
                &[("tributary-producer", "checkout")],
                Some(ORDER),
            )
            .await;
        assert_eq!(published.status, 200, "{published:?}");
        let stored = common::read_all(w.log.as_ref(), "payments.settled").await;
        assert_eq!(
            common::header(&stored[0].1, tributary_core::headers::PRODUCER),
            "checkout"
        );
        assert_eq!(
            common::header(
                &stored[0].1,
                tributary_core::headers::PRODUCER_AUTHENTICATED
            ),
            "false",
            "with auth off the producer only named itself"
        );
    }
}

/// Standard base64 with padding, for HTTP Basic.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

macro_rules! producer_suite {
    ($backend:ident, $fresh:path $(, #[$meta:meta])*) => {
        mod $backend {
            use super::*;

            producer_suite!(@case $fresh, keys_are_shown_once_and_stored_hashed $(, #[$meta])*);
            producer_suite!(@case $fresh, keys_publish_only_granted_types $(, #[$meta])*);
            producer_suite!(@case $fresh, revoked_and_rotated_keys $(, #[$meta])*);
            producer_suite!(@case $fresh, glob_grants_and_basic_auth $(, #[$meta])*);
            producer_suite!(@case $fresh, only_admins_and_owners_manage_producers $(, #[$meta])*);
            producer_suite!(@case $fresh, auth_off_trusts_headers $(, #[$meta])*);
        }
    };
    (@case $fresh:path, $case:ident $(, #[$meta:meta])*) => {
        $(#[$meta])*
        #[tokio::test]
        async fn $case() {
            let scratch = $fresh().await;
            let db = scratch.db.clone();
            cases::$case(db).await;
        }
    };
}

producer_suite!(sqlite, scratch_sqlite);
producer_suite!(
    postgres,
    scratch_postgres,
    #[ignore = "needs PostgreSQL: set TRIBUTARY_TEST_DATABASE_URL (scripts/test-full does)"]
);
