//! The policy as stored: `p` rules, `g` role assignments, the policy version, its snapshots
//! and the audit log. This module is their only writer; in particular [`begin_version`] is
//! the one statement that moves `policy_state.version`, and every other store module that
//! makes a policy version (registration, account edits) does it through a function here.
//!
//! Every change is one transaction ([`Pending`]): it takes the write lock first (by bumping
//! the version, so concurrent writers, in this process or another, queue instead of failing
//! to upgrade a read lock), checks the caller's expected version, applies its operations,
//! stores the resulting rules as that version's snapshot, writes one audit row, commits. On
//! Postgres the version's move is announced to every instance by a trigger
//! ([`super::notify`]).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Db, StoreError, StoreResult};
use crate::policy::change::Op;
use crate::policy::rule::{Rule, RuleText};

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// `SELECT <every rule column> FROM policy_rules <rest>`: the one place the column list of
/// a rule is written, in [`RuleRecord`]'s order.
macro_rules! select_rules {
    ($rest:literal) => {
        concat!(
            "SELECT id, subject, object, action, scope, condition, effect FROM policy_rules ",
            $rest
        )
    };
}

/// `SELECT <every audit column> FROM audit_log <rest>`, in [`AuditRecord`]'s order.
macro_rules! select_audit {
    ($rest:literal) => {
        concat!(
            "SELECT id, version, actor, action, summary, before, after, created_at FROM audit_log ",
            $rest
        )
    };
}

/// A `policy_rules` row (the pure policy core knows no sqlx, so its [`RuleText`] cannot
/// derive the mapping itself).
#[derive(sqlx::FromRow)]
struct RuleRecord {
    id: i64,
    subject: String,
    object: String,
    action: String,
    scope: String,
    condition: String,
    effect: String,
}

impl From<RuleRecord> for RuleText {
    fn from(r: RuleRecord) -> Self {
        RuleText {
            id: r.id,
            subject: r.subject,
            object: r.object,
            action: r.action,
            scope: r.scope,
            condition: r.condition,
            effect: r.effect,
        }
    }
}

/// An `audit_log` row; `before`/`after` are JSON text.
#[derive(sqlx::FromRow)]
struct AuditRecord {
    id: i64,
    version: Option<i64>,
    actor: String,
    action: String,
    summary: String,
    before: String,
    after: String,
    created_at: i64,
}

impl TryFrom<AuditRecord> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRecord) -> StoreResult<Self> {
        Ok(AuditEntry {
            id: r.id,
            version: r.version,
            actor: r.actor,
            action: r.action,
            summary: r.summary,
            before: serde_json::from_str(&r.before).map_err(json_err)?,
            after: serde_json::from_str(&r.after).map_err(json_err)?,
            created_at: r.created_at,
        })
    }
}

/// The part of the policy a rollback restores: rules and role -> role inheritance. Stored as
/// JSON per version (`policy_snapshots`) and in audit rows, so its shape is a stored format;
/// it holds text, not validated rules, because a restore validates it like any other edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesSnapshot {
    /// Rules with their ids.
    pub rules: Vec<RuleText>,
    /// `(role:a, role:b)` pairs: a inherits b.
    pub inheritance: Vec<(String, String)>,
}

/// Who made a change and why.
#[derive(Debug, Clone)]
pub struct ChangeMeta<'a> {
    /// Username of the actor (or `seed`, `registration`).
    pub actor: &'a str,
    /// Short machine-readable kind (`rules.add`, `rollback`, ...).
    pub action: &'a str,
    /// Human summary.
    pub summary: &'a str,
}

/// What happened to a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed as `version`; `rule_ids` are the ids of added rules, in order.
    Applied {
        /// New policy version.
        version: i64,
        /// Ids of inserted rules.
        rule_ids: Vec<i64>,
    },
    /// `If-Match` did not match; nothing changed.
    VersionMismatch {
        /// The version that is current.
        current: i64,
    },
    /// An operation named a rule or assignment that does not exist; nothing changed.
    NotFound(String),
}

/// An audit entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// Policy version created by this change (None for account changes).
    pub version: Option<i64>,
    /// Who.
    pub actor: String,
    /// What kind of change.
    pub action: String,
    /// Human summary.
    pub summary: String,
    /// What the change replaced: for a policy version, one object per operation (`{"rule":
    /// ...}`, `{"assignment": [member, role]}`, a rolled-back snapshot); for an account change,
    /// the account's fields.
    #[schema(schema_with = audit_state)]
    pub before: serde_json::Value,
    /// What the change left, in the same shape as `before`.
    #[schema(schema_with = audit_state)]
    pub after: serde_json::Value,
    /// Unix time.
    pub created_at: i64,
}

/// The schema of [`AuditEntry::before`]/`after`: an array of objects (policy versions) or an
/// object (account changes and the seed's counts).
fn audit_state() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .into()
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Deletes a rule and returns what it was (None if there was no such rule).
async fn take_rule(tx: &mut Tx<'_>, id: i64) -> StoreResult<Option<RuleText>> {
    let old = rule_by_id(tx, id).await?;
    if old.is_some() {
        sqlx::query("DELETE FROM policy_rules WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(old)
}

async fn rule_by_id(tx: &mut Tx<'_>, id: i64) -> StoreResult<Option<RuleText>> {
    Ok(
        sqlx::query_as::<_, RuleRecord>(select_rules!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .map(RuleText::from),
    )
}

async fn insert_rule(tx: &mut Tx<'_>, r: &RuleText, keep_id: bool, now: i64) -> StoreResult<i64> {
    let q = if keep_id {
        sqlx::query(
            "INSERT INTO policy_rules (id, subject, object, action, scope, condition, effect, created_at) \
             VALUES ($8, $1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
    } else {
        sqlx::query(
            "INSERT INTO policy_rules (subject, object, action, scope, condition, effect, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
    };
    let q = q
        .bind(&r.subject)
        .bind(&r.object)
        .bind(&r.action)
        .bind(&r.scope)
        .bind(&r.condition)
        .bind(&r.effect)
        .bind(now);
    let q = if keep_id { q.bind(r.id) } else { q };
    q.fetch_one(&mut **tx)
        .await
        .map_err(|e| StoreError::classify(e, "an identical rule"))?
        .try_get("id")
        .map_err(StoreError::from)
}

/// Reads the rules and role inheritance inside a transaction.
async fn snapshot_tx(tx: &mut Tx<'_>) -> StoreResult<RulesSnapshot> {
    let rules = sqlx::query_as::<_, RuleRecord>(select_rules!("ORDER BY id"))
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(RuleText::from)
        .collect();
    let inheritance = sqlx::query(
        "SELECT member, role FROM role_assignments WHERE member LIKE 'role:%' ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member")?, r.try_get("role")?)))
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(RulesSnapshot { rules, inheritance })
}

/// Bumps the version (taking the write lock: concurrent writers, here or in another
/// instance, wait for this transaction) and returns the new one. The only writer of the
/// version.
async fn begin_version(db: &Db, tx: &mut Tx<'_>) -> StoreResult<i64> {
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
pub(super) async fn record_registration(
    db: &Db,
    tx: &mut Tx<'_>,
    member: &str,
    role: &str,
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<(i64, i64)> {
    let assignment_id = insert_assignment_tx(tx, member, role, now).await?;
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
pub(super) async fn record_account_edit(
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

/// Writes the version's audit row and, when the rules or role inheritance changed, its
/// snapshot (a change of user -> role rows only, such as a registration, stores none: the
/// previous snapshot still describes that version's rules). Call after the version's writes.
async fn finish_version(
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

pub(super) async fn insert_audit(
    tx: &mut Tx<'_>,
    version: Option<i64>,
    meta: &ChangeMeta<'_>,
    before: &serde_json::Value,
    after: &serde_json::Value,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (version, actor, action, summary, before, after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(version)
    .bind(meta.actor)
    .bind(meta.action)
    .bind(meta.summary)
    .bind(before.to_string())
    .bind(after.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies a change atomically. See the module docs.
pub async fn apply(
    db: &Db,
    expected: Option<i64>,
    ops: &[Op],
    meta: &ChangeMeta<'_>,
    now: i64,
) -> StoreResult<Outcome> {
    let pending = Pending::begin(db).await?;
    if expected.is_some_and(|e| e != pending.base_version()) {
        return Ok(Outcome::VersionMismatch {
            current: pending.base_version(),
        });
    }
    pending.write(ops, meta, now).await
}

/// A change that holds the database's policy write lock: the version is bumped but not yet
/// committed, so no other writer (in this process or another) can change the policy until
/// it is written or dropped. Dropping it rolls everything back.
pub struct Pending {
    tx: Tx<'static>,
    version: i64,
}

impl Pending {
    /// Takes the policy write lock, waiting for writers ahead of us.
    pub async fn begin(db: &Db) -> StoreResult<Self> {
        let mut tx = db.pool().begin().await?;
        let version = begin_version(db, &mut tx).await?;
        Ok(Self { tx, version })
    }

    /// The committed version this change builds on: nobody can move it while we hold the lock.
    pub fn base_version(&self) -> i64 {
        self.version - 1
    }

    /// Writes `ops` and their audit entry and commits, as version `base_version() + 1`.
    pub async fn write(self, ops: &[Op], meta: &ChangeMeta<'_>, now: i64) -> StoreResult<Outcome> {
        let Self { mut tx, version } = self;
        let (mut before, mut after, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                Op::AddRule(r) => {
                    let r = r.text();
                    let id = insert_rule(&mut tx, &r, false, now).await?;
                    ids.push(id);
                    after.push(serde_json::json!({ "rule": RuleText { id, ..r } }));
                }
                Op::UpdateRule(id, r) => {
                    let Some(old) = take_rule(&mut tx, *id).await? else {
                        return Ok(Outcome::NotFound(format!("rule {id}")));
                    };
                    let new = RuleText {
                        id: *id,
                        ..r.text()
                    };
                    insert_rule(&mut tx, &new, true, now).await?;
                    before.push(serde_json::json!({ "rule": old }));
                    after.push(serde_json::json!({ "rule": new }));
                }
                Op::DeleteRule(id) => {
                    let Some(old) = take_rule(&mut tx, *id).await? else {
                        return Ok(Outcome::NotFound(format!("rule {id}")));
                    };
                    before.push(serde_json::json!({ "rule": old }));
                }
                Op::AddAssignment(a) => {
                    let (member, role) = (&a.member, &a.role);
                    insert_assignment_tx(&mut tx, member, role, now).await?;
                    after.push(serde_json::json!({ "assignment": [member, role] }));
                }
                Op::RemoveAssignment(a) => {
                    let (member, role) = (&a.member, &a.role);
                    let gone =
                        sqlx::query("DELETE FROM role_assignments WHERE member = $1 AND role = $2")
                            .bind(member)
                            .bind(role)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    if gone == 0 {
                        return Ok(Outcome::NotFound(format!("assignment {member} -> {role}")));
                    }
                    before.push(serde_json::json!({ "assignment": [member, role] }));
                }
                Op::Restore { rules, inheritance } => {
                    let snap = RulesSnapshot {
                        rules: rules.iter().map(Rule::text).collect(),
                        inheritance: inheritance
                            .iter()
                            .map(|a| (a.member.clone(), a.role.clone()))
                            .collect(),
                    };
                    let old = snapshot_tx(&mut tx).await?;
                    sqlx::query("DELETE FROM policy_rules")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM role_assignments WHERE member LIKE 'role:%'")
                        .execute(&mut *tx)
                        .await?;
                    for r in &snap.rules {
                        // Rolled-back rules keep their ids; imported ones (id 0) get new ids.
                        let id = insert_rule(&mut tx, r, r.id > 0, now).await?;
                        if r.id <= 0 {
                            ids.push(id);
                        }
                    }
                    for (member, role) in &snap.inheritance {
                        insert_assignment_tx(&mut tx, member, role, now).await?;
                    }
                    before.push(serde_json::to_value(old).map_err(json_err)?);
                    after.push(serde_json::to_value(&snap).map_err(json_err)?);
                }
            }
        }
        let rules_changed = ops.iter().any(Op::changes_rules);
        finish_version(
            &mut tx,
            version,
            meta,
            rules_changed,
            &before.into(),
            &after.into(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Outcome::Applied {
            version,
            rule_ids: ids,
        })
    }
}

/// Audit entries, newest first.
pub async fn list_audit(
    db: &Db,
    only_versions: bool,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<AuditEntry>, i64)> {
    let (rows, total) = if only_versions {
        (
            sqlx::query_as::<_, AuditRecord>(select_audit!(
                "WHERE version IS NOT NULL ORDER BY id DESC LIMIT $1 OFFSET $2"
            )),
            sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE version IS NOT NULL"),
        )
    } else {
        (
            sqlx::query_as::<_, AuditRecord>(select_audit!("ORDER BY id DESC LIMIT $1 OFFSET $2")),
            sqlx::query("SELECT COUNT(*) AS n FROM audit_log"),
        )
    };
    let items = rows
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?
        .into_iter()
        .map(AuditEntry::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    let total = total.fetch_one(db.pool()).await?.try_get("n")?;
    Ok((items, total))
}

/// The audit entry that created a version.
pub async fn version_entry(db: &Db, version: i64) -> StoreResult<Option<AuditEntry>> {
    sqlx::query_as::<_, AuditRecord>(select_audit!("WHERE version = $1"))
        .bind(version)
        .fetch_optional(db.pool())
        .await?
        .map(AuditEntry::try_from)
        .transpose()
}

/// The rules and inheritance as of a version (None for a version that never existed).
pub async fn snapshot_at(db: &Db, version: i64) -> StoreResult<Option<RulesSnapshot>> {
    if version_entry(db, version).await?.is_none() {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT rules FROM policy_snapshots WHERE version <= $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        let text: String = r.try_get("rules")?;
        serde_json::from_str(&text).map_err(json_err)
    })
    .transpose()
}

/// A stored `g` rule.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AssignmentRow {
    /// Stable id.
    pub id: i64,
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
}

/// The whole policy as one consistent read, as stored: not yet validated (the engine turns
/// it into a [`crate::policy::rule::RuleSet`], refusing the load if any row is invalid).
#[derive(Debug, Clone, Default)]
pub struct PolicyRows {
    /// Version the rows belong to.
    pub version: i64,
    /// `p` rules, by id.
    pub rules: Vec<RuleText>,
    /// `g` rules, by id.
    pub assignments: Vec<AssignmentRow>,
}

/// Reads the version and every rule and assignment in one transaction, so the three agree.
pub async fn load_all(db: &Db) -> StoreResult<PolicyRows> {
    db.policy_read().await;
    let mut tx = db.pool().begin().await?;
    let version: i64 = sqlx::query("SELECT version FROM policy_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?
        .try_get("version")?;
    let rules = sqlx::query_as::<_, RuleRecord>(select_rules!("ORDER BY id"))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(RuleText::from)
        .collect();
    let assignments = sqlx::query_as::<_, AssignmentRow>(
        "SELECT id, member, role FROM role_assignments ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(PolicyRows {
        version,
        rules,
        assignments,
    })
}

/// The audit action of a registration: one new account with its one role, nothing else.
pub(super) const REGISTRATION: &str = "users.create";

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
            "SELECT id, member, role FROM role_assignments WHERE member = $1 AND role = $2",
        )
        .bind(&member)
        .bind(&role)
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

/// Loads the seed into an empty, never-seeded policy, in one transaction. Returns false
/// (and changes nothing) if the policy was seeded before, even if it is empty now.
pub async fn seed_if_never_seeded(
    db: &Db,
    rules: &[RuleText],
    assignments: &[(&str, &str)],
    now: i64,
) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let claimed = sqlx::query("UPDATE policy_state SET seeded = 1 WHERE id = 1 AND seeded = 0")
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !claimed {
        return Ok(false);
    }
    for r in rules {
        insert_rule(&mut tx, r, false, now).await?;
    }
    for (member, role) in assignments {
        insert_assignment_tx(&mut tx, member, role, now).await?;
    }
    let version = begin_version(db, &mut tx).await?;
    let meta = ChangeMeta {
        actor: "seed",
        action: "seed",
        summary: "seed policy loaded on first start",
    };
    let after = serde_json::json!({ "rules": rules.len(), "assignments": assignments.len() });
    finish_version(
        &mut tx,
        version,
        &meta,
        true,
        &serde_json::json!([]),
        &after,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Inserts a `g` rule inside a transaction.
async fn insert_assignment_tx(
    tx: &mut Tx<'_>,
    member: &str,
    role: &str,
    now: i64,
) -> StoreResult<i64> {
    sqlx::query(
        "INSERT INTO role_assignments (member, role, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(member)
    .bind(role)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| StoreError::classify(e, "role assignment"))?
    .try_get("id")
    .map_err(StoreError::from)
}

/// Overwrites the condition column of a rule without validation (tests simulate a corrupted
/// row with it; nothing in the service calls it).
#[cfg(any(test, feature = "test-util"))]
pub async fn corrupt_condition_for_tests(db: &Db, id: i64, text: &str) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE policy_rules SET condition = $2 WHERE id = $1")
        .bind(id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    begin_version(db, &mut tx).await?;
    tx.commit().await?;
    Ok(())
}
