//! The prover against brute force: every counterexample it returns is allowed by the decision
//! function and covered by the property (soundness), and on random small policies it finds a
//! violation exactly when a brute force over a bounded request space does (completeness).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::property::{Expect, Property, prove};
use super::tests::Gen;
use crate::condition::Condition;
use crate::decide::Policy;
use crate::rule::{Assignment, Rule};
use crate::{AttrValue, Object, Subject};

const MODEL: &str = include_str!("../../../../policies/model.conf");
const SEED: &str = include_str!("../../../../policies/policy.csv");
const ATTRS: [(&str, &str); 3] = [("sub", "level"), ("obj", "level"), ("obj", "dept")];
const ROLES: [&str; 3] = ["role:a", "role:b", "role:c"];

fn atom(g: &mut Gen) -> String {
    let ops = ["==", "!=", "<", "<=", ">", ">="];
    match g.below(4) {
        0 => format!("r.sub.level {} r.obj.level", g.pick(&ops)),
        1 => format!(
            "r.{}.level {} {}",
            g.pick(&["sub", "obj"]),
            g.pick(&ops),
            1 + g.below(3)
        ),
        2 => format!(
            "r.obj.dept {} \"{}\"",
            g.pick(&["==", "!="]),
            g.pick(&["a", "b"])
        ),
        _ => format!("r.obj.dept in [\"a\", \"{}\"]", g.pick(&["a", "b"])),
    }
}

fn condition(g: &mut Gen) -> String {
    match g.below(5) {
        0 => String::new(),
        1 => atom(g),
        2 => format!("{} && {}", atom(g), atom(g)),
        3 => format!("{} || {}", atom(g), atom(g)),
        _ => format!("!({})", atom(g)),
    }
}

fn random_policy(g: &mut Gen) -> Policy {
    let rules = (0..1 + g.below(5))
        .map(|i| {
            Rule::parse(
                i as i64 + 1,
                g.pick(&["role:a", "role:b", "role:c", "*"]),
                "document",
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
    if g.chance(50) {
        assignments.push(Assignment::parse(0, "role:c", "role:b").unwrap());
    }
    Policy::from_rows(MODEL, rules, &assignments).unwrap()
}

fn random_property(g: &mut Gen) -> Property {
    let when = condition(g);
    let expect = if g.chance(50) {
        Expect::Allow
    } else {
        Expect::Deny
    };
    Property {
        expect,
        with_roles: if g.chance(40) {
            vec![g.pick(&["a", "b", "c"]).to_owned()]
        } else {
            Vec::new()
        },
        with_scopes: if g.chance(30) {
            vec!["s1".to_owned()]
        } else {
            Vec::new()
        },
        name: "p".into(),
        description: String::new(),
        without_roles: if g.chance(40) {
            vec![g.pick(&["a", "b", "c"]).to_owned()]
        } else {
            Vec::new()
        },
        objects: vec!["document".into()],
        actions: vec!["read".into()],
        when: (!when.is_empty()).then_some(when),
    }
}

/// The premise of a deny property covers a request unless it is false; that of an allow
/// property when it is true.
fn covered(p: &Property, sub: &Subject, obj: &Object) -> bool {
    let Some(text) = &p.when else { return true };
    let c = Condition::parse(text).unwrap();
    let get = |m: &BTreeMap<String, AttrValue>| {
        let m = m.clone();
        move |n: &str| m.get(n).cloned()
    };
    let value = c.eval(&get(&sub.attributes), &get(&obj.attributes));
    match p.expect {
        Expect::Deny => value != Ok(false),
        Expect::Allow => value == Ok(true),
    }
}

/// The subject's roles hold every required one and no excluded one.
fn holds_roles(p: &Property, roles: &[String]) -> bool {
    let named = |r: &String| format!("role:{r}");
    !p.without_roles.iter().any(|x| roles.contains(&named(x)))
        && p.with_roles.iter().all(|x| roles.contains(&named(x)))
}

/// Every role subset, every scope set, every attribute over missing, 0..=4, three strings
/// and a bool: is some covered request decided against the property (allowed for a deny
/// property, denied for an allow property)?
fn brute_force(policy: &Policy, p: &Property) -> bool {
    let values: Vec<Option<AttrValue>> = std::iter::once(None)
        .chain((0..=4).map(|i| Some(AttrValue::Int(i))))
        .chain(["a", "b", "c"].map(|s| Some(AttrValue::Str(s.into()))))
        .chain([Some(AttrValue::Bool(true))])
        .collect();
    for (tenant, mask) in ["default", "t1", "t2"]
        .into_iter()
        .flat_map(|t| (0..(1 << ROLES.len())).map(move |m| (t, m)))
    {
        let mut assignments = policy.assignments().to_vec();
        for (i, r) in ROLES.iter().enumerate() {
            if mask & (1 << i) != 0 {
                assignments.push(
                    Assignment::parse(0, "user:u", r)
                        .and_then(|a| a.in_domain(tenant))
                        .unwrap(),
                );
            }
        }
        let probe = Policy::from_rows(MODEL, policy.rules().to_vec(), &assignments).unwrap();
        if !holds_roles(p, &probe.roles_in("user:u", tenant)) {
            continue;
        }
        for scopes in [vec![], vec!["s1".to_owned()]] {
            if !p.with_scopes.iter().all(|s| scopes.contains(s)) {
                continue;
            }
            for combo in 0..values.len().pow(3) {
                let (mut sub, mut obj) = (BTreeMap::new(), BTreeMap::new());
                let mut rest = combo;
                for (side, name) in ATTRS {
                    if let Some(v) = &values[rest % values.len()] {
                        let map = if side == "sub" { &mut sub } else { &mut obj };
                        map.insert(name.to_owned(), v.clone());
                    }
                    rest /= values.len();
                }
                let sub = Subject {
                    principal: "user:u".into(),
                    name: "u".into(),
                    scopes: scopes.clone(),
                    attributes: sub,
                    tenant: tenant.to_owned(),
                    roles: Vec::new(),
                };
                let obj = Object {
                    resource: "document".into(),
                    attributes: obj,
                };
                let allowed = probe.decide(&sub, &obj, "read").allowed;
                if covered(p, &sub, &obj) && allowed != (p.expect == Expect::Allow) {
                    return true;
                }
            }
        }
    }
    false
}

#[test]
fn the_prover_finds_a_violation_exactly_when_brute_force_does_and_each_is_real() {
    let (mut violations, mut allow_violations, mut allow_holds) = (0, 0, 0);
    for seed in 0..120 {
        let g = &mut Gen::new(seed);
        let policy = random_policy(g);
        let property = random_property(g);
        let proof = prove(&policy, &property).unwrap();
        let allow = property.expect == Expect::Allow;
        if let Some(cx) = &proof {
            violations += 1;
            allow_violations += usize::from(allow);
            let probe = cx.policy(&policy);
            let (sub, obj) = (cx.subject(), cx.object());
            let outcome = probe.decide(&sub, &obj, &cx.action);
            assert_eq!(cx.expect, property.expect, "seed {seed}");
            if allow {
                assert!(!outcome.allowed, "seed {seed}: not denied: {cx:?}");
                assert!(cx.allowed_by.is_empty(), "seed {seed}: {cx:?}");
                // Each denying rule matched, or could not be evaluated (and so denied).
                assert!(
                    cx.denied_by
                        .iter()
                        .all(|d| outcome.matched_rules.contains(d)
                            || outcome.unevaluated.iter().any(|u| u.rule_id == *d)),
                    "seed {seed}: {cx:?}"
                );
            } else {
                assert!(outcome.allowed, "seed {seed}: not allowed: {cx:?}");
                assert_eq!(outcome.matched_rules, cx.allowed_by, "seed {seed}");
            }
            assert!(
                covered(&property, &sub, &obj),
                "seed {seed}: not covered: {cx:?}"
            );
            assert!(
                holds_roles(&property, &probe.roles_in(&cx.principal, &cx.tenant)),
                "seed {seed}: a subject the property does not cover: {cx:?}"
            );
            assert!(
                property.with_scopes.iter().all(|s| cx.scopes.contains(s)),
                "seed {seed}: scopes the property does not cover: {cx:?}"
            );
        } else {
            allow_holds += usize::from(allow);
        }
        assert_eq!(
            proof.is_some(),
            brute_force(&policy, &property),
            "seed {seed}: prover and brute force disagree on {property:?} over {:?}",
            policy.rules()
        );
    }
    // Both answers occur, for both kinds, so the agreement says something.
    assert!(
        (10..110).contains(&violations),
        "{violations} of 120 violated"
    );
    assert!(
        allow_violations >= 5 && allow_holds >= 5,
        "allow properties: {allow_violations} violated, {allow_holds} held"
    );
}

fn seed_policy() -> Policy {
    let set = crate::seed::parse_policy(SEED).unwrap();
    Policy::from_rows(MODEL, set.rules, &set.assignments).unwrap()
}

fn admin_only() -> Property {
    Property {
        name: "admin-api-for-admins-only".into(),
        description: String::new(),
        without_roles: vec!["admin".into()],
        objects: vec!["/v1/admin/*".into()],
        actions: ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .map(String::from)
            .to_vec(),
        when: None,
        ..Property::default()
    }
}

fn clearance() -> Property {
    Property {
        name: "classified-needs-clearance".into(),
        description: String::new(),
        without_roles: Vec::new(),
        objects: vec!["document".into()],
        actions: vec!["read".into()],
        when: Some("r.obj.classification >= 3 && !(r.sub.clearance >= 3)".into()),
        ..Property::default()
    }
}

fn admins_keep() -> Property {
    Property {
        name: "admins-keep-the-admin-api".into(),
        with_roles: vec!["admin".into()],
        without_roles: Vec::new(),
        expect: Expect::Allow,
        ..admin_only()
    }
}

#[test]
fn the_seed_policy_keeps_its_shipped_properties() {
    let policy = seed_policy();
    assert_eq!(prove(&policy, &admin_only()).unwrap(), None);
    assert_eq!(prove(&policy, &clearance()).unwrap(), None);
    assert_eq!(prove(&policy, &admins_keep()).unwrap(), None);
}

#[test]
fn a_deny_for_admins_of_one_department_breaks_the_allow_property_with_the_smallest_admin() {
    let mut rules = seed_policy().rules().to_vec();
    rules.push(
        Rule::parse(
            1000,
            "*",
            "/v1/admin/users",
            "DELETE",
            "*",
            "r.sub.department == \"finance\"",
            "deny",
        )
        .unwrap(),
    );
    let assignments = crate::seed::parse_policy(SEED).unwrap().assignments;
    let policy = Policy::from_rows(MODEL, rules, &assignments).unwrap();
    assert_eq!(prove(&policy, &admin_only()).unwrap(), None);
    let cx = prove(&policy, &admins_keep()).unwrap().unwrap();
    assert_eq!(cx.expect, Expect::Allow);
    assert_eq!(
        (cx.action.as_str(), cx.object.as_str()),
        ("DELETE", "/v1/admin/users")
    );
    // The smallest such admin has no department at all: a deny rule that cannot be
    // evaluated denies (fail closed), so the rule shuts out more admins than "finance".
    assert!(cx.subject_attributes.is_empty(), "{cx:?}");
    assert_eq!(cx.denied_by, vec![1000]);
    assert!(cx.roles.contains(&"role:admin".to_owned()), "{cx:?}");
    let probe = cx.policy(&policy);
    assert!(
        !probe
            .decide(&cx.subject(), &cx.object(), &cx.action)
            .allowed
    );
}

#[test]
fn an_allow_property_fails_when_no_rule_grants_its_role_any_more() {
    // Without `role:admin, *, *`, nothing names the role: a subject holding it is still
    // covered, and denied (not a property that holds because nobody is covered).
    let rules: Vec<Rule> = seed_policy()
        .rules()
        .iter()
        .filter(|r| r.subject != "role:admin")
        .cloned()
        .collect();
    let assignments: Vec<Assignment> = crate::seed::parse_policy(SEED)
        .unwrap()
        .assignments
        .into_iter()
        .filter(|a| a.member != "role:admin")
        .collect();
    let policy = Policy::from_rows(MODEL, rules, &assignments).unwrap();
    let cx = prove(&policy, &admins_keep()).unwrap().unwrap();
    assert_eq!(cx.assigned_roles, vec!["role:admin".to_owned()], "{cx:?}");
    assert!(
        cx.denied_by.is_empty() && cx.allowed_by.is_empty(),
        "{cx:?}"
    );
    assert!(
        !cx.policy(&policy)
            .decide(&cx.subject(), &cx.object(), &cx.action)
            .allowed
    );
}

#[test]
fn a_weakened_rule_for_an_unlisted_department_is_a_counterexample_naming_it() {
    let mut rules = seed_policy().rules().to_vec();
    let weak = Rule::parse(
        999,
        "role:viewer",
        "document",
        "read",
        "*",
        "r.obj.department == \"finance\"",
        "allow",
    )
    .unwrap();
    // before the deny, so the deny still runs after it: the seed deny keeps the clearance
    // property; an admin-route grant for the department breaks the other one
    rules.push(weak);
    rules.push(
        Rule::parse(
            1000,
            "role:user",
            "/v1/admin/*",
            "*",
            "*",
            "r.sub.department == \"finance\"",
            "allow",
        )
        .unwrap(),
    );
    let assignments = crate::seed::parse_policy(SEED).unwrap().assignments;
    let policy = Policy::from_rows(MODEL, rules, &assignments).unwrap();
    assert_eq!(prove(&policy, &clearance()).unwrap(), None);
    let cx = prove(&policy, &admin_only()).unwrap().unwrap();
    assert_eq!(
        cx.subject_attributes.get("department"),
        Some(&AttrValue::Str("finance".into())),
        "{cx:?}"
    );
    assert_eq!(cx.allowed_by, vec![1000]);
    assert!(
        cx.policy(&policy)
            .decide(&cx.subject(), &cx.object(), &cx.action)
            .allowed
    );
}

#[test]
fn a_clearance_hole_is_found_with_the_values_that_open_it() {
    let rule = Rule::parse(
        500,
        "role:viewer",
        "document",
        "read",
        "*",
        "r.obj.department == \"finance\" && r.obj.classification == 4",
        "allow",
    )
    .unwrap();
    let policy = Policy::from_rows(MODEL, vec![rule], seed_policy().assignments()).unwrap();
    let cx = prove(&policy, &clearance()).unwrap().unwrap();
    assert_eq!(
        cx.object_attributes.get("department"),
        Some(&AttrValue::Str("finance".into()))
    );
    assert_eq!(
        cx.object_attributes.get("classification"),
        Some(&AttrValue::Int(4))
    );
    assert!(cx.roles.contains(&"role:viewer".to_owned()), "{cx:?}");
    assert!(
        cx.policy(&policy)
            .decide(&cx.subject(), &cx.object(), "read")
            .allowed
    );
}
