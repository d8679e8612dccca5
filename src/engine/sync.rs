//! Keeping this instance current with the database it shares with other instances.
//!
//! Three mechanisms, from fastest to slowest, so that no missed message leaves an instance
//! stale for long: [`Engine::follow_changes`] applies the changes other instances announce
//! (Postgres `LISTEN`, milliseconds); [`Engine::watch_store`], the heartbeat, reads the
//! version every [`HEARTBEAT`] (reloading when it moved) and counts a read that takes longer
//! than [`HEARTBEAT_TIMEOUT`] as a lost store; and a request that names a minimum version
//! ([`Engine::catch_up`]) reads the database itself before it is answered (read-your-writes
//! across instances).
//!
//! The staleness bound: every successful read confirms the snapshot as current as of the
//! moment the read began. With `--on-store-loss deny`, a snapshot whose last confirmation is
//! older than `--max-staleness-ms` decides nothing (503), so a change committed at time t is
//! either applied or refused by every watching instance from t + the bound on, however the
//! database was lost (a clean stop, or a partition that drops packets without a reset). The
//! check on the decision path is one relaxed atomic load and one `Instant::now()`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{AuthzError, Engine};
use crate::store::notify::Change;

/// How often a request waiting for a newer policy version asks again a database that failed.
const CATCH_UP_STEP: Duration = Duration::from_millis(25);

/// How often the heartbeat ([`Engine::watch_store`]) reads the database's policy version.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// Longest one heartbeat read may take before the database counts as lost.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(500);
/// Default of `--max-staleness-ms`.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_millis(1000);

/// When the served snapshot was last confirmed current, and the bound on that age.
#[derive(Debug)]
pub(super) struct Staleness {
    /// Times are milliseconds since this instant.
    epoch: std::time::Instant,
    /// When the newest read that confirmed the snapshot began.
    confirmed_ms: AtomicU64,
    /// `--max-staleness-ms`.
    bound_ms: AtomicU64,
    /// The bound decisions obey: `u64::MAX` (none) until a heartbeat runs in deny mode.
    enforced_ms: AtomicU64,
    /// Whether the last check found the snapshot too old (to log the change once).
    stale: AtomicBool,
}

impl Default for Staleness {
    fn default() -> Self {
        Self {
            epoch: std::time::Instant::now(),
            confirmed_ms: AtomicU64::new(0),
            bound_ms: AtomicU64::new(millis(DEFAULT_MAX_STALENESS)),
            enforced_ms: AtomicU64::new(u64::MAX),
            stale: AtomicBool::new(false),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Staleness {
    /// Now, in milliseconds since the epoch.
    pub(super) fn now(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// A read that began at `began` (see [`Staleness::now`]) found the snapshot current.
    pub(super) fn confirm(&self, began: u64) {
        self.confirmed_ms.fetch_max(began, Ordering::Relaxed);
    }

    /// Milliseconds since the newest confirmation began.
    fn age(&self) -> u64 {
        self.now()
            .saturating_sub(self.confirmed_ms.load(Ordering::Relaxed))
    }

    /// The decision path: refused when the bound is enforced and the snapshot is older.
    pub(super) fn check(&self) -> Result<(), AuthzError> {
        let bound = self.enforced_ms.load(Ordering::Relaxed);
        if bound != u64::MAX && self.age() > bound {
            return Err(AuthzError::Unavailable);
        }
        Ok(())
    }
}

impl Engine {
    /// Applies the changes other instances announce, until the process ends (Postgres); returns
    /// at once on SQLite, where the periodic version check is the only mechanism.
    pub async fn follow_changes(&self) {
        let Some(mut changes) = self.db.subscribe() else {
            return;
        };
        loop {
            // A burst (registrations, a script) is drained first and applied once: the newest
            // version announced is what one read brings (registrations without compiling).
            let mut newest = None;
            let (mut accounts, mut resync) = (false, false);
            let mut next = Some(changes.next().await);
            while let Some(change) = next {
                match change {
                    Change::Policy(v) => newest = newest.max(Some(v)),
                    Change::Account(_) | Change::Session(_) => accounts = true,
                    Change::Resync => resync = true,
                }
                next = changes.buffered();
            }
            if accounts || resync {
                self.db.accounts().invalidate();
            }
            // A version written here is applied by its writer (a registration adds one
            // assignment without compiling again); a reload here would only race it. If the
            // writer fails, the heartbeat catches up.
            let behind = newest.is_some_and(|v| {
                self.served_version().is_none_or(|served| served < v) && !self.db.wrote_version(v)
            });
            if resync || behind {
                let _ = self.reload().await;
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
            // A database that does not answer (a partition) must not hold the request past
            // its wait.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let read = tokio::time::timeout(remaining, self.reload_unless_serving(min));
            if let Ok(Ok(v)) = read.await {
                return v >= min;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            tokio::time::sleep(CATCH_UP_STEP.min(deadline - now)).await;
        }
    }

    /// The heartbeat, until the process ends: reads the database's policy version every
    /// [`HEARTBEAT`] (reloading when it moved), and counts a read that fails or takes longer
    /// than [`HEARTBEAT_TIMEOUT`] as a lost store. From its start, with `--on-store-loss deny`,
    /// a snapshot not confirmed current for longer than `--max-staleness-ms` decides nothing;
    /// with `serve`, the loss is logged within the same bound and the snapshot keeps deciding.
    pub async fn watch_store(&self) {
        if self.deny_on_store_loss.load(Ordering::Relaxed) {
            let bound = self.staleness.bound_ms.load(Ordering::Relaxed);
            self.staleness.enforced_ms.store(bound, Ordering::Relaxed);
        }
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tokio::time::timeout(HEARTBEAT_TIMEOUT, self.reload())
                .await
                .is_err()
            {
                tracing::error!(
                    timeout_ms = millis(HEARTBEAT_TIMEOUT),
                    "the database did not answer the heartbeat in time"
                );
                self.store_reachable(false);
            }
            // Documents another instance sharing a SQLite file changed leave this one's cache.
            let _ = tokio::time::timeout(
                HEARTBEAT_TIMEOUT,
                crate::store::documents::sync_cache(&self.db),
            )
            .await;
            let age = self.staleness.age();
            let stale = age > self.staleness.bound_ms.load(Ordering::Relaxed);
            if self.staleness.stale.swap(stale, Ordering::Relaxed) != stale {
                if stale {
                    tracing::error!(
                        age_ms = age,
                        "the policy has not been confirmed current within --max-staleness-ms"
                    );
                } else {
                    tracing::warn!("the policy is confirmed current again");
                }
            }
        }
    }

    /// `--max-staleness-ms`: how old the last confirmation of the snapshot may be when a
    /// decision is made in `--on-store-loss deny` mode (enforced from [`Engine::watch_store`]).
    pub fn set_max_staleness(&self, bound: Duration) {
        self.staleness
            .bound_ms
            .store(millis(bound), Ordering::Relaxed);
    }

    /// `serve --on-store-loss deny`: while the database cannot be read, serve no decisions
    /// (503) instead of the last snapshot.
    pub fn deny_on_store_loss(&self, deny: bool) {
        self.deny_on_store_loss.store(deny, Ordering::Relaxed);
        self.db.accounts().serve_on_store_loss(!deny);
    }

    /// Records whether the last read of the policy version reached the database. A lost store
    /// in `--on-store-loss deny` mode unloads the snapshot (every decision is then a 503 until
    /// a reload succeeds); in `serve` mode it keeps the snapshot and lets cached accounts and
    /// sessions be served past their age, so callers seen before the loss keep being decided.
    pub(super) fn store_reachable(&self, reachable: bool) {
        let was = self.store_reachable.swap(reachable, Ordering::AcqRel);
        if was != reachable {
            if reachable {
                tracing::warn!("the database is reachable again");
            } else {
                tracing::error!("the database is unreachable");
            }
        }
        let deny = self.deny_on_store_loss.load(Ordering::Relaxed);
        self.db.accounts().serve_stale(!reachable && !deny);
        if !reachable && deny && self.current.load().is_some() {
            tracing::error!("--on-store-loss deny: every decision is refused until it is back");
            self.current.store(None);
        }
    }

    /// Whether the last read of the policy version reached the database.
    pub fn is_store_reachable(&self) -> bool {
        self.store_reachable.load(Ordering::Acquire)
    }
}
