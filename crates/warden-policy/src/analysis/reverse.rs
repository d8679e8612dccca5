//! Reverse queries: who may do an action on an object, and what a subject may do.
//!
//! Both are answered by the decision function and the plan compiler themselves, never by a
//! second reading of the rules: `who_can` decides for each account, `what_can` plans each
//! (object pattern, action) the subject's rules mention. So they agree with `decide` by
//! construction; what they add is the explanation (the rules and the role chain that grant)
//! and the grouping.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::cond::Schema;
use super::plan::{Plan, PlanKind, plan, residual_any_type};
use crate::decide::Policy;
use crate::rule::{EVERYONE, Effect, GLOBAL, object_matches};
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

/// Who an allow rule can reach for one object and action (see [`Grants::reach`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach<'a> {
    /// A rule for `*` applies: any account may be allowed.
    Everyone,
    /// Only these members (`user:<name>`, and the roles between them and the rules) may be.
    Only(HashSet<&'a str>),
}

impl Reach<'_> {
    /// Whether `principal` may be allowed (false: the decision is a deny, so it need not be
    /// made).
    pub fn may_allow(&self, principal: &str) -> bool {
        match self {
            Reach::Everyone => true,
            Reach::Only(members) => members.contains(principal),
        }
    }
}

impl<'a> Grants<'a> {
    /// Who may be allowed `act` on `obj` in the grants' tenant, read from the rules alone:
    /// the subjects of the allow rules of the tenant (or global) whose action and object
    /// pattern match, and every member holding one of them there (directly or by inheritance,
    /// through the tenant's and the global assignments). An account outside that set has no
    /// allow rule among its candidates, so [`Grants::of`] denies it: a `who-can` over 100,000
    /// accounts decides only those inside. [`Reach::Everyone`] when such a rule names `*`.
    ///
    /// This mirrors the subject, tenant, action and object terms of Warden's matcher
    /// ([`crate::model::MODEL`]: `p.sub == "*" || g(r.sub.principal, p.sub, r.sub.tenant) ||
    /// g(r.sub.principal, p.sub, "*")`), the model every policy of a Warden server and of
    /// `warden analyze` is compiled from, and holds for subjects that carry no roles of their
    /// own ([`Subject::roles`], a federated token's; accounts read from the store carry none).
    pub fn reach(&self, obj: &Object, act: &str) -> Reach<'a> {
        let tenant = self.graph.tenant.as_str();
        let mut targets: Vec<&'a str> = Vec::new();
        for r in self.policy.rules() {
            if r.effect == Effect::Allow
                && (r.tenant == GLOBAL || r.tenant == tenant)
                && (r.action == "*" || r.action == act)
                && object_matches(&obj.resource, &r.object)
            {
                if r.subject == EVERYONE {
                    return Reach::Everyone;
                }
                targets.push(&r.subject);
            }
        }
        let mut members: HashSet<&'a str> = targets.iter().copied().collect();
        if targets.is_empty() {
            return Reach::Only(members);
        }
        // role -> who holds it directly, in this tenant or globally
        let mut children: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
        for a in self.graph.assignments(self.policy) {
            children
                .entry(a.role.as_str())
                .or_default()
                .push(a.member.as_str());
        }
        let mut queue = VecDeque::from(targets);
        while let Some(role) = queue.pop_front() {
            for &m in children.get(role).map(Vec::as_slice).unwrap_or_default() {
                if members.insert(m) {
                    queue.push_back(m);
                }
            }
        }
        Reach::Only(members)
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
            .filter(|a| a.domain == GLOBAL || a.domain == tenant)
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

    /// The assignments that hold in the graph's tenant (its own and the global ones).
    fn assignments(
        &self,
        policy: &'a Policy,
    ) -> impl Iterator<Item = &'a crate::rule::Assignment> + use<'a, '_> {
        policy
            .assignments()
            .iter()
            .filter(|a| a.domain == GLOBAL || a.domain == self.tenant)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::AttrValue;
    use crate::analysis::tests::Gen;
    use crate::rule::{Assignment, Rule};

    const MODEL: &str = include_str!("../../../../policies/model.conf");
    const SUBJECTS: &[&str] = &[
        "*", "role:r1", "role:r2", "role:r3", "role:r4", "user:u1", "user:u2",
    ];
    const OBJECTS: &[&str] = &["document", "/api/x/:id", "/api/*", "*"];
    const ACTIONS: &[&str] = &["read", "write", "*"];
    const CONDITIONS: &[&str] = &["", "r.sub.clearance >= 1", "r.obj.owner == r.sub.name"];
    const DOMAINS: &[&str] = &["*", "default", "t2"];

    fn random_policy(g: &mut Gen) -> Policy {
        let rules = (0..g.below(8) + 1)
            .map(|i| {
                let effect = if g.chance(75) { "allow" } else { "deny" };
                let r = Rule::parse(
                    i as i64 + 1,
                    g.pick(SUBJECTS),
                    g.pick(OBJECTS),
                    g.pick(ACTIONS),
                    "*",
                    g.pick(CONDITIONS),
                    effect,
                )
                .unwrap();
                r.in_tenant(g.pick(DOMAINS)).unwrap()
            })
            .collect();
        let members = [
            "user:u1", "user:u2", "user:u3", "user:u4", "role:r1", "role:r2",
        ];
        let roles = ["role:r1", "role:r2", "role:r3", "role:r4"];
        let assignments: Vec<Assignment> = (0..g.below(8))
            .map(|i| {
                Assignment::parse(i as i64 + 1, g.pick(&members), g.pick(&roles))
                    .unwrap()
                    .in_domain(g.pick(DOMAINS))
                    .unwrap()
            })
            .collect();
        Policy::from_rows(MODEL, rules, &assignments).unwrap()
    }

    /// Pruning never leaves out an account the decision allows: on random policies (rules for
    /// `*`, roles and users, in one tenant or all, role chains mixing tenants), every account
    /// outside [`Grants::reach`] is denied by [`Grants::of`]; and it does leave some out.
    #[test]
    fn an_account_outside_the_reach_of_every_allow_rule_is_always_denied() {
        let (mut pruned, mut kept) = (0, 0);
        for seed in 0..400 {
            let mut g = Gen::new(seed);
            let policy = random_policy(&mut g);
            for tenant in ["default", "t2"] {
                let grants = Grants::new(&policy, tenant);
                for resource in ["document", "/api/x/5", "/api/y"] {
                    let mut obj = Object::route(resource);
                    obj.attributes
                        .insert("owner".into(), AttrValue::Str("u2".into()));
                    for act in ["read", "write", "delete"] {
                        let reach = grants.reach(&obj, act);
                        for name in ["u1", "u2", "u3", "u4", "u5"] {
                            let sub = Subject {
                                principal: format!("user:{name}"),
                                name: name.into(),
                                scopes: Vec::new(),
                                tenant: tenant.into(),
                                attributes: BTreeMap::from([(
                                    "clearance".into(),
                                    AttrValue::Int(g.below(3) as i32),
                                )]),
                                roles: Vec::new(),
                            };
                            if reach.may_allow(&sub.principal) {
                                kept += 1;
                            } else {
                                pruned += 1;
                                assert_eq!(
                                    grants.of(&sub, &obj, act),
                                    None,
                                    "seed {seed}: {name} {act} {resource} in {tenant}: {:?} {:?}",
                                    policy.rules(),
                                    policy.assignments()
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(pruned > 1000 && kept > 1000, "pruned {pruned}, kept {kept}");
    }

    #[test]
    fn a_rule_for_everyone_reaches_everyone_and_a_role_reaches_its_members_only() {
        let rules = vec![
            Rule::parse(1, "role:viewer", "document", "read", "*", "", "allow").unwrap(),
            Rule::parse(2, "*", "document", "list", "*", "", "allow").unwrap(),
            Rule::parse(3, "*", "document", "read", "*", "", "deny").unwrap(),
        ];
        let assignments = vec![
            Assignment::parse(1, "role:editor", "role:viewer").unwrap(),
            Assignment::parse(2, "user:bob", "role:editor").unwrap(),
            Assignment::parse(3, "user:carol", "role:viewer")
                .unwrap()
                .in_domain("t2")
                .unwrap(),
        ];
        let policy = Policy::from_rows(MODEL, rules, &assignments).unwrap();
        let grants = Grants::new(&policy, "default");
        let doc = Object::route("document");
        assert_eq!(grants.reach(&doc, "list"), Reach::Everyone);
        let read = grants.reach(&doc, "read");
        assert!(read.may_allow("user:bob"), "through editor");
        assert!(!read.may_allow("user:carol"), "a viewer in t2 only");
        assert!(!read.may_allow("user:dave"));
        assert!(
            Grants::new(&policy, "t2")
                .reach(&doc, "read")
                .may_allow("user:carol")
        );
        assert_eq!(grants.reach(&doc, "delete"), Reach::Only(HashSet::new()));
    }
}
