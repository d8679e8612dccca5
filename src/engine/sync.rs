//! Keeping this instance current with the database it shares with other instances.
//!
//! Three mechanisms, from fastest to slowest, so that no missed message leaves an instance
//! stale for long: [`Engine::follow_changes`] applies the changes other instances announce
//! (Postgres `LISTEN`, milliseconds); [`Engine::reload`], called every
//! [`crate::POLICY_POLL`], compares versions and notices a lost store; and a request that
//! names a minimum version ([`Engine::catch_up`]) reads the database itself before it is
//! answered (read-your-writes across instances).

use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use crate::store::notify::Change;

/// How often a request waiting for a newer policy version asks again a database that failed.
const CATCH_UP_STEP: Duration = Duration::from_millis(25);

impl Engine {
    /// Applies the changes other instances announce, until the process ends (Postgres); returns
    /// at once on SQLite, where the periodic version check is the only mechanism.
    pub async fn follow_changes(&self) {
        let Some(mut changes) = self.db.subscribe() else {
            return;
        };
        loop {
            match changes.next().await {
                Change::Policy(v) => {
                    // A version written here is applied by its writer (a registration adds
                    // one assignment without compiling again); a reload here would only race
                    // it. If the writer fails, the periodic version check catches up.
                    if self.served_version().is_none_or(|served| served < v)
                        && !self.db.wrote_version(v)
                    {
                        let _ = self.reload().await;
                    }
                }
                Change::Account(_) | Change::Session(_) => self.db.accounts().invalidate(),
                Change::Resync => {
                    self.db.accounts().invalidate();
                    let _ = self.reload().await;
                }
            }
        }
    }

    /// The version of the snapshot served now, if any.
    pub fn served_version(&self) -> Option<i64> {
        self.current.load().as_ref().map(|s| s.version)
    }

    /// Waits until this instance serves policy version `min` or newer: reads the database
    /// at once (not waiting for an announcement), and again every few milliseconds while that
    /// read fails. False (the caller answers 503 `policy_stale`) when the database itself is
    /// behind `min` (a version nobody has written: no waiting, so a made-up version costs one
    /// read), or when `wait` runs out.
    pub async fn catch_up(&self, min: i64, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.served_version().is_some_and(|v| v >= min) {
                return true;
            }
            if let Ok(v) = self.reload_unless_serving(min).await {
                return v >= min;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            tokio::time::sleep(CATCH_UP_STEP.min(deadline - now)).await;
        }
    }

    /// `serve --on-store-loss deny`: while the database cannot be read, serve no decisions
    /// (503) instead of the last snapshot.
    pub fn deny_on_store_loss(&self, deny: bool) {
        self.deny_on_store_loss
            .store(deny, std::sync::atomic::Ordering::Relaxed);
        self.db.accounts().serve_on_store_loss(!deny);
    }

    /// Records whether the last read of the policy version reached the database. A lost store
    /// in `--on-store-loss deny` mode unloads the snapshot (every decision is then a 503 until
    /// a reload succeeds); in `serve` mode it keeps the snapshot and lets cached accounts and
    /// sessions be served past their age, so callers seen before the loss keep being decided.
    pub(super) fn store_reachable(&self, reachable: bool) {
        let was = self
            .store_reachable
            .swap(reachable, std::sync::atomic::Ordering::AcqRel);
        if was != reachable {
            if reachable {
                tracing::warn!("the database is reachable again");
            } else {
                tracing::error!("the database is unreachable");
            }
        }
        let deny = self
            .deny_on_store_loss
            .load(std::sync::atomic::Ordering::Relaxed);
        self.db.accounts().serve_stale(!reachable && !deny);
        if !reachable && deny && self.current.load().is_some() {
            tracing::error!("--on-store-loss deny: every decision is refused until it is back");
            self.current.store(None);
        }
    }

    /// Whether the last read of the policy version reached the database.
    pub fn is_store_reachable(&self) -> bool {
        self.store_reachable
            .load(std::sync::atomic::Ordering::Acquire)
    }
}
