//! The validator cache: compiled schemas by schema id, compiled once and shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use crate::compiled::CompiledSchema;

/// A schema id as Confluent hands it out (a positive int32; stored unsigned here because the
/// wire format carries 4 unsigned bytes).
pub type SchemaId = u32;

/// Compiled schemas by id, bounded in size, least-recently-used evicted first.
///
/// A hit takes a read lock and bumps an atomic counter: no parsing, no allocation, no I/O.
/// A miss runs the caller's loader under a per-id lock, so concurrent callers of the same id
/// compile it once; a failed load is not cached (the next caller tries again).
#[derive(Debug)]
pub struct ValidatorCache {
    capacity: usize,
    entries: RwLock<HashMap<SchemaId, Arc<Entry>>>,
    clock: AtomicU64,
    compilations: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entry {
    compiled: OnceLock<Arc<CompiledSchema>>,
    loading: Mutex<()>,
    last_used: AtomicU64,
}

impl ValidatorCache {
    /// A cache holding at most `capacity` compiled schemas (at least one).
    pub fn new(capacity: usize) -> ValidatorCache {
        ValidatorCache {
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
            clock: AtomicU64::new(0),
            compilations: AtomicUsize::new(0),
        }
    }

    /// The compiled schema for `id` if it is cached.
    pub fn get(&self, id: SchemaId) -> Option<Arc<CompiledSchema>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(&id)?;
        let compiled = entry.compiled.get()?;
        entry.last_used.store(self.tick(), Ordering::Relaxed);
        Some(Arc::clone(compiled))
    }

    /// The compiled schema for `id`, calling `load` (which fetches and parses the schema,
    /// e.g. `|| Ok(ParsedSchema::parse(..)?.compiled())`) only when it is not cached yet.
    /// Concurrent callers for the same id wait for the first one instead of loading again.
    pub fn get_or_compile<E>(
        &self,
        id: SchemaId,
        load: impl FnOnce() -> Result<Arc<CompiledSchema>, E>,
    ) -> Result<Arc<CompiledSchema>, E> {
        if let Some(hit) = self.get(id) {
            return Ok(hit);
        }
        let entry = {
            let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(entries.entry(id).or_default())
        };
        let guard = entry.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(compiled) = entry.compiled.get() {
            return Ok(Arc::clone(compiled));
        }
        let compiled = match load() {
            Ok(compiled) => compiled,
            Err(error) => {
                drop(guard);
                self.forget_empty(id);
                return Err(error);
            }
        };
        self.compilations.fetch_add(1, Ordering::Relaxed);
        entry.last_used.store(self.tick(), Ordering::Relaxed);
        let _ = entry.compiled.set(Arc::clone(&compiled));
        drop(guard);
        self.evict();
        Ok(compiled)
    }

    /// Puts an already compiled schema in the cache (e.g. right after registration).
    pub fn insert(&self, id: SchemaId, compiled: Arc<CompiledSchema>) {
        let entry = Entry::default();
        entry.last_used.store(self.tick(), Ordering::Relaxed);
        let _ = entry.compiled.set(compiled);
        {
            let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            entries.insert(id, Arc::new(entry));
        }
        self.evict();
    }

    /// Drops `id` (e.g. after a hard delete).
    pub fn remove(&self, id: SchemaId) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.remove(&id);
    }

    /// How many compiled schemas are cached.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .values()
            .filter(|e| e.compiled.get().is_some())
            .count()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times a loader succeeded (for tests and metrics).
    pub fn compilations(&self) -> usize {
        self.compilations.load(Ordering::Relaxed)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn forget_empty(&self, id: SchemaId) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(&id)
            && entry.compiled.get().is_none()
            && Arc::strong_count(entry) == 1
        {
            entries.remove(&id);
        }
    }

    /// Evicts least-recently-used compiled entries until at most `capacity` remain. Entries
    /// still loading are never evicted.
    fn evict(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        loop {
            let mut loaded = 0usize;
            let mut oldest: Option<(SchemaId, u64)> = None;
            for (id, entry) in entries.iter() {
                if entry.compiled.get().is_none() {
                    continue;
                }
                loaded += 1;
                let used = entry.last_used.load(Ordering::Relaxed);
                if oldest.is_none_or(|(_, t)| used < t) {
                    oldest = Some((*id, used));
                }
            }
            if loaded <= self.capacity {
                return;
            }
            match oldest {
                Some((id, _)) => {
                    entries.remove(&id);
                }
                None => return,
            }
        }
    }
}

impl Default for ValidatorCache {
    /// A cache of 10,000 compiled schemas.
    fn default() -> Self {
        ValidatorCache::new(10_000)
    }
}
