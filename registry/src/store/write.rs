//! Writes: registration (ids and versions allocated under the registry's write lock) and
//! deletes. Every write transaction takes [`rows::lock`] first.

use sqlx::AnyConnection;

use crate::cache::SchemaId;
use crate::schema::ParsedSchema;

use super::rows;
use super::{
    DeletedFilter, Mode, NewSchema, RegisterOptions, Registry, RegistryError, VersionSpec,
};

/// How often a registration re-checks after another writer changed the subject meanwhile.
const ATTEMPTS: usize = 8;

impl Registry {
    /// Registers `new` under `subject` and returns its global id.
    ///
    /// Idempotent: a schema equal to a live version of the subject (by canonical form, or by
    /// normalized form with `normalize`) returns that version's id; a schema known under
    /// another subject keeps its id. Otherwise the subject's compatibility level is checked
    /// (409 with the reasons) and a new version is written. In IMPORT mode the given id and
    /// version are kept and nothing is checked.
    pub async fn register(
        &self,
        subject: &str,
        new: &NewSchema,
        options: RegisterOptions,
    ) -> Result<SchemaId, RegistryError> {
        let mode = self.writable_mode(subject).await?;
        if (options.id.is_some() || options.version.is_some()) && mode != Mode::Import {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is not in import mode; an id or version can only be given in IMPORT mode"
            )));
        }
        if let Some(id) = options.id
            && !(1..=i64::from(i32::MAX)).contains(&id)
        {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Schema id {id} is out of range: ids are between 1 and 2147483647"
            )));
        }
        let parsed = self.parse_new(new, options.normalize).await?;
        let fingerprint = parsed.fingerprint();
        for _ in 0..ATTEMPTS {
            let live = self.version_rows(subject, DeletedFilter::Exclude).await?;
            if options.version.is_none()
                && let Some(ids) = self
                    .id_by_fingerprint(&fingerprint, options.normalize)
                    .await?
                && let Some(same) = live
                    .iter()
                    .rev()
                    .find(|v| ids.contains(&i64::from(v.schema.id)))
                && options.id.is_none_or(|id| id == i64::from(same.schema.id))
            {
                return Ok(same.schema.id);
            }
            if mode != Mode::Import {
                let level = self.effective_compatibility(subject).await?;
                let mut previous = live.clone();
                if !level.is_transitive() && previous.len() > 1 {
                    previous.drain(..previous.len() - 1);
                }
                let messages = self
                    .incompatibilities(level, parsed.clone(), previous)
                    .await?;
                if !messages.is_empty() {
                    return Err(RegistryError::Incompatible {
                        subject: subject.to_string(),
                        messages,
                    });
                }
            }
            let snapshot: Vec<(i64, i64)> = live
                .iter()
                .map(|v| (i64::from(v.version), i64::from(v.schema.id)))
                .collect();
            if let Some(id) = self
                .commit_registration(subject, &parsed, options, &snapshot)
                .await?
            {
                self.cache.insert(id, parsed.compiled());
                return Ok(id);
            }
        }
        Err(RegistryError::Store(format!(
            "subject {subject:?} kept changing while registering; try again"
        )))
    }

    /// Writes the schema (if new) and the version in one transaction under the write lock;
    /// `None` when the subject's live versions are no longer `snapshot` (checked again by
    /// the caller).
    async fn commit_registration(
        &self,
        subject: &str,
        parsed: &ParsedSchema,
        options: RegisterOptions,
        snapshot: &[(i64, i64)],
    ) -> Result<Option<SchemaId>, RegistryError> {
        let mut tx = self.db.begin_write().await?;
        rows::lock(&mut tx).await?;
        if rows::live_versions(&mut tx, subject).await? != snapshot {
            return Ok(None);
        }
        let id = schema_id_for(&mut tx, parsed, options.id).await?;
        let version = match options.version {
            Some(version) => {
                let taken: Option<(i64,)> = sqlx::query_as(
                    "SELECT schema_id FROM registry_subject_versions WHERE subject = $1 AND version = $2",
                )
                .bind(subject)
                .bind(i64::from(version))
                .fetch_optional(&mut *tx)
                .await?;
                match taken {
                    Some((existing,)) if existing == id => {
                        tx.commit().await?;
                        return rows::schema_id(id).map(Some);
                    }
                    Some(_) => {
                        return Err(RegistryError::OperationNotPermitted(format!(
                            "Version {version} of subject {subject} is already registered with another schema"
                        )));
                    }
                    None => i64::from(version),
                }
            }
            None => {
                let (next,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM registry_subject_versions WHERE subject = $1",
                )
                .bind(subject)
                .fetch_one(&mut *tx)
                .await?;
                next
            }
        };
        if version > i64::from(i32::MAX) {
            return Err(RegistryError::Store(format!(
                "subject {subject:?} has run out of version numbers"
            )));
        }
        sqlx::query(
            "INSERT INTO registry_subject_versions (subject, version, schema_id, deleted, created_at_ms) \
             VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(subject)
        .bind(version)
        .bind(id)
        .bind(rows::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        rows::schema_id(id).map(Some)
    }

    /// Deletes one version: soft (it disappears from listings but keeps its number) or, once
    /// soft-deleted, permanently. Refused while a live schema references it.
    pub async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        self.writable_mode(subject).await?;
        let mut tx = self.db.begin_write().await?;
        rows::lock(&mut tx).await?;
        let all = all_versions(&mut tx, subject).await?;
        if all.is_empty() || (!permanent && all.iter().all(|(_, deleted)| *deleted)) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let target = match spec {
            VersionSpec::Latest => all.iter().rev().find(|(_, deleted)| permanent || !deleted),
            VersionSpec::Number(n) => all.iter().find(|(version, _)| *version == n),
        };
        let Some(&(version, deleted)) = target else {
            let VersionSpec::Number(n) = spec else {
                return Err(RegistryError::SubjectNotFound(subject.to_string()));
            };
            return Err(RegistryError::VersionNotFound(n));
        };
        let subject_owned = subject.to_string();
        match (permanent, deleted) {
            (false, true) => {
                return Err(RegistryError::VersionSoftDeleted {
                    subject: subject_owned,
                    version,
                });
            }
            (true, false) => {
                return Err(RegistryError::VersionNotSoftDeleted {
                    subject: subject_owned,
                    version,
                });
            }
            _ => {}
        }
        refuse_if_referenced(&mut tx, subject, version, None).await?;
        let sql = if permanent {
            "DELETE FROM registry_subject_versions WHERE subject = $1 AND version = $2"
        } else {
            "UPDATE registry_subject_versions SET deleted = 1 WHERE subject = $1 AND version = $2"
        };
        sqlx::query(sql)
            .bind(subject)
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Deletes a subject: soft (every live version) or, once soft-deleted, permanently
    /// (every version, and its settings). Returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        self.writable_mode(subject).await?;
        let mut tx = self.db.begin_write().await?;
        rows::lock(&mut tx).await?;
        let all = all_versions(&mut tx, subject).await?;
        if all.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let live: Vec<i32> = all.iter().filter(|(_, d)| !d).map(|(v, _)| *v).collect();
        if !permanent && live.is_empty() {
            return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
        }
        if permanent && !live.is_empty() {
            return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
        }
        let affected: Vec<i32> = if permanent {
            all.iter().map(|(v, _)| *v).collect()
        } else {
            live
        };
        for version in &affected {
            refuse_if_referenced(&mut tx, subject, *version, Some(subject)).await?;
        }
        let sql = if permanent {
            "DELETE FROM registry_subject_versions WHERE subject = $1"
        } else {
            "UPDATE registry_subject_versions SET deleted = 1 WHERE subject = $1 AND deleted = 0"
        };
        sqlx::query(sql).bind(subject).execute(&mut *tx).await?;
        if permanent {
            self.forget_settings(&mut tx, subject).await?;
        }
        tx.commit().await?;
        Ok(affected)
    }

    /// The subject's effective mode, refusing writes in READONLY (42205).
    async fn writable_mode(&self, subject: &str) -> Result<Mode, RegistryError> {
        let mode = self.subject_mode(subject, true).await?;
        if mode == Mode::ReadOnly {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        Ok(mode)
    }
}

/// The id for `parsed`: the existing one for its fingerprint, the requested one (IMPORT), or
/// the next one from the counter. Runs under the write lock.
async fn schema_id_for(
    conn: &mut AnyConnection,
    parsed: &ParsedSchema,
    wanted: Option<i64>,
) -> Result<i64, RegistryError> {
    let fingerprint = parsed.fingerprint();
    let existing: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM registry_schemas WHERE fingerprint = $1")
            .bind(&fingerprint)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((id,)) = existing {
        if let Some(wanted) = wanted
            && wanted != id
        {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Schema is already registered with id {id} instead of input id {wanted}"
            )));
        }
        return Ok(id);
    }
    let id = match wanted {
        Some(wanted) => {
            let used: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM registry_schemas WHERE id = $1")
                    .bind(wanted)
                    .fetch_optional(&mut *conn)
                    .await?;
            if used.is_some() {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Overwrite new schema with id {wanted} is not permitted."
                )));
            }
            sqlx::query(
                "UPDATE registry_counters SET value = CASE WHEN value < $1 THEN $1 ELSE value END \
                 WHERE name = 'schema_id'",
            )
            .bind(wanted)
            .execute(&mut *conn)
            .await?;
            wanted
        }
        None => {
            let (next,): (i64,) = sqlx::query_as(
                "UPDATE registry_counters SET value = value + 1 WHERE name = 'schema_id' RETURNING value",
            )
            .fetch_one(&mut *conn)
            .await?;
            if next > i64::from(i32::MAX) {
                return Err(RegistryError::Store(String::from(
                    "schema ids are exhausted (int32)",
                )));
            }
            next
        }
    };
    sqlx::query(
        "INSERT INTO registry_schemas (id, schema_type, schema_text, canonical_text, references_json, \
         fingerprint, normalized_fingerprint, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(parsed.schema_type().as_str())
    .bind(parsed.text())
    .bind(parsed.canonical())
    .bind(rows::references_to_json(parsed.references()))
    .bind(&fingerprint)
    .bind(parsed.normalized_fingerprint())
    .bind(rows::now_ms())
    .execute(&mut *conn)
    .await?;
    for (position, reference) in parsed.references().iter().enumerate() {
        sqlx::query(
            "INSERT INTO registry_schema_references (schema_id, position, name, subject, version) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(&reference.name)
        .bind(&reference.subject)
        .bind(i64::from(reference.version))
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// `(version, deleted)` of every row of `subject`, oldest first.
async fn all_versions(
    conn: &mut AnyConnection,
    subject: &str,
) -> Result<Vec<(i32, bool)>, RegistryError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, deleted FROM registry_subject_versions WHERE subject = $1 ORDER BY version",
    )
    .bind(subject)
    .fetch_all(conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (version, deleted) in rows {
        out.push((rows::version_number(version)?, deleted != 0));
    }
    Ok(out)
}

/// 42206 when a schema used by a live version (outside `except_subject`) references
/// `subject` at `version`.
async fn refuse_if_referenced(
    conn: &mut AnyConnection,
    subject: &str,
    version: i32,
    except_subject: Option<&str>,
) -> Result<(), RegistryError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM registry_schema_references r WHERE r.subject = $1 AND r.version = $2 \
         AND EXISTS (SELECT 1 FROM registry_subject_versions v WHERE v.schema_id = r.schema_id \
         AND v.deleted = 0 AND v.subject <> $3)",
    )
    .bind(subject)
    .bind(i64::from(version))
    .bind(except_subject.unwrap_or(""))
    .fetch_one(conn)
    .await?;
    if count > 0 {
        return Err(RegistryError::ReferenceExists {
            subject: subject.to_string(),
            version,
        });
    }
    Ok(())
}
