//! Who is calling: a verified bearer token plus the user's current row.

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

use super::keys::Claims;
use crate::authz::Subject;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::{self, users::UserRow};

/// An authenticated caller. Attributes, scopes held and the disabled flag come from the
/// account cache (fresh after every account write in this process), roles from the policy;
/// only the user id, scopes and generation come from the token, and the scopes only as far
/// as the user may still request them.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user's current row.
    pub user: UserRow,
    /// Effective scopes: those granted to the presented token that the user still holds.
    pub scopes: Vec<String>,
    /// The verified claims.
    pub claims: Claims,
}

impl Principal {
    /// The casbin subject for this caller.
    pub fn subject(&self) -> Subject {
        subject_for(&self.user, self.scopes.clone())
    }
}

/// The casbin subject of a user holding the given scopes.
pub fn subject_for(user: &UserRow, scopes: Vec<String>) -> Subject {
    Subject {
        principal: format!("user:{}", user.username_key),
        name: user.username_key.clone(),
        scopes,
        attributes: user.attributes.clone(),
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

/// Extracts the bearer token: `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(ApiError::missing_token)?
        .to_str()
        .map_err(|_| ApiError::invalid_token("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(ApiError::missing_token)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::missing_token());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_token("the bearer token is empty"));
    }
    Ok(token)
}

/// Verifies the request's bearer token and loads its user, rejecting disabled users and
/// tokens from an older generation (logout-all).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let token = bearer(headers)?;
    let claims = state
        .keys
        .verify(token, state.now())
        .map_err(|e| ApiError::invalid_token(e.to_string()))?;
    let id: i64 = claims
        .sub
        .parse()
        .map_err(|_| ApiError::invalid_token("the token's subject is invalid"))?;
    let user = store::users::find_by_id_cached(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::invalid_token("the token's user no longer exists"))?;
    if user.disabled {
        return Err(ApiError::invalid_token("the account is disabled"));
    }
    if user.token_generation != claims.r#gen {
        return Err(ApiError::invalid_token("the token has been revoked"));
    }
    // One indexed lookup: a session revoked by reuse detection, logout-all or
    // `/v1/auth/revoke` (or unknown) rejects its access tokens at once.
    if !store::tokens::session_is_live(&state.db, user.id, &claims.sid).await? {
        return Err(ApiError::invalid_token(
            "the token's session has been revoked",
        ));
    }
    let scopes = effective_scopes(&claims.scope, &user.scopes);
    Ok(Principal {
        user: UserRow::clone(&user),
        scopes,
        claims,
    })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The policy guard authenticates first and leaves the principal here, so a guarded
        // route does not verify the token twice.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        authenticate(state, &parts.headers).await
    }
}
