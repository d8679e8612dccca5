//! Unit tests of the parent module (a file of their own, so the code reads in one sitting).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::AttrValue;

const SEED: &str = include_str!("../../../../policies/model.conf");

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
        tenant: crate::rule::DEFAULT_TENANT.into(),
        attributes: BTreeMap::from([("clearance".into(), AttrValue::Int(2))]),
        roles: Vec::new(),
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
        tenant: crate::rule::DEFAULT_TENANT.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        roles: Vec::new(),
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
        tenant: crate::rule::DEFAULT_TENANT.into(),
        attributes: BTreeMap::new(),
        roles: Vec::new(),
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

/// A request of `principal` in `tenant` (no scopes, no attributes).
fn in_tenant(principal: &str, tenant: &str) -> Subject {
    Subject {
        principal: principal.into(),
        name: principal.trim_start_matches("user:").into(),
        scopes: vec![],
        tenant: tenant.into(),
        roles: Vec::new(),
        attributes: BTreeMap::new(),
    }
}

fn tenant_policy() -> Policy {
    let rules = vec![
        rule(1, "role:editor", "/x", "GET", "*", "", "allow"),
        rule(2, "role:viewer", "/y", "GET", "*", "", "allow"),
        rule(3, "role:viewer", "/local", "GET", "*", "", "allow")
            .in_tenant("acme")
            .unwrap(),
        rule(4, "role:admin", "*", "*", "*", "", "allow"),
        rule(5, "*", "/open", "GET", "*", "", "allow")
            .in_tenant("globex")
            .unwrap(),
    ];
    let assignments = [
        assign("role:editor", "role:viewer"),
        assign("user:alice", "role:editor")
            .in_domain("acme")
            .unwrap(),
        assign("user:bob", "role:viewer")
            .in_domain("globex")
            .unwrap(),
        assign("user:root", "role:admin"),
        // A tenant-local inheritance: in initech every auditor is a viewer too.
        assign("role:auditor", "role:viewer")
            .in_domain("initech")
            .unwrap(),
        assign("user:carol", "role:auditor"),
    ];
    Policy::new(Model::compile(SEED).unwrap(), rules, &assignments)
}

#[test]
fn roles_and_rules_hold_in_their_tenant_and_global_ones_in_every_tenant() {
    let p = tenant_policy();
    // (principal, tenant, path, allowed)
    let cases = [
        // alice is an editor in acme only; editor -> viewer is global, so she views there.
        ("user:alice", "acme", "/x", true),
        ("user:alice", "acme", "/y", true),
        ("user:alice", "acme", "/local", true),
        ("user:alice", "globex", "/x", false),
        ("user:alice", "globex", "/y", false),
        ("user:alice", "default", "/x", false),
        // bob views in globex, where acme's local rule does not apply.
        ("user:bob", "globex", "/y", true),
        ("user:bob", "globex", "/local", false),
        ("user:bob", "acme", "/y", false),
        // A tenant-local `*` rule lets everyone in that tenant only.
        ("user:bob", "globex", "/open", true),
        ("user:alice", "globex", "/open", true),
        ("user:alice", "acme", "/open", false),
        // The installation admin is an admin in every tenant, named or not.
        ("user:root", "acme", "/anything", true),
        ("user:root", "nowhere", "/x", true),
        // carol is a global auditor; auditors view only in initech.
        ("user:carol", "initech", "/y", true),
        ("user:carol", "acme", "/y", false),
    ];
    for (who, tenant, path, want) in cases {
        let got = p.decide(&in_tenant(who, tenant), &Object::route(path), "GET");
        assert_eq!(got.allowed, want, "{who} in {tenant} GET {path}: {got:?}");
    }
    assert_eq!(
        p.roles_in("user:alice", "acme"),
        ["role:editor", "role:viewer"]
    );
    assert!(p.roles_in("user:alice", "globex").is_empty());
    assert_eq!(
        p.roles_in("user:carol", "initech"),
        ["role:auditor", "role:viewer"]
    );
}

#[test]
fn a_new_member_of_a_tenant_decides_like_a_full_compile_in_every_tenant() {
    let base = tenant_policy();
    let cases = [
        ("user:dan", "role:editor", "globex"),
        ("user:dan", "role:auditor", "*"),
        ("user:dan", "role:viewer", "initech"),
    ];
    for (member, role, domain) in cases {
        let a = assign(member, role).in_domain(domain).unwrap();
        let fast = base.with_member(&a).expect("a new member of a known role");
        let mut all = base.assignments().to_vec();
        all.push(a);
        let full = Policy::new(Model::compile(SEED).unwrap(), base.rules().to_vec(), &all);
        for tenant in ["acme", "globex", "initech", "default"] {
            for path in ["/x", "/y", "/local", "/open"] {
                let sub = in_tenant(member, tenant);
                assert_eq!(
                    fast.decide(&sub, &Object::route(path), "GET"),
                    full.decide(&sub, &Object::route(path), "GET"),
                    "{member} -> {role} in {domain}; asked in {tenant} GET {path}"
                );
            }
        }
    }
}

#[test]
fn a_credential_s_own_roles_decide_like_assigned_ones_and_unknown_ones_grant_nothing() {
    let p = policy(SEED);
    // nobody assigned `federated`: its roles come with the credential
    let with_roles = |roles: &[&str]| Subject {
        principal: "user:corp:7".into(),
        name: "corp:7".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..alice(&["docs:read"])
    };
    let read = |s: &Subject| p.decide(s, &doc(Some(AttrValue::Int(1))), "read").allowed;
    let route = Object::route("/api/docs/5");
    assert!(read(&with_roles(&["role:staff"])), "staff inherits viewer");
    assert!(
        p.decide(&with_roles(&["role:staff"]), &route, "GET")
            .allowed
    );
    assert!(read(&with_roles(&["role:viewer"])));
    assert!(
        !p.decide(&with_roles(&["role:viewer"]), &route, "GET")
            .allowed
    );
    for nothing in [&[][..], &["role:ghost"], &["user:alice"], &["*"]] {
        assert!(!read(&with_roles(nothing)), "{nothing:?}");
        assert!(
            !p.decide(&with_roles(nothing), &route, "GET").allowed,
            "{nothing:?}"
        );
    }
    assert_eq!(
        p.roles_held(&with_roles(&["role:staff", "role:ghost"])),
        vec!["role:staff", "role:viewer"]
    );
    // the same decisions as alice, who holds staff by assignment
    assert_eq!(p.roles_held(&alice(&[])), vec!["role:staff", "role:viewer"]);
}
