//! The policy as stored: `p` rules and `g` role assignments (`rules`), the policy version
//! (`versions`), its snapshots and the audit log (`audit`). This module is their only writer;
//! in particular `versions::begin_version` is the one statement that moves `policy_state.version`, and every other store module that
//! makes a policy version (registration, account edits) does it through a function here.
//!
//! Every change is one transaction ([`Pending`]): it takes the write lock first (by bumping
//! the version, so concurrent writers, in this process or another, queue instead of failing
//! to upgrade a read lock), checks the caller's expected version, applies its operations,
//! stores the resulting rules as that version's snapshot, writes one audit row, commits. On
//! Postgres the version's move is announced to every instance by a trigger
//! ([`super::notify`]).

use super::{StoreError, StoreResult};
use crate::policy::change::Op;
use crate::policy::rule::{Assignment, GLOBAL, Rule, RuleText, legacy_domain};
use crate::store::Db;

pub(in crate::store) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// `SELECT <every rule column> FROM policy_rules <rest>`: the one place the column list of
/// a rule is written, in [`rules::RuleRecord`]'s order.
macro_rules! select_rules {
    ($rest:literal) => {
        concat!(
            "SELECT id, subject, object, action, scope, condition, effect, tenant FROM policy_rules ",
            $rest
        )
    };
}

/// `SELECT <every audit column> FROM audit_log <rest>`, in [`audit::AuditRecord`]'s order.
macro_rules! select_audit {
    ($rest:literal) => {
        concat!(
            "SELECT id, version, actor, action, summary, before, after, created_at FROM audit_log ",
            $rest
        )
    };
}

mod audit;
mod matrices;
mod rules;
mod versions;

pub(in crate::store) use audit::tag_tenant;
pub use audit::{AuditEntry, AuditScope, list_audit, snapshot_at, version_entry, version_entry_in};
#[cfg(any(test, feature = "test-util"))]
pub use matrices::forget_matrices_for_tests;
#[cfg(any(test, feature = "test-util"))]
pub use rules::corrupt_condition_for_tests;
pub use rules::{AssignmentRow, PolicyRows, RulesSnapshot, load_all, seed_if_never_seeded};
use rules::{insert_assignment_tx, insert_rule, snapshot_tx, take_rule};
pub use versions::{MAX_REGISTRATIONS_APPLIED, registrations_between, version};
pub(in crate::store) use versions::{
    REGISTRATION, record_account_edit, record_account_event, record_registration,
};
use versions::{begin_version, finish_version};

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
        /// Matrices the change created (a put of a name that did not exist).
        matrices_created: Vec<String>,
    },
    /// `If-Match` did not match; nothing changed.
    VersionMismatch {
        /// The version that is current.
        current: i64,
    },
    /// An operation named a rule or assignment that does not exist; nothing changed.
    NotFound(String),
}

/// An assignment as the audit shows it: `[member, role]` where it holds where the
/// installation's API has always put it (so audit rows read as before), else `[member, role,
/// domain]`.
fn assignment_json(a: &Assignment) -> serde_json::Value {
    if a.domain == legacy_domain(&a.member, &a.role) {
        serde_json::json!([a.member, a.role])
    } else {
        serde_json::json!([a.member, a.role, a.domain])
    }
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
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

    /// The change's transaction, for account writes that belong to the same version (service
    /// accounts): they commit with it or not at all.
    pub(in crate::store) fn tx(&mut self) -> &mut Tx<'static> {
        &mut self.tx
    }

    /// The committed version this change builds on: nobody can move it while we hold the lock.
    pub fn base_version(&self) -> i64 {
        self.version - 1
    }

    /// Writes `ops` and their audit entry and commits, as version `base_version() + 1`.
    pub async fn write(self, ops: &[Op], meta: &ChangeMeta<'_>, now: i64) -> StoreResult<Outcome> {
        let Self { mut tx, version } = self;
        let (mut before, mut after, mut ids) = (Vec::new(), Vec::new(), Vec::new());
        let mut matrices_created = Vec::new();
        let mut touched = Touched::default();
        for op in ops {
            match op {
                Op::AddRule(r) => {
                    let r = r.text();
                    let id = insert_rule(&mut tx, &r, false, now).await?;
                    touched.domain(&r.tenant);
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
                    touched.domain(&old.tenant);
                    touched.domain(&new.tenant);
                    before.push(serde_json::json!({ "rule": old }));
                    after.push(serde_json::json!({ "rule": new }));
                }
                Op::DeleteRule(id) => {
                    let Some(old) = take_rule(&mut tx, *id).await? else {
                        return Ok(Outcome::NotFound(format!("rule {id}")));
                    };
                    touched.domain(&old.tenant);
                    before.push(serde_json::json!({ "rule": old }));
                }
                Op::AddAssignment(a) => {
                    insert_assignment_tx(&mut tx, &a.member, &a.role, &a.domain, now).await?;
                    touched.domain(&a.domain);
                    after.push(serde_json::json!({ "assignment": assignment_json(a) }));
                }
                Op::RemoveAssignment(a) => {
                    let (member, role) = (&a.member, &a.role);
                    let gone = sqlx::query(
                        "DELETE FROM role_assignments WHERE member = $1 AND role = $2 AND domain = $3",
                    )
                    .bind(member)
                    .bind(role)
                    .bind(&a.domain)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if gone == 0 {
                        return Ok(Outcome::NotFound(format!("assignment {member} -> {role}")));
                    }
                    touched.domain(&a.domain);
                    before.push(serde_json::json!({ "assignment": assignment_json(a) }));
                }
                Op::PutMatrix(m) => {
                    touched.matrix(&m.name);
                    match matrices::take(&mut tx, &m.name).await? {
                        Some(old) => before.push(serde_json::json!({ "matrix": old })),
                        None => matrices_created.push(m.name.clone()),
                    }
                    matrices::insert(&mut tx, m, now).await?;
                    after.push(serde_json::json!({ "matrix": m }));
                }
                Op::DeleteMatrix(name) => {
                    touched.matrix(name);
                    let Some(old) = matrices::take(&mut tx, name).await? else {
                        return Ok(Outcome::NotFound(format!("matrix {name}")));
                    };
                    before.push(serde_json::json!({ "matrix": old }));
                }
                Op::Restore {
                    rules,
                    inheritance,
                    matrices: restored,
                } => {
                    touched.everything();
                    let old = snapshot_tx(&mut tx).await?;
                    let snap = RulesSnapshot {
                        rules: rules.iter().map(Rule::text).collect(),
                        inheritance: inheritance
                            .iter()
                            .map(|a| (a.member.clone(), a.role.clone()))
                            .collect(),
                        // what the version will hold: the restored set, or the one kept
                        matrices: restored.clone().or_else(|| old.matrices.clone()),
                    };
                    if let Some(m) = restored {
                        matrices::replace_all(&mut tx, m, now).await?;
                    }
                    sqlx::query("DELETE FROM policy_rules")
                        .execute(&mut *tx)
                        .await?;
                    // Global inheritance only: the snapshot records it (tenants hold members).
                    sqlx::query(
                        "DELETE FROM role_assignments WHERE member LIKE 'role:%' AND domain = '*'",
                    )
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
                        insert_assignment_tx(&mut tx, member, role, GLOBAL, now).await?;
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
        if let Some(tenant) = touched.only() {
            tag_tenant(&mut tx, version, tenant).await?;
        }
        tx.commit().await?;
        Ok(Outcome::Applied {
            version,
            rule_ids: ids,
            matrices_created,
        })
    }
}

/// The tenants a change's operations touched, so its audit row can be shown to that
/// tenant's admin: exactly one tenant, and nothing global (a global rule, global role
/// inheritance, matrices, a rollback), or nobody but an installation admin sees it.
#[derive(Debug, Default)]
struct Touched {
    tenants: std::collections::BTreeSet<String>,
    global: bool,
}

impl Touched {
    fn domain(&mut self, domain: &str) {
        if domain == GLOBAL {
            self.global = true;
        } else {
            self.tenants.insert(domain.to_owned());
        }
    }

    fn everything(&mut self) {
        self.global = true;
    }

    /// A matrix stored as `<tenant>/<name>` is that tenant's; any other is the installation's.
    fn matrix(&mut self, stored: &str) {
        match crate::policy::stored_matrix::split_name(stored) {
            (Some(tenant), _) => self.domain(tenant),
            (None, _) => self.everything(),
        }
    }

    fn only(&self) -> Option<&str> {
        match (self.global, self.tenants.len()) {
            (false, 1) => self.tenants.first().map(String::as_str),
            _ => None,
        }
    }
}

#[cfg(test)]
mod touched_tests {
    use super::Touched;

    #[test]
    fn a_change_is_one_tenants_only_when_it_touched_that_tenant_and_nothing_else() {
        let cases: [(&[&str], bool, Option<&str>); 6] = [
            (&["acme"], false, Some("acme")),
            (&["acme", "acme"], false, Some("acme")),
            (&["acme", "globex"], false, None),
            (&["acme", "*"], false, None),
            (&["acme"], true, None),
            (&[], false, None),
        ];
        for (domains, everything, expected) in cases {
            let mut t = Touched::default();
            for d in domains {
                t.domain(d);
            }
            if everything {
                t.everything();
            }
            assert_eq!(t.only(), expected, "{domains:?} everything={everything}");
        }
    }

    #[test]
    fn a_tenants_matrix_touches_its_tenant_and_the_installations_touches_everything() {
        let only = |names: &[&str]| {
            let mut t = Touched::default();
            for n in names {
                t.matrix(n);
            }
            t.only().map(str::to_owned)
        };
        assert_eq!(only(&["acme/iso"]), Some("acme".to_owned()));
        assert_eq!(only(&["acme/iso", "acme/other"]), Some("acme".to_owned()));
        assert_eq!(only(&["acme/iso", "globex/iso"]), None);
        assert_eq!(only(&["seed"]), None);
        assert_eq!(only(&["acme/iso", "seed"]), None);
    }
}
