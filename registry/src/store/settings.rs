//! Compatibility levels and modes, global (scope `''`) and per subject.

use crate::compat::CompatibilityLevel;

use super::{Mode, Registry, RegistryError};

/// The scope of the global settings row; subjects are never empty.
const GLOBAL: &str = "";

/// Which of the two settings.
#[derive(Debug, Clone, Copy)]
enum Setting {
    Compatibility,
    Mode,
}

impl Setting {
    fn column(self) -> &'static str {
        match self {
            Setting::Compatibility => "compatibility",
            Setting::Mode => "mode",
        }
    }
}

impl Registry {
    async fn setting(
        &self,
        scope: &str,
        setting: Setting,
    ) -> Result<Option<String>, RegistryError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(&format!(
            "SELECT {} FROM registry_settings WHERE scope = $1",
            setting.column()
        ))
        .bind(scope)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.and_then(|(value,)| value))
    }

    async fn put_setting(
        &self,
        scope: &str,
        setting: Setting,
        value: Option<&str>,
    ) -> Result<(), RegistryError> {
        let column = setting.column();
        sqlx::query(&format!(
            "INSERT INTO registry_settings (scope, {column}) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET {column} = excluded.{column}"
        ))
        .bind(scope)
        .bind(value.map(str::to_string))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The global compatibility level (BACKWARD unless set).
    pub async fn global_compatibility(&self) -> Result<CompatibilityLevel, RegistryError> {
        match self.setting(GLOBAL, Setting::Compatibility).await? {
            Some(level) => Ok(parse_level(&level)?),
            None => Ok(CompatibilityLevel::Backward),
        }
    }

    /// The subject's own level; with `default_to_global` the global one when it has none,
    /// otherwise 40408.
    pub async fn subject_compatibility(
        &self,
        subject: &str,
        default_to_global: bool,
    ) -> Result<CompatibilityLevel, RegistryError> {
        match self.setting(subject, Setting::Compatibility).await? {
            Some(level) => parse_level(&level),
            None if default_to_global => self.global_compatibility().await,
            None => Err(RegistryError::SubjectCompatibilityNotConfigured(
                subject.to_string(),
            )),
        }
    }

    /// The level registrations under `subject` are checked at.
    pub async fn effective_compatibility(
        &self,
        subject: &str,
    ) -> Result<CompatibilityLevel, RegistryError> {
        self.subject_compatibility(subject, true).await
    }

    /// Sets the level of `subject`, or the global one when `subject` is `None`.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        let scope = subject.unwrap_or(GLOBAL);
        self.put_setting(scope, Setting::Compatibility, Some(level.as_str()))
            .await
    }

    /// Removes the level of `subject` (or resets the global one); returns the level that
    /// applied before.
    pub async fn delete_compatibility(
        &self,
        subject: Option<&str>,
    ) -> Result<CompatibilityLevel, RegistryError> {
        let Some(subject) = subject else {
            let before = self.global_compatibility().await?;
            self.put_setting(GLOBAL, Setting::Compatibility, None)
                .await?;
            return Ok(before);
        };
        let own = self.setting(subject, Setting::Compatibility).await?;
        if own.is_none() && !self.subject_exists(subject).await? {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let before = self.effective_compatibility(subject).await?;
        self.put_setting(subject, Setting::Compatibility, None)
            .await?;
        Ok(before)
    }

    /// The global mode (READWRITE unless set).
    pub async fn global_mode(&self) -> Result<Mode, RegistryError> {
        match self.setting(GLOBAL, Setting::Mode).await? {
            Some(mode) => mode.parse(),
            None => Ok(Mode::ReadWrite),
        }
    }

    /// The subject's own mode; with `default_to_global` the global one when it has none,
    /// otherwise 40409.
    pub async fn subject_mode(
        &self,
        subject: &str,
        default_to_global: bool,
    ) -> Result<Mode, RegistryError> {
        match self.setting(subject, Setting::Mode).await? {
            Some(mode) => mode.parse(),
            None if default_to_global => self.global_mode().await,
            None => Err(RegistryError::SubjectModeNotConfigured(subject.to_string())),
        }
    }

    /// Sets the mode of `subject` (or the global one). Switching to IMPORT where schemas
    /// already exist needs `force`, as in Confluent.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<(), RegistryError> {
        if mode == Mode::Import && !force {
            let occupied = match subject {
                Some(subject) => self.subject_exists(subject).await?,
                None => {
                    let (count,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM registry_subject_versions")
                            .fetch_one(self.db.pool())
                            .await?;
                    count > 0
                }
            };
            if occupied {
                return Err(RegistryError::OperationNotPermitted(String::from(
                    "Cannot import since found existing subjects",
                )));
            }
        }
        self.put_setting(
            subject.unwrap_or(GLOBAL),
            Setting::Mode,
            Some(mode.as_str()),
        )
        .await
    }

    /// Removes the mode of `subject`; returns the mode that applied before.
    pub async fn delete_mode(&self, subject: &str) -> Result<Mode, RegistryError> {
        let own = self.setting(subject, Setting::Mode).await?;
        if own.is_none() && !self.subject_exists(subject).await? {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let before = self.subject_mode(subject, true).await?;
        self.put_setting(subject, Setting::Mode, None).await?;
        Ok(before)
    }

    /// Whether `subject` has any version, live or soft-deleted.
    pub(super) async fn subject_exists(&self, subject: &str) -> Result<bool, RegistryError> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM registry_subject_versions WHERE subject = $1")
                .bind(subject)
                .fetch_one(self.db.pool())
                .await?;
        Ok(count > 0)
    }

    /// Forgets a subject's settings (after it is permanently deleted).
    pub(super) async fn forget_settings(
        &self,
        conn: &mut sqlx::AnyConnection,
        subject: &str,
    ) -> Result<(), RegistryError> {
        sqlx::query("DELETE FROM registry_settings WHERE scope = $1")
            .bind(subject)
            .execute(conn)
            .await?;
        Ok(())
    }
}

fn parse_level(text: &str) -> Result<CompatibilityLevel, RegistryError> {
    Ok(text.parse::<CompatibilityLevel>()?)
}
