//! Plans decide like the decision function: random policies, subjects and objects.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::decide::Policy;
use crate::rule::{Assignment, Rule};
use crate::{AttrValue, Object, Subject};

const MODEL: &str = include_str!("../../../../policies/model.conf");

/// A small deterministic generator (xorshift64*), so a failure reproduces from its seed.
pub(crate) struct Gen(u64);

impl Gen {
    pub(crate) fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const OPERANDS: &[&str] = &[
    "r.sub.department",
    "r.sub.clearance",
    "r.sub.flag",
    "r.sub.tags",
    "r.sub.name",
    "r.sub.absent",
    "r.obj.department",
    "r.obj.owner",
    "r.obj.classification",
    "r.obj.labels",
    "r.obj.flag",
    "r.obj.resource",
    "\"eng\"",
    "\"ops\"",
    "\"alice\"",
    "1",
    "2",
    "3",
    "true",
    "false",
    "[\"eng\", \"x\"]",
    "[1, 2]",
    "[1, \"eng\"]",
    "[]",
];
const OPS: &[&str] = &["==", "!=", "<", "<=", ">", ">=", "in"];

fn expr(g: &mut Gen, depth: usize) -> String {
    let choice = if depth == 0 { g.below(3) } else { g.below(7) };
    match choice {
        0 | 1 => format!("{} {} {}", g.pick(OPERANDS), g.pick(OPS), g.pick(OPERANDS)),
        2 => g
            .pick(&["r.obj.flag", "r.sub.flag", "true", "false", "r.obj.owner"])
            .to_string(),
        3 => format!("!({})", expr(g, depth - 1)),
        4 => format!("({} && {})", expr(g, depth - 1), expr(g, depth - 1)),
        5 => format!("({} || {})", expr(g, depth - 1), expr(g, depth - 1)),
        _ => format!(
            "{} && {} || {}",
            expr(g, depth - 1),
            expr(g, depth - 1),
            expr(g, depth - 1)
        ),
    }
}

pub(crate) fn condition(g: &mut Gen) -> String {
    if g.chance(15) {
        return String::new();
    }
    loop {
        let text = expr(g, 2);
        if crate::condition::Condition::parse(&text).is_ok() {
            return text;
        }
    }
}

fn random_policy(g: &mut Gen) -> Policy {
    let n = 1 + g.below(6);
    let rules = (0..n)
        .map(|i| {
            Rule::parse(
                i as i64 + 1,
                g.pick(&["role:a", "role:b", "user:alice", "*"]),
                g.pick(&["document", "*", "folder"]),
                g.pick(&["read", "*", "update"]),
                g.pick(&["*", "*", "s1"]),
                &condition(g),
                g.pick(&["allow", "allow", "deny"]),
            )
            .and_then(|r| r.in_tenant(g.pick(&["*", "*", "t1"])))
            .unwrap()
        })
        .collect();
    let mut assignments = vec![Assignment::parse(0, "role:b", "role:a").unwrap()];
    if g.chance(70) {
        assignments.push(
            Assignment::parse(0, "user:alice", g.pick(&["role:a", "role:b"]))
                .and_then(|a| a.in_domain(g.pick(&["*", "t1", "t2"])))
                .unwrap(),
        );
    }
    Policy::from_rows(MODEL, rules, &assignments).unwrap()
}

fn value(g: &mut Gen) -> AttrValue {
    match g.below(4) {
        0 => AttrValue::Bool(g.chance(50)),
        1 => AttrValue::Int(g.below(5) as i32),
        2 => AttrValue::Str(g.pick(&["eng", "ops", "alice", "x", ""]).to_string()),
        _ => AttrValue::List(
            (0..g.below(3))
                .map(|_| g.pick(&["eng", "x", "alice"]).to_string())
                .collect(),
        ),
    }
}

fn attributes(g: &mut Gen, names: &[&str]) -> BTreeMap<String, AttrValue> {
    let mut out = BTreeMap::new();
    for n in names {
        if g.chance(85) {
            out.insert(n.to_string(), value(g));
        }
    }
    out
}

fn random_subject(g: &mut Gen) -> Subject {
    Subject {
        principal: g.pick(&["user:alice", "user:bob"]).to_string(),
        name: g.pick(&["alice", "bob"]).to_string(),
        scopes: if g.chance(50) {
            vec!["s1".into()]
        } else {
            vec![]
        },
        attributes: attributes(g, &["department", "clearance", "flag", "tags"]),
        tenant: g.pick(&["t1", "t2"]).to_string(),
        roles: Vec::new(),
    }
}

const OBJECT_ATTRIBUTES: &[&str] = &["department", "owner", "classification", "labels", "flag"];

fn document_schema() -> Schema {
    Schema::new([
        ("department", AttrType::String),
        ("owner", AttrType::String),
        ("classification", AttrType::Int),
    ])
}

fn document(g: &mut Gen) -> BTreeMap<String, AttrValue> {
    BTreeMap::from([
        (
            "department".into(),
            AttrValue::Str(g.pick(&["eng", "ops", "x"]).to_string()),
        ),
        (
            "owner".into(),
            AttrValue::Str(g.pick(&["alice", "bob", "eng"]).to_string()),
        ),
        ("classification".into(), AttrValue::Int(g.below(5) as i32)),
    ])
}

#[test]
fn a_plan_allows_exactly_the_objects_the_decision_function_allows() {
    let mut g = Gen::new(25);
    let mut conditional = 0;
    for case in 0..3000 {
        let policy = random_policy(&mut g);
        let sub = random_subject(&mut g);
        let act = g.pick(&["read", "update"]);
        let p = plan(&policy, &sub, act, "document", None);
        let restricted = plan(&policy, &sub, act, "document", Some(&document_schema()));
        if p.kind == PlanKind::Conditional {
            conditional += 1;
        }
        for _ in 0..40 {
            let (attrs, schema_conforming) = if g.chance(50) {
                (attributes(&mut g, OBJECT_ATTRIBUTES), false)
            } else {
                (document(&mut g), true)
            };
            let obj = Object {
                resource: "document".into(),
                attributes: attrs.clone(),
            };
            let decided = policy.decide(&sub, &obj, act).allowed;
            let rules: Vec<String> = policy
                .rules()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {} {} [{}] {}",
                        r.subject,
                        r.object,
                        r.action,
                        r.scope,
                        r.condition,
                        r.effect.as_str()
                    )
                })
                .collect();
            assert_eq!(
                p.condition.eval(&attrs),
                decided,
                "case {case}: plan `{}` on {attrs:?} for {sub:?} {act}\nrules: {rules:#?}",
                p.text
            );
            if schema_conforming {
                assert_eq!(
                    restricted.condition.eval(&attrs),
                    decided,
                    "case {case}: restricted plan `{}` on {attrs:?} for {sub:?} {act}\nrules: {rules:#?}",
                    restricted.text
                );
            }
        }
    }
    // The generator must reach the interesting plans, not only always/never.
    assert!(conditional > 150, "only {conditional} conditional plans");
}

fn seed_subject(name: &str, attributes: &[(&str, AttrValue)]) -> Subject {
    Subject {
        principal: format!("user:{name}"),
        name: name.into(),
        scopes: vec!["documents:read".into()],
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        tenant: crate::rule::DEFAULT_TENANT.into(),
        roles: Vec::new(),
    }
}

fn seed_policy(assignments: &[(&str, &str)]) -> Policy {
    let seed = crate::seed::parse_policy(include_str!("../../../../policies/policy.csv")).unwrap();
    let mut all = seed.assignments.clone();
    all.extend(
        assignments
            .iter()
            .map(|(m, r)| Assignment::parse(0, m, r).unwrap()),
    );
    Policy::from_rows(MODEL, seed.rules, &all).unwrap()
}

#[test]
fn the_seed_plan_for_a_viewer_reads_like_the_policy() {
    let policy = seed_policy(&[("user:alice", "role:viewer")]);
    let alice = seed_subject(
        "alice",
        &[
            ("department", AttrValue::Str("eng".into())),
            ("clearance", AttrValue::Int(2)),
        ],
    );
    let p = plan(
        &policy,
        &alice,
        "read",
        "document",
        Some(&document_schema()),
    );
    assert_eq!(p.kind, PlanKind::Conditional);
    assert_eq!(
        p.text,
        "(department == \"eng\" && classification <= 2 || owner == \"alice\") && classification < 3"
    );
}

#[test]
fn the_seed_plan_is_always_for_an_auditor_with_clearance_and_never_without_the_scope() {
    let policy = seed_policy(&[("user:carol", "role:auditor")]);
    let carol = seed_subject("carol", &[("clearance", AttrValue::Int(3))]);
    let p = plan(
        &policy,
        &carol,
        "read",
        "document",
        Some(&document_schema()),
    );
    assert_eq!((p.kind, p.text.as_str()), (PlanKind::Always, "true"));
    let unscoped = Subject {
        scopes: vec![],
        ..carol
    };
    let p = plan(
        &policy,
        &unscoped,
        "read",
        "document",
        Some(&document_schema()),
    );
    assert_eq!((p.kind, p.text.as_str()), (PlanKind::Never, "false"));
}

#[test]
fn a_missing_subject_attribute_in_a_deny_keeps_its_object_side_as_a_filter() {
    // No clearance: the seed's deny `classification >= 3 && clearance < 3` cannot be
    // evaluated for classification 3 (it denies) and is false below it.
    let policy = seed_policy(&[("user:dave", "role:auditor")]);
    let dave = seed_subject("dave", &[]);
    let p = plan(&policy, &dave, "read", "document", Some(&document_schema()));
    assert_eq!(p.text, "classification < 3");
    let unrestricted = plan(&policy, &dave, "read", "document", None);
    assert_eq!(unrestricted.text, "classification < 3");
}

#[test]
fn the_json_form_is_tagged_by_op() {
    let c = cond::and([
        Cond::Compare {
            attribute: "department".into(),
            cmp: Cmp::Eq,
            value: AttrValue::Str("eng".into()),
        },
        cond::not(Cond::HasType {
            attribute: "owner".into(),
            ty: AttrType::String,
        }),
    ]);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"op": "and", "items": [
            {"op": "compare", "attribute": "department", "cmp": "==", "value": "eng"},
            {"op": "not", "item": {"op": "has_type", "attribute": "owner", "type": "string"}}
        ]})
    );
    assert_eq!(serde_json::from_value::<Cond>(json).unwrap(), c);
    assert_eq!(c.to_string(), "department == \"eng\" && !(owner is string)");
}

#[test]
fn who_can_names_the_granting_rule_and_the_role_chain_to_it() {
    let policy = seed_policy(&[("user:bob", "role:editor"), ("user:erin", "role:user")]);
    let bob = seed_subject(
        "bob",
        &[
            ("department", AttrValue::Str("eng".into())),
            ("clearance", AttrValue::Int(3)),
        ],
    );
    let doc = Object {
        resource: "document".into(),
        attributes: BTreeMap::from([
            ("department".into(), AttrValue::Str("eng".into())),
            ("owner".into(), AttrValue::Str("erin".into())),
            ("classification".into(), AttrValue::Int(1)),
        ]),
    };
    let rules = granting_rules(&policy, &bob, &doc, "read").unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].subject, "role:viewer");
    assert_eq!(rules[0].chain, ["role:editor", "role:viewer"]);
    let erin = seed_subject("erin", &[]);
    let owned = granting_rules(&policy, &erin, &doc, "read").unwrap();
    assert_eq!(owned[0].subject, "role:user");
    assert_eq!(owned[0].chain, ["role:user"]);
    let carol = seed_subject("carol", &[]);
    assert_eq!(granting_rules(&policy, &carol, &doc, "read"), None);
}

#[test]
fn who_can_and_what_can_agree_with_the_decision_function_on_random_policies() {
    let mut g = Gen::new(7);
    for case in 0..1500 {
        let policy = random_policy(&mut g);
        let sub = random_subject(&mut g);
        let (caps, complete) = what_can(&policy, &sub, |_| None);
        assert_eq!(
            complete,
            caps.iter()
                .all(|c| c.plan.kind == PlanKind::Always && c.object != "*")
        );
        for _ in 0..20 {
            let ty = g.pick(&["document", "folder"]);
            let act = g.pick(&["read", "update", "delete"]);
            let attrs = attributes(&mut g, OBJECT_ATTRIBUTES);
            let obj = Object {
                resource: ty.into(),
                attributes: attrs.clone(),
            };
            let allowed = policy.decide(&sub, &obj, act).allowed;
            // who-can: granted exactly when decided, and only by allow rules that apply.
            let granted = granting_rules(&policy, &sub, &obj, act);
            assert_eq!(granted.is_some(), allowed, "case {case}");
            // what-can: the entry for this request decides like the decision function (the
            // exact type if a rule names it, else `*`; the exact action if named, else `*`),
            // and whatever is allowed is covered by some entry.
            let roles = policy.roles_in(&sub.principal, &sub.tenant);
            let applicable: Vec<_> = policy
                .rules()
                .iter()
                .filter(|r| r.tenant == "*" || r.tenant == sub.tenant)
                .filter(|r| {
                    r.subject == "*" || r.subject == sub.principal || roles.contains(&r.subject)
                })
                .collect();
            let object = if applicable.iter().any(|r| r.object == ty) {
                ty
            } else {
                "*"
            };
            let action = if applicable
                .iter()
                .any(|r| (r.object == object || r.object == "*") && r.action == act)
            {
                act
            } else {
                "*"
            };
            let mut with_type = attrs.clone();
            with_type.insert("resource".into(), AttrValue::Str(ty.into()));
            match caps
                .iter()
                .find(|c| c.object == object && c.action == action)
            {
                Some(c) => assert_eq!(
                    c.plan.condition.eval(&with_type),
                    allowed,
                    "case {case}: {ty} {act}: {c:?}"
                ),
                None => assert!(
                    !allowed,
                    "case {case}: {ty} {act} allowed but not listed in {caps:?}"
                ),
            }
            if allowed {
                assert!(
                    caps.iter().any(|c| (c.object == ty || c.object == "*")
                        && (c.action == act || c.action == "*")),
                    "case {case}: {ty} {act} allowed but not listed in {caps:?}"
                );
            }
        }
    }
}

#[test]
fn a_review_diff_names_who_gained_and_who_lost_what() {
    let before = seed_policy(&[("user:alice", "role:viewer"), ("user:erin", "role:user")]);
    let rules: Vec<Rule> = before
        .rules()
        .iter()
        .filter(|r| r.condition.as_str() != "r.obj.owner == r.sub.name")
        .cloned()
        .chain([Rule::parse(99, "user:erin", "document", "delete", "*", "", "allow").unwrap()])
        .collect();
    let after = Policy::from_rows(MODEL, rules, before.assignments()).unwrap();
    let subjects = [
        seed_subject(
            "alice",
            &[
                ("department", AttrValue::Str("eng".into())),
                ("clearance", AttrValue::Int(2)),
            ],
        ),
        seed_subject("erin", &[("clearance", AttrValue::Int(0))]),
    ];
    let schema = |t: &str| (t == "document").then(document_schema);
    let d = diff(
        &review(&before, &subjects, schema),
        &review(&after, &subjects, schema),
    );
    let show = |rows: &[ReviewRow]| {
        rows.iter()
            .map(|r| format!("{} {} {}: {}", r.username, r.object, r.action, r.condition))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        show(&d.gained),
        [
            "alice document read: department == \"eng\" && classification <= 2 && classification < 3",
            "erin document delete: true",
        ]
    );
    assert_eq!(
        show(&d.lost),
        [
            "alice document read: (department == \"eng\" && classification <= 2 || owner == \"alice\") && classification < 3",
            // (update needs documents:write, which the subjects here do not hold)
            "erin document read: owner == \"erin\" && classification < 3",
        ]
    );
}
