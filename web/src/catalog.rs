//! The catalog's search index kept current: each event type becomes a
//! [`CatalogDocument`] — name, owner, description, tags, the fields of its latest schema, the
//! producers the quality history saw in the last week, its quality band over the last day —
//! and the index follows every change within a second by reading the audit log, which every
//! event-type and schema change writes. Following the shared database (not this process's
//! own changes) keeps every instance's index current when several serve one catalog.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tributary_core::{Database, now_ms};
use tributary_quality::{History, RuleService};
use tributary_registry::{
    CatalogDocument, CatalogIndex, EventTypeError, EventTypes, QualityBand, SearchField,
};

/// How far back a follower looks again on every pass: entries whose transactions committed
/// after a later one still show up.
const OVERLAP_MS: i64 = 5_000;
/// Producers seen within this window are listed.
const PRODUCERS_WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// The quality band is the mean score over this window.
const QUALITY_WINDOW_MS: i64 = 24 * 3_600_000;
/// Most changed targets taken per pass.
const MAX_CHANGES_PER_PASS: u32 = 1_000;

/// Why the catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("metadata database: {0}")]
    Store(String),
    #[error("search index: {0}")]
    Index(String),
}

/// When the follower looks for changes and refreshes everything.
#[derive(Debug, Clone, Copy)]
pub struct CatalogOptions {
    /// How often the audit log is read for changes: 500 ms.
    pub follow_interval: Duration,
    /// How often every document is rebuilt (producers and quality bands move with traffic,
    /// not with audited changes): 5 minutes.
    pub refresh_interval: Duration,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            follow_interval: Duration::from_millis(500),
            refresh_interval: Duration::from_secs(300),
        }
    }
}

/// Builds catalog documents from the registry and the quality history.
#[derive(Clone)]
pub struct CatalogFeed {
    db: Database,
    event_types: EventTypes,
    rules: RuleService,
    history: History,
    index: CatalogIndex,
}

impl std::fmt::Debug for CatalogFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFeed").finish_non_exhaustive()
    }
}

impl CatalogFeed {
    pub fn new(
        db: Database,
        event_types: EventTypes,
        rules: RuleService,
        history: History,
        index: CatalogIndex,
    ) -> CatalogFeed {
        CatalogFeed {
            db,
            event_types,
            rules,
            history,
            index,
        }
    }

    pub fn index(&self) -> &CatalogIndex {
        &self.index
    }

    /// Replaces the whole index with the live event types; their count.
    pub async fn rebuild(&self) -> Result<usize, CatalogError> {
        let now = now_ms();
        let listed = self.event_types.list(None, None).await.map_err(store)?;
        let context = Context::load(&self.history, None, now).await?;
        let mut docs = Vec::with_capacity(listed.len());
        for view in listed {
            let name = view.event_type.name.as_str().to_owned();
            if let Some(doc) = self.document(&name, &context).await? {
                docs.push(doc);
            }
        }
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.rebuild(docs))
            .await
            .map_err(|e| CatalogError::Index(e.to_string()))?
            .map_err(|e| CatalogError::Index(e.to_string()))
    }

    /// Brings the documents of `names` up to date (removing the deleted ones).
    pub async fn refresh(&self, names: &BTreeSet<String>) -> Result<(), CatalogError> {
        let now = now_ms();
        for name in names {
            let context = Context::load(&self.history, Some(name), now).await?;
            let index = self.index.clone();
            let update = match self.document(name, &context).await? {
                Some(doc) => tokio::task::spawn_blocking(move || index.upsert(doc)).await,
                None => {
                    let name = name.clone();
                    tokio::task::spawn_blocking(move || index.remove(&name)).await
                }
            };
            update
                .map_err(|e| CatalogError::Index(e.to_string()))?
                .map_err(|e| CatalogError::Index(e.to_string()))?;
        }
        Ok(())
    }

    /// The event types the audit log says changed at or after `since_ms`, and the newest
    /// change's time.
    pub async fn changed_since(&self, since_ms: i64) -> Result<HashMap<String, i64>, CatalogError> {
        let targets = self
            .db
            .audit_targets_since(since_ms, MAX_CHANGES_PER_PASS)
            .await
            .map_err(store)?;
        let mut names: HashMap<String, i64> = HashMap::new();
        for (kind, target, at_ms) in targets {
            let name = match kind.as_str() {
                "event_type" => target,
                "subject" => match self.event_types.name_of_subject(&target) {
                    Some(name) => name.as_str().to_owned(),
                    None => continue,
                },
                _ => continue,
            };
            let seen = names.entry(name).or_insert(at_ms);
            *seen = (*seen).max(at_ms);
        }
        Ok(names)
    }

    /// The document of `name`, or `None` when no live event type has that name.
    async fn document(
        &self,
        name: &str,
        context: &Context,
    ) -> Result<Option<CatalogDocument>, CatalogError> {
        let found = match self.event_types.get(name).await {
            Ok(found) if found.deleted_at_ms.is_none() => found,
            Ok(_) | Err(EventTypeError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(store(error)),
        };
        // A schema that cannot be listed leaves the type searchable by everything else.
        let fields = match self.rules.fields(name).await {
            Ok(fields) => fields,
            Err(error) => {
                tracing::warn!(event_type = name, %error, "cannot list the schema's fields for the catalog");
                Vec::new()
            }
        };
        Ok(Some(CatalogDocument {
            name: name.to_owned(),
            owner: found.owner,
            description: found.description,
            tags: found.tags,
            fields: fields
                .into_iter()
                .map(|f| SearchField {
                    path: f.pointer,
                    doc: f.doc,
                })
                .collect(),
            producers: context.producers.get(name).cloned().unwrap_or_default(),
            quality_band: context.bands.get(name).copied(),
        }))
    }
}

/// What the quality history says about the types being indexed.
struct Context {
    producers: HashMap<String, Vec<String>>,
    bands: HashMap<String, QualityBand>,
}

impl Context {
    async fn load(
        history: &History,
        event_type: Option<&str>,
        now: i64,
    ) -> Result<Context, CatalogError> {
        let mut producers: HashMap<String, Vec<String>> = HashMap::new();
        for seen in history
            .producers(event_type, now - PRODUCERS_WINDOW_MS)
            .await
            .map_err(store)?
        {
            producers
                .entry(seen.event_type)
                .or_default()
                .push(seen.producer);
        }
        let mut bands = HashMap::new();
        let from = now - QUALITY_WINDOW_MS;
        match event_type {
            Some(name) => {
                let report = history.report(name, from, now, None).await.map_err(store)?;
                if let Some(score) = report.totals.mean_score {
                    bands.insert(name.to_owned(), QualityBand::from_score(score));
                }
            }
            None => {
                let overview = history.overview(from, now, 100_000).await.map_err(store)?;
                for quality in overview.event_types {
                    if let Some(score) = quality.mean_score {
                        bands.insert(quality.event_type, QualityBand::from_score(score));
                    }
                }
            }
        }
        Ok(Context { producers, bands })
    }
}

fn store(error: impl std::fmt::Display) -> CatalogError {
    CatalogError::Store(error.to_string())
}

/// The follower's background task.
#[derive(Debug)]
pub struct CatalogTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl CatalogTask {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// Rebuilds the index from SQL (at start, and every `refresh_interval`) and follows the audit
/// log in between. Searches are answered from the previous contents while a rebuild runs.
pub fn spawn_catalog(feed: CatalogFeed, options: CatalogOptions) -> CatalogTask {
    let (stop, mut stopped) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut since = now_ms() - OVERLAP_MS;
        let mut done: HashMap<String, i64> = HashMap::new();
        let mut refresh = tokio::time::interval(options.refresh_interval);
        let mut follow = tokio::time::interval(options.follow_interval);
        follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = refresh.tick() => {
                    let started = now_ms();
                    match feed.rebuild().await {
                        Ok(count) => {
                            tracing::debug!(event_types = count, "catalog index rebuilt");
                            since = since.min(started - OVERLAP_MS);
                        }
                        Err(error) => tracing::warn!(%error, "cannot rebuild the catalog index"),
                    }
                }
                _ = follow.tick() => {
                    let changed = match feed.changed_since(since).await {
                        Ok(changed) => changed,
                        Err(error) => {
                            tracing::warn!(%error, "cannot read the audit log for catalog changes");
                            continue;
                        }
                    };
                    // Each change once: the overlap shows recent ones again on later passes.
                    let fresh: BTreeSet<String> = changed
                        .iter()
                        .filter(|(name, at)| done.get(*name).is_none_or(|seen| seen < *at))
                        .map(|(name, _)| name.clone())
                        .collect();
                    if let Err(error) = feed.refresh(&fresh).await {
                        tracing::warn!(%error, "cannot update the catalog index");
                        continue;
                    }
                    if let Some(newest) = changed.values().max() {
                        since = since.max(newest - OVERLAP_MS);
                    }
                    done.extend(changed);
                    done.retain(|_, at| *at >= since);
                }
            }
        }
    });
    CatalogTask { stop, handle }
}
