//! Policy changes: validate, apply to a copy, check invariant matrices on the copy, commit
//! in one versioned transaction, then swap the new snapshot in. Any failure before commit
//! leaves the database and the in-memory policy exactly as they were.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{Engine, Snapshot};
use crate::matrix::limits::Budget;
use crate::matrix::{Matrix, MatrixError};
use crate::policy::change::{Op, apply, same_rule};
use crate::policy::decide::Policy;
use crate::policy::rule::{Rule, RuleSet};
use crate::policy::stored_matrix::MatrixText;
use crate::policy::{ChangeError, Conflict, Flip};
use crate::store::policy::{ChangeMeta, Outcome};
use crate::store::{self, Db};

/// A committed change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// The new policy version.
    pub policy_version: i64,
    /// Ids of rules the change added.
    pub rule_ids: Vec<i64>,
    /// Matrices the change created (not part of the answer: `PUT` says it with 201).
    #[serde(skip)]
    pub matrices_created: Vec<String>,
}

/// `user:<name>` subjects an edit introduces must name an existing account: a grant to a
/// name nobody holds yet would go to whoever registers it first.
/// `creating` is an account the same change creates (a service account and its roles).
async fn ensure_users_exist(
    db: &Db,
    ops: &[Op],
    creating: Option<&str>,
) -> Result<(), ChangeError> {
    // an imported policy file may name users too
    let named = ops.iter().flat_map(Op::subjects);
    let mut checked = std::collections::HashSet::new();
    for (field, subject) in named {
        if let Some(name) = subject.strip_prefix("user:")
            && creating.is_none_or(|c| store::users::username_key(c) != name)
            && checked.insert(name)
            && store::users::find_by_username(db, name).await?.is_none()
        {
            return Err(ChangeError::invalid(
                field,
                format!("no account is named `{name}`; grant to existing accounts only"),
            ));
        }
    }
    Ok(())
}

/// Cells of `matrices` whose answer differs between `before` and `after`.
pub async fn flips(
    matrices: &[Matrix],
    before: &RuleSet,
    after: &RuleSet,
) -> Result<Vec<Flip>, ChangeError> {
    flips_within(matrices, before, after, &Budget::unlimited())
        .await
        .map_err(|e| ChangeError::invalid("matrix", e))
}

/// [`flips`] within a budget (an error once it runs out).
pub async fn flips_within(
    matrices: &[Matrix],
    before: &RuleSet,
    after: &RuleSet,
    budget: &Budget,
) -> Result<Vec<Flip>, MatrixError> {
    let mut out = Vec::new();
    for m in matrices {
        let (b, a) = (m.policy_under_test(before)?, m.policy_under_test(after)?);
        let cells_before = m.run_within(&b, budget)?;
        let cells_after = m.run_within(&a, budget)?;
        for (cb, ca) in cells_before.iter().zip(&cells_after) {
            if cb.actual != ca.actual {
                out.push(Flip {
                    matrix: m.name.clone(),
                    subject: ca.subject.clone(),
                    object: ca.object.clone(),
                    action: ca.action.clone(),
                    before: cb.actual,
                    after: ca.actual,
                    expected: ca.expected,
                });
            }
        }
    }
    Ok(out)
}

/// Invariant cells `after` breaks: cells that fail under `after` and did not already fail
/// under `before`. The common case (nothing fails after) never evaluates `before`.
pub(super) async fn broken_invariants(
    invariants: &[Matrix],
    before: &RuleSet,
    after: &RuleSet,
) -> Result<Vec<Flip>, ChangeError> {
    let mut suspects = Vec::new();
    for m in invariants {
        let snap = m.policy_under_test(after).map_err(ChangeError::internal)?;
        let cells = match cells_a_change_can_flip(m, before, after, &snap) {
            Some(indices) => m.run_cells(&snap, &m.coordinates(), &indices, &Budget::unlimited()),
            None => m.run(&snap),
        }
        .map_err(|e| ChangeError::invalid("matrix", e))?;
        if cells
            .iter()
            .any(|c| c.expected.is_some_and(|e| e != c.actual))
        {
            suspects.push(m.clone());
        }
    }
    if suspects.is_empty() {
        return Ok(Vec::new());
    }
    Ok(violations(
        &flips(&suspects, before, after).await?,
        &suspects,
    ))
}

/// The cells of `m` whose answer a change from `before` to `after` can alter, when that can
/// be told without evaluating them (None: evaluate every cell).
///
/// When the role graph is unchanged, a decision depends only on the rules that apply to the
/// request (subject reached, object pattern, action and scope match; conditions aside), so
/// only cells to which an added, removed or edited rule applies can change. This keeps every
/// edit's invariant check proportional to what it touches, not to the matrix.
fn cells_a_change_can_flip(
    m: &Matrix,
    before: &RuleSet,
    after: &RuleSet,
    snap: &Policy,
) -> Option<Vec<usize>> {
    let edges = |l: &RuleSet| -> HashSet<(String, String)> {
        l.assignments
            .iter()
            .map(|a| (a.member.clone(), a.role.clone()))
            .collect()
    };
    if !m.routes.is_empty() || edges(before) != edges(after) {
        return None;
    }
    let unchanged =
        |r: &Rule, other: &RuleSet| other.rules.iter().any(|x| x.id == r.id && same_rule(x, r));
    let touched: Vec<&Rule> = after
        .rules
        .iter()
        .filter(|r| !unchanged(r, before))
        .chain(before.rules.iter().filter(|r| !unchanged(r, after)))
        .collect();
    let mut reached: HashMap<&str, (String, Vec<String>)> = HashMap::new();
    let coords = m.coordinates();
    let mut out = Vec::new();
    for (i, (s, _, o, a)) in coords.iter().enumerate() {
        let (principal, roles) = reached.entry(s).or_insert_with(|| {
            let principal = format!("user:{s}");
            // The roles it holds in the tenant it asks in: a subject of `acme` holds its
            // roles there, not in `default` (reading them there skipped every such cell).
            let tenant = m
                .subjects
                .get(*s)
                .and_then(|x| x.tenant.as_deref())
                .unwrap_or(crate::policy::rule::DEFAULT_TENANT);
            let roles = snap.roles_in(&principal, tenant);
            (principal, roles)
        });
        let scopes = m
            .subjects
            .get(*s)
            .map(|x| x.scopes.as_slice())
            .unwrap_or(&[]);
        let resource = m
            .object(o, a, s)
            .map_or_else(|| (*o).to_owned(), |x| x.resource);
        let applies = |r: &&Rule| {
            (r.action == "*" || r.action == *a)
                && crate::policy::rule::object_matches(&resource, &r.object)
                && (r.scope == "*" || scopes.contains(&r.scope))
                && (r.subject == crate::policy::rule::EVERYONE
                    || &r.subject == principal
                    || roles.contains(&r.subject))
        };
        if touched.iter().any(applies) {
            out.push(i);
        }
    }
    Some(out)
}

/// Invariant cells the change would break: flips of invariant matrices that now fail.
pub fn violations(flips: &[Flip], invariants: &[Matrix]) -> Vec<Flip> {
    flips
        .iter()
        .filter(|f| {
            invariants.iter().any(|m| m.name == f.matrix)
                && f.expected.is_some_and(|e| e != f.after)
        })
        .cloned()
        .collect()
}

impl Engine {
    /// The database this engine loads from.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Validates and commits a change; see the module docs. `if_match` is the client's
    /// `If-Match` version (412 on mismatch).
    pub async fn change(
        &self,
        ops: Vec<Op>,
        if_match: Option<i64>,
        meta: &ChangeMeta<'_>,
        now: i64,
    ) -> Result<Applied, ChangeError> {
        Ok(self
            .commit(ops, if_match, meta, now, None, AccountEdit::default())
            .await?
            .0)
    }

    /// A change that also writes a service account (create, rotate, delete) in the same
    /// transaction: validated, invariant- and lock-out-checked, versioned and audited like any
    /// change, the account write committing with it or not at all. `edit` says which account
    /// the change creates (its assignments may name it) or what it becomes (for the lock-out
    /// check: a deleted account is checked as disabled).
    pub async fn change_service_account(
        &self,
        ops: Vec<Op>,
        meta: &ChangeMeta<'_>,
        now: i64,
        write: store::service_accounts::Write<'_>,
        edit: AccountEdit<'_>,
    ) -> Result<(Applied, store::service_accounts::Written), ChangeError> {
        let (applied, written) = self.commit(ops, None, meta, now, Some(write), edit).await?;
        let written =
            written.ok_or_else(|| ChangeError::internal("an account write reported nothing"))?;
        Ok((applied, written))
    }

    async fn commit(
        &self,
        ops: Vec<Op>,
        if_match: Option<i64>,
        meta: &ChangeMeta<'_>,
        now: i64,
        write: Option<store::service_accounts::Write<'_>>,
        edit: AccountEdit<'_>,
    ) -> Result<(Applied, Option<store::service_accounts::Written>), ChangeError> {
        let _one_at_a_time = self.change.lock().await;
        // Validate against the newest policy without holding the database's write lock, so
        // the lock is held only for the writes themselves...
        let validated = self.validate(&ops, edit).await?;
        // ...then take it. Nobody can change the policy while we hold it (other instances
        // queue), so If-Match is checked against the truth.
        let mut pending = store::policy::Pending::begin(&self.db).await?;
        let current = pending.base_version();
        if let Some(v) = if_match.filter(|v| *v != current) {
            return Err(ChangeError::VersionMismatch {
                expected: v,
                current,
            });
        }
        // The policy moved while we validated (another instance): validate again, now under
        // the lock. No retry loop, so contention cannot starve a change.
        if validated != current && self.validate(&ops, edit).await? != current {
            return Err(ChangeError::Unavailable("the policy could not be loaded"));
        }
        let written = match &write {
            Some(w) => Some(
                store::service_accounts::write(&self.db, &mut pending, w, now)
                    .await?
                    .ok_or_else(|| ChangeError::NotFound("service account".into()))?,
            ),
            None => None,
        };
        match pending.write(&ops, meta, now).await? {
            Outcome::Applied {
                version,
                rule_ids,
                matrices_created,
            } => {
                if let Err(e) = self.reload().await {
                    // Serving the replaced policy would contradict the admin's committed
                    // edit (say, a revoked grant): fail closed until the poller loads it.
                    tracing::error!(error = %e, "committed policy could not be loaded; denying all");
                    self.current.store(None);
                }
                Ok((
                    Applied {
                        policy_version: version,
                        rule_ids,
                        matrices_created,
                    },
                    written,
                ))
            }
            Outcome::NotFound(what) => Err(ChangeError::NotFound(what)),
            Outcome::VersionMismatch { .. } => Err(ChangeError::internal(
                "a held policy lock reported a version mismatch",
            )),
        }
    }

    /// Checks `ops` as [`Engine::change`] would, without committing: the dry run. The same
    /// function does the checking for both, so a dry run reports exactly the refusal the
    /// change would get. Server-side failures (503, 500) are errors of the dry run itself.
    pub async fn review(&self, ops: &[Op]) -> Result<Review, ChangeError> {
        let mut seen = Proposal::default();
        let verdict = match self
            .check_change(ops, &mut seen, AccountEdit::default())
            .await
        {
            Err(e) if e.is_service_failure() => return Err(e),
            v => v.map(|_| ()),
        };
        Ok(Review {
            version: match &seen.before {
                Some(b) => b.version,
                None => self.snapshot()?.version(),
            },
            before: seen.before,
            after: seen.after,
            matrices: seen.matrices,
            verdict,
        })
    }

    /// The checks of [`Engine::change`]: see [`Engine::check_change`].
    async fn validate(&self, ops: &[Op], edit: AccountEdit<'_>) -> Result<i64, ChangeError> {
        self.check_change(ops, &mut Proposal::default(), edit).await
    }

    /// Every check a change must pass before it is committed, in order: the accounts it names
    /// exist (422), the newest policy loads (503), the operations are valid (422/404/409), the
    /// matrices it would leave are valid (422), every new or edited invariant matrix holds on
    /// the policy it would guard (422 `invariant_fails`), no cell of the other invariant
    /// matrices breaks (409 `invariant_violation`), no property of an invariant matrix breaks
    /// (409 `property_violated`), no lock-out (409 `lockout`). The invariants
    /// are the live set's, as the change leaves it. Records the policies it got as far as in
    /// `seen`. Returns the version it checked against.
    async fn check_change(
        &self,
        ops: &[Op],
        seen: &mut Proposal,
        edit: AccountEdit<'_>,
    ) -> Result<i64, ChangeError> {
        ensure_users_exist(&self.db, ops, edit.creating).await?;
        self.reload()
            .await
            .map_err(|_| ChangeError::Unavailable("the policy could not be loaded"))?;
        let base = self.snapshot()?;
        seen.before = Some(base.loaded());
        let next = apply(&base.loaded(), ops)?;
        self.check_path_case(&next.rules)
            .map_err(|e| ChangeError::Invalid {
                field: "rule",
                message: e.to_string(),
                column: None,
            })?;
        seen.after = Some(next.clone());
        let known = base.parsed_matrices();
        let matrices = super::matrices::parse_set(&next.matrices, known)?;
        seen.matrices = Some(matrices.clone());
        let unchanged = |t: &MatrixText| known.iter().any(|(k, _)| k == t);
        let (kept, fresh): (Vec<(&MatrixText, &Matrix)>, Vec<_>) = next
            .matrices
            .iter()
            .zip(&matrices)
            .filter(|(_, m)| m.invariant)
            .partition(|(t, _)| unchanged(t));
        let fresh: Vec<&Matrix> = fresh.into_iter().map(|(_, m)| m).collect();
        let (cells, failing) = super::matrices::failing_cells(&fresh, &base.loaded(), &next)?;
        if failing > 0 {
            return Err(ChangeError::InvariantFails { cells, failing });
        }
        let invariants: Vec<Matrix> = kept.into_iter().map(|(_, m)| m.clone()).collect();
        let broken = broken_invariants(&invariants, &base.loaded(), &next).await?;
        if !broken.is_empty() {
            return Err(ChangeError::InvariantViolation { cells: broken });
        }
        let proposed = Snapshot::from_rows(next)
            .await
            .map_err(ChangeError::internal)?;
        // A lock-out first: it names the routes no real account could reach any more, which
        // says more than the counterexample of `admins-keep-the-admin-api` it also breaks.
        self.ensure_administrable(&proposed, edit.changed).await?;
        super::properties::check(&matrices, proposed.policy()).await?;
        Ok(base.version())
    }
}

/// The account a change creates or changes besides the policy (service accounts).
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountEdit<'a> {
    /// The name of an account the change creates: its assignments may name it.
    pub creating: Option<&'a str>,
    /// An account as the change leaves it, for the lock-out check (a deleted one as disabled).
    pub changed: Option<&'a store::users::UserRow>,
}

/// The policies a change's checks got as far as building.
#[derive(Debug, Default)]
struct Proposal {
    before: Option<RuleSet>,
    after: Option<RuleSet>,
    matrices: Option<Vec<Matrix>>,
}

/// What the change protocol concludes about a proposed change (see [`Engine::review`]).
#[derive(Debug)]
pub struct Review {
    /// The policy version the change was checked against.
    pub version: i64,
    /// The policy it was checked against (None if refused before the policy was read).
    pub before: Option<RuleSet>,
    /// The policy it would produce (None if refused before it could be built).
    pub after: Option<RuleSet>,
    /// The matrices it would leave, parsed (None if refused before they were).
    pub matrices: Option<Vec<Matrix>>,
    /// Ok: the change would be committed; Err: exactly the refusal the change gets.
    pub verdict: Result<(), ChangeError>,
}

/// Store failures as the change protocol reports them: a duplicate is a conflict, an
/// unreachable database makes the change unavailable, anything else is internal.
impl From<store::StoreError> for ChangeError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Conflict(what) => ChangeError::Conflict {
                code: Conflict::Duplicate,
                message: what.to_owned(),
            },
            store::StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                ChangeError::Unavailable("the database is unavailable")
            }
            other => ChangeError::internal(other),
        }
    }
}
