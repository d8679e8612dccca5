//! First start and every start: open the store, keys, seed policy, bootstrap admin, engine.

pub mod demo;

use std::collections::BTreeMap;

use base64::Engine as _;
use secrecy::ExposeSecret;

use crate::auth::accounts::NewAccount;
use crate::auth::domain::Password;
use crate::auth::keys::KeyRing;
use crate::auth::password::Hasher;
use crate::auth::ratelimit::RateLimiter;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engine::Engine;
use crate::policy::AttrValue;
use crate::policy::rule::RuleText;
use crate::policy::seed::{SEED_POLICY, parse_policy};
use crate::policy::username::Username;
use crate::state::{AppState, Inner};
use crate::store::{self, Db};

/// Name of the bootstrap admin.
pub const ADMIN_USERNAME: &str = "admin";

/// A started service.
#[derive(Debug)]
pub struct Started {
    /// The state to serve.
    pub state: AppState,
    /// The bootstrap admin's password, if it was generated just now (print it once).
    pub generated_admin_password: Option<String>,
    /// Whether the seed policy was loaded by this start.
    pub seeded: bool,
    /// Whether this start created the bootstrap admin.
    pub admin_created: bool,
}

/// Start-up failed; the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

fn err(what: &str) -> impl Fn(String) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// Opens and migrates the database, loads or creates the signing key, seeds an empty policy,
/// creates the bootstrap admin in an empty user table, and loads the policy.
pub async fn start(config: Config, clock: SharedClock) -> Result<Started, StartError> {
    let db = Db::connect(&config.database_url)
        .await
        .map_err(|e| err("database")(e.to_string()))?;
    let now = clock.now();
    let keys = KeyRing::load(
        &db,
        now,
        &config.issuer,
        &config.audience,
        config.signing_key.as_ref(),
        config.access_ttl,
    )
    .await
    .map_err(|e| err("signing keys")(e.to_string()))?;
    let hasher = Hasher::with_priority(
        hashing_permits(std::thread::available_parallelism().map_or(2, |n| n.get())),
        config.hashing,
    )
    .await
    .map_err(|e| err("password hasher")(e.to_string()))?;
    let seeded = seed_policy(&db, now).await?;
    let decisions = crate::decisions::DecisionLog::start(&config.decision_log)
        .map_err(|e| err("--decision-log")(e.to_string()))?;
    let engine = Engine::new(db.clone());
    // Trusted issuers' keys are read before the first request (each bounded by a timeout);
    // one that cannot be read is retried in the background and its tokens refused meanwhile.
    let federation = crate::auth::federation::Federation::new(config.federation.clone());
    federation.start().await;
    let state = AppState::new(Inner {
        federation,
        limiter: RateLimiter::new(config.login_limits, config.register_limits),
        metrics: crate::metrics::Metrics::new(engine.reloads()),
        decisions,
        engine,
        matrix_runs: crate::matrix::limits::RunGate::new(config.matrix_limits),
        config,
        db,
        keys,
        hasher,
        clock,
    });
    state.engine.set_shadow_rate(state.config.shadow_casbin);
    state.engine.set_path_case(state.config.path_matching.case);
    state
        .engine
        .deny_on_store_loss(state.config.on_store_loss == crate::config::OnStoreLoss::Deny);
    state.engine.set_max_staleness(state.config.max_staleness);
    if let Err(e) = state.engine.reload().await {
        // Serve anyway: every decision is a 503 until the policy is fixed, never an allow.
        tracing::error!(error = %e, "no policy could be loaded; all protected routes answer 503");
    }
    let (admin_created, generated_admin_password) = create_admin(&state).await?;
    if state.config.demo {
        crate::bootstrap::demo::seed(&state).await?;
    }
    Ok(Started {
        state,
        generated_admin_password,
        seeded,
        admin_created,
    })
}

/// Concurrent argon2 jobs on a machine with `cores` cores: one fewer than the cores, so a
/// burst of logins always leaves a core to the async runtime (at least one job).
pub fn hashing_permits(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

async fn seed_policy(db: &Db, now: i64) -> Result<bool, StartError> {
    let file = parse_policy(SEED_POLICY).map_err(|e| err("policies/policy.csv")(e.to_string()))?;
    let rules: Vec<RuleText> = file
        .rules
        .iter()
        .map(|r| RuleText { id: 0, ..r.text() })
        .collect();
    let pairs: Vec<(&str, &str, &str)> = file
        .assignments
        .iter()
        .map(|a| (a.member.as_str(), a.role.as_str(), a.domain.as_str()))
        .collect();
    let matrices = crate::matrix::seed::seed_matrices().map_err(err("the seed matrices"))?;
    store::policy::seed_if_never_seeded(db, &rules, &pairs, &matrices, now)
        .await
        .map_err(|e| err("seeding the policy")(e.to_string()))
}

fn random_password() -> Result<String, StartError> {
    let mut buf = [0u8; 18];
    getrandom::fill(&mut buf).map_err(|e| StartError(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

async fn create_admin(state: &AppState) -> Result<(bool, Option<String>), StartError> {
    if store::users::count(&state.db)
        .await
        .map_err(|e| err("users")(e.to_string()))?
        > 0
    {
        return Ok((false, None));
    }
    let (password, generated) = match &state.config.admin_password {
        Some(p) => (p.expose_secret().to_owned(), None),
        None => {
            let p = random_password()?;
            (p.clone(), Some(p))
        }
    };
    let password =
        Password::parse(&password).map_err(|e| StartError(format!("admin password: {e}")))?;
    let username = Username::parse(ADMIN_USERNAME).map_err(|e| StartError(e.into()))?;
    let attributes = BTreeMap::from([("clearance".to_owned(), AttrValue::Int(3))]);
    state
        .create_account(NewAccount {
            username: &username,
            password: Some(password),
            email: None,
            display_name: Some("Bootstrap administrator"),
            attributes: &attributes,
            role: "role:admin",
            created_by: None,
        })
        .await
        .map_err(|e| err("bootstrap admin")(e.to_string()))?;
    Ok((true, generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_leaves_a_core_to_the_runtime_but_never_stops() {
        for (cores, permits) in [(1, 1), (2, 1), (4, 3), (16, 15)] {
            assert_eq!(hashing_permits(cores), permits, "{cores} cores");
        }
    }
}
