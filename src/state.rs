//! The one state type shared by every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::keys::KeyRing;
use crate::auth::password::Hasher;
use crate::auth::ratelimit::RateLimiter;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engine::Engine;
use crate::matrix::limits::RunGate;
use crate::store::Db;

/// Everything a request may need. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Validated configuration.
    pub config: Config,
    /// Database handle.
    pub db: Db,
    /// Decision engine.
    pub engine: Engine,
    /// Token keys.
    pub keys: KeyRing,
    /// Password hasher.
    pub hasher: Hasher,
    /// Login and registration rate limits.
    pub limiter: RateLimiter,
    /// Time source.
    pub clock: SharedClock,
    /// Admission (size, concurrency, deadline) of matrix runs through the API.
    pub matrix_runs: RunGate,
    /// Prometheus series (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// The decision log and its in-memory ring.
    pub decisions: crate::decisions::DecisionLog,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// Current Unix time from the injected clock.
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
