//! A read-through cache of account rows for authentication, so a protected request does not
//! read its caller's row from the database.
//!
//! Freshness: every write to the `users` table in this process goes through
//! [`super::users`], whose writers hold an [`AccountsWrite`] guard; dropping it (after the
//! write committed) moves the epoch, and an entry read under an older epoch is a miss. A row
//! is read under the epoch taken *before* the read, so a write that commits during the read
//! leaves a stale entry that is never served. Changes made by another process (another
//! instance, `warden admin reset-password`) are seen within [`MAX_AGE`], the same bound as the
//! policy version poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::users::UserRow;

/// Longest an entry is served without reading the database again.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// Most rows kept; a full cache is emptied (a flood of distinct valid tokens costs reads, not
/// memory).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
struct Entry {
    row: Arc<UserRow>,
    epoch: u64,
    read_at: Instant,
}

/// The cache; one per database handle.
#[derive(Debug, Default)]
pub struct Accounts {
    epoch: AtomicU64,
    rows: RwLock<HashMap<i64, Entry>>,
}

impl Accounts {
    /// The current epoch: take it before reading a row to [`Accounts::put`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A fresh row for `id`, if one is cached.
    pub fn get(&self, id: i64) -> Option<Arc<UserRow>> {
        let rows = self.rows.read().unwrap_or_else(|p| p.into_inner());
        let e = rows.get(&id)?;
        (e.epoch == self.epoch() && e.read_at.elapsed() < MAX_AGE).then(|| e.row.clone())
    }

    /// Caches `row`, read under `epoch`.
    pub fn put(&self, row: Arc<UserRow>, epoch: u64) {
        let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
        if rows.len() >= MAX_ENTRIES {
            rows.clear();
        }
        rows.insert(
            row.id,
            Entry {
                row,
                epoch,
                read_at: Instant::now(),
            },
        );
    }

    /// Marks the start of a write to accounts; the epoch moves when the guard is dropped.
    pub fn write(self: &Arc<Self>) -> AccountsWrite {
        AccountsWrite(self.clone())
    }
}

/// Held by a writer of the `users` table; moves the epoch on drop (after the commit, and on
/// every error path too).
#[derive(Debug)]
pub struct AccountsWrite(Arc<Accounts>);

impl Drop for AccountsWrite {
    fn drop(&mut self) {
        self.0.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Arc<UserRow> {
        Arc::new(UserRow {
            id,
            username: "u".into(),
            username_key: "u".into(),
            email: None,
            display_name: None,
            password_hash: String::new(),
            disabled: false,
            token_generation: 0,
            attributes: Default::default(),
            scopes: Vec::new(),
        })
    }

    #[test]
    fn a_row_read_before_a_write_is_never_served_after_it() {
        let cache = Arc::new(Accounts::default());
        let epoch = cache.epoch();
        drop(cache.write()); // a write commits while the row is being read
        cache.put(row(1), epoch);
        assert!(cache.get(1).is_none());
    }

    #[test]
    fn a_row_read_after_the_last_write_is_served() {
        let cache = Arc::new(Accounts::default());
        drop(cache.write());
        cache.put(row(1), cache.epoch());
        assert_eq!(cache.get(1).map(|r| r.id), Some(1));
        assert!(cache.get(2).is_none());
        drop(cache.write());
        assert!(
            cache.get(1).is_none(),
            "any account write empties the cache"
        );
    }
}
