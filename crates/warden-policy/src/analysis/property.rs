//! Properties proved for every subject: "for every subject without `role:admin`, every
//! `/v1/admin/*` route x method is denied"; "for every document, read is denied when
//! `r.obj.classification >= 3 && !(r.sub.clearance >= 3)`".
//!
//! A [`Property`] quantifies over **all** requests: every principal, every role set, every token
//! scope set, every attribute value (missing and wrong-typed ones included), every object the
//! property names and every action it lists. [`prove`] checks it by partitioning those infinite
//! domains into finitely many classes and deciding one representative of each with
//! [`Policy::decide`]; a violation comes back as a concrete request ([`Counterexample`]) and the
//! rules that allow it.
//!
//! Why the classes cover everything:
//! - **Roles.** An allow is granted by one rule whose subject the principal holds (or `*`).
//!   Holding fewer roles makes fewer rules applicable (deny rules included) and keeps that
//!   rule, so if any role set violates the property, the set of one role the subject of the
//!   granting rule (and what it inherits) violates it too. The classes are: a fresh user
//!   assigned to one role of the role graph (each role in turn), a fresh user with no or an
//!   unknown role, and every user the policy names, with their roles.
//! - **Scopes.** The same argument: no scope, each scope a rule names, and all of them.
//! - **Objects.** A type (`document`) is itself; a path pattern (`/v1/admin/*`) is represented
//!   by each rule's object pattern instantiated (`:id` -> `1`, a trailing `*` -> `~`) and the
//!   property's own, where the result lies under the property's pattern.
//! - **Attributes.** Only the attributes that the applicable rules and the premise read vary,
//!   and a condition sees them only through their *order type*: each value's type, and how it
//!   lies against the constants and the other values it meets in an atom (`<`, `=`, `>`; for a
//!   list, which of the values looked for in it it holds, and which lists it equals). Requests
//!   of one order type are decided alike, so one representative of each suffices; the values
//!   tried realise every order type (details and the argument in `property/domains.rs`): per
//!   group of attributes that meet in an atom, each is missing, of a type it is not used as
//!   (`m` distinct values), or of each type it is used as: each constant of the group, and for
//!   ordered strings and ints `m` values in every gap between the sorted constants, below the
//!   smallest and above the largest (`"b" < "ba" < "c"`, `"" < "a" < "b"`), for equality only
//!   `m` fresh values (`m` = the group's members of that type: all `m` can lie in one gap in
//!   any order, or all differ from the constants and from each other);
//!   a list is every subset of the values looked for in it with `in` in that request (and
//!   those with fresh elements, and the arrays it is compared with), not assuming that more
//!   elements allow more (a `!`, a deny rule). A fresh user's name varies over the same values
//!   (none an account's); the fixed built-ins (name, principal, tenant, scopes, resource) are
//!   constants of their group.
//!
//! Not covered exactly: a condition on `r.obj.resource`, `r.sub.principal` or `r.sub.tenant`
//! sees only the representative objects, principals and tenants above (`/v1/admin/~`,
//! `user:~someone`, the tenants the policy names and `~other`), not every path a pattern
//! matches, every user name or every tenant. A search that would decide more than
//! [`MAX_CASES`] requests stops with [`ProofError::TooLarge`], which an edit check treats as a
//! refusal (fail closed).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::decide::Policy;
use crate::rule::{Assignment, EVERYONE, Effect, object_matches};
use crate::{AttrValue, Object, Subject};

mod domains;

use domains::{Domains, Fixed, View};

/// Most requests one property may decide before [`prove`] gives up.
pub const MAX_CASES: usize = 2_000_000;

/// The name a fresh user (one no rule or assignment names) is given.
pub const FRESH_USER: &str = "~someone";

/// What a property requires of every request it covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Denied (nobody gets more than this).
    #[default]
    Deny,
    /// Allowed (nobody loses this: "admins keep the admin API").
    Allow,
}

impl Expect {
    fn is_deny(&self) -> bool {
        *self == Expect::Deny
    }
}

/// A property: every request it covers is denied (or, with `expect: allow`, allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// Its name (unique within its matrix).
    pub name: String,
    /// What it says, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Subjects holding any of these roles (directly or inherited) are not covered:
    /// `admin` or `role:admin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub without_roles: Vec<String>,
    /// Only subjects holding every one of these roles (directly or inherited) are covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with_roles: Vec<String>,
    /// Covered requests carry at least these token scopes (and any others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub with_scopes: Vec<String>,
    /// `deny` (the default): every covered request is denied. `allow`: every covered request
    /// is allowed.
    #[serde(default, skip_serializing_if = "Expect::is_deny")]
    pub expect: Expect,
    /// Object types (`document`) or route patterns (`/v1/admin/*`).
    pub objects: Vec<String>,
    /// Actions (`read`, `GET`, ...).
    pub actions: Vec<String>,
    /// A premise in the condition language. A deny property covers the requests for which it
    /// is not false (true, or not evaluable: fail closed); an allow property those for which
    /// it is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// A request the property covers and the policy decides the other way: allows for a deny
/// property, denies for an allow property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counterexample {
    /// The property it breaks.
    pub property: String,
    /// What the property requires (the policy decides the other way).
    pub expect: Expect,
    /// `user:<name>` (a user no rule or assignment names is `user:~someone`).
    pub principal: String,
    /// The user's name (`r.sub.name`): for a fresh user, the one the conditions need.
    pub name: String,
    /// For a fresh user, the roles it is assigned (the rest of `roles` it inherits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned_roles: Vec<String>,
    /// The roles it holds, direct and inherited.
    pub roles: Vec<String>,
    /// Token scopes.
    pub scopes: Vec<String>,
    /// Subject attributes (absent ones are missing).
    #[schema(value_type = Object)]
    pub subject_attributes: BTreeMap<String, AttrValue>,
    /// Object type or path.
    pub object: String,
    /// Object attributes.
    #[schema(value_type = Object)]
    pub object_attributes: BTreeMap<String, AttrValue>,
    /// Action.
    pub action: String,
    /// The tenant the request is made in (`default`, a tenant the policy names, or
    /// `~other`: one it names nowhere).
    pub tenant: String,
    /// Ids of the rules that allow it (a deny property's counterexample).
    pub allowed_by: Vec<i64>,
    /// Ids of the rules that matched and denied it (an allow property's counterexample; empty
    /// when no allow rule applies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_by: Vec<i64>,
    /// The rules that matched, as text.
    pub rules: Vec<String>,
}

impl Counterexample {
    /// The subject as the decision function takes it.
    pub fn subject(&self) -> Subject {
        Subject {
            principal: self.principal.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            attributes: self.subject_attributes.clone(),
            tenant: self.tenant.clone(),
            roles: Vec::new(),
        }
    }

    /// `policy` as it decides for this subject: with the fresh user assigned its roles.
    pub fn policy(&self, policy: &Policy) -> Policy {
        assigning(policy, &self.principal, &self.assigned_roles, &self.tenant).into_owned()
    }

    /// "may" or "may not": what the policy does that the property forbids.
    pub fn verb(&self) -> &'static str {
        match self.expect {
            Expect::Deny => "may",
            Expect::Allow => "may not",
        }
    }

    /// The object as the decision function takes it.
    pub fn object(&self) -> Object {
        Object {
            resource: self.object.clone(),
            attributes: self.object_attributes.clone(),
        }
    }
}

/// Why a property could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The premise is not a valid condition.
    #[error("property `{property}`: `when` is not a valid condition: {message}")]
    InvalidPremise {
        /// Property name.
        property: String,
        /// The parser's message.
        message: String,
    },
    /// The search would decide more than [`MAX_CASES`] requests.
    #[error("property `{0}` needs more than {MAX_CASES} cases to prove; split it")]
    TooLarge(String),
}

/// Checks `property` against `policy`: Ok(None) when it holds for every request it covers,
/// Ok(Some(counterexample)) when one is allowed.
///
/// # Errors
/// An invalid premise, or a search past [`MAX_CASES`].
pub fn prove(policy: &Policy, property: &Property) -> Result<Option<Counterexample>, ProofError> {
    let premise = match &property.when {
        None => None,
        Some(text) => Some(
            Condition::parse(text).map_err(|e| ProofError::InvalidPremise {
                property: property.name.clone(),
                message: e.to_string(),
            })?,
        ),
    };
    let excluded: BTreeSet<String> = property.without_roles.iter().map(|r| role(r)).collect();
    let required: Vec<String> = property
        .with_roles
        .iter()
        .map(|r| role(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let resources = resources(policy, &property.objects);
    let scope_sets = scope_sets(policy, &property.with_scopes);
    let mut budget = MAX_CASES;
    // A class's answer depends only on the rules that apply to it (and its name, object and
    // action): classes with the same applicable rules are searched once.
    let mut searched = std::collections::HashSet::new();
    for tenant in tenants(policy) {
        for (probe, principal, assigned) in principals(policy, &tenant, &required) {
            let roles = probe.roles_in(&principal, &tenant);
            if roles.iter().any(|r| excluded.contains(r))
                || !required.iter().all(|r| roles.contains(r))
            {
                continue;
            }
            for scopes in &scope_sets {
                for resource in &resources {
                    for action in &property.actions {
                        let found = search(
                            &probe,
                            Case {
                                property,
                                premise: premise.as_ref(),
                                principal: &principal,
                                roles: &roles,
                                assigned: &assigned,
                                scopes,
                                resource,
                                action,
                                tenant: &tenant,
                            },
                            &mut budget,
                            &mut searched,
                        )?;
                        if found.is_some() {
                            return Ok(found);
                        }
                    }
                }
            }
        }
    }
    Ok(None)
}

/// The tenants a request may be made in, one per class: `default`, every tenant a rule or an
/// assignment names, and one named nowhere (where only global rules and roles hold).
fn tenants(policy: &Policy) -> Vec<String> {
    let mut out: BTreeSet<String> = policy
        .rules()
        .iter()
        .map(|r| r.tenant.clone())
        .chain(policy.assignments().iter().map(|a| a.domain.clone()))
        .filter(|t| t != crate::rule::GLOBAL)
        .collect();
    out.insert(crate::rule::DEFAULT_TENANT.to_owned());
    out.insert(OTHER_TENANT.to_owned());
    out.into_iter().collect()
}

/// A tenant no rule or assignment names (`~` is not allowed in tenant names).
const OTHER_TENANT: &str = "~other";

/// `admin` and `role:admin` both name the role `role:admin`.
fn role(name: &str) -> String {
    if name.starts_with("role:") {
        name.to_owned()
    } else {
        format!("role:{name}")
    }
}

/// `policy` with `member` (unknown to it) assigned `roles` in `tenant`.
fn assigning<'a>(
    policy: &'a Policy,
    member: &str,
    roles: &[String],
    tenant: &str,
) -> Cow<'a, Policy> {
    if roles.is_empty() {
        return Cow::Borrowed(policy);
    }
    let names: Vec<&str> = roles.iter().map(String::as_str).collect();
    Cow::Owned(
        policy
            .with_member_roles(member, &names, tenant)
            .unwrap_or_else(|| {
                // A role the policy names nowhere (a property's `with_roles`): compiled again.
                let extra: Vec<Assignment> = roles
                    .iter()
                    .map(|r| Assignment {
                        id: 0,
                        member: member.to_owned(),
                        role: r.clone(),
                        domain: tenant.to_owned(),
                    })
                    .collect();
                policy.with_assignments(&extra)
            }),
    )
}

/// The principal classes in `tenant`, each with the policy that knows it and the roles a
/// fresh user is assigned: every user the policy names, a fresh user with the `required`
/// roles (none, for most properties), and a fresh user with them and each role of the role
/// graph.
///
/// Why that suffices, whichever way the property goes: holding a role more adds rules (allow
/// and deny), fewer removes them. A covered subject allowed by rule R keeps R and loses deny
/// rules with only the required roles and R's role; a covered subject denied by a deny rule D
/// is denied with only the required roles and D's role (deny overrides); a covered subject
/// denied because no allow applies has no more allows with only the required roles.
///
/// Made one at a time: each fresh user's class is a policy of its own (a copy of the member
/// tables), and a policy of 1,000 roles made them all at once (460 MB for one edit check at
/// 10,000 rules, kept by the allocator afterwards). Named users share `policy` itself.
fn principals<'a>(
    policy: &'a Policy,
    tenant: &'a str,
    required: &'a [String],
) -> impl Iterator<Item = (Cow<'a, Policy>, String, Vec<String>)> + 'a {
    let fresh = format!("user:{FRESH_USER}");
    let mut users = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for a in policy.assignments() {
        for m in [&a.member, &a.role] {
            if m.starts_with("user:") {
                users.insert(m.clone());
            } else {
                roles.insert(m.clone());
            }
        }
    }
    for r in policy.rules() {
        if r.subject.starts_with("user:") {
            users.insert(r.subject.clone());
        } else if r.subject != EVERYONE {
            roles.insert(r.subject.clone());
        }
    }
    let named = users
        .into_iter()
        .map(|u| (Cow::Borrowed(policy), u, Vec::new()));
    let fresh_classes = std::iter::once(Vec::new())
        .chain(
            roles
                .into_iter()
                .filter(|r| !required.contains(r))
                .map(|r| vec![r]),
        )
        .map(move |extra| {
            let mut assigned = required.to_vec();
            assigned.extend(extra);
            // The fresh name is no account's (`~` is not allowed in user names).
            let probe = assigning(policy, &fresh, &assigned, tenant);
            (probe, fresh.clone(), assigned)
        });
    named.chain(fresh_classes)
}

/// The `required` scopes alone, with each other scope a rule names, and with all of them
/// (a scope more adds rules, allow and deny, as a role more does).
fn scope_sets(policy: &Policy, required: &[String]) -> Vec<Vec<String>> {
    let base: BTreeSet<String> = required.iter().cloned().collect();
    let named: BTreeSet<String> = policy
        .rules()
        .iter()
        .filter(|r| r.scope != "*" && !base.contains(&r.scope))
        .map(|r| r.scope.clone())
        .collect();
    let with = |extra: &[&String]| -> Vec<String> {
        let mut set = base.clone();
        set.extend(extra.iter().map(|s| (*s).clone()));
        set.into_iter().collect()
    };
    let mut out = vec![with(&[])];
    out.extend(named.iter().map(|s| with(&[s])));
    if named.len() > 1 {
        out.push(with(&named.iter().collect::<Vec<_>>()));
    }
    out
}

/// A pattern made concrete: `:param` -> `1`, a trailing `*` -> `~`.
fn instantiate(pattern: &str) -> String {
    let segments: Vec<&str> = pattern.split('/').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.starts_with(':') {
                "1"
            } else if *s == "*" && i == last {
                "~"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The objects the property names, made concrete (see the module docs).
fn resources(policy: &Policy, objects: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for o in objects {
        if !o.starts_with('/') {
            out.insert(o.clone());
            continue;
        }
        let candidates = policy
            .rules()
            .iter()
            .filter(|r| r.object.starts_with('/'))
            .map(|r| instantiate(&r.object))
            .chain([instantiate(o)]);
        for c in candidates {
            if object_matches(&c, o) {
                out.insert(c);
            }
        }
    }
    out.into_iter().collect()
}

/// One structural class of requests, whose attributes are left to vary.
struct Case<'a> {
    property: &'a Property,
    premise: Option<&'a Condition>,
    principal: &'a str,
    roles: &'a [String],
    assigned: &'a [String],
    scopes: &'a [String],
    resource: &'a str,
    action: &'a str,
    tenant: &'a str,
}

/// What a searched class is known by: its applicable rules (by address), principal,
/// resource, action, tenant (when a condition reads it) and whether the resource is another
/// tenant's, and its scopes when a condition reads them.
type Searched = (Vec<usize>, String, String, String, Vec<String>);

fn search(
    policy: &Policy,
    case: Case<'_>,
    budget: &mut usize,
    searched: &mut std::collections::HashSet<Searched>,
) -> Result<Option<Counterexample>, ProofError> {
    let name = case
        .principal
        .strip_prefix("user:")
        .unwrap_or(case.principal);
    let mut sub = Subject {
        principal: case.principal.to_owned(),
        name: name.to_owned(),
        scopes: case.scopes.to_vec(),
        attributes: BTreeMap::new(),
        tenant: case.tenant.to_owned(),
        roles: Vec::new(),
    };
    let mut obj = Object::route(case.resource);
    let applicable = policy.explain(&sub, &obj, case.action);
    let expect = case.property.expect;
    // Without an applicable allow rule every request of the class is denied.
    if expect == Expect::Deny && !applicable.iter().any(|(r, _)| r.effect == Effect::Allow) {
        return Ok(None);
    }
    let mut conditions: Vec<&Condition> = applicable.iter().map(|(r, _)| &r.condition).collect();
    conditions.extend(case.premise);
    let domains = Domains::of(&conditions);
    let key = (
        // Rules by address: every probe shares the policy's rules (`with_member`), and rules an
        // edit adds share an id until they are stored.
        applicable
            .iter()
            .map(|(r, _)| std::ptr::from_ref::<crate::rule::Rule>(r) as usize)
            .collect::<Vec<_>>(),
        case.principal.to_owned(),
        case.resource.to_owned(),
        // The tenant decides only which rules apply and whether the resource is another
        // tenant's path (denied whatever the rules say), unless a condition reads it.
        format!(
            "{} {} {}",
            case.action,
            if domains.reads(&("sub", "tenant".into())) {
                case.tenant
            } else {
                ""
            },
            policy.foreign_tenant_path(&sub, &obj)
        ),
        // The scopes decide only which rules apply, unless a condition reads them.
        if domains.reads(&("sub", "scopes".into())) {
            case.scopes.to_vec()
        } else {
            Vec::new()
        },
    );
    if !searched.insert(key) {
        return Ok(None);
    }
    let fresh = name == FRESH_USER;
    // A fresh user's name varies (when a condition reads it) over names no account has.
    let known: BTreeSet<String> = if fresh && domains.reads(&("sub", "name".into())) {
        policy
            .assignments()
            .iter()
            .map(|a| a.member.clone())
            .chain(policy.rules().iter().map(|r| r.subject.clone()))
            .collect()
    } else {
        BTreeSet::new()
    };
    let space = domains.space(
        &Fixed {
            name: (!fresh).then_some(name),
            principal: case.principal,
            tenant: case.tenant,
            scopes: case.scopes,
            resource: case.resource,
        },
        &known,
    );
    let total = space
        .size()
        .filter(|&n| n <= *budget)
        .ok_or_else(|| ProofError::TooLarge(case.property.name.clone()))?;
    *budget -= total;
    let mut found = None;
    space.search(&mut sub, &mut obj, |sub, obj| {
        let covered = case.premise.is_none_or(|p| {
            let value = p.eval_with(&View(sub, obj));
            match expect {
                Expect::Deny => value != Ok(false),
                Expect::Allow => value == Ok(true),
            }
        });
        if covered {
            let outcome = policy.decide(sub, obj, case.action);
            if outcome.allowed == (expect == Expect::Deny) {
                found = Some(counterexample(policy, &case, sub, obj, &outcome));
                return true;
            }
        }
        false
    });
    Ok(found)
}

fn counterexample(
    policy: &Policy,
    case: &Case<'_>,
    sub: &Subject,
    obj: &Object,
    outcome: &crate::decide::Outcome,
) -> Counterexample {
    let rules = policy
        .rules()
        .iter()
        .filter(|r| {
            outcome.matched_rules.contains(&r.id)
                || outcome
                    .unevaluated
                    .iter()
                    .any(|u| u.rule_id == r.id && u.effect == Effect::Deny)
        })
        .map(|r| {
            format!(
                "{} {} {} {} scope {} when {}",
                r.id,
                r.effect.as_str(),
                r.subject,
                r.object,
                r.scope,
                if r.condition.as_str().is_empty() {
                    "always"
                } else {
                    r.condition.as_str()
                }
            )
        })
        .collect();
    let mut roles = case.roles.to_vec();
    if case.principal == format!("user:{FRESH_USER}") && roles.is_empty() {
        roles.push("role:~unknown".to_owned());
    }
    let (allowed_by, denied_by) = if outcome.allowed {
        (outcome.matched_rules.clone(), Vec::new())
    } else {
        // The deny rules that matched, and those that denied because they could not be
        // evaluated (fail closed).
        let denying = policy
            .rules()
            .iter()
            .filter(|r| r.effect == Effect::Deny && outcome.matched_rules.contains(&r.id))
            .map(|r| r.id)
            .chain(
                outcome
                    .unevaluated
                    .iter()
                    .filter(|u| u.effect == Effect::Deny)
                    .map(|u| u.rule_id),
            )
            .collect();
        (Vec::new(), denying)
    };
    Counterexample {
        property: case.property.name.clone(),
        expect: case.property.expect,
        principal: sub.principal.clone(),
        name: sub.name.clone(),
        assigned_roles: case.assigned.to_vec(),
        roles,
        scopes: sub.scopes.clone(),
        subject_attributes: sub.attributes.clone(),
        object: obj.resource.clone(),
        object_attributes: obj.attributes.clone(),
        action: case.action.to_owned(),
        tenant: case.tenant.to_owned(),
        allowed_by,
        denied_by,
        rules,
    }
}
