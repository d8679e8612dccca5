//! The one state type shared by every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::accounts;
use crate::auth::keys::KeyRing;
use crate::auth::password::Hasher;
use crate::auth::ratelimit::RateLimiter;
use crate::auth::sessions::Grants;
use crate::auth::tokens::{Issuer, Lifetimes};
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
    /// Trusted external OIDC issuers (`--oidc-config`) and their keys.
    pub federation: crate::auth::federation::Federation,
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

    /// What issuing tokens needs, now.
    pub fn issuer(&self) -> Issuer<'_> {
        Issuer {
            keys: &self.keys,
            lifetimes: Lifetimes {
                access: self.config.access_ttl,
                refresh: self.config.refresh_ttl,
                session_max: self.config.session_max,
            },
            db: &self.db,
            now: self.now(),
        }
    }

    /// Creates an account ([`accounts::create_user`]) and brings the live policy to the
    /// version its role assignment made, so the account's first request is decided with it.
    /// Returns the account and that version.
    pub async fn create_account(
        &self,
        new: accounts::NewAccount<'_>,
    ) -> Result<accounts::Created, accounts::AccountError> {
        let created = accounts::create_user(&self.db, &self.hasher, self.now(), new).await?;
        if let Err(e) = self
            .engine
            .add_assignment(created.policy_version, created.assignment.clone())
            .await
        {
            tracing::error!(error = %e, "policy update after registration failed");
        }
        Ok(created)
    }

    /// What the OAuth2 grants need, now.
    pub fn grants(&self) -> Grants<'_> {
        Grants {
            issuer: self.issuer(),
            hasher: &self.hasher,
            limiter: &self.limiter,
        }
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
