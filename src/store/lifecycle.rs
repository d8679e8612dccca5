//! The account lifecycle beyond registration: deleting an account, one-time set-password
//! tokens (an account created without a password, an admin's reset) and password changes.
//! Each is one transaction that is also a policy version with its audit row, announced to
//! other instances like every account edit.

use sqlx::Row;

use super::policy::{ChangeMeta, record_account_edit, record_account_event};
use super::users::UserRow;
use super::{Db, StoreResult};

/// Takes `username_key` for a new account, user or service: a conflict (409) when any account
/// ever had it. Names are given once, so nobody inherits what rules (`user:<name>`), documents
/// (`owner`) or the audit say about an earlier account of that name.
pub(super) async fn claim_name(
    tx: &mut super::policy::Tx<'_>,
    username_key: &str,
    taken: &'static str,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO account_names (username_key) VALUES ($1)")
        .bind(username_key)
        .execute(&mut **tx)
        .await
        .map_err(|e| super::StoreError::classify(e, taken))?;
    Ok(())
}

/// Whether any account, live or deleted, ever had `username_key` (names are given once).
pub async fn name_taken(db: &Db, username_key: &str) -> StoreResult<bool> {
    let taken: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM account_names WHERE username_key = $1")
            .bind(username_key)
            .fetch_optional(db.pool())
            .await?;
    Ok(taken.is_some())
}

/// Marks `username_key` retired (its account is gone); it stays taken for good.
pub(super) async fn retire_name(
    tx: &mut super::policy::Tx<'_>,
    username_key: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO account_names (username_key, retired_at) VALUES ($1, $2) \
         ON CONFLICT (username_key) DO UPDATE SET retired_at = excluded.retired_at",
    )
    .bind(username_key)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Gone, as this policy version.
    Stored(i64),
    /// The policy is no longer at the version the caller checked; nothing changed.
    PolicyMoved,
    /// No such account (any more); nothing changed.
    Gone,
}

/// Deletes `user`: its role assignments, its sessions (revoked, so other instances hear of
/// it, then gone with the row), its set-password tokens and the row, and retires its name for
/// good, in one transaction that is the policy version after `checked` (None if the policy
/// moved: the caller's lock-out and invariant checks were made against `checked`).
pub async fn delete(
    db: &Db,
    user: &UserRow,
    checked: i64,
    meta: &ChangeMeta<'_>,
    audit: (&serde_json::Value, &serde_json::Value),
    now: i64,
) -> StoreResult<Deleted> {
    let _written = db.accounts().write();
    let mut tx = db.pool().begin().await?;
    let Some(version) = record_account_edit(db, &mut tx, checked, meta, audit, now).await? else {
        return Ok(Deleted::PolicyMoved);
    };
    sqlx::query("DELETE FROM role_assignments WHERE member = $1")
        .bind(format!("user:{}", user.username_key))
        .execute(&mut *tx)
        .await?;
    // revoked first, so other instances hear of it; then gone with the row
    end_sessions_tx(&mut tx, user.id, None, now).await?;
    sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone != 1 {
        return Ok(Deleted::Gone);
    }
    retire_name(&mut tx, &user.username_key, now).await?;
    tx.commit().await?;
    Ok(Deleted::Stored(version))
}

/// A set-password token to store: its SHA-256 and when it stops working.
#[derive(Debug, Clone, Copy)]
pub struct NewSetPassword<'a> {
    /// SHA-256 of the token, hex.
    pub token_hash: &'a str,
    /// Unix time after which it is refused.
    pub expires_at: i64,
}

/// Stores a set-password token for `user_id`, replacing any earlier one (an account has at
/// most one way in by token). With `cut_off` (an admin's reset) the password is also replaced
/// by `cut_off`'s unusable hash and every token and session of the account ends at once.
/// One audited transaction and policy version. Returns the version, None for an unknown id.
pub async fn issue_set_password(
    db: &Db,
    user_id: i64,
    token: NewSetPassword<'_>,
    cut_off: Option<&str>,
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<Option<i64>> {
    let _written = db.accounts().write();
    let mut tx = db.pool().begin().await?;
    let after = serde_json::json!({ "set_password_token_expires_at": token.expires_at, "password_reset": cut_off.is_some() });
    let version =
        record_account_event(db, &mut tx, meta, (&serde_json::json!({}), &after), now).await?;
    let found = match cut_off {
        // a reset: the password, every token and session, every earlier set-password token
        Some(hash) => set_password_tx(&mut tx, user_id, hash, None, now).await?,
        None => {
            sqlx::query("DELETE FROM set_password_tokens WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .map_or(0, |_| 1)
        }
    };
    if found != 1 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO set_password_tokens (token_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token.token_hash)
    .bind(user_id)
    .bind(now)
    .bind(token.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// The account a set-password token (by its SHA-256) would set the password of: unused,
/// unexpired, of an enabled account. A read only: nothing is hashed for a token that is not
/// good.
pub async fn set_password_target(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> StoreResult<Option<UserRow>> {
    let id: Option<i64> = sqlx::query(
        "SELECT t.user_id FROM set_password_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?
    .map(|r| r.try_get("user_id"))
    .transpose()?;
    match id {
        Some(id) => super::users::find_by_id(db, id).await,
        None => Ok(None),
    }
}

/// Redeems a set-password token: if it is still unused and unexpired (checked again inside
/// the transaction, so two redemptions cannot both win), sets `password_hash`, ends every
/// earlier token and session of the account and uses the token up. Returns the policy
/// version, None when the token no longer works.
pub async fn redeem_set_password(
    db: &Db,
    token_hash: &str,
    user: &UserRow,
    password_hash: &str,
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<Option<i64>> {
    let _written = db.accounts().write();
    let mut tx = db.pool().begin().await?;
    let after = serde_json::json!({ "password_set": true });
    let version =
        record_account_event(db, &mut tx, meta, (&serde_json::json!({}), &after), now).await?;
    let used = sqlx::query(
        "UPDATE set_password_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if used != 1 {
        return Ok(None);
    }
    set_password_tx(&mut tx, user.id, password_hash, None, now).await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// Sets `user`'s own new password (the caller checked the current one): every other session
/// ends at once, `keep` (the caller's own session) goes on. One audited transaction and policy
/// version; None if the password changed meanwhile (the caller checked `user.password_hash`).
pub async fn change_password(
    db: &Db,
    user: &UserRow,
    password_hash: &str,
    keep: Option<&str>,
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<Option<i64>> {
    let _written = db.accounts().write();
    let mut tx = db.pool().begin().await?;
    let after = serde_json::json!({ "password_changed": true, "other_sessions_revoked": true });
    let version =
        record_account_event(db, &mut tx, meta, (&serde_json::json!({}), &after), now).await?;
    let changed = sqlx::query(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 AND password_hash = $4",
    )
    .bind(user.id)
    .bind(password_hash)
    .bind(now)
    .bind(&user.password_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Ok(None);
    }
    end_sessions_tx(&mut tx, user.id, keep, now).await?;
    tx.commit().await?;
    Ok(Some(version))
}

/// Sets the password hash and ends every session but `keep`; without `keep` the token
/// generation moves too, so every access token issued before stops working.
async fn set_password_tx(
    tx: &mut super::policy::Tx<'_>,
    user_id: i64,
    password_hash: &str,
    keep: Option<&str>,
    now: i64,
) -> StoreResult<u64> {
    let found = sqlx::query(
        "UPDATE users SET password_hash = $2, token_generation = token_generation + $4, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(user_id)
    .bind(password_hash)
    .bind(now)
    .bind(i64::from(keep.is_none()))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    end_sessions_tx(tx, user_id, keep, now).await?;
    Ok(found)
}

/// Ends every session of the account but `keep`, and every set-password token.
async fn end_sessions_tx(
    tx: &mut super::policy::Tx<'_>,
    user_id: i64,
    keep: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 \
         WHERE user_id = $1 AND revoked_at IS NULL AND family_id <> $3",
    )
    .bind(user_id)
    .bind(now)
    .bind(keep.unwrap_or(""))
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM set_password_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
