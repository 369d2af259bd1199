//! The producer store: producers, keys and grants in SQL, and the cached key verifier.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tributary_core::{
    AuditEntry, Authenticated, Database, KeyVerifier, Principal, PrincipalKind, PublishGrants,
    VerifyFuture, check_grant_pattern, checked_party_name, now_ms, record_audit_in,
};

use super::error::ProducerError;

/// What every key starts with.
const KEY_SCHEME: &str = "trb_";
/// Random bytes in a key.
const KEY_BYTES: usize = 32;
/// Characters of a key: the scheme and the hex of the random bytes.
const KEY_LEN: usize = KEY_SCHEME.len() + 2 * KEY_BYTES;
/// Characters of a key kept as its human-readable prefix.
const PREFIX_LEN: usize = KEY_SCHEME.len() + 8;
/// Longest description accepted.
const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Most grants one producer may hold.
pub(crate) const MAX_GRANTS: usize = 100;
/// Longest rotation grace period.
pub(crate) const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most verified keys kept in the cache; past it the cache starts over.
const MAX_CACHED_KEYS: usize = 10_000;
/// The target kind of audit entries about producers.
const AUDIT_KIND: &str = "producer";

/// How the store behaves.
#[derive(Clone)]
pub struct ProducerOptions {
    /// How long a verified key is trusted without asking SQL again: the longest a revocation
    /// made on another instance takes to take effect.
    pub cache_ttl: Duration,
    /// The admin key (`TRIBUTARY_AUTH__ADMIN_KEY`). Only its SHA-256 is kept.
    pub admin_key: Option<String>,
}

impl fmt::Debug for ProducerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerOptions")
            .field("cache_ttl", &self.cache_ttl)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            cache_ttl: Duration::from_secs(10),
            admin_key: None,
        }
    }
}

/// A producer to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProducer {
    #[schema(
        example = "checkout",
        max_length = 100,
        pattern = "^[a-z0-9][a-z0-9_.-]*$"
    )]
    pub name: String,
    /// The owning team.
    #[schema(
        example = "orders",
        max_length = 100,
        pattern = "^[a-z0-9][a-z0-9_.-]*$"
    )]
    pub owner: String,
    #[serde(default)]
    pub description: String,
    /// Grants to start with.
    #[serde(default)]
    pub grants: Vec<String>,
}

/// A key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: i64,
    pub prefix: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

/// A freshly issued key: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    pub id: i64,
    pub producer: String,
    pub prefix: String,
    /// The whole key. It is not stored and cannot be shown again.
    pub key: String,
    pub created_at_ms: i64,
}

/// A producer as answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProducerView {
    pub name: String,
    pub owner: String,
    pub description: String,
    pub created_at_ms: i64,
    pub created_by: String,
    pub grants: Vec<String>,
}

/// The admin principal a valid admin key proves.
pub fn admin_principal() -> Principal {
    Principal {
        name: String::from("admin"),
        kind: PrincipalKind::Admin,
        authenticated: true,
    }
}

fn producer_principal(name: &str) -> Principal {
    Principal {
        name: format!("producer:{name}"),
        kind: PrincipalKind::Producer(name.to_owned()),
        authenticated: true,
    }
}

/// Lowercase hex SHA-256. Keys are 32 random bytes, so a fast hash is the right one: there is
/// no low-entropy secret to protect with a slow, salted hash, and verification stays cheap.
fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn new_key() -> String {
    let bytes: [u8; KEY_BYTES] = rand::random();
    let mut key = String::with_capacity(KEY_LEN);
    key.push_str(KEY_SCHEME);
    for byte in bytes {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Whether `key` has the shape of a producer key (checked before any SQL).
fn well_formed(key: &str) -> bool {
    key.len() == KEY_LEN
        && key.starts_with(KEY_SCHEME)
        && key[KEY_SCHEME.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks and normalises grant patterns: valid, sorted, without duplicates.
pub(crate) fn checked_grants(patterns: &[String]) -> Result<Vec<String>, ProducerError> {
    if patterns.len() > MAX_GRANTS {
        return Err(ProducerError::Invalid {
            field: String::from("grants"),
            reason: format!("at most {MAX_GRANTS} grants"),
        });
    }
    let mut out = BTreeSet::new();
    for (i, pattern) in patterns.iter().enumerate() {
        check_grant_pattern(pattern).map_err(|reason| ProducerError::Invalid {
            field: format!("grants[{i}]"),
            reason,
        })?;
        out.insert(pattern.clone());
    }
    Ok(out.into_iter().collect())
}

struct Cached {
    expires: Instant,
    found: Authenticated,
}

/// Producers, keys and grants, and the key verifier with its cache.
pub struct Producers {
    db: Database,
    cache_ttl: Duration,
    admin_sha256: Option<String>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl fmt::Debug for Producers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producers")
            .field("cache_ttl", &self.cache_ttl)
            .field("admin_key", &self.admin_sha256.is_some())
            .finish_non_exhaustive()
    }
}

type ProducerRow = (String, String, String, i64, String);
type KeyRow = (i64, String, i64, Option<i64>, Option<i64>);

impl Producers {
    pub fn new(db: Database, options: ProducerOptions) -> Producers {
        let ProducerOptions {
            cache_ttl,
            admin_key,
        } = options;
        Producers {
            db,
            cache_ttl,
            admin_sha256: admin_key.map(|key| sha256_hex(&key)),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every verified key, after a change that may revoke or narrow one.
    fn forget_keys(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Creates a producer (admins, or members of its owning team).
    pub async fn create(
        &self,
        who: &Principal,
        new: NewProducer,
    ) -> Result<ProducerView, ProducerError> {
        let invalid = |field: &str, reason: String| ProducerError::Invalid {
            field: field.to_owned(),
            reason,
        };
        checked_party_name(&new.name).map_err(|e| invalid("name", e.to_string()))?;
        checked_party_name(&new.owner).map_err(|e| invalid("owner", e.to_string()))?;
        if new.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(invalid(
                "description",
                format!("at most {MAX_DESCRIPTION_BYTES} bytes"),
            ));
        }
        let grants = checked_grants(&new.grants)?;
        if !who.acts_for(&new.owner) {
            return Err(ProducerError::Forbidden(format!(
                "{who} may not create producers owned by team {:?}",
                new.owner
            )));
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO producers (name, owner, description, created_at_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new.name.as_str())
        .bind(new.owner.as_str())
        .bind(new.description.as_str())
        .bind(now)
        .bind(who.name.as_str())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ProducerError::Conflict(format!(
                "producer {:?} already exists",
                new.name
            )));
        }
        for pattern in &grants {
            sqlx::query("INSERT INTO producer_grants (producer, pattern) VALUES ($1, $2)")
                .bind(new.name.as_str())
                .bind(pattern.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let view = ProducerView {
            name: new.name,
            owner: new.owner,
            description: new.description,
            created_at_ms: now,
            created_by: who.name.clone(),
            grants,
        };
        let entry = AuditEntry::now(who.name.as_str(), "producer.create", AUDIT_KIND, &view.name)
            .with_change(None, Some(json!(view)));
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Every producer, by name (only itself for a producer principal).
    pub async fn list(&self, who: &Principal) -> Result<Vec<ProducerView>, ProducerError> {
        let rows: Vec<ProducerRow> = sqlx::query_as(
            "SELECT name, owner, description, created_at_ms, created_by FROM producers ORDER BY name",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let PrincipalKind::Producer(own) = &who.kind
                && *own != row.0
            {
                continue;
            }
            let grants = self.grants_of(&row.0).await?;
            out.push(view_of(row, grants));
        }
        Ok(out)
    }

    /// One producer; a producer principal sees only itself.
    pub async fn describe(
        &self,
        who: &Principal,
        name: &str,
    ) -> Result<ProducerView, ProducerError> {
        if let PrincipalKind::Producer(own) = &who.kind
            && own != name
        {
            return Err(not_found(name));
        }
        let row: Option<ProducerRow> = sqlx::query_as(
            "SELECT name, owner, description, created_at_ms, created_by FROM producers WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        let row = row.ok_or_else(|| not_found(name))?;
        let grants = self.grants_of(name).await?;
        Ok(view_of(row, grants))
    }

    /// The producer, if `who` may manage it (admin or a member of its owning team).
    async fn managed(&self, who: &Principal, name: &str) -> Result<ProducerView, ProducerError> {
        let view = self.describe(who, name).await?;
        if !who.acts_for(&view.owner) {
            return Err(ProducerError::Forbidden(format!(
                "{who} may not manage producer {name:?}: it belongs to team {:?}",
                view.owner
            )));
        }
        Ok(view)
    }

    async fn grants_of(&self, name: &str) -> Result<Vec<String>, ProducerError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT pattern FROM producer_grants WHERE producer = $1 ORDER BY pattern",
        )
        .bind(name)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Replaces the producer's grants.
    pub async fn set_grants(
        &self,
        who: &Principal,
        name: &str,
        patterns: &[String],
    ) -> Result<Vec<String>, ProducerError> {
        let grants = checked_grants(patterns)?;
        let before = self.managed(who, name).await?.grants;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM producer_grants WHERE producer = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for pattern in &grants {
            sqlx::query("INSERT INTO producer_grants (producer, pattern) VALUES ($1, $2)")
                .bind(name)
                .bind(pattern.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let entry = AuditEntry::now(who.name.as_str(), "producer.grants", AUDIT_KIND, name)
            .with_change(
                Some(json!({ "grants": before })),
                Some(json!({ "grants": grants })),
            );
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        self.forget_keys();
        Ok(grants)
    }

    /// The producer's keys, newest first: prefixes only.
    pub async fn keys(&self, who: &Principal, name: &str) -> Result<Vec<KeyView>, ProducerError> {
        self.managed(who, name).await?;
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, prefix, created_at_ms, revoked_at_ms, last_used_at_ms FROM producer_keys \
             WHERE producer = $1 ORDER BY id DESC",
        )
        .bind(name)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, prefix, created_at_ms, revoked_at_ms, last_used_at_ms)| KeyView {
                    id,
                    prefix,
                    created_at_ms,
                    revoked_at_ms,
                    last_used_at_ms,
                },
            )
            .collect())
    }

    /// Issues a new key; the answer is the only place its secret ever appears.
    pub async fn issue_key(&self, who: &Principal, name: &str) -> Result<IssuedKey, ProducerError> {
        self.managed(who, name).await?;
        let mut tx = self.db.begin_write().await?;
        let issued = insert_key(&mut tx, name).await?;
        let entry = AuditEntry::now(who.name.as_str(), "producer.key.issue", AUDIT_KIND, name)
            .with_change(
                None,
                Some(json!({ "key_id": issued.id, "prefix": issued.prefix })),
            );
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Issues a new key and revokes key `id`, now or after `grace`.
    pub async fn rotate_key(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
        grace: Duration,
    ) -> Result<(IssuedKey, i64), ProducerError> {
        self.managed(who, name).await?;
        let grace_ms = i64::try_from(grace.min(MAX_GRACE).as_millis()).unwrap_or(0);
        let mut tx = self.db.begin_write().await?;
        let old: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT prefix, revoked_at_ms FROM producer_keys WHERE id = $1 AND producer = $2",
        )
        .bind(id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((old_prefix, revoked)) = old else {
            return Err(key_not_found(name, id));
        };
        let now = now_ms();
        if revoked.is_some_and(|at| at <= now) {
            return Err(ProducerError::Conflict(format!(
                "key {id} of producer {name:?} is already revoked; issue a new key instead"
            )));
        }
        let revoke_at = now + grace_ms;
        let revoke_at = revoked.map_or(revoke_at, |at| at.min(revoke_at));
        sqlx::query("UPDATE producer_keys SET revoked_at_ms = $1 WHERE id = $2")
            .bind(revoke_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let issued = insert_key(&mut tx, name).await?;
        let entry = AuditEntry::now(who.name.as_str(), "producer.key.rotate", AUDIT_KIND, name)
            .with_change(
                Some(json!({ "key_id": id, "prefix": old_prefix })),
                Some(json!({
                    "key_id": issued.id,
                    "prefix": issued.prefix,
                    "old_key_revoked_at_ms": revoke_at,
                })),
            );
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        self.forget_keys();
        Ok((issued, revoke_at))
    }

    /// Revokes key `id` now (a no-op on a key already revoked).
    pub async fn revoke_key(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
    ) -> Result<(), ProducerError> {
        self.managed(who, name).await?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let old: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT prefix, revoked_at_ms FROM producer_keys WHERE id = $1 AND producer = $2",
        )
        .bind(id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((prefix, revoked)) = old else {
            return Err(key_not_found(name, id));
        };
        if revoked.is_some_and(|at| at <= now) {
            return Ok(());
        }
        sqlx::query("UPDATE producer_keys SET revoked_at_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::now(who.name.as_str(), "producer.key.revoke", AUDIT_KIND, name)
            .with_change(
                Some(json!({ "key_id": id, "prefix": prefix })),
                Some(json!({ "key_id": id, "prefix": prefix, "revoked_at_ms": now })),
            );
        record_audit_in(&mut tx, &entry).await?;
        tx.commit().await?;
        self.forget_keys();
        Ok(())
    }

    /// Who `key` belongs to, from the cache or SQL.
    pub async fn verify_key(&self, key: &str) -> Result<Option<Authenticated>, String> {
        let hash = sha256_hex(key);
        if self.admin_sha256.as_deref() == Some(hash.as_str()) {
            return Ok(Some(Authenticated {
                principal: admin_principal(),
                grants: None,
            }));
        }
        if !well_formed(key) {
            return Ok(None);
        }
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&hash)
            && hit.expires > now
        {
            return Ok(Some(hit.found.clone()));
        }
        let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, producer, revoked_at_ms FROM producer_keys WHERE key_sha256 = $1",
        )
        .bind(hash.as_str())
        .fetch_optional(self.db.pool())
        .await
        .map_err(|e| e.to_string())?;
        let Some((id, producer, revoked)) = row else {
            return Ok(None);
        };
        let now_ms = now_ms();
        let mut ttl = self.cache_ttl;
        if let Some(at) = revoked {
            if at <= now_ms {
                return Ok(None);
            }
            // In a grace period: trust the cache no longer than the key lives.
            ttl = ttl.min(Duration::from_millis(
                u64::try_from(at - now_ms).unwrap_or(0),
            ));
        }
        let grants = self.grants_of(&producer).await.map_err(|e| e.to_string())?;
        if let Err(error) =
            sqlx::query("UPDATE producer_keys SET last_used_at_ms = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(self.db.pool())
                .await
        {
            tracing::warn!(%error, key_id = id, "cannot record when a key was last used");
        }
        let found = Authenticated {
            principal: producer_principal(&producer),
            grants: Some(PublishGrants::new(grants)),
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
            cache.insert(
                hash,
                Cached {
                    expires: now + ttl,
                    found: found.clone(),
                },
            );
        }
        Ok(Some(found))
    }
}

impl KeyVerifier for Producers {
    fn verify<'a>(&'a self, key: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.verify_key(key))
    }
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    producer: &str,
) -> Result<IssuedKey, ProducerError> {
    let key = new_key();
    let prefix = key[..PREFIX_LEN].to_owned();
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO producer_keys (producer, prefix, key_sha256, created_at_ms) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(producer)
    .bind(prefix.as_str())
    .bind(sha256_hex(&key))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(IssuedKey {
        id,
        producer: producer.to_owned(),
        prefix,
        key,
        created_at_ms: now,
    })
}

fn view_of(row: ProducerRow, grants: Vec<String>) -> ProducerView {
    let (name, owner, description, created_at_ms, created_by) = row;
    ProducerView {
        name,
        owner,
        description,
        created_at_ms,
        created_by,
        grants,
    }
}

fn not_found(name: &str) -> ProducerError {
    ProducerError::NotFound(format!("producer {name:?} does not exist"))
}

fn key_not_found(name: &str, id: i64) -> ProducerError {
    ProducerError::NotFound(format!("producer {name:?} has no key {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let key = new_key();
        assert!(well_formed(&key), "{key}");
        assert_ne!(key, new_key());
        assert!(!well_formed("trb_short"));
        assert!(!well_formed(&key.to_uppercase()));
        assert_eq!(sha256_hex("abc").len(), 64);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn grants_are_checked_and_sorted() {
        let grants = checked_grants(&["b.*".into(), "a.x".into(), "b.*".into()]).unwrap();
        assert_eq!(grants, ["a.x", "b.*"]);
        assert!(checked_grants(&["Bad".into()]).is_err());
    }
}
