//! Issuing access and refresh tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::{Claims, KeyRing};
use crate::store::{self, Db, StoreError, users::UserRow};

/// Token lifetimes, in seconds (`--access-ttl-secs`, `--refresh-ttl-secs`,
/// `--session-max-secs`).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// An access token's.
    pub access: i64,
    /// A refresh token's, renewed on every rotation...
    pub refresh: i64,
    /// ...but never past this after the login that started the session.
    pub session_max: i64,
}

/// What issuing tokens needs: the signing keys, the lifetimes, the store and the time.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    /// Signs access tokens.
    pub keys: &'a KeyRing,
    /// Token lifetimes.
    pub lifetimes: Lifetimes,
    /// Where refresh tokens are stored.
    pub db: &'a Db,
    /// Unix seconds, now.
    pub now: i64,
}

/// Why a token could not be issued. Every case is a failure of the service, not of the
/// request (the HTTP layer answers 500 or, for the store, 503).
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Storing the refresh token failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The OAuth2 token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Signed JWT.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Opaque refresh token (rotated on every use). Absent for client_credentials (RFC 6749
    /// §4.4.3: a service asks for a new access token with its credentials instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> Result<String, IssueError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| IssueError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A fresh refresh token: 256 random bits, opaque.
pub fn new_refresh_token() -> Result<String, IssueError> {
    random_token(32)
}

/// What the database stores for a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Signs an access token for `user` with `scope` in `tenant`, belonging to session `sid`.
pub fn access_token(
    issuer: &Issuer<'_>,
    user: &UserRow,
    scope: &str,
    generation: i64,
    sid: &str,
    tenant: &str,
) -> Result<String, IssueError> {
    access_token_until(issuer, user, scope, generation, sid, tenant, i64::MAX)
}

/// [`access_token`] expiring no later than `not_after` (a service token obtained with a
/// secret in its rotation overlap ends with the overlap).
pub fn access_token_until(
    issuer: &Issuer<'_>,
    user: &UserRow,
    scope: &str,
    generation: i64,
    sid: &str,
    tenant: &str,
    not_after: i64,
) -> Result<String, IssueError> {
    let now = issuer.now;
    let claims = Claims {
        sub: user.id.to_string(),
        iss: issuer.keys.issuer().to_owned(),
        aud: issuer.keys.audience().to_owned(),
        exp: (now + issuer.lifetimes.access).min(not_after),
        nbf: now,
        iat: now,
        jti: random_token(16)?,
        scope: scope.to_owned(),
        r#gen: generation,
        sid: sid.to_owned(),
        kind: user.kind,
        tid: tenant.to_owned(),
    };
    issuer
        .keys
        .sign(&claims)
        .map_err(|e| IssueError::Sign(e.to_string()))
}

/// Issues an access token and a refresh token starting a new family (a password login).
pub async fn issue_new_family(
    issuer: &Issuer<'_>,
    user: &UserRow,
    scope: &str,
    tenant: &str,
) -> Result<TokenResponse, IssueError> {
    let refresh = new_refresh_token()?;
    let family = random_token(16)?;
    let now = issuer.now;
    store::tokens::insert(
        issuer.db,
        &store::tokens::NewRefresh {
            token_hash: &hash_refresh_token(&refresh),
            user_id: user.id,
            family_id: &family,
            generation: user.token_generation,
            scope,
            expires_at: now + issuer.lifetimes.refresh,
        },
        now,
    )
    .await?;
    Ok(TokenResponse {
        access_token: access_token(issuer, user, scope, user.token_generation, &family, tenant)?,
        token_type: "bearer",
        expires_in: issuer.lifetimes.access,
        refresh_token: Some(refresh),
        scope: scope.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_256_random_bits_and_stored_only_as_a_hash() {
        let a = new_refresh_token().expect("token");
        let b = new_refresh_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64").len(), 32);
        let h = hash_refresh_token(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a));
    }
}
