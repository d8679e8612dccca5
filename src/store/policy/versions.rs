//! The policy version: the one statement that moves it (taking the write lock), finishing a
//! version (snapshot and audit row), and what other instances read to follow it.

use sqlx::Row;

use super::AssignmentRow;
use super::ChangeMeta;
use super::audit::insert_audit;
use super::rules::{insert_assignment_tx, snapshot_tx};
use super::{Tx, json_err};
use crate::store::{Db, StoreError, StoreResult};

/// Bumps the version (taking the write lock: concurrent writers, here or in another
/// instance, wait for this transaction) and returns the new one. The only writer of the
/// version.
pub(super) async fn begin_version(db: &Db, tx: &mut Tx<'_>) -> StoreResult<i64> {
    let version: i64 =
        sqlx::query("UPDATE policy_state SET version = version + 1 WHERE id = 1 RETURNING version")
            .fetch_one(&mut **tx)
            .await?
            .try_get("version")?;
    // Before the commit, so that this process's listener, hearing the version announced,
    // knows it was written here (and is applied by the writer) before it hears it.
    db.note_local_version(version);
    Ok(version)
}

/// Makes the version of a registration inside its transaction: the new account's role
/// assignment, the version, its audit row. Returns `(version, assignment id)`.
pub(in crate::store) async fn record_registration(
    db: &Db,
    tx: &mut Tx<'_>,
    member: &str,
    role: &str,
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<(i64, i64)> {
    let domain = crate::policy::rule::legacy_domain(member, role);
    let assignment_id = insert_assignment_tx(tx, member, role, domain, now).await?;
    let version = begin_version(db, tx).await?;
    let after = serde_json::json!([{ "assignment": [member, role] }]);
    finish_version(
        tx,
        version,
        meta,
        false,
        &serde_json::json!([]),
        &after,
        now,
    )
    .await?;
    Ok((version, assignment_id))
}

/// Makes the version of an account edit inside its transaction (call it before the edit's
/// own writes, so it takes the write lock first): None, writing nothing, when the policy is
/// no longer at `checked`, the version the edit's checks were made against.
pub(in crate::store) async fn record_account_edit(
    db: &Db,
    tx: &mut Tx<'_>,
    checked: i64,
    meta: &ChangeMeta<'_>,
    audit: (&serde_json::Value, &serde_json::Value),
    now: i64,
) -> StoreResult<Option<i64>> {
    let version = begin_version(db, tx).await?;
    if version - 1 != checked {
        return Ok(None);
    }
    insert_audit(tx, Some(version), meta, audit.0, audit.1, now).await?;
    Ok(Some(version))
}

/// Makes the version of an account event that no check depends on (a password set or reset,
/// a set-password token issued) inside its transaction: the version and its audit row.
pub(in crate::store) async fn record_account_event(
    db: &Db,
    tx: &mut Tx<'_>,
    meta: &ChangeMeta<'_>,
    audit: (&serde_json::Value, &serde_json::Value),
    now: i64,
) -> StoreResult<i64> {
    let version = begin_version(db, tx).await?;
    insert_audit(tx, Some(version), meta, audit.0, audit.1, now).await?;
    Ok(version)
}

/// Writes the version's audit row and, when the rules or role inheritance changed, its
/// snapshot (a change of user -> role rows only, such as a registration, stores none: the
/// previous snapshot still describes that version's rules). Call after the version's writes.
pub(super) async fn finish_version(
    tx: &mut Tx<'_>,
    version: i64,
    meta: &ChangeMeta<'_>,
    rules_changed: bool,
    before: &serde_json::Value,
    after: &serde_json::Value,
    now: i64,
) -> StoreResult<()> {
    if rules_changed {
        let snap = serde_json::to_string(&snapshot_tx(tx).await?).map_err(json_err)?;
        sqlx::query("INSERT INTO policy_snapshots (version, rules) VALUES ($1, $2)")
            .bind(version)
            .bind(snap)
            .execute(&mut **tx)
            .await?;
    }
    insert_audit(tx, Some(version), meta, before, after, now).await
}

/// The audit action of a registration: one new account with its one role, nothing else.
pub(in crate::store) const REGISTRATION: &str = "users.create";

/// Most versions [`registrations_between`] looks at; a longer gap is reloaded whole.
pub const MAX_REGISTRATIONS_APPLIED: i64 = 64;

/// The role assignments that versions `after + 1 ..= upto` added, when every one of those
/// versions was a registration (as its audit row, written in the version's own transaction,
/// says): what another instance applies without reading and compiling the whole policy. None
/// when any of them was another change, is not recorded, or its assignment is gone since.
pub async fn registrations_between(
    db: &Db,
    after: i64,
    upto: i64,
) -> StoreResult<Option<Vec<AssignmentRow>>> {
    if upto <= after || upto - after > MAX_REGISTRATIONS_APPLIED {
        return Ok(None);
    }
    let audited: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT version, action, after FROM audit_log WHERE version > $1 AND version <= $2 \
         ORDER BY version",
    )
    .bind(after)
    .bind(upto)
    .fetch_all(db.pool())
    .await?;
    if i64::try_from(audited.len()).ok() != Some(upto - after) {
        return Ok(None);
    }
    let mut added = Vec::with_capacity(audited.len());
    for (_, action, after) in audited {
        let assigned = serde_json::from_str::<serde_json::Value>(&after)
            .ok()
            .and_then(|v| match &v[0]["assignment"] {
                serde_json::Value::Array(pair) if v.as_array().map(Vec::len) == Some(1) => {
                    match (&pair[..], pair.len()) {
                        ([m, r], 2) => Some((m.as_str()?.to_owned(), r.as_str()?.to_owned())),
                        _ => None,
                    }
                }
                _ => None,
            });
        let Some((member, role)) = assigned.filter(|_| action == REGISTRATION) else {
            return Ok(None);
        };
        let row = sqlx::query_as::<_, AssignmentRow>(
            "SELECT id, member, role, domain FROM role_assignments \
             WHERE member = $1 AND role = $2 AND domain = $3",
        )
        .bind(&member)
        .bind(&role)
        .bind(crate::policy::rule::legacy_domain(&member, &role))
        .fetch_optional(db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        added.push(row);
    }
    Ok(Some(added))
}

/// The current policy version (cheap; used to detect that a reload is due).
pub async fn version(db: &Db) -> StoreResult<i64> {
    db.policy_read().await;
    sqlx::query("SELECT version FROM policy_state WHERE id = 1")
        .fetch_one(db.pool())
        .await?
        .try_get("version")
        .map_err(StoreError::from)
}
