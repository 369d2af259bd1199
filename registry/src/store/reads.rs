//! Reads: subjects, versions, schemas by id, lookups and compatibility checks.

use crate::cache::SchemaId;

use super::rows::{self, SCHEMA_SELECT, SchemaRow, VERSION_SELECT, VersionRow};
use super::{
    CompatibilityReport, DeletedFilter, NewSchema, Registry, RegistryError, StoredSchema,
    SubjectVersion, VersionSpec,
};

impl Registry {
    /// The schema stored under `id`, whether or not a subject still uses it (for the
    /// validator cache: data written with it stays readable).
    pub(super) async fn schema_row(&self, id: SchemaId) -> Result<StoredSchema, RegistryError> {
        let row: Option<SchemaRow> = sqlx::query_as(&format!("{SCHEMA_SELECT} WHERE s.id = $1"))
            .bind(i64::from(id))
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(row) => rows::stored_schema(row),
            None => Err(RegistryError::SchemaNotFound(i64::from(id))),
        }
    }

    /// One row of a subject, soft-deleted or not.
    pub(super) async fn version_row(
        &self,
        subject: &str,
        version: i32,
    ) -> Result<Option<SubjectVersion>, RegistryError> {
        let row: Option<VersionRow> = sqlx::query_as(&format!(
            "{VERSION_SELECT} WHERE v.subject = $1 AND v.version = $2"
        ))
        .bind(subject)
        .bind(i64::from(version))
        .fetch_optional(self.db.pool())
        .await?;
        row.map(rows::subject_version).transpose()
    }

    /// Every version of `subject`, oldest first, filtered by deletion.
    pub(super) async fn version_rows(
        &self,
        subject: &str,
        filter: DeletedFilter,
    ) -> Result<Vec<SubjectVersion>, RegistryError> {
        let rows: Vec<VersionRow> = sqlx::query_as(&format!(
            "{VERSION_SELECT} WHERE v.subject = $1 ORDER BY v.version"
        ))
        .bind(subject)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let version = rows::subject_version(row)?;
            if keep(filter, version.deleted) {
                out.push(version);
            }
        }
        Ok(out)
    }

    /// A schema by id, as `GET /schemas/ids/{id}` shows it: only while some subject version
    /// (live or soft-deleted) uses it.
    pub async fn schema_by_id(&self, id: i64) -> Result<StoredSchema, RegistryError> {
        let row: Option<SchemaRow> = sqlx::query_as(&format!(
            "{SCHEMA_SELECT} WHERE s.id = $1 AND EXISTS \
             (SELECT 1 FROM registry_subject_versions v WHERE v.schema_id = s.id)"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => rows::stored_schema(row),
            None => Err(RegistryError::SchemaNotFound(id)),
        }
    }

    /// `(subject, version)` pairs using schema `id`.
    pub async fn versions_of_schema(
        &self,
        id: i64,
        deleted: bool,
    ) -> Result<Vec<(String, i32)>, RegistryError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT subject, version, deleted FROM registry_subject_versions \
             WHERE schema_id = $1 ORDER BY subject, version",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?;
        if rows.is_empty() {
            return Err(RegistryError::SchemaNotFound(id));
        }
        let mut out = Vec::new();
        for (subject, version, is_deleted) in rows {
            if deleted || is_deleted == 0 {
                out.push((subject, rows::version_number(version)?));
            }
        }
        Ok(out)
    }

    /// Subjects using schema `id`.
    pub async fn subjects_of_schema(
        &self,
        id: i64,
        deleted: bool,
    ) -> Result<Vec<String>, RegistryError> {
        let mut subjects: Vec<String> = self
            .versions_of_schema(id, deleted)
            .await?
            .into_iter()
            .map(|(subject, _)| subject)
            .collect();
        subjects.dedup();
        Ok(subjects)
    }

    /// Subject names, sorted. A subject is deleted when all its versions are.
    pub async fn subjects(
        &self,
        prefix: &str,
        filter: DeletedFilter,
    ) -> Result<Vec<String>, RegistryError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT subject, COUNT(*), CAST(SUM(deleted) AS BIGINT) FROM registry_subject_versions \
             GROUP BY subject ORDER BY subject",
        )
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(subject, total, deleted)| {
                subject.starts_with(prefix) && keep(filter, total == deleted)
            })
            .map(|(subject, _, _)| subject)
            .collect())
    }

    /// Version numbers of `subject`; 40401 when it has none to show.
    pub async fn versions(
        &self,
        subject: &str,
        filter: DeletedFilter,
    ) -> Result<Vec<i32>, RegistryError> {
        let all = self.version_rows(subject, DeletedFilter::Include).await?;
        if all.is_empty() || (filter == DeletedFilter::Exclude && all.iter().all(|v| v.deleted)) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        Ok(all
            .into_iter()
            .filter(|v| keep(filter, v.deleted))
            .map(|v| v.version)
            .collect())
    }

    /// The latest live version of `subject`.
    pub async fn latest(&self, subject: &str) -> Result<SubjectVersion, RegistryError> {
        self.version(subject, VersionSpec::Latest, false).await
    }

    /// One version of `subject`; soft-deleted ones only with `include_deleted`.
    pub async fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let filter = if include_deleted {
            DeletedFilter::Include
        } else {
            DeletedFilter::Exclude
        };
        let mut all = self.version_rows(subject, filter).await?;
        if all.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        match spec {
            VersionSpec::Latest => all
                .pop()
                .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string())),
            VersionSpec::Number(n) => all
                .into_iter()
                .find(|v| v.version == n)
                .ok_or(RegistryError::VersionNotFound(n)),
        }
    }

    /// Every version of every subject with `prefix` (only the latest of each with
    /// `latest_only`), ordered by subject and version.
    pub async fn schemas(
        &self,
        prefix: &str,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<SubjectVersion>, RegistryError> {
        let rows: Vec<VersionRow> =
            sqlx::query_as(&format!("{VERSION_SELECT} ORDER BY v.subject, v.version"))
                .fetch_all(self.db.pool())
                .await?;
        let mut out: Vec<SubjectVersion> = Vec::new();
        for row in rows {
            let version = rows::subject_version(row)?;
            if !version.subject.starts_with(prefix) || (version.deleted && !deleted) {
                continue;
            }
            if latest_only
                && let Some(last) = out.last_mut()
                && last.subject == version.subject
            {
                *last = version;
                continue;
            }
            out.push(version);
        }
        Ok(out)
    }

    /// Ids of the schemas (used by a live version) that reference `subject` at `spec`.
    pub async fn referenced_by(
        &self,
        subject: &str,
        spec: VersionSpec,
    ) -> Result<Vec<SchemaId>, RegistryError> {
        let target = self.version(subject, spec, false).await?;
        let ids: Vec<i64> = sqlx::query_as::<_, (i64,)>(
            "SELECT DISTINCT r.schema_id FROM registry_schema_references r \
             WHERE r.subject = $1 AND r.version = $2 AND EXISTS (SELECT 1 FROM \
             registry_subject_versions v WHERE v.schema_id = r.schema_id AND v.deleted = 0) \
             ORDER BY r.schema_id",
        )
        .bind(subject)
        .bind(i64::from(target.version))
        .fetch_all(self.db.pool())
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        ids.into_iter().map(rows::schema_id).collect()
    }

    /// The version of `subject` holding `new` (`POST /subjects/{subject}`): 40401 for an
    /// unknown subject, 40403 when the schema is not registered under it.
    pub async fn lookup(
        &self,
        subject: &str,
        new: &NewSchema,
        normalize: bool,
        deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let filter = if deleted {
            DeletedFilter::Include
        } else {
            DeletedFilter::Exclude
        };
        let versions = self.version_rows(subject, filter).await?;
        if versions.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let parsed = self.parse_new(new, normalize).await?;
        let ids = self
            .id_by_fingerprint(&parsed.fingerprint(), normalize)
            .await?
            .unwrap_or_default();
        let found = versions
            .into_iter()
            .rev()
            .find(|v| ids.contains(&i64::from(v.schema.id)));
        found.ok_or(RegistryError::SchemaNotRegistered)
    }

    /// Ids whose schema has this fingerprint (or, normalizing, this normalized fingerprint).
    pub(super) async fn id_by_fingerprint(
        &self,
        fingerprint: &str,
        normalized: bool,
    ) -> Result<Option<Vec<i64>>, RegistryError> {
        let sql = if normalized {
            "SELECT id FROM registry_schemas WHERE normalized_fingerprint = $1 OR fingerprint = $1"
        } else {
            "SELECT id FROM registry_schemas WHERE fingerprint = $1"
        };
        let ids: Vec<(i64,)> = sqlx::query_as(sql)
            .bind(fingerprint)
            .fetch_all(self.db.pool())
            .await?;
        if ids.is_empty() {
            return Ok(None);
        }
        Ok(Some(ids.into_iter().map(|(id,)| id).collect()))
    }

    /// Whether `new` is compatible with `subject` at its effective level: against one
    /// version (`against`), or against the versions the level names (the latest, or every
    /// live one when transitive).
    pub async fn check_compatibility(
        &self,
        subject: &str,
        against: Option<VersionSpec>,
        new: &NewSchema,
        normalize: bool,
    ) -> Result<CompatibilityReport, RegistryError> {
        let level = self.effective_compatibility(subject).await?;
        let previous = match against {
            Some(spec) => vec![self.version(subject, spec, false).await?],
            None => {
                let mut live = self.version_rows(subject, DeletedFilter::Exclude).await?;
                if !level.is_transitive() && live.len() > 1 {
                    live.drain(..live.len() - 1);
                }
                live
            }
        };
        let parsed = self.parse_new(new, normalize).await?;
        let messages = self.incompatibilities(level, parsed, previous).await?;
        Ok(CompatibilityReport {
            is_compatible: messages.is_empty(),
            messages,
        })
    }
}

fn keep(filter: DeletedFilter, deleted: bool) -> bool {
    match filter {
        DeletedFilter::Exclude => !deleted,
        DeletedFilter::Include => true,
        DeletedFilter::Only => deleted,
    }
}
