//! Reverse queries: who may do an action on an object, and what a subject may do.
//!
//! Both are answered by the decision function and the plan compiler themselves, never by a
//! second reading of the rules: `who_can` decides for each account, `what_can` plans each
//! (object pattern, action) the subject's rules mention. So they agree with `decide` by
//! construction; what they add is the explanation (the rules and the role chain that grant)
//! and the grouping.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::cond::Schema;
use super::plan::{Plan, PlanKind, plan, residual_any_type};
use crate::decide::Policy;
use crate::rule::{EVERYONE, Effect};
use crate::{Object, Subject};

/// An allow rule that matched, and how the subject reaches its subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GrantingRule {
    /// Rule id.
    pub id: i64,
    /// The rule's subject (`role:viewer`, `user:alice` or `*`).
    pub subject: String,
    /// The roles from the account to the rule's subject, in order (`["role:editor",
    /// "role:viewer"]` when editor inherits viewer); empty for a rule on the account itself
    /// or on `*`.
    pub chain: Vec<String>,
}

/// The allow rules that grant `act` on `obj` to `sub`, each with its role chain; None when the
/// request is denied. For many subjects, build a [`Grants`] once and ask it for each.
pub fn granting_rules(
    policy: &Policy,
    sub: &Subject,
    obj: &Object,
    act: &str,
) -> Option<Vec<GrantingRule>> {
    Grants::new(policy, &sub.tenant).of(sub, obj, act)
}

/// What [`granting_rules`] reads of a policy besides the decision (the rules by id and the
/// role graph of one tenant), built once: a `who-can` over 100,000 accounts rebuilt both for
/// every allowed account, 100,000 assignments each time, and took minutes.
pub struct Grants<'a> {
    policy: &'a Policy,
    by_id: HashMap<i64, &'a crate::rule::Rule>,
    graph: RoleGraph<'a>,
}

impl<'a> Grants<'a> {
    /// The rules and the role graph of `policy` in `tenant`.
    pub fn new(policy: &'a Policy, tenant: &str) -> Self {
        Grants {
            policy,
            by_id: policy.rules().iter().map(|r| (r.id, r)).collect(),
            graph: RoleGraph::new(policy, tenant),
        }
    }

    /// [`granting_rules`] for one subject (deciding in the graph's tenant; a subject of
    /// another tenant gets that tenant's chains).
    pub fn of(&self, sub: &Subject, obj: &Object, act: &str) -> Option<Vec<GrantingRule>> {
        let outcome = self.policy.decide(sub, obj, act);
        if !outcome.allowed {
            return None;
        }
        let other;
        let graph = if sub.tenant == self.graph.tenant {
            &self.graph
        } else {
            other = RoleGraph::new(self.policy, &sub.tenant);
            &other
        };
        Some(
            outcome
                .matched_rules
                .iter()
                .filter_map(|id| self.by_id.get(id))
                .filter(|r| r.effect == Effect::Allow)
                .map(|r| GrantingRule {
                    id: r.id,
                    subject: r.subject.clone(),
                    chain: if r.subject == EVERYONE || r.subject == sub.principal {
                        Vec::new()
                    } else {
                        graph.chain(&sub.principal, &r.subject)
                    },
                })
                .collect(),
        )
    }
}

/// The role assignments that hold in one tenant (its own and the global ones), by member.
struct RoleGraph<'a> {
    tenant: String,
    parents: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> RoleGraph<'a> {
    fn new(policy: &'a Policy, tenant: &str) -> Self {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for a in policy
            .assignments()
            .iter()
            .filter(|a| a.domain == crate::rule::GLOBAL || a.domain == tenant)
        {
            parents
                .entry(a.member.as_str())
                .or_default()
                .push(a.role.as_str());
        }
        RoleGraph {
            tenant: tenant.to_owned(),
            parents,
        }
    }

    /// The shortest chain from `member` to `role` (`role` last), or empty.
    fn chain(&self, member: &str, role: &str) -> Vec<String> {
        let mut came_from: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([member]);
        while let Some(m) = queue.pop_front() {
            if m == role {
                let mut chain = vec![role.to_owned()];
                let mut at = role;
                while let Some(&prev) = came_from.get(at) {
                    if prev == member {
                        break;
                    }
                    chain.push(prev.to_owned());
                    at = prev;
                }
                chain.reverse();
                return chain;
            }
            for &p in self.parents.get(m).map(Vec::as_slice).unwrap_or_default() {
                if p != member && !came_from.contains_key(p) {
                    came_from.insert(p, m);
                    queue.push_back(p);
                }
            }
        }
        Vec::new()
    }
}

/// The shortest chain of roles from `member` to `role` through the role assignments that hold
/// in `tenant` (its own and the global ones; `role` last), or empty when there is none.
pub fn role_chain(policy: &Policy, member: &str, role: &str, tenant: &str) -> Vec<String> {
    RoleGraph::new(policy, tenant).chain(member, role)
}

/// One thing a subject may do: an action on an object type or route pattern, and on which
/// objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capability {
    /// The object pattern as the rules name it (`document`, `/api/documents/:id`, `*`).
    pub object: String,
    /// The action as the rules name it (`read`, `GET`, `*`: any action no rule names).
    pub action: String,
    /// The objects it applies to (`always`, or `conditional` with the condition).
    pub plan: Plan,
}

/// What `sub` may do: for each object type or route pattern that a rule for the subject, one
/// of its roles or `*` names (in rule order), and each action named for it (or for `*`), the
/// plan, leaving out those planned `never`. Object `*` stands for every type no rule names
/// (its condition may test `resource`, the object's type); action `*` for every action no
/// rule names. `schema` gives the attributes objects of a type are known to carry.
///
/// The flag `complete` is true when the answer depends on nothing unknown: every capability is
/// `always` and names one resource (not `*`, not a route pattern with `:param` or `*`, whose
/// plan covers the pattern as a whole rather than each path it matches).
pub fn what_can(
    policy: &Policy,
    sub: &Subject,
    schema: impl Fn(&str) -> Option<Schema>,
) -> (Vec<Capability>, bool) {
    let roles = policy.roles_in(&sub.principal, &sub.tenant);
    let applicable: Vec<_> = policy
        .rules()
        .iter()
        .filter(|r| r.tenant == crate::rule::GLOBAL || r.tenant == sub.tenant)
        .filter(|r| {
            r.subject == EVERYONE
                || r.subject == sub.principal
                || roles.binary_search(&r.subject).is_ok()
        })
        .collect();
    let mut objects: Vec<&str> = Vec::new();
    for r in &applicable {
        if r.object != "*" && !objects.contains(&r.object.as_str()) {
            objects.push(&r.object);
        }
    }
    if applicable.iter().any(|r| r.object == "*") {
        objects.push("*");
    }
    let mut capabilities = Vec::new();
    for object in objects {
        let mut actions: Vec<&str> = Vec::new();
        for r in &applicable {
            if (r.object == object || r.object == "*") && !actions.contains(&r.action.as_str()) {
                actions.push(&r.action);
            }
        }
        for action in actions {
            let plan = if object == "*" {
                Plan::new(residual_any_type(policy, sub, action))
            } else {
                plan(policy, sub, action, object, schema(object).as_ref())
            };
            if plan.kind != PlanKind::Never {
                capabilities.push(Capability {
                    object: object.to_owned(),
                    action: action.to_owned(),
                    plan,
                });
            }
        }
    }
    let complete = capabilities.iter().all(|c| {
        c.plan.kind == PlanKind::Always
            && c.object != "*"
            && !c.object.split('/').any(|s| s.starts_with(':') || s == "*")
    });
    (capabilities, complete)
}
