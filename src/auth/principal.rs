//! Who is calling: a verified access token plus the user's current row. Reading the token
//! out of a request is the HTTP layer's part (`http::guard`).

use std::borrow::Cow;
use std::sync::Arc;

use super::federation::{Federation, Identity};
use super::keys::{Claims, KeyRing};
use crate::policy::Subject;
use crate::store::accounts::AccountKind;
use crate::store::{self, Db, StoreError, users::UserRow};

/// An authenticated caller. Attributes, scopes held and the disabled flag come from the
/// account cache (fresh after every account write in this process), roles from the policy;
/// only the user id, scopes and generation come from the token, and the scopes only as far
/// as the user may still request them.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's current row (shared with the account cache: no copy per request).
    pub user: Arc<UserRow>,
    /// Effective scopes: those granted to the presented token that the user still holds.
    pub scopes: Vec<String>,
    /// The verified claims (for a federated caller: those of a Warden token, made from the
    /// federated one, with no session).
    pub claims: Claims,
    /// Set when the token came from a trusted external issuer: who it names there, and the
    /// roles it carries.
    pub federated: Option<Arc<Identity>>,
    /// [`Principal::subject`], built on first use: the route guard and the handler's object
    /// checks share one (the principal travels from the guard to the handler). The fields it
    /// is made of are set when the principal is built and never changed afterwards.
    subject: std::sync::OnceLock<Subject>,
}

impl Principal {
    /// The casbin subject for this caller, in the token's tenant. A federated caller holds
    /// the roles their token carries on top of any the policy assigns to their principal.
    pub fn subject(&self) -> &Subject {
        self.subject.get_or_init(|| {
            let mut subject = self.user.subject(self.scopes.clone());
            subject.tenant.clone_from(&self.claims.tid);
            if let Some(f) = &self.federated {
                subject.roles = f.roles.clone();
            }
            subject
        })
    }

    /// The tenant every decision for this caller is made in (the token's `tid`; for a
    /// federated token, its issuer's tenant claim or fixed tenant, else `default`).
    pub fn tenant(&self) -> &str {
        &self.claims.tid
    }

    /// A federated caller with no local account: nothing of theirs is stored (no password,
    /// no sessions), so account endpoints refuse them.
    pub fn is_federated(&self) -> bool {
        self.federated.is_some()
    }
}

/// A verified bearer token: Warden's own, or a trusted issuer's.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Issued by this Warden.
    Local(Claims),
    /// Issued by a trusted external issuer, mapped.
    Federated(Arc<Identity>),
}

/// Verifies a bearer token: with the trusted issuer's keys when its `iss` is exactly one of
/// theirs, else as Warden's own token. CPU only for Warden's tokens; a federated token may
/// wait for its issuer's keys (bounded by the fetch timeout, rate-limited).
pub async fn verify_credential(
    keys: &KeyRing,
    federation: &Federation,
    now: i64,
    token: &str,
) -> Result<Credential, AuthError> {
    if let Some((_, verdict)) = federation.verify_claimed(token, now).await {
        return Ok(Credential::Federated(verdict?));
    }
    verify_token(keys, now, token).map(Credential::Local)
}

/// The caller a verified credential names (see [`load`] for Warden's tokens).
pub async fn load_credential(
    db: &Db,
    credential: Credential,
    now: i64,
) -> Result<Principal, AuthError> {
    match credential {
        Credential::Local(claims) => load(db, claims, now).await,
        Credential::Federated(identity) => Ok(federated(identity)),
    }
}

/// A federated caller linked to the local account `user` (`provision: link`): refused when
/// the account is disabled. Their principal is the account's (`user:<name>`), so the roles
/// and rules admins give it apply, on top of the token's roles. Attributes: the account's
/// win over the token's (an admin's value is a deliberate override); the token fills in
/// the rest. Scopes are the token's.
pub fn linked(identity: Arc<Identity>, mut user: UserRow) -> Result<Principal, AuthError> {
    if user.disabled {
        return Err(rejected("the account is disabled"));
    }
    for (name, value) in &identity.attributes {
        user.attributes
            .entry(name.clone())
            .or_insert_with(|| value.clone());
    }
    let mut principal = federated(identity);
    principal.claims.sub = user.id.to_string();
    principal.user = Arc::new(user);
    Ok(principal)
}

/// A federated caller without a local account: an in-memory account named
/// `<alias>:<sub>` (never a local username: those cannot contain `:`), with the token's
/// attributes, scopes and the `user` kind.
pub fn federated(identity: Arc<Identity>) -> Principal {
    let name = identity.principal_name();
    let user = UserRow {
        id: 0,
        username: name.clone(),
        username_key: name.clone(),
        email: None,
        display_name: None,
        password_hash: String::new(),
        disabled: false,
        token_generation: 0,
        attributes: identity.attributes.clone(),
        scopes: identity.scopes.clone(),
        kind: AccountKind::User,
    };
    let claims = Claims {
        sub: name,
        iss: identity.issuer_url.clone(),
        aud: String::new(),
        exp: identity.expires_at,
        nbf: identity.issued_at,
        iat: identity.issued_at,
        jti: String::new(),
        scope: identity.scopes.join(" "),
        r#gen: 0,
        sid: String::new(),
        kind: AccountKind::User,
        tid: identity
            .tenant
            .clone()
            .unwrap_or_else(|| crate::policy::rule::DEFAULT_TENANT.to_owned()),
    };
    Principal {
        user: Arc::new(user),
        scopes: identity.scopes.clone(),
        claims,
        federated: Some(identity),
        subject: Default::default(),
    }
}

/// The scopes of `granted` (space-separated, from a token or refresh family) that are still
/// among the user's `requestable` ones: removing a scope from a user takes effect at once
/// on every token issued before.
pub fn effective_scopes(granted: &str, requestable: &[String]) -> Vec<String> {
    granted
        .split_whitespace()
        .filter(|s| requestable.iter().any(|r| r == s))
        .map(str::to_owned)
        .collect()
}

/// Why a token does not name a caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not acceptable: malformed, badly signed, expired, revoked, or its account
    /// gone or disabled. The text says which, for the token's holder.
    #[error("{0}")]
    Rejected(Cow<'static, str>),
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::federation::FederationError> for AuthError {
    fn from(e: super::federation::FederationError) -> Self {
        rejected(e.to_string())
    }
}

fn rejected(why: impl Into<Cow<'static, str>>) -> AuthError {
    AuthError::Rejected(why.into())
}

/// A federated caller acts in the tenant its issuer names only while that tenant exists and
/// is enabled (the default tenant always is): the issuer vouches for membership, Warden for
/// the directory, so disabling a tenant refuses its federated tokens at once too.
pub async fn check_federated_tenant(db: &Db, principal: &Principal) -> Result<(), AuthError> {
    if !principal.is_federated() || principal.tenant() == crate::policy::rule::DEFAULT_TENANT {
        return Ok(());
    }
    match store::tenants::find(db, principal.tenant()).await? {
        Some(t) if t.disabled == 0 => Ok(()),
        _ => Err(rejected("the token's tenant is disabled or does not exist")),
    }
}

/// Verifies an access token and loads its user, rejecting disabled users, tokens from an
/// older generation (logout-all) and tokens of a revoked session.
pub async fn verify(
    keys: &KeyRing,
    db: &Db,
    now: i64,
    token: &str,
) -> Result<Principal, AuthError> {
    let claims = verify_token(keys, now, token)?;
    load(db, claims, now).await
}

/// The token's signature and claims (algorithm, key, issuer, audience, times): CPU only, no
/// database read, so a caller without a valid token costs nothing more than this.
pub fn verify_token(keys: &KeyRing, now: i64, token: &str) -> Result<Claims, AuthError> {
    keys.verify(token, now).map_err(|e| rejected(e.to_string()))
}

/// The caller verified `claims` name: their account (rejected when gone, disabled or of an
/// older token generation) and live session, read from the account cache or the database.
pub async fn load(db: &Db, claims: Claims, now: i64) -> Result<Principal, AuthError> {
    let id: i64 = claims
        .sub
        .parse()
        .map_err(|_| rejected("the token's subject is invalid"))?;
    let mut user = store::users::find_by_id_cached(db, id)
        .await?
        .ok_or_else(|| rejected("the token's user no longer exists"))?;
    if user.token_generation < claims.r#gen {
        // The token is newer than the cached account: another process moved the account on
        // (a password reset, a logout-all) after it was cached. Generations only grow, so the
        // database has it: read it again rather than call a token issued after the change
        // revoked until the cache ages out.
        user = store::users::find_by_id_fresh(db, id)
            .await?
            .ok_or_else(|| rejected("the token's user no longer exists"))?;
    }
    if user.disabled {
        return Err(rejected("the account is disabled"));
    }
    if user.token_generation != claims.r#gen {
        return Err(rejected("the token has been revoked"));
    }
    if user.kind != claims.kind {
        return Err(rejected("the token's kind does not match its account"));
    }
    match user.kind {
        // One indexed lookup: a session revoked by reuse detection, logout-all or
        // `/v1/auth/revoke` (or unknown) rejects its access tokens at once.
        AccountKind::User => {
            if !store::tokens::session_is_live(db, user.id, &claims.sid).await? {
                return Err(rejected("the token's session has been revoked"));
            }
        }
        // A service's token lives as long as the secret it was obtained with: a rotation's
        // overlap ends it, on every instance, whatever its `exp`.
        AccountKind::Service => {
            let secret = claims
                .sid
                .strip_prefix(store::service_accounts::SID_PREFIX)
                .and_then(|id| id.parse::<i64>().ok());
            let live = match secret {
                Some(id) => store::service_accounts::secret_is_live(db, user.id, id, now).await?,
                None => false,
            };
            if !live {
                return Err(rejected(
                    "the secret this token was obtained with no longer works",
                ));
            }
        }
    }
    // A token works only while its tenant is enabled and the account still belongs to it.
    // The default tenant cannot be disabled and every account starts in it; it is not read
    // here, so a caller of the default tenant is served from the account cache alone (as
    // before tenants, also while the database is briefly lost). An account removed from
    // default loses every role it held there, so the policy denies it.
    if claims.tid != crate::policy::rule::DEFAULT_TENANT
        && !store::tenants::is_active_member(db, &claims.tid, user.id).await?
    {
        return Err(rejected(
            "the token's tenant is disabled or the account no longer belongs to it",
        ));
    }
    let scopes = effective_scopes(&claims.scope, &user.scopes);
    Ok(Principal {
        user,
        scopes,
        claims,
        federated: None,
        subject: Default::default(),
    })
}
