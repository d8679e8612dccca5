//! Running a matrix against Warden's own model (a compiled [`Policy`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::explain::{Matched, describe_chain, reason, role_chain};
use super::limits::{Budget, CHECK_EVERY};
use super::{Cell, Matrix, MatrixError};
use crate::policy::decide::{Outcome, Policy};
use crate::policy::rule::RuleSet;
use crate::policy::rule::{Assignment, EVERYONE, Effect, Rule};
use crate::policy::{AttrValue, Object, Subject};

impl Matrix {
    /// The casbin subject of a matrix subject.
    pub fn subject(&self, name: &str) -> Option<Subject> {
        let s = self.subjects.get(name)?;
        // Every live subject says what it is (`r.sub.kind`); a matrix subject is a user unless
        // its attributes say `kind: service`.
        let mut attributes = s.attributes.clone();
        attributes
            .entry(crate::policy::KIND_ATTRIBUTE.to_owned())
            .or_insert_with(|| AttrValue::Str("user".to_owned()));
        Some(Subject {
            principal: format!("user:{name}"),
            name: name.to_owned(),
            scopes: s.scopes.clone(),
            tenant: s
                .tenant
                .clone()
                .unwrap_or_else(|| crate::policy::rule::DEFAULT_TENANT.into()),
            attributes,
            roles: Vec::new(),
        })
    }

    /// The casbin object of a matrix object for an action (for `create`, owned by `subject`,
    /// as in the documents API).
    pub fn object(&self, name: &str, action: &str, subject: &str) -> Option<Object> {
        let o = self.objects.get(name)?;
        let mut attributes = o.attributes.clone();
        if action == "create" && attributes.contains_key("owner") {
            attributes.insert("owner".into(), AttrValue::Str(subject.to_owned()));
        }
        Some(Object {
            resource: o.kind.clone().unwrap_or_else(|| name.to_owned()),
            attributes,
        })
    }

    /// The policy under test: `policy` plus one `user:<s> -> role:<r>` row per subject role.
    /// A live user who shares a subject's name does not lend it their roles.
    pub fn policy_with_subjects(&self, policy: &RuleSet, version: i64) -> RuleSet {
        let mut assignments: Vec<Assignment> = policy
            .assignments
            .iter()
            .filter(|a| {
                !a.member
                    .strip_prefix("user:")
                    .is_some_and(|n| self.subjects.contains_key(n))
            })
            .cloned()
            .collect();
        for (name, s) in &self.subjects {
            for role in &s.roles {
                assignments.push(Assignment {
                    id: 0,
                    member: format!("user:{name}"),
                    role: format!("role:{role}"),
                    domain: s
                        .tenant
                        .clone()
                        .unwrap_or_else(|| crate::policy::rule::GLOBAL.to_owned()),
                });
            }
        }
        RuleSet {
            version,
            rules: policy.rules.clone(),
            assignments,
            matrices: Vec::new(),
        }
    }

    /// The policy under test, compiled under Warden's model: `policy` plus the matrix's
    /// subjects and their roles ([`Matrix::policy_with_subjects`]).
    ///
    /// # Errors
    /// The model compiler's refusal.
    pub fn policy_under_test(&self, policy: &RuleSet) -> Result<Policy, MatrixError> {
        let rows = self.policy_with_subjects(policy, policy.version);
        Policy::from_rows(crate::policy::model::MODEL, rows.rules, &rows.assignments)
            .map_err(|e| MatrixError::Invalid(e.to_string()))
    }

    /// Evaluates every cell against a policy (route check first when the action has one).
    pub fn run(&self, policy: &Policy) -> Result<Vec<Cell>, MatrixError> {
        self.run_within(policy, &Budget::unlimited())
    }

    /// [`Matrix::run`] within a budget (stops with an error when it runs out).
    pub fn run_within(&self, policy: &Policy, budget: &Budget) -> Result<Vec<Cell>, MatrixError> {
        let coords = self.coordinates();
        let all: Vec<usize> = (0..coords.len()).collect();
        self.run_cells(policy, &coords, &all, budget)
    }

    /// Evaluates the cells at `indices` of `coords`, on all cores. Route checks depend only
    /// on (subject, action), so each is decided once.
    pub fn run_cells(
        &self,
        snap: &Policy,
        coords: &[Coord<'_>],
        indices: &[usize],
        budget: &Budget,
    ) -> Result<Vec<Cell>, MatrixError> {
        if !self.domains.is_empty() {
            return Err(MatrixError::Invalid(
                "Warden's model has no domains; give `model` and `policy` for a domain model"
                    .into(),
            ));
        }
        let why = Why::new(snap);
        let mut routes: HashMap<(&str, &str), Decided> = HashMap::new();
        for &i in indices {
            let (s, _, _, a) = coords[i];
            if let (Some(route), Entry::Vacant(slot)) = (self.routes.get(a), routes.entry((s, a))) {
                let (method, path) = parse_route(route)?;
                let subject = self.subject(s).ok_or(MatrixError::Missing("subject"))?;
                let d = snap.decide(&subject, &Object::route(&route_path(path)), method);
                let matched = d.matched_rules.iter().map(i64::to_string).collect();
                let why = why.reason(s, &subject.principal, &d);
                slot.insert((d.allowed, format!("route {method} {path}: {why}"), matched));
            }
        }
        let subjects: HashMap<&str, Subject> = self
            .subjects
            .keys()
            .filter_map(|n| self.subject(n).map(|s| (n.as_str(), s)))
            .collect();
        parallel(indices, budget, |&i| {
            let (s, _, o, a) = coords[i];
            let subject = &subjects[s];
            let object = self.object(o, a, s).unwrap_or_else(|| Object::route(o));
            let route = routes.get(&(s, a));
            let (actual, reason, mut matched) = match route {
                Some((false, reason, matched)) => (false, reason.clone(), matched.clone()),
                _ => {
                    let d = snap.decide(subject, &object, a);
                    let matched: Vec<String> = d.matched_rules.iter().map(i64::to_string).collect();
                    (d.allowed, why.reason(s, &subject.principal, &d), matched)
                }
            };
            if let Some((true, _, route_matched)) = route {
                matched.extend(route_matched.iter().cloned());
            }
            Cell {
                subject: s.to_owned(),
                domain: None,
                object: o.to_owned(),
                action: a.to_owned(),
                expected: self.expected(s, None, o, a),
                actual,
                reason,
                matched,
            }
        })
    }
}

/// Explains decisions of one snapshot: the winning rule and the subject's role chain to it.
struct Why<'a> {
    rules: HashMap<i64, &'a Rule>,
    edges: Vec<(&'a str, &'a str)>,
}

impl<'a> Why<'a> {
    fn new(snap: &'a Policy) -> Self {
        Self {
            rules: snap.rules().iter().map(|r| (r.id, r)).collect(),
            edges: snap
                .assignments()
                .iter()
                .map(|a| (a.member.as_str(), a.role.as_str()))
                .collect(),
        }
    }

    /// The cell's reason: what matched, and every rule that could not be evaluated (as
    /// `/v1/check` and the decision log name them). A deny those rules made reads
    /// `evaluation error: ...`.
    fn reason(&self, name: &str, principal: &str, d: &Outcome) -> String {
        let unevaluated = || {
            d.unevaluated
                .iter()
                .map(|u| {
                    let what = match u.effect {
                        Effect::Allow => "granted nothing",
                        Effect::Deny => "denied",
                    };
                    format!(
                        "rule #{} ({}) {what}: {}",
                        u.rule_id,
                        u.effect.as_str(),
                        u.message
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let decided = self.matched(name, principal, d);
        if d.error.is_some() {
            return if d.matched_rules.is_empty() {
                format!("evaluation error: {}", unevaluated())
            } else {
                format!("evaluation error: {}; {decided}", unevaluated())
            };
        }
        if d.unevaluated.is_empty() {
            decided
        } else {
            format!("{decided}; not evaluated: {}", unevaluated())
        }
    }

    fn matched(&self, name: &str, principal: &str, d: &Outcome) -> String {
        let matched: Vec<Matched> = d
            .matched_rules
            .iter()
            .map(|id| match self.rules.get(id) {
                Some(r) => Matched {
                    label: format!("rule #{id} ({} {} {})", r.subject, r.object, r.action),
                    deny: r.effect == Effect::Deny,
                    via: if r.subject == EVERYONE {
                        "everyone (*)".to_owned()
                    } else {
                        role_chain(self.edges.iter().copied(), principal, &r.subject).map_or_else(
                            || format!("{} (no role chain found)", r.subject),
                            |c| describe_chain(&c, name),
                        )
                    },
                },
                None => Matched {
                    label: format!("rule #{id}"),
                    deny: false,
                    via: "?".to_owned(),
                },
            })
            .collect();
        reason(d.allowed, &matched)
    }
}

/// One cell's coordinates: subject, domain, object, action.
pub type Coord<'a> = (&'a str, Option<&'a str>, &'a str, &'a str);

type Decided = (bool, String, Vec<String>);

/// Maps `f` over `items` on the budget's threads (every core by default), keeping order.
/// Each thread looks at the budget every [`CHECK_EVERY`] items and stops when it is spent.
pub fn parallel<T: Sync, R: Send>(
    items: &[T],
    budget: &Budget,
    f: impl Fn(&T) -> R + Sync,
) -> Result<Vec<R>, MatrixError> {
    let map = |part: &[T]| -> Result<Vec<R>, MatrixError> {
        let mut out = Vec::new();
        for block in part.chunks(CHECK_EVERY) {
            if budget.exhausted() {
                return Err(Budget::stopped());
            }
            out.extend(block.iter().map(&f));
        }
        Ok(out)
    };
    let threads = budget
        .threads()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(items.len().max(1));
    if threads <= 1 || items.len() < 256 {
        return map(items);
    }
    let chunk = items.len().div_ceil(threads);
    let map = &map;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || map(part)))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(h.join().map_err(|_| MatrixError::WorkerPanicked)??);
        }
        Ok(out)
    })
}

/// Splits `"METHOD /path"`.
pub fn parse_route(route: &str) -> Result<(&str, &str), MatrixError> {
    route
        .split_once(' ')
        .filter(|(m, p)| !m.is_empty() && p.starts_with('/'))
        .ok_or_else(|| {
            MatrixError::Invalid(format!("route `{route}` must look like `GET /path/:id`"))
        })
}

/// A concrete path for a route pattern (`:param` segments become `1`).
pub fn route_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with(':') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_a_rule_could_not_be_evaluated_for_names_the_rule_and_the_attribute() {
        let matrix = Matrix::from_yaml(
            r#"
name: unevaluable
subjects:
  alice: {roles: [staff], attributes: {clearance: 2}}
  bob: {roles: [user], attributes: {clearance: 2}}
objects:
  no-owner: {type: document, attributes: {classification: 1}}
  bobs: {type: document, attributes: {owner: bob, classification: 1}}
  unlabelled: {type: document, attributes: {owner: bob}}
actions: [read]
expect:
  alice: {no-owner: [read], bobs: [read]}
  bob: {bobs: [read]}
"#,
        )
        .unwrap();
        let rule = |id, sub: &str, cond: &str, eft: &str| {
            Rule::parse(id, sub, "document", "read", "*", cond, eft).unwrap()
        };
        let rules = RuleSet {
            version: 1,
            matrices: Vec::new(),
            rules: vec![
                rule(1, "role:user", "r.obj.owner == r.sub.name", "allow"),
                rule(2, "role:staff", "", "allow"),
                rule(
                    3,
                    "*",
                    "r.obj.classification >= 3 && r.sub.clearance < 3",
                    "deny",
                ),
            ],
            assignments: vec![Assignment::parse(1, "role:staff", "role:user").unwrap()],
        };
        let cells = matrix
            .run(&matrix.policy_under_test(&rules).unwrap())
            .unwrap();
        let reason = |s: &str, o: &str| {
            let c = cells
                .iter()
                .find(|c| c.subject == s && c.object == o)
                .unwrap();
            assert!(c.passed(), "{c}");
            c.reason.clone()
        };
        // allowed by rule 2 although rule 1 could not be evaluated: both are said
        assert_eq!(
            reason("alice", "no-owner"),
            "allow by rule #2 (role:staff document read) via alice -> role:staff; not \
             evaluated: rule #1 (allow) granted nothing: missing attribute `r.obj.owner`"
        );
        // nothing else could allow bob: the deny is an evaluation error naming what to send
        assert_eq!(
            reason("bob", "no-owner"),
            "evaluation error: rule #1 (allow) granted nothing: missing attribute `r.obj.owner`"
        );
        // the deny rule cannot be evaluated without a classification: it denies
        let r = reason("alice", "unlabelled");
        assert!(
            r.starts_with(
                "evaluation error: rule #3 (deny) denied: missing attribute \
                 `r.obj.classification`; "
            ),
            "{r}"
        );
        assert!(r.contains("rule #2"), "{r}");
        assert_eq!(
            reason("bob", "bobs"),
            "allow by rule #1 (role:user document read) via bob -> role:user"
        );
    }

    #[test]
    fn a_matrix_subject_is_a_user_unless_its_attributes_say_service() {
        let m = Matrix::from_yaml(
            "name: kinds\nsubjects:\n  alice: {roles: [user]}\n  bot: {roles: [user], attributes: {kind: service}}\nobjects:\n  r: {type: report}\nactions: [read]\ndeny:\n  - [alice, r, read]\n",
        )
        .expect("matrix");
        let kind = |s: &str| m.subject(s).expect("subject").attributes["kind"].clone();
        assert_eq!(kind("alice"), AttrValue::Str("user".into()));
        assert_eq!(kind("bot"), AttrValue::Str("service".into()));
    }
}
