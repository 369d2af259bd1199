//! The catalog search index: one tantivy document per event type, searched by name,
//! description, field paths and docs, tags, owner and producers, with prefix and typo
//! tolerance and facet counts for owner, tag and quality band.
//!
//! The index is a cache of the catalog in SQL: [`CatalogIndex::open`] wipes an index it
//! cannot read or that an older version wrote, and says so through
//! [`CatalogIndex::needs_rebuild`]; the caller then feeds [`CatalogIndex::rebuild`].
//!
//! Changes ([`CatalogIndex::upsert`], [`CatalogIndex::remove`]) go to the writer at once and
//! are committed by a background thread [`COMMIT_DELAY`] after the first uncommitted change,
//! so a burst of changes costs one commit and every change is searchable within a second.
//! [`CatalogIndex::flush`] commits now. All methods block (tantivy does I/O and CPU work):
//! async callers run them on a blocking pool.

mod model;
mod query;
mod schema;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tantivy::collector::{Count, FacetCollector, FacetCounts, TopDocs};
use tantivy::schema::{Facet, Value};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Term};

pub use model::{
    CatalogDocument, DEFAULT_SEARCH_LIMIT, Facets, QualityBand, SearchField, SearchHit,
    SearchRequest, SearchResults,
};

use schema::Fields;

/// Hits per page at most; larger limits are clamped.
pub const MAX_SEARCH_LIMIT: usize = 100;
/// Pages start at most this far in; a larger offset gives no hits (totals and facets stay).
pub const MAX_SEARCH_OFFSET: usize = 10_000;
/// How long after the first uncommitted change the background thread commits.
pub const COMMIT_DELAY: Duration = Duration::from_millis(200);
/// How long the background committer waits before trying a failed commit again.
const COMMIT_RETRY: Duration = Duration::from_secs(1);
/// Facet values reported per facet at most (highest counts first).
pub const MAX_FACET_VALUES: usize = 100;

/// The file beside the index that says which schema version wrote it and that a rebuild
/// completed.
const STAMP_FILE: &str = "tributary-catalog.stamp";
/// The writer's indexing memory (one indexing thread).
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// Why the search index failed. Bad query text is never an error.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("search index document: {0}")]
    Document(#[from] serde_json::Error),
    #[error("search index: the background committer could not start: {0}")]
    Committer(std::io::Error),
}

/// The catalog search index. Cheap to clone; all clones share one index, one writer and one
/// background committer, which stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct CatalogIndex {
    inner: Arc<Inner>,
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// Where the stamp goes; `None` in memory.
    dir: Option<PathBuf>,
    needs_rebuild: AtomicBool,
    pending: Arc<Pending>,
}

/// Shared between the index and its committer thread.
#[derive(Debug, Default)]
struct Pending {
    state: Mutex<PendingState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct PendingState {
    /// When the oldest uncommitted change was made.
    dirty_since: Option<Instant>,
    shutdown: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("dir", &self.dir)
            .field("needs_rebuild", &self.needs_rebuild)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.pending.state).shutdown = true;
        self.pending.wake.notify_all();
    }
}

/// A poisoned lock only means another thread panicked mid-call; the writer and the flags
/// are still consistent (tantivy rolls back uncommitted work on its own terms).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CatalogIndex {
    /// Opens the index in `dir`, creating it if missing. The directory belongs to the index:
    /// if what is there cannot be opened, or was written by another schema version,
    /// everything in it is deleted and an empty index created ([`Self::needs_rebuild`]).
    pub fn open(dir: &Path) -> Result<CatalogIndex, SearchError> {
        let io = |source| SearchError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let stamp = fs::read_to_string(dir.join(STAMP_FILE)).ok();
        let (expected, _) = schema::build();
        let existing = match stamp.as_deref() {
            // Another version's index: not worth reading.
            Some(stamp) if stamp.trim() != schema::SCHEMA_VERSION => None,
            _ => Index::open_in_dir(dir)
                .ok()
                .filter(|index| index.schema() == expected),
        };
        let (index, wiped) = match existing {
            Some(index) => (index, false),
            None => {
                wipe(dir).map_err(io)?;
                let (schema, _) = schema::build();
                (Index::create_in_dir(dir, schema)?, true)
            }
        };
        let stamped = !wiped && stamp.is_some();
        if wiped {
            tracing::info!(dir = %dir.display(), "catalog search index created empty; it needs a rebuild");
        }
        CatalogIndex::start(&index, Some(dir.to_owned()), !stamped)
    }

    /// An index in memory (tests, benchmarks, single-run tools). Starts empty.
    pub fn in_memory() -> Result<CatalogIndex, SearchError> {
        let (schema, _) = schema::build();
        CatalogIndex::start(&Index::create_in_ram(schema), None, true)
    }

    fn start(
        index: &Index,
        dir: Option<PathBuf>,
        needs_rebuild: bool,
    ) -> Result<CatalogIndex, SearchError> {
        schema::register_tokenizer(index);
        let (_, fields) = schema::build();
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let pending = Arc::new(Pending::default());
        let inner = Arc::new(Inner {
            fields,
            reader,
            writer: Mutex::new(writer),
            dir,
            needs_rebuild: AtomicBool::new(needs_rebuild),
            pending: Arc::clone(&pending),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("catalog-index-commit".to_owned())
            .spawn(move || run_committer(&pending, &weak))
            .map_err(SearchError::Committer)?;
        Ok(CatalogIndex { inner })
    }

    /// True when the index was created empty or wiped on open, or no rebuild has completed
    /// since (no stamp). False after a successful [`Self::rebuild`].
    pub fn needs_rebuild(&self) -> bool {
        self.inner.needs_rebuild.load(Ordering::Acquire)
    }

    /// Replaces everything in the index with `docs` in one commit; returns how many were
    /// indexed. A name given twice keeps the last document.
    pub fn rebuild(
        &self,
        docs: impl IntoIterator<Item = CatalogDocument>,
    ) -> Result<usize, SearchError> {
        let fields = &self.inner.fields;
        let mut writer = lock(&self.inner.writer);
        let outcome = (|| {
            // Uncommitted changes would survive `delete_all_documents`; the rebuild replaces
            // them too.
            writer.rollback()?;
            writer.delete_all_documents()?;
            let mut count = 0;
            for doc in docs {
                writer.delete_term(Term::from_field_text(fields.name_key, &doc.name));
                writer.add_document(schema::to_tantivy(fields, &doc)?)?;
                count += 1;
            }
            writer.commit()?;
            Ok::<usize, SearchError>(count)
        })();
        let count = match outcome {
            Ok(count) => count,
            Err(err) => {
                // Leave the index as it was before the rebuild began.
                let _ = writer.rollback();
                return Err(err);
            }
        };
        lock(&self.inner.pending.state).dirty_since = None;
        self.inner.reader.reload()?;
        drop(writer);
        if let Some(dir) = &self.inner.dir {
            fs::write(dir.join(STAMP_FILE), schema::SCHEMA_VERSION).map_err(|source| {
                SearchError::Io {
                    path: dir.clone(),
                    source,
                }
            })?;
        }
        self.inner.needs_rebuild.store(false, Ordering::Release);
        Ok(count)
    }

    /// Adds or replaces the event type `doc.name`; searchable within [`COMMIT_DELAY`] plus
    /// the commit's own time (or at once after [`Self::flush`]).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the caller hands the document over, as with rebuild"
    )]
    pub fn upsert(&self, doc: CatalogDocument) -> Result<(), SearchError> {
        let fields = &self.inner.fields;
        let document = schema::to_tantivy(fields, &doc)?;
        let writer = lock(&self.inner.writer);
        writer.delete_term(Term::from_field_text(fields.name_key, &doc.name));
        writer.add_document(document)?;
        drop(writer);
        self.mark_dirty();
        Ok(())
    }

    /// Removes the event type `name` (nothing happens if it is not indexed).
    pub fn remove(&self, name: &str) -> Result<(), SearchError> {
        let writer = lock(&self.inner.writer);
        writer.delete_term(Term::from_field_text(self.inner.fields.name_key, name));
        drop(writer);
        self.mark_dirty();
        Ok(())
    }

    /// Commits every change made so far and makes it searchable now.
    pub fn flush(&self) -> Result<(), SearchError> {
        self.inner.commit()
    }

    fn mark_dirty(&self) {
        let mut state = lock(&self.inner.pending.state);
        if state.dirty_since.is_none() {
            state.dirty_since = Some(Instant::now());
            self.inner.pending.wake.notify_all();
        }
    }

    /// Searches the committed index. Any query text is accepted: it is split into terms,
    /// never parsed as query syntax.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        let fields = &self.inner.fields;
        let searcher = self.inner.reader.searcher();
        let (query, has_text) = query::build(fields, request);
        let limit = request.limit.min(MAX_SEARCH_LIMIT);
        let offset = request.offset;
        let page = limit > 0 && offset < MAX_SEARCH_OFFSET;
        // TopDocs wants a limit of at least one; an empty page asks for one and drops it.
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset.min(MAX_SEARCH_OFFSET));
        let facets = (
            facet_collector("owner_facet"),
            facet_collector("tag_facet"),
            facet_collector("quality_facet"),
        );
        let (total, addresses, (owners, tags, quality)) = if has_text {
            let (total, top, facets) =
                searcher.search(&query, &(Count, top.order_by_score(), facets))?;
            (total, top, facets)
        } else {
            let by_name = top.order_by_string_fast_field("name_key", Order::Asc);
            let (total, top, facets) = searcher.search(&query, &(Count, by_name, facets))?;
            let top: Vec<(f32, DocAddress)> =
                top.into_iter().map(|(_, address)| (0.0, address)).collect();
            (total, top, facets)
        };
        let mut hits = Vec::new();
        if page {
            for (score, address) in addresses {
                let stored: tantivy::TantivyDocument = searcher.doc(address)?;
                let source = stored
                    .get_first(fields.source)
                    .and_then(|value| value.as_str())
                    .unwrap_or("{}");
                let doc: CatalogDocument = serde_json::from_str(source)?;
                hits.push(SearchHit {
                    matched: query::matched(&doc, &request.q),
                    name: doc.name,
                    owner: doc.owner,
                    description: doc.description,
                    score,
                });
            }
        }
        Ok(SearchResults {
            total,
            hits,
            facets: Facets {
                owners: facet_values(&owners),
                tags: facet_values(&tags),
                quality: facet_values(&quality),
            },
        })
    }
}

impl Inner {
    fn commit(&self) -> Result<(), SearchError> {
        let mut writer = lock(&self.writer);
        lock(&self.pending.state).dirty_since = None;
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }
}

fn facet_collector(field: &str) -> FacetCollector {
    let mut collector = FacetCollector::for_field(field);
    collector.add_facet(Facet::root());
    collector
}

fn facet_values(counts: &FacetCounts) -> Vec<(String, usize)> {
    let mut values: Vec<(String, usize)> = counts
        .get(Facet::root())
        .filter_map(|(facet, count)| {
            let value = facet.to_path().last()?.to_string();
            Some((value, usize::try_from(count).unwrap_or(usize::MAX)))
        })
        .collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    values.truncate(MAX_FACET_VALUES);
    values
}

/// Deletes everything inside `dir` (not `dir` itself).
fn wipe(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// The background committer: waits for a change, lets [`COMMIT_DELAY`] pass so a burst
/// becomes one commit, commits and reloads. Exits when the index is dropped.
fn run_committer(pending: &Pending, index: &Weak<Inner>) {
    let mut state = lock(&pending.state);
    loop {
        if state.shutdown {
            return;
        }
        let Some(since) = state.dirty_since else {
            state = pending
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            continue;
        };
        let due = since + COMMIT_DELAY;
        let now = Instant::now();
        if now < due {
            state = pending
                .wake
                .wait_timeout(state, due - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
            continue;
        }
        drop(state);
        let Some(inner) = index.upgrade() else { return };
        let failed = inner.commit().err();
        drop(inner);
        state = lock(&pending.state);
        if let Some(err) = failed {
            // Try again a second later (one warning a second at most while it keeps failing).
            tracing::warn!(error = %err, "catalog search index commit failed; retrying in 1 s");
            state
                .dirty_since
                .get_or_insert(Instant::now() + COMMIT_RETRY);
        }
    }
}
