//! One table of a read-through cache: entries valid while the epoch they were read under is
//! current and for at most [`MAX_AGE`]. The account cache ([`super::accounts`]) and the
//! document cache ([`super::documents`]) are made of these.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Longest an entry is served without reading the database again.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// Most rows kept; a full cache is emptied (a flood of distinct valid tokens costs reads, not
/// memory).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub(crate) struct Entry<V> {
    value: V,
    epoch: u64,
    pub(crate) read_at: Instant,
}

/// One table of entries, each valid while the epoch it was read under is current and for at
/// most [`MAX_AGE`].
#[derive(Debug)]
pub(crate) struct Table<K, V>(pub(crate) RwLock<HashMap<K, Entry<V>>>);

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Table<K, V> {
    /// The entry read under `epoch`, if it is younger than [`MAX_AGE`] or `any_age`.
    pub(crate) fn get<Q>(&self, key: &Q, epoch: u64, any_age: bool) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        let e = map.get(key)?;
        (e.epoch == epoch && (any_age || e.read_at.elapsed() < MAX_AGE)).then(|| e.value.clone())
    }

    pub(crate) fn put(&self, key: K, value: V, epoch: u64) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let read_at = Instant::now();
        map.insert(
            key,
            Entry {
                value,
                epoch,
                read_at,
            },
        );
    }
}
