//! casbin-rs as the oracle of the compiled engine ([`Snapshot::casbin_decide`]), with the
//! rule for conditions that cannot be evaluated stated.
//!
//! casbin-rs cannot itself say that a condition could not be evaluated: its Rhai reads a
//! missing attribute as `()` and answers `false` (or `true` for `!=`) instead of failing, and
//! fails the whole enforce only when such a value is used as a boolean. So the oracle's
//! answer to a request `q` over the rules `R` (in load order) is derived in four steps:
//!
//! 1. **Unevaluable rules, by the strict evaluator.** [`Snapshot::native`], a linear scan over
//!    every rule (no index, no compiled plan), finds the rules that apply to `q` apart from
//!    their condition and evaluates each condition strictly; `E` is those whose condition
//!    fails (missing attribute, type mismatch, non-boolean).
//! 2. **Everything else, by casbin-rs.** casbin-rs's enforcer over `R \ E` (the same model, the
//!    same rows, minus `E`) answers `q`: `allowed'` and the ids it matched (the allows before
//!    the first matching deny, and that deny: its effector stops there).
//! 3. **Cross-check.** The strict scan over `R \ E` must reach the same `allowed'` and the same
//!    ids; casbin failing on `R \ E` (where the strict evaluator found every condition
//!    evaluable) is a disagreement too. A disagreement is a deny with an error (and fails the
//!    differential test).
//! 4. **The error rule.** `unevaluated` = the rules of `E` before the deny casbin matched (all
//!    of `E` if it matched none); `allowed` = `allowed'` and no deny rule in `unevaluated` (an
//!    unevaluable allow grants nothing, which removing it from `R` already says; an
//!    unevaluable deny denies); `matched` = casbin's ids; `error` as
//!    [`deny_reason`](crate::policy::decide::deny_reason) says.
//!
//! When `E` is empty (most requests) this is exactly casbin-rs over every rule, cross-checked,
//! as before. Enforcers over `R \ E` are built on first use and a few are kept per snapshot.

use std::sync::Arc;

use casbin::{CoreApi, Enforcer};

use super::{Decision, LoadError, Snapshot, adapter, build_enforcer_with_model};
use crate::policy::decide::{Unevaluated, deny_reason};
use crate::policy::rule::{self, Effect};
use crate::policy::{AttrValue, Object, Subject};

/// Enforcers over `R \ E` kept per snapshot, at most (the shadow sees few distinct `E`).
const PRUNED_KEPT: usize = 16;

/// The snapshot's casbin-rs enforcers, built on first use.
#[derive(Default)]
pub(super) struct Oracle {
    /// Over every rule.
    full: tokio::sync::OnceCell<Result<Arc<Enforcer>, LoadError>>,
    /// Over every rule but the listed ids (step 2 of the module docs), newest last.
    pruned: tokio::sync::Mutex<Vec<(Vec<i64>, Arc<Enforcer>)>>,
}

/// How one rule that applies apart from its condition evaluated, strictly.
type Verdict = (usize, Result<bool, Unevaluated>);

impl Snapshot {
    /// The oracle: the request decided by casbin-rs with the rule of the module docs —
    /// casbin-rs's enforcer over every rule the strict evaluator can evaluate, cross-checked
    /// by [`Snapshot::native`], and rules that cannot be evaluated granting nothing (allow) or
    /// denying (deny). Builds its enforcers on first use, so serving never pays for them.
    pub async fn casbin_decide(&self, sub: &Subject, obj: &Object, act: &str) -> Decision {
        let deny = |error: String| Decision {
            allowed: false,
            matched_rules: Vec::new(),
            unevaluated: Vec::new(),
            policy_version: self.version,
            error: Some(error),
        };
        if self.foreign_tenant_path(sub, obj) {
            return Decision {
                allowed: false,
                matched_rules: Vec::new(),
                unevaluated: Vec::new(),
                policy_version: self.version,
                error: None,
            };
        }
        let rules = self.policy.rules();
        let strict = self.native(sub, obj, act);
        let skipped: Vec<i64> = strict
            .iter()
            .filter(|(_, v)| v.is_err())
            .map(|&(pos, _)| rules[pos].id)
            .collect();
        let enforcer = match self.enforcer_without(&skipped).await {
            Ok(e) => e,
            Err(e) => return deny(e.to_string()),
        };
        let (casbin_allowed, rows) = match enforcer.enforce_ex((sub, obj, act)) {
            Ok(r) => r,
            Err(e) => return deny(e.to_string()),
        };
        let matched: Vec<i64> = rows
            .iter()
            .filter_map(|row| row.last().and_then(|id| id.parse().ok()))
            .collect();
        // The strict scan over the same rules (step 3).
        let mut strict_matched = Vec::new();
        let mut strict_allowed = false;
        for (pos, v) in &strict {
            if let Ok(true) = v {
                strict_matched.push(rules[*pos].id);
                if rules[*pos].effect == Effect::Deny {
                    strict_allowed = false;
                    break;
                }
                strict_allowed = true;
            }
        }
        if (casbin_allowed, &matched) != (strict_allowed, &strict_matched) {
            return deny("the policy engines disagree".to_owned());
        }
        // Step 4: the unevaluable rules the scan reached, up to the deny that ended it.
        let stop = matched
            .last()
            .filter(|id| {
                rules
                    .iter()
                    .any(|r| r.id == **id && r.effect == Effect::Deny)
            })
            .copied();
        let unevaluated: Vec<Unevaluated> = strict
            .into_iter()
            .take_while(|(pos, _)| Some(rules[*pos].id) != stop)
            .filter_map(|(_, v)| v.err())
            .collect();
        let allowed = casbin_allowed && !unevaluated.iter().any(|u| u.effect == Effect::Deny);
        Decision {
            allowed,
            error: deny_reason(allowed, stop.is_some(), &unevaluated),
            matched_rules: matched,
            unevaluated,
            policy_version: self.version,
        }
    }

    /// casbin-rs over every rule but `skipped` (ids).
    async fn enforcer_without(&self, skipped: &[i64]) -> Result<Arc<Enforcer>, LoadError> {
        if skipped.is_empty() {
            return self
                .oracle
                .full
                .get_or_init(|| async {
                    build_enforcer_with_model(&self.model, adapter::RowsAdapter(self.loaded()))
                        .await
                        .map(Arc::new)
                })
                .await
                .clone();
        }
        let mut pruned = self.oracle.pruned.lock().await;
        if let Some((_, e)) = pruned.iter().find(|(ids, _)| ids == skipped) {
            return Ok(e.clone());
        }
        let mut rows = self.loaded();
        rows.rules.retain(|r| !skipped.contains(&r.id));
        let enforcer =
            Arc::new(build_enforcer_with_model(&self.model, adapter::RowsAdapter(rows)).await?);
        if pruned.len() == PRUNED_KEPT {
            pruned.remove(0);
        }
        pruned.push((skipped.to_vec(), enforcer.clone()));
        Ok(enforcer)
    }

    /// Warden's strict evaluation, a linear scan over every rule (the oracle's step 1 and
    /// cross-check; not used for serving): for each rule whose action, object, scope and
    /// subject apply, in load order, its position and whether its condition holds, or why it
    /// cannot be evaluated.
    pub fn native(&self, sub: &Subject, obj: &Object, act: &str) -> Vec<Verdict> {
        let mut subjects = self.policy.roles_in(&sub.principal, &sub.tenant);
        subjects.push(sub.principal.clone());
        let lookup_sub = |k: &str| match k {
            "name" => Some(AttrValue::Str(sub.name.clone())),
            "tenant" => Some(AttrValue::Str(sub.tenant.clone())),
            "principal" => Some(AttrValue::Str(sub.principal.clone())),
            "scopes" => Some(AttrValue::List(sub.scopes.clone())),
            _ => sub.attributes.get(k).cloned(),
        };
        let lookup_obj = |k: &str| match k {
            "resource" => Some(AttrValue::Str(obj.resource.clone())),
            _ => obj.attributes.get(k).cloned(),
        };
        let present = |side: &str, name: &str| {
            if side == "sub" {
                lookup_sub(name).is_some()
            } else {
                lookup_obj(name).is_some()
            }
        };
        self.policy
            .rules()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                (r.action == "*" || r.action == act)
                    && (r.tenant == rule::GLOBAL || r.tenant == sub.tenant)
                    && rule::object_matches(&obj.resource, &r.object)
                    && (r.scope == "*" || sub.scopes.contains(&r.scope))
                    && (r.subject == rule::EVERYONE || subjects.contains(&r.subject))
            })
            .map(|(pos, r)| {
                let verdict = r
                    .condition
                    .eval(&lookup_sub, &lookup_obj)
                    .map_err(|e| Unevaluated::new(r, &e, present));
                (pos, verdict)
            })
            .collect()
    }
}
