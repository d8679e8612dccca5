//! The decision function over a compiled policy.
//!
//! Semantics: the rules that the matcher accepts apart from their condition (subject, object,
//! action and scope apply) are considered in load order, and each one's condition is
//! evaluated. Deny overrides allow and nothing matching is a deny; the first matching deny
//! ends the scan (casbin's effector stops there too, so the matched ids are the allows before
//! it plus that deny). A rule whose condition **cannot be evaluated** for this request (an
//! attribute it reads is missing or has the wrong type) is *unevaluated*: it is not a match
//! and does not end the scan, and
//! - an unevaluated **allow** rule grants nothing (other allow rules still may allow);
//! - an unevaluated **deny** rule denies (fail closed): the decision is a deny whatever else
//!   matched.
//!
//! The outcome names every unevaluated rule the scan reached, with the attributes to send or
//! fix ([`Unevaluated`]); [`Outcome::error`] says when the answer is a deny *because of* them
//! (a deny no matching deny rule made: an unevaluated deny rule, or no allow where an
//! unevaluated allow rule might have allowed).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::condition::{AttrRef, Attributes, EvalError, EvalErrorKind};
use super::index::{ANY, Index};
use super::model::{Column, Model, Plan, Term};
use super::rule::{Assignment, EVERYONE, Effect, Rule, object_matches};
use super::{Object, Subject};

/// The outcome of one decision, before the engine stamps its version on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Allowed?
    pub allowed: bool,
    /// Ids of the rules that matched (allows, and the deny that overrode them).
    pub matched_rules: Vec<i64>,
    /// Rules that applied but whose condition could not be evaluated, in load order (only
    /// those before the first matching deny, where the scan stops).
    pub unevaluated: Vec<Unevaluated>,
    /// Set when the decision is a deny because of unevaluated rules (see [`deny_reason`]).
    pub error: Option<String>,
}

/// An applicable rule whose condition could not be evaluated for this request: an allow
/// rule that grants nothing, or a deny rule that denies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Unevaluated {
    /// Rule id.
    pub rule_id: i64,
    /// `allow` (it granted nothing) or `deny` (it denied).
    pub effect: Effect,
    /// Why it could not be evaluated.
    pub reason: EvalErrorKind,
    /// What to send or fix, as the condition names them (`r.obj.owner`: the check's object
    /// attribute `owner`; `r.sub.*`: the subject's attributes, set by an admin). For a missing
    /// attribute, every attribute the condition reads that the request lacks; for a type
    /// mismatch or a non-boolean, the attributes whose values have the wrong type.
    pub attributes: Vec<String>,
    /// The evaluation error, for people (names and types, never values).
    pub message: String,
}

impl Unevaluated {
    /// `rule`, whose condition failed with `error` on a request carrying the attributes
    /// `present(side, name)` says it carries.
    pub fn new(rule: &Rule, error: &EvalError, present: impl Fn(&str, &str) -> bool) -> Self {
        let attributes = match error {
            EvalError::MissingAttribute(_) => rule.condition.missing_attributes_by(present),
            _ => error.attributes(),
        };
        Unevaluated {
            rule_id: rule.id,
            effect: rule.effect,
            reason: error.kind(),
            attributes,
            message: error.to_string(),
        }
    }
}

/// Why a decision is a deny because of unevaluated rules, if it is: a deny that no matching
/// deny rule made, where some rule could not be evaluated (an unevaluated deny denied, or an
/// unevaluated allow might have allowed had its attributes been sent). None for an allow, for
/// a deny a matching deny rule made, and for a plain "nothing matched".
pub fn deny_reason(
    allowed: bool,
    matched_deny: bool,
    unevaluated: &[Unevaluated],
) -> Option<String> {
    if allowed || matched_deny || unevaluated.is_empty() {
        return None;
    }
    Some(
        unevaluated
            .iter()
            .map(|u| {
                format!(
                    "rule {} ({}) could not be evaluated: {}",
                    u.rule_id,
                    u.effect.as_str(),
                    u.message
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// One applicable rule's condition and how it evaluated (for explain output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConditionResult {
    /// Rule id.
    pub rule_id: i64,
    /// `allow` or `deny`.
    pub effect: Effect,
    /// The condition text ("" = always true).
    pub condition: String,
    /// `true`, `false`, or `error: ...` (the rule could not be evaluated: an allow rule then
    /// grants nothing, a deny rule denies).
    pub result: String,
}

/// A compiled, indexed policy: immutable, shared by every reader. A clone shares the model,
/// rules and index; it copies only the member tables.
#[derive(Debug, Clone)]
pub struct Policy {
    // The parts a registration does not change are shared between a policy and the one
    // [`Policy::with_member`] derives from it.
    model: Arc<Model>,
    rules: Arc<[Rule]>,
    /// Interned id of each rule's subject ([`ANY`] for `*`).
    rule_subjects: Arc<[u32]>,
    index: Arc<Index>,
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// For each interned member: the roles it holds, direct and inherited, sorted by id.
    closure: Vec<Box<[u32]>>,
    /// The assignments the closures were computed from (explanations name the chain).
    assignments: Arc<[Assignment]>,
}

/// The subject and object as a condition sees them (`r.sub.*`, `r.obj.*`), borrowed.
struct RequestAttributes<'a> {
    sub: &'a Subject,
    obj: &'a Object,
}

impl Attributes for RequestAttributes<'_> {
    fn sub(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "name" => Some(AttrRef::Str(&self.sub.name)),
            "principal" => Some(AttrRef::Str(&self.sub.principal)),
            "scopes" => Some(AttrRef::List(&self.sub.scopes)),
            _ => self.sub.attributes.get(name).map(|v| v.as_attr_ref()),
        }
    }

    fn obj(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "resource" => Some(AttrRef::Str(&self.obj.resource)),
            _ => self.obj.attributes.get(name).map(|v| v.as_attr_ref()),
        }
    }
}

/// One request, with its principal's roles resolved once.
struct Request<'a> {
    sub: &'a Subject,
    obj: &'a Object,
    act: &'a str,
    principal: Option<u32>,
    roles: &'a [u32],
}

impl Policy {
    /// Compiles rows under a model text (`model.conf`): what a matrix, a tool or the live
    /// engine decides with.
    ///
    /// # Errors
    /// The model compiler's refusal (an unsupported matcher term or effect).
    pub fn from_rows(
        model: &str,
        rules: Vec<Rule>,
        assignments: &[Assignment],
    ) -> Result<Self, super::model::ModelError> {
        Ok(Self::new(Model::compile(model)?, rules, assignments))
    }

    /// Compiles `rules` (in load order) and `assignments` under `model`.
    pub fn new(model: Model, rules: Vec<Rule>, assignments: &[Assignment]) -> Self {
        let mut interner = Interner::default();
        let rule_subjects: Vec<u32> = rules
            .iter()
            .map(|r| {
                if r.subject == EVERYONE {
                    ANY
                } else {
                    interner.intern(&r.subject)
                }
            })
            .collect();
        let edges: Vec<(u32, u32)> = assignments
            .iter()
            .map(|a| (interner.intern(&a.member), interner.intern(&a.role)))
            .collect();
        let Interner { ids, names } = interner;
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); names.len()];
        for (m, r) in edges {
            parents[m as usize].push(r);
        }
        let closure = closures(&parents);
        let index = Index::build(&rules, &rule_subjects, names.len(), model.dimensions);
        Policy {
            model: Arc::new(model),
            rules: rules.into(),
            rule_subjects: rule_subjects.into(),
            index: Arc::new(index),
            ids,
            names,
            closure,
            assignments: assignments.into(),
        }
    }

    /// This policy plus the assignment `member -> role` for a member it does not know yet (a
    /// registration), without compiling or indexing the rules again: the member gets an id
    /// past the index (it has no rules of its own: a rule may only name an existing account)
    /// and the role's closure. None when the member is already known or the role is not (the
    /// caller then compiles the whole policy).
    pub fn with_member(&self, assignment: &Assignment) -> Option<Policy> {
        let (member, role) = (assignment.member.as_str(), assignment.role.as_str());
        if self.ids.contains_key(member) {
            return None;
        }
        let role_id = *self.ids.get(role)?;
        let id = u32::try_from(self.names.len())
            .ok()
            .filter(|&id| id < ANY)?;
        let mut roles: Vec<u32> = self.closure[role_id as usize].to_vec();
        roles.push(role_id);
        roles.sort_unstable();
        roles.dedup();
        let mut ids = self.ids.clone();
        ids.insert(member.into(), id);
        let mut names = self.names.clone();
        names.push(member.into());
        let mut closure = self.closure.clone();
        closure.push(roles.into_boxed_slice());
        let mut assignments = self.assignments.to_vec();
        assignments.push(assignment.clone());
        Some(Policy {
            model: self.model.clone(),
            rules: self.rules.clone(),
            rule_subjects: self.rule_subjects.clone(),
            index: self.index.clone(),
            ids,
            names,
            closure,
            assignments: assignments.into(),
        })
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The role assignments (user -> role, role -> role), in load order.
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// Roles of a member (`user:<name>` or `role:<name>`), direct and inherited, sorted.
    pub fn roles_of(&self, member: &str) -> Vec<String> {
        let Some(&id) = self.ids.get(member) else {
            return Vec::new();
        };
        let mut roles: Vec<String> = self.closure[id as usize]
            .iter()
            .map(|&r| self.names[r as usize].to_string())
            .collect();
        roles.sort();
        roles
    }

    fn request<'a>(&'a self, sub: &'a Subject, obj: &'a Object, act: &'a str) -> Request<'a> {
        let principal = self.ids.get(sub.principal.as_str()).copied();
        let roles = principal.map_or(&[][..], |p| &self.closure[p as usize][..]);
        Request {
            sub,
            obj,
            act,
            principal,
            roles,
        }
    }

    /// Positions of the rules the matcher (without the condition) accepts, in load order.
    fn applicable(&self, req: &Request<'_>) -> Vec<u32> {
        let mut candidates = Vec::new();
        let subjects = req.principal.into_iter().chain(req.roles.iter().copied());
        self.index
            .candidates(subjects, req.act, &req.obj.resource, &mut candidates);
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&pos| self.plan(&self.model.plan, pos as usize, req));
        candidates
    }

    fn plan(&self, plan: &Plan, pos: usize, req: &Request<'_>) -> bool {
        match plan {
            Plan::Term(t) => self.term(t, pos, req),
            Plan::And(items) => items.iter().all(|p| self.plan(p, pos, req)),
            Plan::Or(items) => items.iter().any(|p| self.plan(p, pos, req)),
        }
    }

    fn term(&self, term: &Term, pos: usize, req: &Request<'_>) -> bool {
        let rule = &self.rules[pos];
        match term {
            Term::Const(b) => *b,
            Term::ColumnIs { col, lit, negated } => {
                let value = match col {
                    Column::Sub => &rule.subject,
                    Column::Obj => &rule.object,
                    Column::Act => &rule.action,
                    Column::Scope => &rule.scope,
                };
                (value == lit) != *negated
            }
            Term::ActionEq(neg) => (rule.action == req.act) != *neg,
            Term::PrincipalEq(neg) => (rule.subject == req.sub.principal) != *neg,
            Term::ResourceEq(neg) => (rule.object == req.obj.resource) != *neg,
            Term::PathMatch => object_matches(&req.obj.resource, &rule.object),
            Term::ScopeHeld => req.sub.scopes.contains(&rule.scope),
            Term::RoleOf => {
                let sid = self.rule_subjects[pos];
                sid != ANY && (req.principal == Some(sid) || req.roles.binary_search(&sid).is_ok())
            }
            // The compiler takes `eval(p.cond)` out of the plan.
            Term::Condition => true,
        }
    }

    fn condition(&self, pos: usize, req: &Request<'_>) -> Result<bool, EvalError> {
        if !self.model.uses_condition {
            return Ok(true);
        }
        let attrs = RequestAttributes {
            sub: req.sub,
            obj: req.obj,
        };
        self.rules[pos].condition.eval_with(&attrs)
    }

    /// Decides one request (see the module docs for the semantics).
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Outcome {
        let req = self.request(sub, obj, act);
        let mut matched = Vec::new();
        let mut unevaluated = Vec::new();
        let mut allowed = false;
        let mut matched_deny = false;
        for pos in self.applicable(&req) {
            let rule = &self.rules[pos as usize];
            match self.condition(pos as usize, &req) {
                Ok(false) => {}
                Ok(true) => {
                    matched.push(rule.id);
                    if rule.effect == Effect::Deny {
                        matched_deny = true;
                        break;
                    }
                    allowed = true;
                }
                // Not a match and not the end of the scan: an allow rule grants nothing, a
                // deny rule denies (below), and both are named.
                Err(e) => {
                    let attrs = RequestAttributes { sub, obj };
                    unevaluated.push(Unevaluated::new(rule, &e, |side, name| {
                        if side == "sub" {
                            attrs.sub(name).is_some()
                        } else {
                            attrs.obj(name).is_some()
                        }
                    }));
                }
            }
        }
        let allowed =
            allowed && !matched_deny && !unevaluated.iter().any(|u| u.effect == Effect::Deny);
        Outcome {
            allowed,
            error: deny_reason(allowed, matched_deny, &unevaluated),
            matched_rules: matched,
            unevaluated,
        }
    }

    /// [`Policy::explain`] as explain output: "which condition failed", and nothing else.
    pub fn explain_conditions(
        &self,
        sub: &Subject,
        obj: &Object,
        act: &str,
    ) -> Vec<ConditionResult> {
        self.explain(sub, obj, act)
            .into_iter()
            .map(|(r, result)| ConditionResult {
                rule_id: r.id,
                effect: r.effect,
                condition: r.condition.as_str().to_owned(),
                result: match result {
                    Ok(b) => b.to_string(),
                    Err(e) => format!("error: {e}"),
                },
            })
            .collect()
    }

    /// Every rule the matcher accepts apart from its condition, with how the condition
    /// evaluates, in load order (explain output: "which condition failed").
    pub fn explain(
        &self,
        sub: &Subject,
        obj: &Object,
        act: &str,
    ) -> Vec<(&Rule, Result<bool, EvalError>)> {
        let req = self.request(sub, obj, act);
        self.applicable(&req)
            .into_iter()
            .map(|pos| {
                (
                    &self.rules[pos as usize],
                    self.condition(pos as usize, &req),
                )
            })
            .collect()
    }
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        // Ids stay below ANY: a policy has far fewer than 2^32 subjects.
        let id = u32::try_from(self.names.len()).unwrap_or(ANY - 1);
        self.ids.insert(s.into(), id);
        self.names.push(s.into());
        id
    }
}

/// For each member, every role reachable through `parents`, sorted (cycles are harmless).
fn closures(parents: &[Vec<u32>]) -> Vec<Box<[u32]>> {
    let mut seen = HashSet::new();
    let mut stack = Vec::new();
    parents
        .iter()
        .map(|direct| {
            if direct.is_empty() {
                return Box::default();
            }
            seen.clear();
            stack.clear();
            stack.extend_from_slice(direct);
            while let Some(r) = stack.pop() {
                if seen.insert(r) {
                    stack.extend_from_slice(&parents[r as usize]);
                }
            }
            let mut all: Vec<u32> = seen.iter().copied().collect();
            all.sort_unstable();
            all.into_boxed_slice()
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::AttrValue;

    const SEED: &str = include_str!("../../policies/model.conf");

    fn rule(id: i64, sub: &str, obj: &str, act: &str, scope: &str, cond: &str, eft: &str) -> Rule {
        Rule::parse(id, sub, obj, act, scope, cond, eft).unwrap()
    }

    fn assign(member: &str, role: &str) -> Assignment {
        Assignment::parse(0, member, role).unwrap()
    }

    fn alice(scopes: &[&str]) -> Subject {
        Subject {
            principal: "user:alice".into(),
            name: "alice".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            attributes: BTreeMap::from([("clearance".into(), AttrValue::Int(2))]),
        }
    }

    fn doc(classification: Option<AttrValue>) -> Object {
        Object {
            resource: "document".into(),
            attributes: classification
                .map(|c| BTreeMap::from([("classification".into(), c)]))
                .unwrap_or_default(),
        }
    }

    fn policy(model: &str) -> Policy {
        let rules = vec![
            rule(
                1,
                "role:viewer",
                "document",
                "read",
                "docs:read",
                "",
                "allow",
            ),
            rule(2, "role:staff", "/api/docs/:id", "GET", "*", "", "allow"),
            rule(
                3,
                "*",
                "document",
                "*",
                "*",
                "r.sub.clearance < r.obj.classification",
                "deny",
            ),
            rule(4, "user:alice", "/api/*", "*", "*", "", "allow"),
        ];
        let assignments = [
            assign("user:alice", "role:staff"),
            assign("role:staff", "role:viewer"),
        ];
        Policy::new(Model::compile(model).unwrap(), rules, &assignments)
    }

    #[test]
    fn a_new_member_added_without_recompiling_decides_like_a_full_compile() {
        let base = policy(SEED);
        let bob = |scopes: &[&str]| Subject {
            principal: "user:bob".into(),
            name: "bob".into(),
            ..alice(scopes)
        };
        let added = base
            .with_member(&Assignment::parse(0, "user:bob", "role:staff").unwrap())
            .expect("a new member of a known role takes the shortcut");
        let assignments = [
            assign("user:alice", "role:staff"),
            assign("role:staff", "role:viewer"),
            assign("user:bob", "role:staff"),
        ];
        let full = Policy::new(
            Model::compile(SEED).unwrap(),
            base.rules().to_vec(),
            &assignments,
        );
        assert_eq!(added.roles_of("user:bob"), full.roles_of("user:bob"));
        assert_eq!(added.roles_of("user:bob"), ["role:staff", "role:viewer"]);
        for (obj, act) in [
            (doc(Some(AttrValue::Int(1))), "read"),
            (doc(Some(AttrValue::Int(3))), "read"),
            (doc(None), "read"),
            (Object::route("/api/docs/7"), "GET"),
            (Object::route("/api/other"), "GET"),
        ] {
            for scopes in [&["docs:read"][..], &[]] {
                assert_eq!(
                    added.decide(&bob(scopes), &obj, act),
                    full.decide(&bob(scopes), &obj, act),
                    "{obj:?} {act}"
                );
            }
        }
        // alice's user rule does not leak to the newcomer through the index
        assert!(
            !added
                .decide(&bob(&[]), &Object::route("/api/other"), "GET")
                .allowed
        );
        // the shortcut refuses what it cannot do: a known member, an unknown role
        assert!(
            base.with_member(&Assignment::parse(0, "user:alice", "role:viewer").unwrap())
                .is_none()
        );
        assert!(
            base.with_member(&Assignment::parse(0, "user:carol", "role:nobody").unwrap())
                .is_none()
        );
    }

    #[test]
    fn decisions_follow_roles_scopes_patterns_conditions_and_deny_override() {
        let p = policy(SEED);
        let int = |n| Some(AttrValue::Int(n));
        let text = Some(AttrValue::Str("1".into()));
        let route = Object::route("/api/docs/7");
        // (subject scopes, object, action) -> (allowed, matched, error?)
        type Case<'a> = (&'a [&'a str], Object, &'a str, bool, Vec<i64>, bool);
        let cases: Vec<Case> = vec![
            (&["docs:read"], doc(int(1)), "read", true, vec![1], false),
            (
                &["docs:read"],
                doc(int(3)),
                "read",
                false,
                vec![1, 3],
                false,
            ),
            (&[], doc(int(1)), "read", false, vec![], false),
            // the deny rule cannot be evaluated (no or a text classification): it denies over
            // the viewer rule that matched
            (&["docs:read"], doc(None), "read", false, vec![1], true),
            (&["docs:read"], doc(text), "read", false, vec![1], true),
            (&["docs:read"], doc(int(1)), "update", false, vec![], false),
            (&[], route.clone(), "GET", true, vec![2, 4], false),
            (&[], route, "POST", true, vec![4], false),
            (&[], Object::route("/api"), "GET", false, vec![], false),
        ];
        for (scopes, obj, act, allowed, matched, error) in cases {
            let got = p.decide(&alice(scopes), &obj, act);
            assert_eq!(
                (got.allowed, &got.matched_rules, got.error.is_some()),
                (allowed, &matched, error),
                "{scopes:?} {obj:?} {act}: {got:?}"
            );
        }
        assert_eq!(p.roles_of("user:alice"), ["role:staff", "role:viewer"]);
        assert!(p.roles_of("user:nobody").is_empty());
    }

    #[test]
    fn an_edit_to_the_model_that_the_compiler_supports_changes_decisions() {
        let read = |model: &str| {
            policy(model)
                .decide(&alice(&[]), &doc(Some(AttrValue::Int(1))), "read")
                .allowed
        };
        assert!(!read(SEED), "the shipped model requires the rule's scope");
        let no_scope = SEED.replace(" && (p.scope == \"*\" || p.scope in r.sub.scopes)", "");
        assert_ne!(no_scope, SEED);
        assert!(
            read(&no_scope),
            "without the scope term the viewer rule applies"
        );
        let no_conditions = SEED.replace(" && eval(p.cond)", "");
        let p = policy(&no_conditions);
        let obj = doc(None);
        let got = p.decide(&alice(&["docs:read"]), &obj, "read");
        assert_eq!(
            (got.allowed, got.matched_rules, got.error),
            (false, vec![1, 3], None),
            "without eval(p.cond) the deny applies unconditionally"
        );
    }

    /// The unevaluated-rule semantics as a matrix: an allow rule on `owner` and one that does
    /// not read it, deny rules reading attributes the request may lack or mistype, in both
    /// orders (unevaluated deny before and after a matching allow).
    fn unevaluable_policy() -> Policy {
        let rules = vec![
            rule(
                1,
                "role:user",
                "document",
                "read",
                "*",
                "r.obj.owner == r.sub.name",
                "allow",
            ),
            rule(2, "role:staff", "document", "read", "*", "", "allow"),
            rule(
                3,
                "*",
                "document",
                "read",
                "*",
                "r.obj.classification >= 3 && r.sub.clearance < 3",
                "deny",
            ),
            rule(
                4,
                "role:user",
                "document",
                "update",
                "*",
                "r.obj.owner == r.sub.name",
                "allow",
            ),
            rule(5, "*", "document", "update", "*", "r.obj.locked", "deny"),
            rule(
                7,
                "role:user",
                "document",
                "read",
                "*",
                "r.obj.department == r.sub.department",
                "allow",
            ),
            rule(
                8,
                "*",
                "document",
                "delete",
                "*",
                "r.obj.classification > 1",
                "deny",
            ),
            rule(9, "role:user", "document", "delete", "*", "", "allow"),
        ];
        let assignments = [
            assign("user:alice", "role:staff"),
            assign("role:staff", "role:user"),
            assign("user:bob", "role:user"),
        ];
        Policy::new(Model::compile(SEED).unwrap(), rules, &assignments)
    }

    #[test]
    fn an_unevaluable_allow_grants_nothing_and_an_unevaluable_deny_denies() {
        use AttrValue::{Bool, Int, Str};
        let p = unevaluable_policy();
        let person = |name: &str, attrs: &[(&str, AttrValue)]| Subject {
            principal: format!("user:{name}"),
            name: name.into(),
            scopes: vec![],
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        let alice = person(
            "alice",
            &[("clearance", Int(2)), ("department", Str("eng".into()))],
        );
        let bob = person("bob", &[("clearance", Int(2))]);
        let obj = |attrs: &[(&str, AttrValue)]| Object {
            resource: "document".into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        let s = |v: &str| Str(v.into());
        // (subject, object, action) -> (allowed, matched, unevaluated (id, attributes), error?)
        type Cell<'a> = (
            &'a Subject,
            Object,
            &'a str,
            bool,
            Vec<i64>,
            Vec<(i64, Vec<&'a str>)>,
            bool,
        );
        let cells: Vec<Cell> = vec![
            // the trap: no owner sent, yet rule 2 (which does not read it) allows
            (
                &alice,
                obj(&[("classification", Int(1))]),
                "read",
                true,
                vec![2],
                vec![(1, vec!["r.obj.owner"]), (7, vec!["r.obj.department"])],
                false,
            ),
            // bob has only the owner rule and the department rule: nothing can allow
            (
                &bob,
                obj(&[("classification", Int(1))]),
                "read",
                false,
                vec![],
                vec![
                    (1, vec!["r.obj.owner"]),
                    (7, vec!["r.obj.department", "r.sub.department"]),
                ],
                true,
            ),
            (
                &bob,
                obj(&[("owner", s("bob")), ("classification", Int(1))]),
                "read",
                true,
                vec![1],
                vec![(7, vec!["r.obj.department", "r.sub.department"])],
                false,
            ),
            // a mistyped owner: the rule cannot be evaluated either
            (
                &bob,
                obj(&[
                    ("owner", Int(7)),
                    ("classification", Int(1)),
                    ("department", s("eng")),
                ]),
                "read",
                false,
                vec![],
                // two attributes of different types: both are named, either may be wrong
                vec![
                    (1, vec!["r.obj.owner", "r.sub.name"]),
                    (7, vec!["r.sub.department"]),
                ],
                true,
            ),
            // a deny that matches ends the scan: rule 7 after it is never evaluated
            (
                &alice,
                obj(&[("owner", s("bob")), ("classification", Int(3))]),
                "read",
                false,
                vec![2, 3],
                vec![],
                false,
            ),
            // the deny rule cannot be evaluated (no classification, or text): it denies over
            // the allow that matched, and names what to send
            (
                &alice,
                obj(&[("owner", s("bob")), ("department", s("eng"))]),
                "read",
                false,
                vec![2, 7],
                vec![(3, vec!["r.obj.classification"])],
                true,
            ),
            (
                &alice,
                obj(&[
                    ("owner", s("bob")),
                    ("classification", s("3")),
                    ("department", s("eng")),
                ]),
                "read",
                false,
                vec![2, 7],
                vec![(3, vec!["r.obj.classification"])],
                true,
            ),
            (
                &bob,
                obj(&[("owner", s("bob")), ("locked", Bool(false))]),
                "update",
                true,
                vec![4],
                vec![],
                false,
            ),
            (
                &bob,
                obj(&[("owner", s("bob"))]),
                "update",
                false,
                vec![4],
                vec![(5, vec!["r.obj.locked"])],
                true,
            ),
            (
                &bob,
                obj(&[("owner", s("bob")), ("locked", Int(1))]),
                "update",
                false,
                vec![4],
                vec![(5, vec!["r.obj.locked"])],
                true,
            ),
            (
                &bob,
                obj(&[("owner", s("bob")), ("locked", Bool(true))]),
                "update",
                false,
                vec![4, 5],
                vec![],
                false,
            ),
            (
                &bob,
                obj(&[]),
                "update",
                false,
                vec![],
                vec![(4, vec!["r.obj.owner"]), (5, vec!["r.obj.locked"])],
                true,
            ),
            // an unevaluable deny before the allow that matches denies too
            (
                &bob,
                obj(&[]),
                "delete",
                false,
                vec![9],
                vec![(8, vec!["r.obj.classification"])],
                true,
            ),
            (
                &bob,
                obj(&[("classification", Int(1))]),
                "delete",
                true,
                vec![9],
                vec![],
                false,
            ),
        ];
        for (sub, o, act, allowed, matched, unevaluated, error) in cells {
            let got = p.decide(sub, &o, act);
            let got_unevaluated: Vec<(i64, Vec<&str>)> = got
                .unevaluated
                .iter()
                .map(|u| (u.rule_id, u.attributes.iter().map(String::as_str).collect()))
                .collect();
            assert_eq!(
                (
                    got.allowed,
                    &got.matched_rules,
                    &got_unevaluated,
                    got.error.is_some()
                ),
                (allowed, &matched, &unevaluated, error),
                "subject={} object={:?} action={act}: expected allowed={allowed}, got {got:?}",
                sub.name,
                o.attributes
            );
            // an unevaluated deny rule never leaves an allow standing
            assert!(!(got.allowed && got.unevaluated.iter().any(|u| u.effect == Effect::Deny)));
        }
    }

    #[test]
    fn an_unevaluated_rule_is_named_with_its_effect_reason_and_what_to_send() {
        let p = unevaluable_policy();
        let bob = Subject {
            principal: "user:bob".into(),
            name: "bob".into(),
            scopes: vec![],
            attributes: BTreeMap::new(),
        };
        let got = p.decide(&bob, &doc(Some(AttrValue::Int(1))), "update");
        assert_eq!(
            got.unevaluated,
            [
                Unevaluated {
                    rule_id: 4,
                    effect: Effect::Allow,
                    reason: EvalErrorKind::MissingAttribute,
                    attributes: vec!["r.obj.owner".into()],
                    message: "missing attribute `r.obj.owner`".into(),
                },
                Unevaluated {
                    rule_id: 5,
                    effect: Effect::Deny,
                    reason: EvalErrorKind::MissingAttribute,
                    attributes: vec!["r.obj.locked".into()],
                    message: "missing attribute `r.obj.locked`".into(),
                },
            ]
        );
        assert_eq!(
            got.error.as_deref(),
            Some(
                "rule 4 (allow) could not be evaluated: missing attribute `r.obj.owner`; \
                 rule 5 (deny) could not be evaluated: missing attribute `r.obj.locked`"
            )
        );
        let mistyped = Object {
            resource: "document".into(),
            attributes: BTreeMap::from([
                ("owner".into(), AttrValue::Str("bob".into())),
                ("locked".into(), AttrValue::Str("yes".into())),
            ]),
        };
        let got = p.decide(&bob, &mistyped, "update");
        assert_eq!(got.unevaluated.len(), 1);
        assert_eq!(got.unevaluated[0].reason, EvalErrorKind::NotBoolean);
        assert_eq!(
            got.unevaluated[0].message,
            "expected a boolean value in `r.obj.locked`, found string"
        );
        assert!(!got.unevaluated[0].message.contains("yes"), "no values");
        let json = serde_json::to_value(&got.unevaluated[0]).unwrap();
        assert_eq!(json["reason"], "not_boolean");
        assert_eq!(json["effect"], "deny");
        assert_eq!(json["attributes"], serde_json::json!(["r.obj.locked"]));
    }

    #[test]
    fn deny_reason_is_set_only_for_a_deny_that_unevaluated_rules_made() {
        let u = |effect| Unevaluated {
            rule_id: 1,
            effect,
            reason: EvalErrorKind::MissingAttribute,
            attributes: vec!["r.obj.a".into()],
            message: "missing attribute `r.obj.a`".into(),
        };
        let (allow, deny) = ([u(Effect::Allow)], [u(Effect::Deny)]);
        // (allowed, a deny rule matched, unevaluated) -> reason?
        let cells: [(bool, bool, &[Unevaluated], bool); 6] = [
            (true, false, &allow, false),
            (false, true, &deny, false),
            (false, true, &allow, false),
            (false, false, &[], false),
            (false, false, &allow, true),
            (false, false, &deny, true),
        ];
        for (allowed, matched_deny, unevaluated, reason) in cells {
            assert_eq!(
                deny_reason(allowed, matched_deny, unevaluated).is_some(),
                reason,
                "{allowed} {matched_deny} {unevaluated:?}"
            );
        }
    }
}
