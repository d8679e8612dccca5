//! Sessions: the OAuth2 grants that start one (a password login) and continue it (a refresh),
//! with their defences — throttling before the password is checked, a dummy hash for unknown
//! names, rotation, the session's absolute end and reuse detection — answered in
//! [`GrantError`]. The HTTP layer only maps that to OAuth2 error bodies (RFC 6749 §5.2).

use std::net::IpAddr;

use secrecy::SecretString;

use super::domain::Scope;
use super::password::{HashError, Hasher};
use super::principal::effective_scopes;
use super::ratelimit::RateLimiter;
use super::tokens::{
    IssueError, Issuer, TokenResponse, access_token, hash_refresh_token, issue_new_family,
    new_refresh_token,
};
use crate::policy::username::Username;
use crate::store::accounts::AccountKind;
use crate::store::{self, StoreError, tokens::Rotation};

/// Longest refresh token looked at (Warden's are 43 characters).
pub const MAX_REFRESH_TOKEN_BYTES: usize = 512;

/// Why a grant gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A parameter is missing or malformed (`invalid_request`).
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The credentials or the refresh token are not good (`invalid_grant`); one answer for
    /// every reason, so it confirms nothing.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// A requested scope is malformed or not the caller's (`invalid_scope`).
    #[error("{0}")]
    InvalidScope(&'static str),
    /// The client could not be authenticated (`invalid_client`, 401): unknown client id,
    /// wrong or expired secret, or no credentials. One answer for every reason.
    #[error("{0}")]
    InvalidClient(&'static str),
    /// The account may not ask for a token in the tenant it named (`not_a_member`, 403): not a
    /// member, or the tenant is disabled or does not exist (one answer, so that a non-member
    /// learns nothing about other tenants).
    #[error("{0}")]
    NotAMember(&'static str),
    /// Too many attempts from this client or on this account: retry after this many seconds.
    #[error("too many attempts; retry in {0} s")]
    Throttled(u64),
    /// The password could not be checked.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The tokens could not be issued.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the grants need: the issuer, the password hasher and the login limits.
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    /// Signs and stores the tokens.
    pub issuer: Issuer<'a>,
    /// Checks passwords (off the runtime, bounded).
    pub hasher: &'a Hasher,
    /// Login throttling.
    pub limiter: &'a RateLimiter,
}

/// Resolves the requested scopes against what is allowed: absent = all of `allowed`.
pub fn granted_scope(requested: Option<&str>, allowed: &[String]) -> Result<String, GrantError> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let wanted = Scope::parse_list(requested)
        .map_err(|_| GrantError::InvalidScope("the scope parameter is malformed"))?;
    if wanted.iter().any(|s| !allowed.contains(s)) {
        return Err(GrantError::InvalidScope(
            "a requested scope is not available to this user",
        ));
    }
    Ok(wanted.join(" "))
}

/// The tenant a token for `user_id` is issued in: the one asked for, when the account is a
/// member of it and it is enabled; without one, the account's only tenant, or the default
/// tenant when it is among several.
pub async fn tenant_of(
    db: &store::Db,
    user_id: i64,
    requested: Option<&str>,
) -> Result<String, GrantError> {
    const NOT_A_MEMBER: &str = "the account is not a member of this tenant";
    if let Some(t) = requested {
        crate::policy::rule::parse_tenant(t).map_err(|_| {
            GrantError::InvalidRequest("tenant must be 1-63 characters of [a-z0-9-]")
        })?;
        return if store::tenants::is_active_member(db, t, user_id).await? {
            Ok(t.to_owned())
        } else {
            Err(GrantError::NotAMember(NOT_A_MEMBER))
        };
    }
    let mut member_of = store::tenants::active_memberships(db, user_id).await?;
    let default = crate::policy::rule::DEFAULT_TENANT;
    match member_of.len() {
        0 => Err(GrantError::NotAMember(
            "the account is not a member of any enabled tenant",
        )),
        1 => Ok(member_of.remove(0)),
        _ if member_of.iter().any(|t| t == default) => Ok(default.to_owned()),
        _ => Err(GrantError::InvalidRequest(
            "the account belongs to several tenants: name one in the tenant parameter",
        )),
    }
}

/// The password grant (RFC 6749 §4.3): throttled per (account, client) and per client before
/// the password is checked; an unknown name or a disabled account costs a (dummy) hash and
/// gets the wrong-password answer.
pub async fn login(
    g: &Grants<'_>,
    username: Option<&str>,
    password: Option<SecretString>,
    scope: Option<&str>,
    tenant: Option<&str>,
    client: Option<IpAddr>,
) -> Result<TokenResponse, GrantError> {
    let (Some(username), Some(password)) = (username, password) else {
        return Err(GrantError::InvalidRequest(
            "username and password are required",
        ));
    };
    // A string that is not a valid username cannot name an account: it is not looked up and
    // gets no rate-limit bucket of its own, but still costs a (dummy) hash and gets the
    // wrong-password answer.
    let name = Username::parse(username).ok();
    let attempt = match g.limiter.begin_login(name.as_ref(), client, g.issuer.now) {
        Ok(a) => a,
        Err(retry_after) => {
            tracing::warn!(
                event = "login_throttled",
                username = name.as_ref().map(|n| n.as_str()),
                client = ?client,
                retry_after,
                "login throttled"
            );
            return Err(GrantError::Throttled(retry_after));
        }
    };
    // A service account has no password: it is looked up as if it did not exist (dummy
    // hash, the wrong-password answer), so the password grant and the console never admit
    // it, and the answer does not tell that the name is a service's.
    let user = match &name {
        Some(name) => store::users::find_by_username(g.issuer.db, name.as_str())
            .await?
            .filter(|u| u.kind == AccountKind::User),
        None => None,
    };
    // Unknown users are verified against a dummy hash: same work, same answer.
    let verified = g
        .hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    // A disabled account answers exactly like a wrong password: a distinct answer would
    // confirm the password to whoever guessed it. On every failure the attempt stays
    // counted against the username.
    let Some(user) = user.filter(|u| verified && !u.disabled) else {
        return Err(GrantError::InvalidGrant("invalid username or password"));
    };
    g.limiter.login_succeeded(attempt);
    let scope = granted_scope(scope, &user.scopes)?;
    let tenant = tenant_of(g.issuer.db, user.id, tenant).await?;
    Ok(issue_new_family(&g.issuer, &user, &scope, &tenant).await?)
}

/// The refresh grant (RFC 6749 §6): the presented token is rotated; its family's scopes
/// less any the user has lost; the session ends `session_max` after its login however often
/// it is refreshed; a rotated token presented again revokes the whole family (reuse).
pub async fn refresh(
    issuer: &Issuer<'_>,
    presented: Option<&str>,
    scope: Option<&str>,
    tenant: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let Some(presented) = presented.filter(|t| !t.is_empty() && t.len() <= MAX_REFRESH_TOKEN_BYTES)
    else {
        return Err(GrantError::InvalidRequest("refresh_token is required"));
    };
    let invalid = || GrantError::InvalidGrant("the refresh token is invalid, expired or revoked");
    // The tenant is settled before the token is rotated, so a refused switch leaves the
    // session's refresh token usable.
    let owner = store::tokens::owner_of(issuer.db, &hash_refresh_token(presented))
        .await?
        .ok_or_else(invalid)?;
    let tenant = tenant_of(issuer.db, owner, tenant).await?;
    let next = new_refresh_token()?;
    let next_hash = hash_refresh_token(&next);
    let now = issuer.now;
    let lifetimes = issuer.lifetimes;
    let mut scope_result = Ok(String::new());
    let rotation = store::tokens::rotate(issuer.db, &hash_refresh_token(presented), now, |row| {
        let allowed = effective_scopes(&row.scope, &row.owner_scopes);
        scope_result = granted_scope(scope, &allowed);
        // Rotation slides the expiry, but never past the session's absolute end.
        let expires = (now + lifetimes.refresh).min(row.family_created_at + lifetimes.session_max);
        (scope_result.is_ok() && expires > now).then_some((next_hash, expires))
    })
    .await?;
    let row = match rotation {
        Rotation::Rotated(row) => row,
        Rotation::Refused => return Err(scope_result.err().unwrap_or_else(invalid)),
        Rotation::Reused { user_id, family_id } => {
            tracing::warn!(
                event = "refresh_token_reuse",
                user_id,
                session_id = %family_id,
                "refresh token reuse detected; session revoked"
            );
            return Err(invalid());
        }
        Rotation::Unknown | Rotation::Dead => return Err(invalid()),
    };
    let scope = scope_result?;
    let user = store::users::find_by_id(issuer.db, row.user_id).await?;
    let Some(user) = user.filter(|u| !u.disabled && u.token_generation == row.generation) else {
        store::tokens::revoke_family_of(issuer.db, &hash_refresh_token(&next), now).await?;
        return Err(invalid());
    };
    Ok(TokenResponse {
        access_token: access_token(
            issuer,
            &user,
            &scope,
            row.generation,
            &row.family_id,
            &tenant,
        )?,
        token_type: "bearer",
        expires_in: lifetimes.access,
        refresh_token: Some(next),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_scope_must_be_well_formed_and_among_the_allowed() {
        let allowed = vec!["documents:read".to_owned(), "documents:write".to_owned()];
        assert_eq!(
            granted_scope(None, &allowed).ok(),
            Some("documents:read documents:write".to_owned())
        );
        assert_eq!(
            granted_scope(Some("documents:read"), &allowed).ok(),
            Some("documents:read".to_owned())
        );
        for bad in ["admin:all", "documents:read admin:all", "bad scope!"] {
            assert!(
                matches!(
                    granted_scope(Some(bad), &allowed),
                    Err(GrantError::InvalidScope(_))
                ),
                "{bad}"
            );
        }
    }
}
