//! The account lifecycle after registration, as the auth domain sees it: one-time
//! set-password tokens (an account an admin created without a password, or reset), redeeming
//! one, and a user changing their own password. Answers in [`LifecycleError`]; the HTTP
//! layer maps it.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::domain::Password;
use super::password::{HashError, Hasher};
use super::ratelimit::RateLimiter;
use super::tokens::{IssueError, hash_refresh_token, new_refresh_token};
use crate::policy::username::Username;
use crate::store::{self, Db, StoreError, policy::ChangeMeta, users::UserRow};

/// How long a set-password token works unless the admin says otherwise: three days.
pub const SET_PASSWORD_TTL_DEFAULT: i64 = 72 * 3600;
/// Shortest and longest lifetime an admin may give a set-password token.
pub const SET_PASSWORD_TTL_RANGE: std::ops::RangeInclusive<i64> = 300..=30 * 24 * 3600;
/// Longest set-password token looked at (Warden's are 43 characters).
pub const MAX_SET_PASSWORD_TOKEN_BYTES: usize = 512;

/// Why a lifecycle step did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The set-password token is unknown, used, expired, or its account is gone or disabled:
    /// one answer for every reason.
    #[error("the set-password token is not valid (unknown, used or expired)")]
    BadToken,
    /// The current password given is not the account's.
    #[error("the current password is wrong")]
    WrongPassword,
    /// Too many wrong current passwords: retry after this many seconds.
    #[error("too many attempts; retry in {0} s")]
    Throttled(u64),
    /// The account changed meanwhile (another password change won): nothing was stored.
    #[error("the account changed meanwhile; retry")]
    Changed,
    /// No such account.
    #[error("no such account")]
    NoAccount,
    /// A password could not be hashed or checked.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A token could not be made.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A set-password token to hand over: shown once, stored only as its SHA-256.
#[derive(Debug)]
pub struct SetPasswordToken {
    /// The token itself.
    pub token: SecretString,
    /// Unix time after which it no longer works.
    pub expires_at: i64,
    /// The policy version that recorded it.
    pub policy_version: i64,
}

/// Issues a set-password token for `user` that works for `ttl` seconds, replacing any earlier
/// one. With `reset`, the account's password stops working at once, and so does every token
/// and session it has; without (a new account), nothing else changes.
pub async fn issue_set_password(
    db: &Db,
    hasher: &Hasher,
    user: &UserRow,
    ttl: i64,
    reset: bool,
    actor: &str,
    now: i64,
) -> Result<SetPasswordToken, LifecycleError> {
    let token = new_refresh_token()?;
    let cut_off = if reset {
        Some(hasher.unusable_hash().await?)
    } else {
        None
    };
    let expires_at = now.saturating_add(ttl);
    let summary = if reset {
        format!(
            "password of {} reset; set-password token issued",
            user.username_key
        )
    } else {
        format!("set-password token issued for {}", user.username_key)
    };
    let meta = ChangeMeta {
        actor,
        action: if reset {
            "users.reset_password"
        } else {
            "users.set_password_token"
        },
        summary: &summary,
    };
    let version = store::lifecycle::issue_set_password(
        db,
        user.id,
        store::lifecycle::NewSetPassword {
            token_hash: &hash_refresh_token(&token),
            expires_at,
        },
        cut_off.as_deref(),
        &meta,
        now,
    )
    .await?
    .ok_or(LifecycleError::NoAccount)?;
    Ok(SetPasswordToken {
        token: token.into(),
        expires_at,
        policy_version: version,
    })
}

/// Redeems a set-password token: the account's password becomes `password`, and every token
/// and session issued before ends. A token that is not good costs one read and no hash.
pub async fn redeem_set_password(
    db: &Db,
    hasher: &Hasher,
    token: &SecretString,
    password: Password,
    now: i64,
) -> Result<UserRow, LifecycleError> {
    let token = token.expose_secret();
    if token.is_empty() || token.len() > MAX_SET_PASSWORD_TOKEN_BYTES {
        return Err(LifecycleError::BadToken);
    }
    let token_hash = hash_refresh_token(token);
    let user = store::lifecycle::set_password_target(db, &token_hash, now)
        .await?
        .ok_or(LifecycleError::BadToken)?;
    let hash = hasher.hash(password.expose().to_owned()).await?;
    let summary = format!(
        "{} set a password with a set-password token",
        user.username_key
    );
    let meta = ChangeMeta {
        actor: &user.username_key,
        action: "users.set_password",
        summary: &summary,
    };
    store::lifecycle::redeem_set_password(db, &token_hash, &user, &hash, &meta, now)
        .await?
        .ok_or(LifecycleError::BadToken)?;
    Ok(user)
}

/// A user's own password change: the current password must be right (throttled like a
/// login, per account and client), the new one follows the registration rules; every other
/// session of the account ends, the caller's own session (`keep`) goes on.
#[allow(clippy::too_many_arguments)]
pub async fn change_password(
    db: &Db,
    hasher: &Hasher,
    limiter: &RateLimiter,
    user: &UserRow,
    current: SecretString,
    new: Password,
    keep: Option<&str>,
    client: Option<IpAddr>,
    now: i64,
) -> Result<(), LifecycleError> {
    let name = Username::parse(&user.username).ok();
    let attempt = limiter
        .begin_login(name.as_ref(), client, now)
        .map_err(LifecycleError::Throttled)?;
    if !hasher
        .verify(current, Some(user.password_hash.clone()))
        .await?
    {
        return Err(LifecycleError::WrongPassword);
    }
    limiter.login_succeeded(attempt);
    let hash = hasher.hash(new.expose().to_owned()).await?;
    let summary = format!("{} changed their password", user.username_key);
    let meta = ChangeMeta {
        actor: &user.username_key,
        action: "users.change_password",
        summary: &summary,
    };
    store::lifecycle::change_password(db, user, &hash, keep, &meta, now)
        .await?
        .ok_or(LifecycleError::Changed)?;
    Ok(())
}
