//! Service accounts: `users` rows of kind `service`, with a client id (`service_accounts`)
//! and argon2id-hashed secrets (`service_secrets`).
//!
//! Creating, deleting and rotating are policy versions: they run inside the change protocol's
//! transaction ([`Pending`]), written by [`write`] before the change's own operations (the role
//! assignments), so the account, its assignments, the version and the audit row commit
//! together or not at all.

use std::collections::BTreeMap;

use sqlx::Row;

use super::accounts::AccountsWrite;
use super::policy::Pending;
use super::users::UserRow;
use super::{Db, StoreError, StoreResult};
use crate::policy::AttrValue;

/// The `sid` prefix of a service's access tokens: `svc:<secret id>`.
pub const SID_PREFIX: &str = "svc:";

/// A secret as listed (never its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its id (the locator in the secret's text, and the `sid` of its tokens).
    pub id: i64,
    /// When it was made.
    pub created_at: i64,
    /// When it stops working: None for the current secret, the end of the overlap for the
    /// one a rotation replaced.
    pub expires_at: Option<i64>,
}

/// A service account: its account row, client id and live secrets (newest first).
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    /// The `users` row (kind `service`).
    pub user: UserRow,
    /// Its public client id.
    pub client_id: String,
    /// When it was created.
    pub created_at: i64,
    /// The secrets that work now, newest first (the current one and at most one in overlap).
    pub secrets: Vec<SecretInfo>,
}

/// What the client_credentials grant checks a presented secret against.
#[derive(Debug, Clone)]
pub struct GrantSecret {
    /// The secret's id.
    pub id: i64,
    /// argon2id PHC string.
    pub hash: String,
    /// End of its overlap, if it was replaced.
    pub expires_at: Option<i64>,
}

/// A write to service accounts, made inside a policy change.
#[derive(Debug)]
pub enum Write<'a> {
    /// A new account with its first secret.
    Create {
        /// Its name (validated like a username).
        name: &'a str,
        /// Its client id.
        client_id: &'a str,
        /// The first secret's hash.
        secret_hash: &'a str,
        /// Scopes it may request.
        scopes: &'a [String],
        /// Its attributes.
        attributes: &'a BTreeMap<String, AttrValue>,
    },
    /// A new current secret; the current one keeps working until `overlap_ends`, any older
    /// one stops at once.
    Rotate {
        /// The account's id.
        user_id: i64,
        /// The new secret's hash.
        secret_hash: &'a str,
        /// When the replaced secret stops working.
        overlap_ends: i64,
    },
    /// The account goes, with its secrets (and so every token they obtained).
    Delete {
        /// The account's id.
        user_id: i64,
    },
}

/// What a [`Write`] made.
#[derive(Debug)]
pub struct Written {
    /// The account's id.
    pub user_id: i64,
    /// The new secret's id (create, rotate).
    pub secret_id: Option<i64>,
    /// Moves the account cache's epoch when dropped: drop it after the commit.
    pub guard: AccountsWrite,
}

/// Writes `w` inside `pending` (not committed until the change is). None: the service
/// account to rotate or delete is gone (nothing written).
pub async fn write(
    db: &Db,
    pending: &mut Pending,
    w: &Write<'_>,
    now: i64,
) -> StoreResult<Option<Written>> {
    let guard = db.accounts().write();
    let tx = pending.tx();
    match w {
        Write::Create {
            name,
            client_id,
            secret_hash,
            scopes,
            attributes,
        } => {
            let attributes = serde_json::to_string(attributes)
                .map_err(|e| StoreError::Corrupt(format!("attributes: {e}")))?;
            // Every name is given once, to a user or a service (see `users::insert`).
            super::lifecycle::claim_name(
                tx,
                &super::users::username_key(name),
                "an account with this name",
            )
            .await?;
            // A service has no password: this is no PHC string, so no password verifies.
            let user_id: i64 = sqlx::query(
                "INSERT INTO users (username, username_key, password_hash, attributes, scopes, \
                 kind, created_at, updated_at) \
                 VALUES ($1, $2, '!service', $3, $4, 'service', $5, $5) RETURNING id",
            )
            .bind(name)
            .bind(super::users::username_key(name))
            .bind(&attributes)
            .bind(scopes.join(" "))
            .bind(now)
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| StoreError::classify(e, "an account with this name"))?
            .try_get("id")?;
            super::tenants::add_member_tx(tx, crate::policy::rule::DEFAULT_TENANT, user_id, now)
                .await?;
            sqlx::query(
                "INSERT INTO service_accounts (user_id, client_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|e| StoreError::classify(e, "client id"))?;
            let secret_id = insert_secret(tx, user_id, secret_hash, now).await?;
            Ok(Some(Written {
                user_id,
                secret_id: Some(secret_id),
                guard,
            }))
        }
        Write::Rotate {
            user_id,
            secret_hash,
            overlap_ends,
        } => {
            // Touching the account announces it (Postgres trigger), so every instance drops
            // what it cached about the account's secrets.
            let found =
                sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1 AND kind = 'service'")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            if found == 0 {
                return Ok(None);
            }
            // Only the current secret gets an overlap; one still in an earlier overlap ends.
            sqlx::query(
                "DELETE FROM service_secrets WHERE user_id = $1 AND expires_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE service_secrets SET expires_at = $2 WHERE user_id = $1 AND expires_at IS NULL",
            )
            .bind(user_id)
            .bind(overlap_ends)
            .execute(&mut **tx)
            .await?;
            let secret_id = insert_secret(tx, *user_id, secret_hash, now).await?;
            Ok(Some(Written {
                user_id: *user_id,
                secret_id: Some(secret_id),
                guard,
            }))
        }
        Write::Delete { user_id } => {
            // Secrets and the client id go with the row (ON DELETE CASCADE); the delete is
            // announced to every instance (Postgres trigger).
            let key: Option<String> = sqlx::query(
                "DELETE FROM users WHERE id = $1 AND kind = 'service' RETURNING username_key",
            )
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("username_key"))
            .transpose()?;
            // Its name is retired like a deleted user's: rules naming it never reach a
            // newcomer.
            if let Some(key) = &key {
                super::lifecycle::retire_name(tx, key, now).await?;
            }
            let found = u64::from(key.is_some());
            Ok((found == 1).then_some(Written {
                user_id: *user_id,
                secret_id: None,
                guard,
            }))
        }
    }
}

async fn insert_secret(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
    hash: &str,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO service_secrets (user_id, secret_hash, created_at) VALUES ($1, $2, $3) \
         RETURNING id",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")
    .map_err(StoreError::from)
}

/// The account with `client_id` and its secret `secret_id`, if both exist and the secret
/// still works at `now` (the grant's one read).
pub async fn find_for_grant(
    db: &Db,
    client_id: &str,
    secret_id: i64,
    now: i64,
) -> StoreResult<Option<(UserRow, GrantSecret)>> {
    let row = sqlx::query(
        "SELECT s.user_id, x.id, x.secret_hash, x.expires_at FROM service_accounts s \
         JOIN service_secrets x ON x.user_id = s.user_id \
         WHERE s.client_id = $1 AND x.id = $2 AND (x.expires_at IS NULL OR x.expires_at > $3)",
    )
    .bind(client_id)
    .bind(secret_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let user_id: i64 = row.try_get("user_id")?;
    let secret = GrantSecret {
        id: row.try_get("id")?,
        hash: row.try_get("secret_hash")?,
        expires_at: row.try_get("expires_at")?,
    };
    let user = super::users::find_by_id(db, user_id).await?;
    Ok(user.map(|u| (u, secret)))
}

/// Whether secret `secret_id` of account `user_id` still works at `now`: a service token's
/// session check. A current secret (no expiry) is remembered until the next account write
/// seen here (a rotation or delete here, or announced by another instance) or for at most
/// the cache's age; a secret in its overlap is read every time, so it stops at its end.
pub async fn secret_is_live(db: &Db, user_id: i64, secret_id: i64, now: i64) -> StoreResult<bool> {
    let key = format!("{SID_PREFIX}{secret_id}");
    if db.accounts().session_live(user_id, &key) {
        return Ok(true);
    }
    let epoch = db.accounts().epoch();
    let row = sqlx::query(
        "SELECT expires_at FROM service_secrets WHERE id = $1 AND user_id = $2 \
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(secret_id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    if expires_at.is_none() {
        db.accounts().put_live_session(user_id, &key, epoch);
    }
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct ListRecord {
    user_id: i64,
    client_id: String,
    created_at: i64,
}

async fn complete(db: &Db, r: ListRecord, now: i64) -> StoreResult<Option<ServiceAccount>> {
    let Some(user) = super::users::find_by_id(db, r.user_id).await? else {
        return Ok(None);
    };
    let secrets = sqlx::query(
        "SELECT id, created_at, expires_at FROM service_secrets WHERE user_id = $1 \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY id DESC",
    )
    .bind(r.user_id)
    .bind(now)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|s| {
        Ok(SecretInfo {
            id: s.try_get("id")?,
            created_at: s.try_get("created_at")?,
            expires_at: s.try_get("expires_at")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(ServiceAccount {
        user,
        client_id: r.client_id,
        created_at: r.created_at,
        secrets,
    }))
}

/// The service account named `name` (case-insensitively), if there is one.
pub async fn find_by_name(db: &Db, name: &str, now: i64) -> StoreResult<Option<ServiceAccount>> {
    let r = sqlx::query_as::<_, ListRecord>(
        "SELECT s.user_id, s.client_id, s.created_at FROM service_accounts s \
         JOIN users u ON u.id = s.user_id WHERE u.username_key = $1",
    )
    .bind(super::users::username_key(name))
    .fetch_optional(db.pool())
    .await?;
    match r {
        Some(r) => complete(db, r, now).await,
        None => Ok(None),
    }
}

/// A page of service accounts by id, and how many there are.
pub async fn list(
    db: &Db,
    limit: i64,
    offset: i64,
    now: i64,
) -> StoreResult<(Vec<ServiceAccount>, i64)> {
    let records = sqlx::query_as::<_, ListRecord>(
        "SELECT user_id, client_id, created_at FROM service_accounts ORDER BY user_id \
         LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        out.extend(complete(db, r, now).await?);
    }
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM service_accounts")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    Ok((out, total))
}
